/* Unit tests for core/iothub.h (iot-bridge-and-client.md sections 3 and 4). */
#include "hcb_test.h"

#include "iothub.h"

static void test_topic(void **state)
{
    (void)state;
    static const struct {
        const char *topic, *props, *sys;
    } cases[] = {
        {"devices/thermo-01/messages/events/"
         "%24.mid=msg-42&%24.ct=application%2Fjson&%24.ce=utf-8&temperatureAlert=true&site%20name="
         "lab%2F1",
         "{\"temperatureAlert\":\"true\",\"site name\":\"lab/1\"}",
         "{\"iothub-connection-device-id\":\"thermo-01\",\"iothub-connection-module-id\":null,"
         "\"message-id\":\"msg-42\",\"content-type\":\"application/json\","
         "\"content-encoding\":\"utf-8\"}"},
        {"devices/d/messages/events/", "{}",
         "{\"iothub-connection-device-id\":\"d\",\"iothub-connection-module-id\":null}"},
        {"devices/d/messages/events", "{}",
         "{\"iothub-connection-device-id\":\"d\",\"iothub-connection-module-id\":null}"},
        {"devices/gw/modules/filter/messages/events/$.on=out1&$.to=x&$.exp=1&flag&empty=&$.sub=s"
         "&$.ifid=i&$.cid=c&$.uid=u",
         "{\"flag\":null,\"empty\":\"\"}",
         "{\"iothub-connection-device-id\":\"gw\",\"iothub-connection-module-id\":\"filter\","
         "\"iothub-outputname\":\"out1\",\"dt-subject\":\"s\",\"iothub-interface-id\":\"i\","
         "\"correlation-id\":\"c\",\"user-id\":\"u\"}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cJSON *p = NULL, *s = NULL;
        const char *why = NULL;
        assert_int_equal(
            hcb_iothub_parse_topic(cases[i].topic, strlen(cases[i].topic), &p, &s, &why), HCP_OK);
        tu_assert_json(p, cases[i].props);
        tu_assert_json(s, cases[i].sys);
        cJSON_Delete(p);
        cJSON_Delete(s);
    }
}

static void test_topic_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "devices/d/messages/other", "devices//messages/events", "dev/d/messages/events",
        "devices/d/messages/eventsX", "devices/d/messages/events/a=%zz",
        "devices/d/modules//messages/events", "devices/d e/messages/events"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cJSON *p = NULL, *s = NULL;
        const char *why = NULL;
        assert_int_equal(hcb_iothub_parse_topic(bad[i], strlen(bad[i]), &p, &s, &why),
                         HCP_ERR_MALFORMED);
        assert_null(p);
        assert_null(s);
    }
}

static void test_path(void **state)
{
    (void)state;
    char d[HCB_ID_MAX], m[HCB_ID_MAX];
    const char *p1 = "/devices/thermo-01/messages/events";
    assert_int_equal(hcb_iothub_match_path(p1, strlen(p1), d, m), HCP_OK);
    assert_string_equal(d, "thermo-01");
    assert_string_equal(m, "");
    const char *p2 = "/devices/a%3Ab/modules/mod1/messages/events";
    assert_int_equal(hcb_iothub_match_path(p2, strlen(p2), d, m), HCP_OK);
    assert_string_equal(d, "a:b");
    assert_string_equal(m, "mod1");
    const char *p3 = "/devices/x/messages/deviceBound";
    assert_int_equal(hcb_iothub_match_path(p3, strlen(p3), d, m), HCP_ERR_NOT_FOUND);
    const char *p4 = "/api/events";
    assert_int_equal(hcb_iothub_match_path(p4, strlen(p4), d, m), HCP_ERR_NOT_FOUND);
    const char *p5 = "/devices/a%2Fb/messages/events";
    assert_int_equal(hcb_iothub_match_path(p5, strlen(p5), d, m), HCP_ERR_MALFORMED);
}

static void test_headers(void **state)
{
    (void)state;
    cJSON *p = cJSON_CreateObject(), *s = cJSON_CreateObject();
    const char *why = NULL;
    static const char *const H[][2] = {
        {"iothub-app-unit", "C"},           {"IoTHub-MessageId", "msg-1"},
        {"iothub-contenttype", "application/json"}, {"iothub-contentencoding", "utf-8"},
        {"iothub-to", "/devices/x/messages/events"}, {"dt-subject", "sub"},
        {"Authorization", "secret"},        {"iothub-correlationid", "c"},
    };
    for (size_t i = 0; i < sizeof H / sizeof *H; i++)
        assert_int_equal(hcb_iothub_map_header(H[i][0], strlen(H[i][0]), H[i][1],
                                               strlen(H[i][1]), p, s, &why),
                         HCP_OK);
    tu_assert_json(p, "{\"unit\":\"C\"}");
    tu_assert_json(s, "{\"message-id\":\"msg-1\",\"content-type\":\"application/json\","
                      "\"content-encoding\":\"utf-8\",\"dt-subject\":\"sub\","
                      "\"correlation-id\":\"c\"}");
    assert_int_equal(hcb_iothub_map_header("iothub-app-x", 12, "a b", 3, p, s, &why),
                     HCP_ERR_MALFORMED);
    assert_int_equal(hcb_iothub_map_header("iothub-app-x", 12, "lab/1", 5, p, s, &why),
                     HCP_ERR_MALFORMED);
    cJSON_Delete(p);
    cJSON_Delete(s);
}

static void test_batch(void **state)
{
    (void)state;
    struct hcb_limits l;
    hcb_limits_default(&l);
    cJSON *sys = cJSON_CreateObject();
    cJSON_AddStringToObject(sys, "iothub-connection-device-id", "d");
    const char *body = "[{\"body\": \"aGVsbG8=\", \"properties\":{\"iothub-app-k\":\"v\"}},"
                       "{\"body\": \"eyJhIjoxfQ==\",\"base64Encoded\":true}]";
    cJSON *out = NULL;
    const char *why = NULL;
    assert_int_equal(hcb_iothub_parse_batch(body, strlen(body), sys, &l, &out, &why), HCP_OK);
    assert_int_equal(cJSON_GetArraySize(out), 2);
    tu_assert_json(cJSON_GetObjectItem(cJSON_GetArrayItem(out, 0), "properties"),
                   "{\"k\":\"v\"}");
    tu_assert_json(cJSON_GetObjectItem(cJSON_GetArrayItem(out, 1), "body"), "\"eyJhIjoxfQ==\"");
    cJSON_Delete(out);
    static const char *const bad[] = {"[]", "{}", "[{\"body\":1}]", "[{\"body\":\"@@\"}]",
                                      "[{\"body\":\"aGk=\",\"properties\":{\"iothub-app-k\":1}}]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        out = NULL;
        assert_int_equal(hcb_iothub_parse_batch(bad[i], strlen(bad[i]), sys, &l, &out, &why),
                         HCP_ERR_MALFORMED);
        assert_null(out);
    }
    cJSON_Delete(sys);
}

static void test_oom(void **state)
{
    (void)state;
    const char *t = "devices/gw/modules/m/messages/events/%24.mid=1&%24.ct=application%2Fjson&a=b";
    for (int n = 1; n < 60; n++) {
        tu_fail_nth(n);
        cJSON *p = NULL, *s = NULL;
        const char *why = NULL;
        int rc = hcb_iothub_parse_topic(t, strlen(t), &p, &s, &why);
        tu_fail_nth(0);
        if (rc == HCP_OK) {
            cJSON_Delete(p);
            cJSON_Delete(s);
        } else {
            assert_int_equal(rc, HCP_ERR_NOMEM);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST(test_topic), TU_TEST(test_topic_bad), TU_TEST(test_path),
        TU_TEST(test_headers), TU_TEST(test_batch),  TU_TEST(test_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
