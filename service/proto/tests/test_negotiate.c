/* Unit tests for hcp/negotiate.h (signalr-protocol.md section 2). */
#include "test_util.h"

static void test_encode_v1_all(void **state)
{
    (void)state;
    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    struct hcp_negotiate_response r = {1, "Q2C4ZbLrB1mOxJ3f7b0xVg", "p1U7d0wq0m3P3Y5bqQW9Cw",
                                       HCP_TRANSPORT_ALL, false};
    assert_int_equal(hcp_negotiate_encode(&b, &r), HCP_OK);
    assert_string_equal(
        hcp_buf_cstr(&b),
        "{\"negotiateVersion\":1,\"connectionId\":\"Q2C4ZbLrB1mOxJ3f7b0xVg\","
        "\"connectionToken\":\"p1U7d0wq0m3P3Y5bqQW9Cw\",\"availableTransports\":["
        "{\"transport\":\"WebSockets\",\"transferFormats\":[\"Text\",\"Binary\"]},"
        "{\"transport\":\"ServerSentEvents\",\"transferFormats\":[\"Text\"]},"
        "{\"transport\":\"LongPolling\",\"transferFormats\":[\"Text\",\"Binary\"]}]}");
    assert_null(strstr(hcp_buf_cstr(&b), "ProtocolVersion"));
    assert_null(strstr(hcp_buf_cstr(&b), "useStatefulReconnect"));
    /* The body is valid JSON. */
    cJSON *j = cJSON_Parse(hcp_buf_cstr(&b));
    assert_non_null(j);
    cJSON_Delete(j);
    hcp_buf_cleanup(&b);
}

static void test_encode_variants(void **state)
{
    (void)state;
    static const struct {
        struct hcp_negotiate_response r;
        const char *body;
    } cases[] = {
        {{0, "id0", "ignored", HCP_TRANSPORT_WEBSOCKETS, false},
         "{\"negotiateVersion\":0,\"connectionId\":\"id0\",\"availableTransports\":["
         "{\"transport\":\"WebSockets\",\"transferFormats\":[\"Text\",\"Binary\"]}]}"},
        {{0, "id0", NULL, HCP_TRANSPORT_LONGPOLLING, false},
         "{\"negotiateVersion\":0,\"connectionId\":\"id0\",\"availableTransports\":["
         "{\"transport\":\"LongPolling\",\"transferFormats\":[\"Text\",\"Binary\"]}]}"},
        {{1, "c", "t", HCP_TRANSPORT_SSE | HCP_TRANSPORT_LONGPOLLING, false},
         "{\"negotiateVersion\":1,\"connectionId\":\"c\",\"connectionToken\":\"t\","
         "\"availableTransports\":["
         "{\"transport\":\"ServerSentEvents\",\"transferFormats\":[\"Text\"]},"
         "{\"transport\":\"LongPolling\",\"transferFormats\":[\"Text\",\"Binary\"]}]}"},
        {{1, "c", "t", HCP_TRANSPORT_WEBSOCKETS | HCP_TRANSPORT_LONGPOLLING, true},
         "{\"negotiateVersion\":1,\"connectionId\":\"c\",\"connectionToken\":\"t\","
         "\"availableTransports\":["
         "{\"transport\":\"WebSockets\",\"transferFormats\":[\"Text\",\"Binary\"]},"
         "{\"transport\":\"LongPolling\",\"transferFormats\":[\"Text\",\"Binary\"]}],"
         "\"useStatefulReconnect\":true}"},
        {{1, "c", "t", 0, false},
         "{\"negotiateVersion\":1,\"connectionId\":\"c\",\"connectionToken\":\"t\","
         "\"availableTransports\":[]}"},
        {{5, "c", "t", HCP_TRANSPORT_SSE, false},
         "{\"negotiateVersion\":1,\"connectionId\":\"c\",\"connectionToken\":\"t\","
         "\"availableTransports\":["
         "{\"transport\":\"ServerSentEvents\",\"transferFormats\":[\"Text\"]}]}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct hcp_buf b;
        hcp_buf_init(&b, 0);
        assert_int_equal(hcp_negotiate_encode(&b, &cases[i].r), HCP_OK);
        assert_string_equal(hcp_buf_cstr(&b), cases[i].body);
        hcp_buf_cleanup(&b);
    }
}

static void test_encode_invalid(void **state)
{
    (void)state;
    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    struct hcp_negotiate_response r = {1, "c", NULL, HCP_TRANSPORT_ALL, false};
    assert_int_equal(hcp_negotiate_encode(&b, &r), HCP_ERR_INVALID);
    r.connection_id = NULL;
    r.connection_token = "t";
    assert_int_equal(hcp_negotiate_encode(&b, &r), HCP_ERR_INVALID);
    assert_int_equal(b.len, 0);
    hcp_buf_cleanup(&b);
    /* cap: nothing partial left behind */
    hcp_buf_init(&b, 40);
    r.connection_id = "c";
    assert_int_equal(hcp_negotiate_encode(&b, &r), HCP_ERR_TOO_LARGE);
    assert_int_equal(b.len, 0);
    hcp_buf_cleanup(&b);
}

static void test_encode_error_redirect(void **state)
{
    (void)state;
    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    assert_int_equal(hcp_negotiate_encode_error(&b, "Negotiate \"v\" unsupported"), HCP_OK);
    assert_string_equal(hcp_buf_cstr(&b), "{\"error\":\"Negotiate \\\"v\\\" unsupported\"}");
    hcp_buf_reset(&b);
    assert_int_equal(hcp_negotiate_encode_redirect(&b, "http://svc/client/?hub=chat", "jwt.abc"),
                     HCP_OK);
    assert_string_equal(hcp_buf_cstr(&b),
                        "{\"url\":\"http://svc/client/?hub=chat\",\"accessToken\":\"jwt.abc\"}");
    hcp_buf_reset(&b);
    assert_int_equal(hcp_negotiate_encode_redirect(&b, "http://svc/client/?hub=chat", NULL),
                     HCP_OK);
    assert_string_equal(hcp_buf_cstr(&b), "{\"url\":\"http://svc/client/?hub=chat\"}");
    hcp_buf_cleanup(&b);
}

static void test_version(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int rc;
        int v;
    } cases[] = {
        {NULL, HCP_OK, 0},
        {"0", HCP_OK, 0},
        {"1", HCP_OK, 1},
        {"2", HCP_OK, 1},
        {"000", HCP_OK, 0},
        {"99999999999999999999", HCP_OK, 1},
        {"", HCP_ERR_MALFORMED, -1},
        {"-1", HCP_ERR_MALFORMED, -1},
        {"1.0", HCP_ERR_MALFORMED, -1},
        {"abc", HCP_ERR_MALFORMED, -1},
        {" 1", HCP_ERR_MALFORMED, -1},
        {"+1", HCP_ERR_MALFORMED, -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int v = -1;
        assert_int_equal(hcp_negotiate_version(cases[i].in, &v), cases[i].rc);
        assert_int_equal(v, cases[i].v);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST(test_encode_v1_all),  TU_TEST(test_encode_variants),
        TU_TEST(test_encode_invalid), TU_TEST(test_encode_error_redirect),
        TU_TEST(test_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
