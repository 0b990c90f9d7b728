/* Unit tests for hcp/handshake.h (signalr-protocol.md section 3). */
#include "test_util.h"

#define BOTH (HCP_PROTOCOL_BIT(HCP_PROTOCOL_JSON) | HCP_PROTOCOL_BIT(HCP_PROTOCOL_MSGPACK))
#define JSON_ONLY HCP_PROTOCOL_BIT(HCP_PROTOCOL_JSON)

static void test_decode_ok(void **state)
{
    (void)state;
    static const struct {
        const char *rec;
        enum hcp_protocol proto;
        int version;
    } cases[] = {
        {"{\"protocol\":\"json\",\"version\":1}", HCP_PROTOCOL_JSON, 1},
        {"{\"protocol\":\"messagepack\",\"version\":1}", HCP_PROTOCOL_MSGPACK, 1},
        {"{\"version\":2,\"protocol\":\"json\"}", HCP_PROTOCOL_JSON, 2},
        {"{\"protocol\":\"JSON\",\"version\":1}", HCP_PROTOCOL_JSON, 1},
        {"{\"protocol\":\"MessagePack\",\"version\":2,\"extra\":{\"a\":[1]}}", HCP_PROTOCOL_MSGPACK,
         2},
        {" { \"protocol\" : \"json\" , \"version\" : 1.0 } \n", HCP_PROTOCOL_JSON, 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct hcp_handshake h = {HCP_PROTOCOL_COUNT, -1};
        char err[128] = "";
        int rc =
            hcp_handshake_decode(cases[i].rec, strlen(cases[i].rec), BOTH, 2, &h, err, sizeof(err));
        if (rc != HCP_OK)
            fail_msg("case %zu: rc %d err %s", i, rc, err);
        assert_int_equal(h.protocol, cases[i].proto);
        assert_int_equal(h.version, cases[i].version);
    }
}

static void test_decode_errors(void **state)
{
    (void)state;
    static const struct {
        const char *rec;
        unsigned mask;
        int rc;
        const char *err;
    } cases[] = {
        {"{\"protocol\":\"xml\",\"version\":1}", BOTH, HCP_ERR_UNSUPPORTED,
         "The protocol 'xml' is not supported."},
        {"{\"protocol\":\"json\",\"version\":3}", BOTH, HCP_ERR_UNSUPPORTED,
         "The server does not support version 3 of the 'json' protocol."},
        {"{\"protocol\":\"JSON\",\"version\":3}", BOTH, HCP_ERR_UNSUPPORTED,
         "The server does not support version 3 of the 'json' protocol."},
        {"{\"protocol\":\"json\",\"version\":0}", BOTH, HCP_ERR_UNSUPPORTED,
         "The server does not support version 0 of the 'json' protocol."},
        {"{\"protocol\":\"messagepack\",\"version\":1}", BOTH | HCP_HANDSHAKE_TEXT_TRANSPORT,
         HCP_ERR_UNSUPPORTED,
         "Cannot use the 'messagepack' protocol on the current transport. The transport does "
         "not support 'Binary' transfer format."},
        {"{\"protocol\":\"messagepack\",\"version\":1}", JSON_ONLY, HCP_ERR_UNSUPPORTED,
         "The protocol 'messagepack' is not supported."},
        {"{\"protocol\":\"json\",\"version\":1}", HCP_PROTOCOL_BIT(HCP_PROTOCOL_MSGPACK),
         HCP_ERR_UNSUPPORTED, "The protocol 'json' is not supported."},
        {"", BOTH, HCP_ERR_MALFORMED, HCP_HANDSHAKE_ERR_UNPARSABLE},
        {"{", BOTH, HCP_ERR_MALFORMED, HCP_HANDSHAKE_ERR_UNPARSABLE},
        {"{\"protocol\":\"json\",\"version\":1", BOTH, HCP_ERR_MALFORMED,
         HCP_HANDSHAKE_ERR_UNPARSABLE},
        {"[]", BOTH, HCP_ERR_MALFORMED, HCP_HANDSHAKE_ERR_UNPARSABLE},
        {"{\"protocol\":\"json\"}", BOTH, HCP_ERR_MALFORMED, HCP_HANDSHAKE_ERR_UNPARSABLE},
        {"{\"version\":1}", BOTH, HCP_ERR_MALFORMED, HCP_HANDSHAKE_ERR_UNPARSABLE},
        {"{\"protocol\":1,\"version\":1}", BOTH, HCP_ERR_MALFORMED, HCP_HANDSHAKE_ERR_UNPARSABLE},
        {"{\"protocol\":\"json\",\"version\":\"1\"}", BOTH, HCP_ERR_MALFORMED,
         HCP_HANDSHAKE_ERR_UNPARSABLE},
        {"{\"protocol\":\"json\",\"version\":1.5}", BOTH, HCP_ERR_MALFORMED,
         HCP_HANDSHAKE_ERR_UNPARSABLE},
        {"{\"protocol\":\"json\",\"version\":1e30}", BOTH, HCP_ERR_MALFORMED,
         HCP_HANDSHAKE_ERR_UNPARSABLE},
        {"{\"protocol\":\"json\",\"version\":1}x", BOTH, HCP_ERR_MALFORMED,
         HCP_HANDSHAKE_ERR_UNPARSABLE},
        {"{\"protocol\":\"js\xc3\",\"version\":1}", BOTH, HCP_ERR_MALFORMED,
         HCP_HANDSHAKE_ERR_UNPARSABLE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct hcp_handshake h = {HCP_PROTOCOL_COUNT, -7};
        char err[256] = "";
        int rc = hcp_handshake_decode(cases[i].rec, strlen(cases[i].rec), cases[i].mask, 2, &h, err,
                                      sizeof(err));
        if (rc != cases[i].rc || strcmp(err, cases[i].err) != 0)
            fail_msg("case %zu: rc %d err '%s'", i, rc, err);
        /* out untouched on failure */
        assert_int_equal(h.protocol, HCP_PROTOCOL_COUNT);
        assert_int_equal(h.version, -7);
    }
}

static void test_decode_err_truncation(void **state)
{
    (void)state;
    const char *rec = "{\"protocol\":\"xml\",\"version\":1}";
    struct hcp_handshake h;
    char err[8];
    assert_int_equal(hcp_handshake_decode(rec, strlen(rec), BOTH, 2, &h, err, sizeof(err)),
                     HCP_ERR_UNSUPPORTED);
    assert_string_equal(err, "The pro");
    /* NULL error buffer is allowed */
    assert_int_equal(hcp_handshake_decode(rec, strlen(rec), BOTH, 2, &h, NULL, 0),
                     HCP_ERR_UNSUPPORTED);
    /* len bounds the input: the record is not NUL terminated on the wire */
    const char *wire = "{\"protocol\":\"json\",\"version\":1}\x1e{\"type\":6}\x1e";
    assert_int_equal(hcp_handshake_decode(wire, 31, BOTH, 2, &h, err, sizeof(err)), HCP_OK);
    assert_int_equal(h.protocol, HCP_PROTOCOL_JSON);
}

static void test_decode_nomem(void **state)
{
    (void)state;
    const char *rec = "{\"protocol\":\"json\",\"version\":1,\"x\":[1,2,{\"y\":\"z\"}]}";
    for (int n = 1; n < 50; n++) {
        tu_fail_nth(n);
        struct hcp_handshake h;
        char err[128];
        int rc = hcp_handshake_decode(rec, strlen(rec), BOTH, 2, &h, err, sizeof(err));
        if (tu_n_failed == 0) {
            assert_int_equal(rc, HCP_OK);
            return;
        }
        assert_int_equal(rc, HCP_ERR_MALFORMED);
    }
    fail_msg("allocation count did not converge");
}

static void test_encode(void **state)
{
    (void)state;
    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    assert_int_equal(hcp_handshake_encode_ok(&b), HCP_OK);
    static const uint8_t ok[] = {0x7b, 0x7d, 0x1e};
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, ok, 3);
    hcp_buf_reset(&b);
    assert_int_equal(hcp_handshake_encode_error(&b, "The protocol 'xml' is not supported."),
                     HCP_OK);
    assert_buf_eq(&b, "{\"error\":\"The protocol 'xml' is not supported.\"}\x1e");
    hcp_buf_reset(&b);
    assert_int_equal(hcp_handshake_encode_error(&b, "a\"b\x1e"), HCP_OK);
    assert_buf_eq(&b, "{\"error\":\"a\\\"b\\u001e\"}\x1e");
    hcp_buf_cleanup(&b);

    hcp_buf_init(&b, 10);
    assert_int_equal(hcp_handshake_encode_error(&b, HCP_HANDSHAKE_ERR_CANCELED), HCP_ERR_TOO_LARGE);
    assert_int_equal(b.len, 0);
    hcp_buf_cleanup(&b);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(hcp_protocol_name(HCP_PROTOCOL_JSON), "json");
    assert_string_equal(hcp_protocol_name(HCP_PROTOCOL_MSGPACK), "messagepack");
    assert_string_equal(hcp_protocol_name(HCP_PROTOCOL_COUNT), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST(test_decode_ok),
        TU_TEST(test_decode_errors),
        TU_TEST(test_decode_err_truncation),
        TU_TEST(test_decode_nomem),
        TU_TEST(test_encode),
        TU_TEST(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
