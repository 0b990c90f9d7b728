/* Unit tests for hcp/client.h (signalr-protocol.md sections 2, 3, 4.3, 5). */
#include "test_util.h"

#include "hcp/client.h"

static void decode_ok(const char *body, struct hcp_negotiate_result *r)
{
    const char *reason = NULL;
    assert_int_equal(hcp_client_negotiate_decode(body, strlen(body), r, &reason), HCP_OK);
}

static void test_negotiate_v1(void **state)
{
    (void)state;
    struct hcp_negotiate_result r;
    decode_ok("{\"negotiateVersion\":1,\"connectionId\":\"c\",\"connectionToken\":\"t\","
              "\"availableTransports\":["
              "{\"transport\":\"LongPolling\",\"transferFormats\":[\"Text\",\"Binary\"]},"
              "{\"transport\":\"Carrier\",\"transferFormats\":[\"Text\"]},"
              "{\"transport\":\"WebSockets\",\"transferFormats\":[\"Binary\"]},"
              "{\"transport\":\"ServerSentEvents\",\"transferFormats\":[\"Text\"]},"
              "{\"transport\":\"LongPolling\",\"transferFormats\":[\"Text\"]}],\"x\":1}",
              &r);
    assert_int_equal(r.kind, HCP_NEGOTIATE_OK);
    assert_int_equal(r.version, 1);
    assert_string_equal(r.connection_id, "c");
    assert_string_equal(r.connection_token, "t");
    /* Server order kept; unknown, Binary-only and duplicates skipped. */
    assert_int_equal(r.n_transports, 2);
    assert_int_equal(r.transports[0], HCP_TRANSPORT_LONGPOLLING);
    assert_int_equal(r.transports[1], HCP_TRANSPORT_SSE);
    assert_false(r.stateful_reconnect);
    hcp_client_negotiate_cleanup(&r);
}

static void test_negotiate_v0_and_stateful(void **state)
{
    (void)state;
    struct hcp_negotiate_result r;
    /* v0: the id is the token, a connectionToken is ignored. */
    decode_ok("{\"connectionId\":\"id0\",\"connectionToken\":\"nope\",\"availableTransports\":[]}",
              &r);
    assert_int_equal(r.version, 0);
    assert_string_equal(r.connection_token, "id0");
    assert_int_equal(r.n_transports, 0);
    hcp_client_negotiate_cleanup(&r);
    decode_ok("{\"negotiateVersion\":1,\"connectionId\":\"c\",\"connectionToken\":\"t\","
              "\"useStatefulReconnect\":true,\"availableTransports\":["
              "{\"transport\":\"WebSockets\",\"transferFormats\":[\"Text\",\"Binary\"]}]}",
              &r);
    assert_true(r.stateful_reconnect);
    assert_int_equal(r.transports[0], HCP_TRANSPORT_WEBSOCKETS);
    hcp_client_negotiate_cleanup(&r);
}

static void test_negotiate_redirect_and_error(void **state)
{
    (void)state;
    struct hcp_negotiate_result r;
    decode_ok("{\"url\":\"http://svc/client/?hub=chat\",\"accessToken\":\"jwt.abc\"}", &r);
    assert_int_equal(r.kind, HCP_NEGOTIATE_REDIRECT);
    assert_string_equal(r.url, "http://svc/client/?hub=chat");
    assert_string_equal(r.access_token, "jwt.abc");
    hcp_client_negotiate_cleanup(&r);
    decode_ok("{\"url\":\"http://svc/x\"}", &r);
    assert_int_equal(r.kind, HCP_NEGOTIATE_REDIRECT);
    assert_null(r.access_token);
    hcp_client_negotiate_cleanup(&r);
    /* error wins over everything else */
    decode_ok("{\"error\":\"Negotiate failed\",\"url\":\"http://x\"}", &r);
    assert_int_equal(r.kind, HCP_NEGOTIATE_ERROR);
    assert_string_equal(r.error, "Negotiate failed");
    hcp_client_negotiate_cleanup(&r);
}

static void test_negotiate_bad(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        int rc;
    } cases[] = {
        {"", HCP_ERR_MALFORMED},
        {"[]", HCP_ERR_MALFORMED},
        {"{\"connectionId\":\"c\"", HCP_ERR_MALFORMED},
        {"{\"connectionId\":\"c\"}", HCP_ERR_MALFORMED}, /* no availableTransports */
        {"{\"availableTransports\":[]}", HCP_ERR_MALFORMED}, /* no id */
        {"{\"negotiateVersion\":\"1\",\"connectionId\":\"c\",\"availableTransports\":[]}",
         HCP_ERR_MALFORMED},
        {"{\"negotiateVersion\":1,\"connectionId\":\"c\",\"connectionToken\":\"\","
         "\"availableTransports\":[]}",
         HCP_ERR_MALFORMED},
        {"{\"ProtocolVersion\":\"1.5\",\"ConnectionId\":\"c\"}", HCP_ERR_UNSUPPORTED},
        {"{\"url\":5}", HCP_ERR_MALFORMED},
        {"{\"url\":\"\"}", HCP_ERR_MALFORMED},
        {"{\"url\":\"http://x\",\"accessToken\":7}", HCP_ERR_MALFORMED},
        {"{\"error\":false}", HCP_ERR_MALFORMED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct hcp_negotiate_result r;
        memset(&r, 0x5a, sizeof r);
        const char *reason = NULL;
        int rc = hcp_client_negotiate_decode(cases[i].body, strlen(cases[i].body), &r, &reason);
        assert_int_equal(rc, cases[i].rc);
        assert_non_null(reason);
        assert_int_equal(r.version, 0x5a5a5a5a); /* untouched */
    }
    const char *reason = NULL;
    struct hcp_negotiate_result r;
    const char *old = "{\"ProtocolVersion\":\"1.5\"}";
    assert_int_equal(hcp_client_negotiate_decode(old, strlen(old), &r, &reason),
                     HCP_ERR_UNSUPPORTED);
    assert_string_equal(reason, HCP_CLIENT_ERR_OLD_SIGNALR);
}

static void test_negotiate_oom(void **state)
{
    (void)state;
    const char *body = "{\"negotiateVersion\":1,\"connectionId\":\"c\",\"connectionToken\":\"t\","
                       "\"availableTransports\":[{\"transport\":\"WebSockets\","
                       "\"transferFormats\":[\"Text\"]}]}";
    for (int n = 1; n < 40; n++) {
        tu_fail_nth(n);
        struct hcp_negotiate_result r;
        const char *reason = NULL;
        int rc = hcp_client_negotiate_decode(body, strlen(body), &r, &reason);
        if (rc == HCP_OK)
            hcp_client_negotiate_cleanup(&r);
        else
            assert_true(rc == HCP_ERR_NOMEM || rc == HCP_ERR_MALFORMED);
    }
}

static void test_negotiate_url(void **state)
{
    (void)state;
    static const struct {
        const char *url;
        bool stateful;
        const char *want;
    } cases[] = {
        {"http://h/chat", false, "http://h/chat/negotiate?negotiateVersion=1"},
        {"http://h/client/?hub=chat", false,
         "http://h/client/negotiate?hub=chat&negotiateVersion=1"},
        {"http://h:7071/api", false, "http://h:7071/api/negotiate?negotiateVersion=1"},
        {"http://h/api/?negotiateVersion=1#frag", false,
         "http://h/api/negotiate?negotiateVersion=1"},
        {"https://h/c?hub=a&x=%20", true,
         "https://h/c/negotiate?hub=a&x=%20&negotiateVersion=1&useStatefulReconnect=true"},
        {"http://h", false, "http://h/negotiate?negotiateVersion=1"},
        {"http://h/c?", false, "http://h/c/negotiate?negotiateVersion=1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct hcp_buf b;
        hcp_buf_init(&b, 0);
        assert_int_equal(hcp_client_negotiate_url(&b, cases[i].url, cases[i].stateful), HCP_OK);
        assert_string_equal(hcp_buf_cstr(&b), cases[i].want);
        hcp_buf_cleanup(&b);
    }
}

static void test_url_helpers(void **state)
{
    (void)state;
    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    assert_int_equal(hcp_client_url_add_param(&b, "http://h/c/?hub=chat", "id", "t-_1"), HCP_OK);
    assert_string_equal(hcp_buf_cstr(&b), "http://h/c/?hub=chat&id=t-_1");
    hcp_buf_reset(&b);
    assert_int_equal(hcp_client_url_add_param(&b, "http://h/chat#x", "access_token", "a b/="),
                     HCP_OK);
    assert_string_equal(hcp_buf_cstr(&b), "http://h/chat?access_token=a%20b%2F%3D");
    hcp_buf_reset(&b);
    assert_int_equal(hcp_client_ws_url(&b, "HTTPS://h/c?x=1"), HCP_OK);
    assert_string_equal(hcp_buf_cstr(&b), "wss://h/c?x=1");
    hcp_buf_reset(&b);
    assert_int_equal(hcp_client_ws_url(&b, "http://h:80/c"), HCP_OK);
    assert_string_equal(hcp_buf_cstr(&b), "ws://h:80/c");
    hcp_buf_reset(&b);
    assert_int_equal(hcp_client_ws_url(&b, "ftp://h/c"), HCP_ERR_INVALID);
    hcp_buf_cleanup(&b);
}

static void test_url_parse(void **state)
{
    (void)state;
    struct hcp_url u;
    assert_int_equal(hcp_client_url_parse("ws://127.0.0.1:8888/client/?hub=a&id=t#f", &u),
                     HCP_OK);
    assert_string_equal(u.scheme, "ws");
    assert_false(u.is_tls);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 8888);
    assert_int_equal(u.path.len, strlen("/client/?hub=a&id=t"));
    assert_memory_equal(u.path.ptr, "/client/?hub=a&id=t", u.path.len);
    assert_int_equal(hcp_client_url_parse("HTTPS://[::1]/x", &u), HCP_OK);
    assert_true(u.is_tls);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 443);
    assert_int_equal(hcp_client_url_parse("http://host", &u), HCP_OK);
    assert_int_equal(u.port, 80);
    assert_int_equal(u.path.len, 1);
    static const char *bad[] = {"host/x", "ftp://h/", "http://", "http://u:p@h/",
                                "http://h:0/", "http://h:70000/", "http://h:x/",
                                "http://[::1/", "http://h?x=1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(hcp_client_url_parse(bad[i], &u), HCP_ERR_INVALID);
}

static void test_transport_names(void **state)
{
    (void)state;
    assert_string_equal(hcp_client_transport_name(HCP_TRANSPORT_WEBSOCKETS), "WebSockets");
    assert_string_equal(hcp_client_transport_name(HCP_TRANSPORT_SSE), "ServerSentEvents");
    assert_string_equal(hcp_client_transport_name(HCP_TRANSPORT_LONGPOLLING), "LongPolling");
    assert_string_equal(hcp_client_transport_name(3), "Unknown");
}

static void test_handshake(void **state)
{
    (void)state;
    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    assert_int_equal(hcp_client_encode_handshake(&b, "json", 1), HCP_OK);
    assert_buf_eq(&b, "{\"protocol\":\"json\",\"version\":1}\x1e");
    hcp_buf_cleanup(&b);

    char err[128];
    assert_int_equal(hcp_client_handshake_decode("{}", 2, err, sizeof err), HCP_OK);
    assert_int_equal(hcp_client_handshake_decode(" { \"x\":1 } ", 11, err, sizeof err), HCP_OK);
    const char *e = "{\"error\":\"The protocol 'xml' is not supported.\"}";
    assert_int_equal(hcp_client_handshake_decode(e, strlen(e), err, sizeof err),
                     HCP_ERR_UNSUPPORTED);
    assert_string_equal(err, "The protocol 'xml' is not supported.");
    const char *t = "{\"type\":6}";
    assert_int_equal(hcp_client_handshake_decode(t, strlen(t), err, sizeof err),
                     HCP_ERR_MALFORMED);
    assert_string_equal(err, "Expected a handshake response from the server.");
    assert_int_equal(hcp_client_handshake_decode("{", 1, err, sizeof err), HCP_ERR_MALFORMED);
    assert_int_equal(hcp_client_handshake_decode("{\"error\":1}", 11, err, sizeof err),
                     HCP_ERR_MALFORMED);
    /* truncation keeps the text NUL terminated */
    char small[8];
    assert_int_equal(hcp_client_handshake_decode(e, strlen(e), small, sizeof small),
                     HCP_ERR_UNSUPPORTED);
    assert_string_equal(small, "The pro");
}

static void test_messages(void **state)
{
    (void)state;
    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    assert_int_equal(hcp_client_encode_stream_invocation(&b, "1", "Counter", "[5]", 3), HCP_OK);
    assert_buf_eq(&b, "{\"type\":4,\"invocationId\":\"1\",\"target\":\"Counter\",\"arguments\":[5]}"
                      "\x1e");
    hcp_buf_reset(&b);
    assert_int_equal(hcp_client_encode_cancel(&b, "1"), HCP_OK);
    assert_buf_eq(&b, "{\"type\":5,\"invocationId\":\"1\"}\x1e");
    hcp_buf_cleanup(&b);
    /* bounded buffer: failure leaves it unchanged */
    hcp_buf_init(&b, 10);
    assert_int_equal(hcp_client_encode_cancel(&b, "123456"), HCP_ERR_TOO_LARGE);
    assert_int_equal(b.len, 0);
    hcp_buf_cleanup(&b);

    assert_true(hcp_client_args_valid("[]", 2));
    assert_true(hcp_client_args_valid(" [1,\"a\",{\"b\":null}] ", 20));
    assert_false(hcp_client_args_valid("{}", 2));
    assert_false(hcp_client_args_valid("[1,", 3));
    assert_false(hcp_client_args_valid("1", 1));
    assert_false(hcp_client_args_valid("", 0));
    assert_false(hcp_client_args_valid(NULL, 0));
}

static void sse_feed_all(struct hcp_sse *p, const char *in, size_t step, struct hcp_buf *out)
{
    size_t len = strlen(in);
    for (size_t i = 0; i < len; i += step) {
        size_t n = len - i < step ? len - i : step;
        assert_int_equal(hcp_sse_feed(p, in + i, n, out), HCP_OK);
    }
}

static void test_sse(void **state)
{
    (void)state;
    const char *stream = ":\r\n"
                         "data: {\"type\":6}\x1e\r\n\r\n"
                         "event: x\r\nid: 3\r\nretry: 5\r\n"
                         "data:{\"a\":1}\x1e\n\n"
                         "data: line1\rdata: line2\r\r"
                         "data\r\n\r\n"
                         ": comment only\r\n\r\n"
                         "data: partial";
    const char *want = "{\"type\":6}\x1e{\"a\":1}\x1eline1\nline2";
    /* The result must not depend on how the bytes are chunked. */
    for (size_t step = 1; step <= strlen(stream); step++) {
        struct hcp_sse p;
        struct hcp_buf out;
        hcp_sse_init(&p, 1024);
        hcp_buf_init(&out, 0);
        sse_feed_all(&p, stream, step, &out);
        assert_int_equal(out.len, strlen(want));
        assert_memory_equal(out.data, want, out.len);
        hcp_sse_cleanup(&p);
        hcp_buf_cleanup(&out);
    }
}

static void test_sse_limit(void **state)
{
    (void)state;
    struct hcp_sse p;
    struct hcp_buf out;
    hcp_sse_init(&p, 8);
    hcp_buf_init(&out, 0);
    assert_int_equal(hcp_sse_feed(&p, "data: 0123456789\r\n", 18, &out), HCP_ERR_TOO_LARGE);
    hcp_sse_cleanup(&p);
    hcp_sse_init(&p, 8);
    assert_int_equal(hcp_sse_feed(&p, "data: 01", 8, &out), HCP_OK);
    assert_int_equal(hcp_sse_feed(&p, "23456789", 8, &out), HCP_ERR_TOO_LARGE);
    hcp_sse_cleanup(&p);
    hcp_buf_cleanup(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST(test_negotiate_v1),
        TU_TEST(test_negotiate_v0_and_stateful),
        TU_TEST(test_negotiate_redirect_and_error),
        TU_TEST(test_negotiate_bad),
        TU_TEST(test_negotiate_oom),
        TU_TEST(test_negotiate_url),
        TU_TEST(test_url_helpers),
        TU_TEST(test_url_parse),
        TU_TEST(test_transport_names),
        TU_TEST(test_handshake),
        TU_TEST(test_messages),
        TU_TEST(test_sse),
        TU_TEST(test_sse_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
