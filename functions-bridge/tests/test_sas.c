/* Unit tests for core/sas.h (iot-bridge-and-client.md section 5). */
#include "hcb_test.h"

#include "b64.h"
#include "sas.h"

/* A key as IoT Hub shows it: base64 of 32 random bytes. */
#define KEY "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define OTHER "HxwdHh8AAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRo="

static void test_sign_and_verify(void **state)
{
    (void)state;
    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    assert_int_equal(hcb_sas_build(&b, "myhub.azure-devices.net/devices/thermo-01", KEY, 2000),
                     HCP_OK);
    const char *tok = hcp_buf_cstr(&b);
    assert_non_null(strstr(tok, "sr=myhub.azure-devices.net%2Fdevices%2Fthermo-01&sig="));
    struct hcb_sas_token t;
    const char *why = NULL;
    assert_int_equal(hcb_sas_parse(tok, b.len, &t, &why), HCP_OK);
    assert_int_equal(t.se, 2000);
    assert_int_equal(hcb_sas_verify(&t, KEY, "thermo-01", NULL, NULL, 1000, &why), HCP_OK);
    assert_int_equal(hcb_sas_verify(&t, KEY, "thermo-01", "", "MyHub.azure-devices.net", 1000,
                                    &why),
                     HCP_OK);
    /* Wrong key, expired, other device, other hub, module scope. */
    assert_int_equal(hcb_sas_verify(&t, OTHER, "thermo-01", NULL, NULL, 1000, &why),
                     HCP_ERR_INVALID);
    assert_string_equal(why, "signature mismatch");
    assert_int_equal(hcb_sas_verify(&t, KEY, "thermo-01", NULL, NULL, 2001, &why),
                     HCP_ERR_INVALID);
    assert_string_equal(why, "token expired");
    assert_int_equal(hcb_sas_verify(&t, KEY, "thermo-02", NULL, NULL, 1000, &why),
                     HCP_ERR_INVALID);
    assert_int_equal(hcb_sas_verify(&t, KEY, "thermo-01", NULL, "other", 1000, &why),
                     HCP_ERR_INVALID);
    assert_int_equal(hcb_sas_verify(&t, KEY, "thermo-01", "m", NULL, 1000, &why),
                     HCP_ERR_INVALID);
    assert_int_equal(hcb_sas_verify(&t, NULL, "thermo-01", NULL, NULL, 1000, &why),
                     HCP_ERR_INVALID);
    hcp_buf_cleanup(&b);
}

/* Golden value computed with Node:
 * crypto.createHmac('sha256', Buffer.from(KEY,'base64'))
 *   .update('localhost%2Fdevices%2Fd1\n1795668712').digest('base64') */
static void test_golden(void **state)
{
    (void)state;
    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    assert_int_equal(hcb_sas_build(&b, "localhost/devices/d1", KEY, 1795668712), HCP_OK);
    struct hcb_sas_token t;
    const char *why = NULL;
    assert_int_equal(hcb_sas_parse(hcp_buf_cstr(&b), b.len, &t, &why), HCP_OK);
    char sig[128];
    memcpy(sig, t.sig.ptr, t.sig.len);
    sig[t.sig.len] = '\0';
    assert_string_equal(sig, "ooc3svejFky9J3PmgZgIVdP1D%2BCFNj3CJncwNwSH3eA%3D");
    hcp_buf_cleanup(&b);
}

static void test_parse_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "Bearer x", "SharedAccessSignature ", "SharedAccessSignature sr=a&sig=b",
        "SharedAccessSignature sr=a&se=1", "SharedAccessSignature sr=a&sig=b&se=x",
        "SharedAccessSignature sr=a&sig=b&se=-5", "SharedAccessSignature sr=&sig=b&se=5"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct hcb_sas_token t;
        const char *why = NULL;
        assert_int_equal(hcb_sas_parse(bad[i], strlen(bad[i]), &t, &why), HCP_ERR_MALFORMED);
    }
}

static void test_registry(void **state)
{
    (void)state;
    const char *j = "{\"devices\":[{\"deviceId\":\"d1\",\"primaryKey\":\"k1\",\"secondaryKey\":"
                    "\"k2\"},{\"deviceId\":\"gw\",\"moduleId\":\"m\",\"primaryKey\":\"km\"}]}";
    struct hcb_registry *r = NULL;
    const char *why = NULL;
    assert_int_equal(hcb_registry_parse(j, strlen(j), &r, &why), HCP_OK);
    assert_string_equal(hcb_registry_key(r, "d1", NULL, 0), "k1");
    assert_string_equal(hcb_registry_key(r, "d1", "", 1), "k2");
    assert_null(hcb_registry_key(r, "gw", NULL, 0));
    assert_string_equal(hcb_registry_key(r, "gw", "m", 0), "km");
    assert_null(hcb_registry_key(r, "gw", "m", 1));
    assert_null(hcb_registry_key(r, "x", NULL, 0));
    hcb_registry_free(r);
    static const char *const bad[] = {"", "[]", "{\"devices\":{}}",
                                      "{\"devices\":[{\"deviceId\":\"d\"}]}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(hcb_registry_parse(bad[i], strlen(bad[i]), &r, &why), HCP_ERR_MALFORMED);
}

static void test_b64(void **state)
{
    (void)state;
    static const char *const v[][2] = {{"", ""},         {"f", "Zg=="},     {"fo", "Zm8="},
                                       {"foo", "Zm9v"},  {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
                                       {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        struct hcp_buf b;
        hcp_buf_init(&b, 0);
        assert_int_equal(hcb_b64_encode(&b, (const uint8_t *)v[i][0], strlen(v[i][0])), HCP_OK);
        assert_string_equal(hcp_buf_cstr(&b), v[i][1]);
        hcp_buf_reset(&b);
        assert_int_equal(hcb_b64_decode(&b, v[i][1], strlen(v[i][1])), HCP_OK);
        assert_string_equal(hcp_buf_cstr(&b), v[i][0]);
        hcp_buf_cleanup(&b);
    }
    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    assert_int_equal(hcb_b64_decode(&b, "Z", 1), HCP_ERR_MALFORMED);
    assert_int_equal(hcb_b64_decode(&b, "Zm9v!", 5), HCP_ERR_MALFORMED);
    hcp_buf_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST(test_sign_and_verify), TU_TEST(test_golden), TU_TEST(test_parse_bad),
        TU_TEST(test_registry),        TU_TEST(test_b64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
