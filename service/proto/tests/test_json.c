/* Unit tests for hcp/json.h (signalr-protocol.md section 5). */
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>

static int decode(const char *rec, struct hcp_msg *m, const char **reason)
{
    return hcp_json_msg_decode(rec, strlen(rec), m, reason);
}

static void test_record_next(void **state)
{
    (void)state;
    size_t n = 99;
    const uint8_t two[] = "{\"type\":6}\x1e{\"type\":7}\x1e";
    assert_int_equal(hcp_json_record_next(two, sizeof(two) - 1, 100, &n), 11);
    assert_int_equal(n, 10);
    assert_int_equal(hcp_json_record_next(two + 11, sizeof(two) - 12, 100, &n), 11);
    /* no separator yet */
    n = 99;
    assert_int_equal(hcp_json_record_next(two, 10, 100, &n), HCP_ERR_INCOMPLETE);
    assert_int_equal(n, 99);
    assert_int_equal(hcp_json_record_next(two, 0, 100, &n), HCP_ERR_INCOMPLETE);
    /* record exactly at the limit is fine */
    assert_int_equal(hcp_json_record_next(two, 11, 10, &n), 11);
    /* too large: with or without the separator present */
    assert_int_equal(hcp_json_record_next(two, 11, 9, &n), HCP_ERR_TOO_LARGE);
    assert_int_equal(hcp_json_record_next(two, 10, 9, &n), HCP_ERR_TOO_LARGE);
    assert_int_equal(hcp_json_record_next(two, 9, 9, &n), HCP_ERR_INCOMPLETE);
    /* empty record */
    const uint8_t rs[] = {0x1e};
    assert_int_equal(hcp_json_record_next(rs, 1, 0, &n), 1);
    assert_int_equal(n, 0);
    /* huge buffer with max 0 */
    uint8_t big[4096];
    memset(big, 'a', sizeof(big));
    assert_int_equal(hcp_json_record_next(big, sizeof(big), 0, &n), HCP_ERR_TOO_LARGE);
    assert_int_equal(hcp_json_record_next(big, sizeof(big), SIZE_MAX, &n), HCP_ERR_INCOMPLETE);
    big[4000] = 0x1e;
    assert_int_equal(hcp_json_record_next(big, sizeof(big), SIZE_MAX, &n), 4001);
}

/* Exact JS 10.0.11 client bytes from signalr-protocol.md section 5.1. */
static void test_decode_js_golden(void **state)
{
    (void)state;
    struct hcp_msg m;
    const char *reason = NULL;

    assert_int_equal(
        decode("{\"target\":\"SendMessage\",\"arguments\":[\"ann\",\"hi\"],\"invocationId\":\"0\","
               "\"type\":1}",
               &m, &reason),
        HCP_OK);
    assert_int_equal(m.type, HCP_MSG_INVOCATION);
    assert_string_equal(m.target, "SendMessage");
    assert_string_equal(m.invocation_id, "0");
    assert_int_equal(cJSON_GetArraySize(m.arguments), 2);
    assert_string_equal(cJSON_GetArrayItem(m.arguments, 1)->valuestring, "hi");
    assert_null(m.stream_ids);
    hcp_msg_cleanup(&m);

    assert_int_equal(
        decode("{\"target\":\"SendMessage\",\"arguments\":[\"ann\",\"hi\"],\"type\":1}", &m,
               &reason),
        HCP_OK);
    assert_null(m.invocation_id);
    hcp_msg_cleanup(&m);

    assert_int_equal(
        decode("{\"target\":\"Counter\",\"arguments\":[5],\"invocationId\":\"1\",\"type\":4}", &m,
               &reason),
        HCP_OK);
    assert_int_equal(m.type, HCP_MSG_STREAM_INVOCATION);
    assert_string_equal(m.target, "Counter");
    hcp_msg_cleanup(&m);

    assert_int_equal(decode("{\"invocationId\":\"1\",\"type\":5}", &m, &reason), HCP_OK);
    assert_int_equal(m.type, HCP_MSG_CANCEL_INVOCATION);
    assert_string_equal(m.invocation_id, "1");
    hcp_msg_cleanup(&m);

    assert_int_equal(decode("{\"target\":\"Upload\",\"arguments\":[],\"invocationId\":\"3\","
                            "\"streamIds\":[\"2\"],\"type\":1}",
                            &m, &reason),
                     HCP_OK);
    assert_non_null(m.stream_ids);
    assert_int_equal(cJSON_GetArraySize(m.stream_ids), 1);
    assert_int_equal(cJSON_GetArraySize(m.arguments), 0);
    hcp_msg_cleanup(&m);

    assert_int_equal(decode("{\"invocationId\":\"2\",\"item\":7,\"type\":2}", &m, &reason), HCP_OK);
    assert_int_equal(m.type, HCP_MSG_STREAM_ITEM);
    assert_int_equal(m.item->valueint, 7);
    hcp_msg_cleanup(&m);

    assert_int_equal(decode("{\"invocationId\":\"2\",\"type\":3}", &m, &reason), HCP_OK);
    assert_int_equal(m.type, HCP_MSG_COMPLETION);
    assert_null(m.result);
    assert_null(m.error);
    hcp_msg_cleanup(&m);

    assert_int_equal(
        decode("{\"error\":\"disk full\",\"invocationId\":\"2\",\"type\":3}", &m, &reason), HCP_OK);
    assert_string_equal(m.error, "disk full");
    hcp_msg_cleanup(&m);

    assert_int_equal(decode("{\"type\":6}", &m, &reason), HCP_OK);
    assert_int_equal(m.type, HCP_MSG_PING);
    assert_non_null(m.root);
    hcp_msg_cleanup(&m);

    assert_int_equal(decode("{\"type\":7}", &m, &reason), HCP_OK);
    assert_int_equal(m.type, HCP_MSG_CLOSE);
    assert_null(m.error);
    assert_false(m.allow_reconnect);
    hcp_msg_cleanup(&m);
    hcp_msg_cleanup(&m); /* idempotent */
    hcp_msg_cleanup(NULL);
}

static void test_decode_other(void **state)
{
    (void)state;
    struct hcp_msg m;
    const char *reason = NULL;

    /* server-shaped messages and the rest of the catalogue */
    assert_int_equal(decode("{\"type\":3,\"invocationId\":\"0\",\"result\":null}", &m, &reason),
                     HCP_OK);
    assert_non_null(m.result);
    assert_true(cJSON_IsNull(m.result));
    hcp_msg_cleanup(&m);

    assert_int_equal(
        decode("{\"type\":3,\"invocationId\":\"0\",\"result\":42,\"error\":null}", &m, &reason),
        HCP_OK);
    assert_int_equal(m.result->valueint, 42);
    assert_null(m.error);
    hcp_msg_cleanup(&m);

    assert_int_equal(decode("{\"type\":7,\"error\":\"Connection closed with an error.\","
                            "\"allowReconnect\":true}",
                            &m, &reason),
                     HCP_OK);
    assert_string_equal(m.error, "Connection closed with an error.");
    assert_true(m.allow_reconnect);
    hcp_msg_cleanup(&m);

    assert_int_equal(decode("{\"type\":8,\"sequenceId\":12}", &m, &reason), HCP_OK);
    assert_true(m.has_sequence_id);
    assert_int_equal(m.sequence_id, 12);
    hcp_msg_cleanup(&m);

    assert_int_equal(decode("{\"sequenceId\":4,\"type\":9}", &m, &reason), HCP_OK);
    assert_int_equal(m.type, HCP_MSG_SEQUENCE);
    assert_int_equal(m.sequence_id, 4);
    hcp_msg_cleanup(&m);

    assert_int_equal(decode("{\"type\":2,\"invocationId\":\"1\",\"item\":null}", &m, &reason),
                     HCP_OK);
    assert_true(cJSON_IsNull(m.item));
    hcp_msg_cleanup(&m);

    /* headers, unknown keys, null invocationId, whitespace */
    assert_int_equal(decode(" {\"headers\":{\"a\":\"b\"},\"type\":1,\"invocationId\":null,"
                            "\"x\":[{}],\"target\":\"t\",\"arguments\":[{\"k\":[1,2]}]}\r\n",
                            &m, &reason),
                     HCP_OK);
    assert_null(m.invocation_id);
    hcp_msg_cleanup(&m);

    /* unknown types decode with only type and root */
    assert_int_equal(decode("{\"type\":42,\"target\":5}", &m, &reason), HCP_OK);
    assert_int_equal(m.type, 42);
    assert_null(m.target);
    assert_non_null(m.root);
    hcp_msg_cleanup(&m);
    assert_int_equal(decode("{\"type\":-1}", &m, &reason), HCP_OK);
    hcp_msg_cleanup(&m);
    assert_int_equal(decode("{\"type\":1.0,\"target\":\"a\",\"arguments\":[]}", &m, &reason),
                     HCP_OK);
    hcp_msg_cleanup(&m);

    /* Non-ASCII text survives */
    assert_int_equal(decode("{\"type\":1,\"target\":\"\xc3\xa9t\xc3\xa9\",\"arguments\":"
                            "[\"\\u00e9\\ud83d\\ude00\"]}",
                            &m, &reason),
                     HCP_OK);
    assert_string_equal(m.target, "\xc3\xa9t\xc3\xa9");
    assert_string_equal(cJSON_GetArrayItem(m.arguments, 0)->valuestring,
                        "\xc3\xa9\xf0\x9f\x98\x80");
    hcp_msg_cleanup(&m);

    /* len bounds the record: trailing separator and following bytes ignored */
    const char *wire = "{\"type\":6}\x1e{\"type\":";
    assert_int_equal(hcp_json_msg_decode(wire, 10, &m, &reason), HCP_OK);
    hcp_msg_cleanup(&m);
}

static void test_decode_malformed(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "",
        " ",
        "{",
        "{\"type\":1",
        "{\"type\":6}}",
        "{\"type\":6} x",
        "{\"type\":6}\x1e",
        "[]",
        "6",
        "null",
        "\"str\"",
        "{}",
        "{\"type\":\"1\"}",
        "{\"type\":1.5}",
        "{\"type\":1e12}",
        "{\"type\":null}",
        "{\"type\":true}",
        "{\"Type\":6}",
        "{\"type\":6,\"x\":\"\xff\"}",
        "{\"type\":6,\"x\":\"\xc0\xaf\"}",
        "{\"type\":6,\"x\":\"\xed\xa0\x80\"}",
        "{\"type\":1,\"arguments\":[]}",
        "{\"type\":1,\"target\":\"\",\"arguments\":[]}",
        "{\"type\":1,\"target\":5,\"arguments\":[]}",
        "{\"type\":1,\"target\":\"t\"}",
        "{\"type\":1,\"target\":\"t\",\"arguments\":{}}",
        "{\"type\":1,\"target\":\"t\",\"arguments\":null}",
        "{\"type\":1,\"target\":\"t\",\"arguments\":[],\"invocationId\":0}",
        "{\"type\":1,\"target\":\"t\",\"arguments\":[],\"streamIds\":\"2\"}",
        "{\"type\":1,\"target\":\"t\",\"arguments\":[],\"streamIds\":[2]}",
        "{\"type\":4,\"target\":\"t\",\"arguments\":[]}",
        "{\"type\":2,\"item\":1}",
        "{\"type\":3}",
        "{\"type\":3,\"invocationId\":\"1\",\"result\":1,\"error\":\"e\"}",
        "{\"type\":3,\"invocationId\":\"1\",\"error\":5}",
        "{\"type\":5}",
        "{\"type\":5,\"invocationId\":[]}",
        "{\"type\":7,\"error\":1}",
        "{\"type\":7,\"allowReconnect\":\"true\"}",
        "{\"type\":8}",
        "{\"type\":8,\"sequenceId\":\"1\"}",
        "{\"type\":9,\"sequenceId\":1.5}",
        "{\"type\":9,\"sequenceId\":1e300}",
        "{\"type\":1,\"target\":\"t\",\"arguments\":[1,2,]}",
        "{\"type\":1,\"target\":\"t\",\"arguments\":[\"unterminated]}",
        "{\"type\":6,\"x\":tru}",
        "{\"type\":6,\"x\":nul",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct hcp_msg m;
        memset(&m, 0xA5, sizeof(m));
        const char *reason = NULL;
        int rc = hcp_json_msg_decode(cases[i], strlen(cases[i]), &m, &reason);
        if (rc != HCP_ERR_MALFORMED)
            fail_msg("case %zu (%s): rc %d", i, cases[i], rc);
        assert_non_null(reason);
        /* out untouched */
        unsigned char *p = (unsigned char *)&m;
        for (size_t k = 0; k < sizeof(m); k++)
            assert_int_equal(p[k], 0xA5);
    }
    /* Truncations of a valid record never crash or leak. */
    const char *full = "{\"target\":\"Upload\",\"arguments\":[{\"a\":[1,2.5,true,null]}],"
                       "\"invocationId\":\"3\",\"streamIds\":[\"2\"],\"type\":1}";
    for (size_t n = 0; n < strlen(full); n++) {
        struct hcp_msg m;
        const char *reason = NULL;
        assert_int_equal(hcp_json_msg_decode(full, n, &m, &reason), HCP_ERR_MALFORMED);
    }
}

static void test_decode_deep_and_huge(void **state)
{
    (void)state;
    /* Deep nesting beyond cJSON's limit is rejected, not a stack overflow. */
    size_t depth = 100000;
    char *deep = malloc(depth * 2 + 64);
    assert_non_null(deep);
    size_t o = (size_t)sprintf(deep, "{\"type\":1,\"target\":\"t\",\"arguments\":");
    for (size_t i = 0; i < depth; i++)
        deep[o++] = '[';
    for (size_t i = 0; i < depth; i++)
        deep[o++] = ']';
    deep[o++] = '}';
    struct hcp_msg m;
    const char *reason = NULL;
    assert_int_equal(hcp_json_msg_decode(deep, o, &m, &reason), HCP_ERR_MALFORMED);
    free(deep);

    /* A large valid message (1 MB string argument). */
    size_t big = 1 << 20;
    char *huge = malloc(big + 64);
    assert_non_null(huge);
    o = (size_t)sprintf(huge, "{\"type\":1,\"target\":\"t\",\"arguments\":[\"");
    memset(huge + o, 'x', big);
    o += big;
    o += (size_t)sprintf(huge + o, "\"]}");
    assert_int_equal(hcp_json_msg_decode(huge, o, &m, &reason), HCP_OK);
    assert_int_equal(strlen(cJSON_GetArrayItem(m.arguments, 0)->valuestring), big);
    hcp_msg_cleanup(&m);
    free(huge);
}

static void test_decode_nomem(void **state)
{
    (void)state;
    const char *rec = "{\"target\":\"SendMessage\",\"arguments\":[\"ann\",{\"x\":[1,\"y\"]}],"
                      "\"invocationId\":\"0\",\"type\":1}";
    for (int n = 1; n < 100; n++) {
        tu_fail_nth(n);
        struct hcp_msg m;
        const char *reason = NULL;
        int rc = hcp_json_msg_decode(rec, strlen(rec), &m, &reason);
        if (tu_n_failed == 0) {
            assert_int_equal(rc, HCP_OK);
            hcp_msg_cleanup(&m);
            return;
        }
        assert_true(rc == HCP_ERR_MALFORMED || rc == HCP_ERR_NOMEM);
    }
    fail_msg("allocation count did not converge");
}

static void test_encode_golden(void **state)
{
    (void)state;
    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    const char *args = "[\"ann\",\"hi\"]";

    assert_int_equal(hcp_json_encode_invocation(&b, NULL, "newMessage", 10, args, strlen(args)),
                     HCP_OK);
    assert_buf_eq(&b, "{\"type\":1,\"target\":\"newMessage\",\"arguments\":[\"ann\",\"hi\"]}\x1e");
    hcp_buf_reset(&b);

    assert_int_equal(hcp_json_encode_invocation(&b, "7", "push", 4, NULL, 0), HCP_OK);
    assert_buf_eq(&b,
                  "{\"type\":1,\"invocationId\":\"7\",\"target\":\"push\",\"arguments\":[]}\x1e");
    hcp_buf_reset(&b);

    /* target_len is honoured and the target is escaped */
    assert_int_equal(hcp_json_encode_invocation(&b, NULL, "a\x1e\"bXYZ", 4, "[]", 2), HCP_OK);
    assert_buf_eq(&b, "{\"type\":1,\"target\":\"a\\u001e\\\"b\",\"arguments\":[]}\x1e");
    hcp_buf_reset(&b);

    assert_int_equal(hcp_json_encode_completion(&b, "0", "42", 2, NULL), HCP_OK);
    assert_buf_eq(&b, "{\"type\":3,\"invocationId\":\"0\",\"result\":42}\x1e");
    hcp_buf_reset(&b);
    assert_int_equal(hcp_json_encode_completion(&b, "0", "null", 4, NULL), HCP_OK);
    assert_buf_eq(&b, "{\"type\":3,\"invocationId\":\"0\",\"result\":null}\x1e");
    hcp_buf_reset(&b);
    assert_int_equal(hcp_json_encode_completion(&b, "1", NULL, 0, NULL), HCP_OK);
    assert_buf_eq(&b, "{\"type\":3,\"invocationId\":\"1\"}\x1e");
    hcp_buf_reset(&b);
    assert_int_equal(
        hcp_json_encode_completion(
            &b, "0", NULL, 0, "An unexpected error occurred invoking 'SendMessage' on the server."),
        HCP_OK);
    assert_buf_eq(&b, "{\"type\":3,\"invocationId\":\"0\",\"error\":\"An unexpected error occurred "
                      "invoking 'SendMessage' on the server.\"}\x1e");
    hcp_buf_reset(&b);

    assert_int_equal(hcp_json_encode_close(&b, NULL, false), HCP_OK);
    assert_buf_eq(&b, "{\"type\":7}\x1e");
    hcp_buf_reset(&b);
    assert_int_equal(hcp_json_encode_close(&b, "x", true), HCP_OK);
    assert_buf_eq(&b, "{\"type\":7,\"error\":\"x\",\"allowReconnect\":true}\x1e");
    hcp_buf_reset(&b);
    assert_int_equal(hcp_json_encode_close(&b, NULL, true), HCP_OK);
    assert_buf_eq(&b, "{\"type\":7,\"allowReconnect\":true}\x1e");
    hcp_buf_reset(&b);
    assert_int_equal(hcp_json_encode_close(&b, "Connection closed with an error.", false), HCP_OK);
    assert_buf_eq(&b, "{\"type\":7,\"error\":\"Connection closed with an error.\"}\x1e");
    hcp_buf_reset(&b);

    assert_int_equal(hcp_json_encode_ping(&b), HCP_OK);
    assert_buf_eq(&b, "{\"type\":6}\x1e");
    hcp_buf_cleanup(&b);
}

static void test_encode_invalid_and_cap(void **state)
{
    (void)state;
    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    assert_int_equal(hcp_json_encode_invocation(&b, NULL, "", 0, "[]", 2), HCP_ERR_INVALID);
    assert_int_equal(hcp_json_encode_completion(&b, NULL, NULL, 0, NULL), HCP_ERR_INVALID);
    assert_int_equal(hcp_json_encode_completion(&b, "1", "1", 1, "e"), HCP_ERR_INVALID);
    assert_int_equal(hcp_json_encode_completion(&b, "1", NULL, 0, ""), HCP_ERR_INVALID);
    assert_int_equal(b.len, 0);
    hcp_buf_cleanup(&b);

    /* A cap hit at any point leaves the buffer unchanged. */
    for (size_t cap = 1; cap < 60; cap++) {
        hcp_buf_init(&b, cap);
        int rc = hcp_json_encode_invocation(&b, "12", "target", 6, "[1,2,3]", 7);
        if (rc == HCP_OK) {
            assert_int_equal(b.len, cap);
            hcp_buf_cleanup(&b);
            break;
        }
        assert_int_equal(rc, HCP_ERR_TOO_LARGE);
        assert_int_equal(b.len, 0);
        hcp_buf_cleanup(&b);
    }
}

/* Encoded output decodes back to the same message. */
static void test_roundtrip(void **state)
{
    (void)state;
    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    assert_int_equal(
        hcp_json_encode_invocation(&b, "5", "we\x1ird\n", 7, "[{\"a\":\"\\u001e\"}]", 16), HCP_OK);
    size_t n;
    assert_int_equal(hcp_json_record_next(b.data, b.len, 1000, &n), (int)b.len);
    struct hcp_msg m;
    const char *reason;
    assert_int_equal(hcp_json_msg_decode((const char *)b.data, n, &m, &reason), HCP_OK);
    assert_string_equal(m.target, "we\x1ird\n");
    assert_string_equal(m.invocation_id, "5");
    hcp_msg_cleanup(&m);
    hcp_buf_cleanup(&b);
}

static void test_type_names(void **state)
{
    (void)state;
    assert_string_equal(hcp_msg_type_name(HCP_MSG_INVOCATION), "Invocation");
    assert_string_equal(hcp_msg_type_name(HCP_MSG_SEQUENCE), "Sequence");
    assert_string_equal(hcp_msg_type_name(0), "Unknown");
    assert_string_equal(hcp_msg_type_name(99), "Unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST(test_record_next),
        TU_TEST(test_decode_js_golden),
        TU_TEST(test_decode_other),
        TU_TEST(test_decode_malformed),
        TU_TEST(test_decode_deep_and_huge),
        TU_TEST(test_decode_nomem),
        TU_TEST(test_encode_golden),
        TU_TEST(test_encode_invalid_and_cap),
        TU_TEST(test_roundtrip),
        TU_TEST(test_type_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
