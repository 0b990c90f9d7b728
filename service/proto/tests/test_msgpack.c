/* Unit tests for hcp/msgpack.h (signalr-protocol.md section 6, golden bytes
 * from its tables; azure-signalr-service.md section 4.1 for the REST body). */
#include "test_util.h"

#include <stdlib.h>

#define B(lit) ((const uint8_t *)(lit)), (sizeof(lit) - 1)

static void test_record_next(void **state)
{
    (void)state;
    size_t off = 9, len = 9;
    /* Spec examples: 53 -> 35; 5248 -> 80 29; 2^31-1 -> FF FF FF FF 07. */
    uint8_t rec[64] = {0x35};
    assert_int_equal(hcp_msgpack_record_next(rec, 54, 100, &off, &len), 54);
    assert_int_equal(off, 1);
    assert_int_equal(len, 53);
    off = len = 9;
    assert_int_equal(hcp_msgpack_record_next(rec, 53, 100, &off, &len), HCP_ERR_INCOMPLETE);
    assert_int_equal(off, 9); /* untouched on failure */
    assert_int_equal(hcp_msgpack_record_next(rec, 0, 100, &off, &len), HCP_ERR_INCOMPLETE);
    assert_int_equal(hcp_msgpack_record_next(rec, 54, 52, &off, &len), HCP_ERR_TOO_LARGE);
    /* Too large is known as soon as the prefix is complete. */
    assert_int_equal(hcp_msgpack_record_next(rec, 1, 52, &off, &len), HCP_ERR_TOO_LARGE);
    const uint8_t two[] = {0x80, 0x29};
    assert_int_equal(hcp_msgpack_record_next(two, 2, 10000, &off, &len), HCP_ERR_INCOMPLETE);
    assert_int_equal(hcp_msgpack_record_next(two, 1, 10000, &off, &len), HCP_ERR_INCOMPLETE);
    assert_int_equal(hcp_msgpack_record_next(two, 2, 5247, &off, &len), HCP_ERR_TOO_LARGE);
    const uint8_t max[] = {0xff, 0xff, 0xff, 0xff, 0x07};
    assert_int_equal(hcp_msgpack_record_next(max, 5, HCP_MSGPACK_MAX_RECORD, &off, &len),
                     HCP_ERR_INCOMPLETE);
    assert_int_equal(hcp_msgpack_record_next(max, 5, 1000, &off, &len), HCP_ERR_TOO_LARGE);
    /* Malformed: a length above 2^31-1, a sixth prefix byte. */
    const uint8_t over[] = {0x80, 0x80, 0x80, 0x80, 0x08};
    assert_int_equal(hcp_msgpack_record_next(over, 5, HCP_MSGPACK_MAX_RECORD, &off, &len),
                     HCP_ERR_MALFORMED);
    const uint8_t six[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    assert_int_equal(hcp_msgpack_record_next(six, 6, HCP_MSGPACK_MAX_RECORD, &off, &len),
                     HCP_ERR_MALFORMED);
    assert_int_equal(hcp_msgpack_record_next(six, 4, HCP_MSGPACK_MAX_RECORD, &off, &len),
                     HCP_ERR_INCOMPLETE);
    /* Empty record (length 0) is framed fine; the decoder rejects it. */
    const uint8_t zero[] = {0x00};
    assert_int_equal(hcp_msgpack_record_next(zero, 1, 10, &off, &len), 1);
    assert_int_equal(len, 0);

    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    assert_int_equal(hcp_msgpack_varint_append(&b, 53), 0);
    assert_int_equal(hcp_msgpack_varint_append(&b, 5248), 0);
    assert_int_equal(hcp_msgpack_varint_append(&b, 0x7fffffff), 0);
    assert_buf_eq(&b, "\x35\x80\x29\xff\xff\xff\xff\x07");
    assert_int_equal(hcp_msgpack_varint_append(&b, 0x80000000u), HCP_ERR_TOO_LARGE);
    hcp_buf_cleanup(&b);
}

static int decode(const uint8_t *framed, size_t n, struct hcp_msg *m, const char **reason)
{
    size_t off, len;
    int r = hcp_msgpack_record_next(framed, n, 1 << 20, &off, &len);
    assert_int_equal(r, (int)n);
    return hcp_msgpack_msg_decode(framed + off, len, m, reason);
}

/* Exact JS client bytes (section 6). */
static void test_decode_js_golden(void **state)
{
    (void)state;
    struct hcp_msg m;
    const char *reason = NULL;

    assert_int_equal(decode(B("\x0e\x95\x01\x80\xc0\xa4Send\x92\x2a\xa2hi"), &m, &reason), 0);
    assert_int_equal(m.type, HCP_MSG_INVOCATION);
    assert_null(m.invocation_id);
    assert_string_equal(m.target, "Send");
    assert_int_equal(cJSON_GetArraySize(m.arguments), 2);
    assert_int_equal(cJSON_GetArrayItem(m.arguments, 0)->valueint, 42);
    assert_string_equal(cJSON_GetArrayItem(m.arguments, 1)->valuestring, "hi");
    hcp_msg_cleanup(&m);

    assert_int_equal(decode(B("\x0f\x95\x01\x80\xa1\x30\xa4Send\x92\x2a\xa2hi"), &m, &reason), 0);
    assert_string_equal(m.invocation_id, "0");
    hcp_msg_cleanup(&m);

    /* upload stream: 6 elements with stream ids */
    assert_int_equal(decode(B("\x0c\x96\x01\x80\xa1\x31\xa2Up\x90\x91\xa1\x30"), &m, &reason), 0);
    assert_string_equal(m.target, "Up");
    assert_int_equal(cJSON_GetArraySize(m.arguments), 0);
    assert_string_equal(cJSON_GetArrayItem(m.stream_ids, 0)->valuestring, "0");
    hcp_msg_cleanup(&m);

    assert_int_equal(decode(B("\x0f\x95\x04\x80\xa1\x32\xa7\x43ounter\x91\x05"), &m, &reason), 0);
    assert_int_equal(m.type, HCP_MSG_STREAM_INVOCATION);
    assert_string_equal(m.invocation_id, "2");
    assert_string_equal(m.target, "Counter");
    hcp_msg_cleanup(&m);

    assert_int_equal(decode(B("\x06\x94\x02\x80\xa1\x30\x07"), &m, &reason), 0);
    assert_int_equal(m.type, HCP_MSG_STREAM_ITEM);
    assert_int_equal(m.item->valueint, 7);
    hcp_msg_cleanup(&m);

    assert_int_equal(decode(B("\x06\x94\x03\x80\xa1\x30\x02"), &m, &reason), 0);
    assert_int_equal(m.type, HCP_MSG_COMPLETION);
    assert_null(m.result);
    assert_null(m.error);
    hcp_msg_cleanup(&m);

    assert_int_equal(decode(B("\x0b\x95\x03\x80\xa1\x30\x01\xa4\x62oom"), &m, &reason), 0);
    assert_string_equal(m.error, "boom");
    hcp_msg_cleanup(&m);

    assert_int_equal(decode(B("\x07\x95\x03\x80\xa1\x30\x03\xc0"), &m, &reason), 0);
    assert_non_null(m.result);
    assert_true(cJSON_IsNull(m.result));
    hcp_msg_cleanup(&m);

    assert_int_equal(decode(B("\x05\x93\x05\x80\xa1\x32"), &m, &reason), 0);
    assert_int_equal(m.type, HCP_MSG_CANCEL_INVOCATION);
    assert_string_equal(m.invocation_id, "2");
    hcp_msg_cleanup(&m);

    assert_int_equal(decode(B("\x02\x91\x06"), &m, &reason), 0);
    assert_int_equal(m.type, HCP_MSG_PING);
    hcp_msg_cleanup(&m);

    assert_int_equal(decode(B("\x03\x92\x07\xc0"), &m, &reason), 0);
    assert_int_equal(m.type, HCP_MSG_CLOSE);
    assert_null(m.error);
    assert_false(m.allow_reconnect);
    hcp_msg_cleanup(&m);

    assert_int_equal(decode(B("\x07\x93\x07\xa3xyz\xc3"), &m, &reason), 0);
    assert_string_equal(m.error, "xyz");
    assert_true(m.allow_reconnect);
    hcp_msg_cleanup(&m);

    /* Ack / Sequence with any unsigned width. */
    assert_int_equal(decode(B("\x03\x92\x08\x05"), &m, &reason), 0);
    assert_int_equal(m.type, HCP_MSG_ACK);
    assert_true(m.has_sequence_id);
    assert_int_equal(m.sequence_id, 5);
    hcp_msg_cleanup(&m);
    assert_int_equal(decode(B("\x07\x92\x09\xce\x00\x01\x00\x00"), &m, &reason), 0);
    assert_int_equal(m.type, HCP_MSG_SEQUENCE);
    assert_int_equal(m.sequence_id, 65536);
    hcp_msg_cleanup(&m);

    /* Empty-string invocation id = fire-and-forget; headers are read. */
    assert_int_equal(decode(B("\x0c\x95\x01\x81\xa1k\xa1v\xa0\xa1t\x91\xc0"), &m, &reason), 0);
    assert_null(m.invocation_id);
    hcp_msg_cleanup(&m);

    /* Unknown type: decodes with only the type. */
    assert_int_equal(decode(B("\x03\x92\x63\x01"), &m, &reason), 0);
    assert_int_equal(m.type, 99);
    hcp_msg_cleanup(&m);
}

static void test_decode_malformed(void **state)
{
    (void)state;
    static const struct {
        const char *bytes;
        size_t len;
    } bad[] = {
#define X(lit) {lit, sizeof(lit) - 1}
        X(""),                                        /* nothing */
        X("\x90"),                                    /* empty array */
        X("\x80"),                                    /* not an array */
        X("\x91\xa1\x31"),                            /* type not an integer */
        X("\x91\xff"),                                /* negative type */
        X("\x94\x01\x80\xc0\xa1t"),                   /* invocation with 4 elements */
        X("\x95\x01\xc0\xc0\xa1t\x90"),               /* headers nil */
        X("\x95\x01\x81\x01\xa1v\xc0\xa1t\x90"),      /* header key not a string */
        X("\x95\x01\x81\xa0\xa1v\xc0\xa1t\x90"),      /* empty header key */
        X("\x95\x01\x80\x01\xa1t\x90"),               /* id not a string */
        X("\x95\x01\x80\xc0\xa0\x90"),                /* empty target */
        X("\x95\x01\x80\xc0\xa1t\xc0"),               /* arguments nil */
        X("\x96\x01\x80\xc0\xa1t\x90\x91\x01"),       /* stream id not a string */
        X("\x95\x04\x80\xc0\xa1t\x90"),               /* stream invocation without id */
        X("\x93\x02\x80\xa1\x30"),                    /* stream item without item */
        X("\x94\x03\x80\xa1\x30\x04"),                /* completion kind 4 */
        X("\x94\x03\x80\xa1\x30\x01"),                /* error completion without error */
        X("\x95\x03\x80\xa1\x30\x01\x01"),            /* error not a string */
        X("\x94\x03\x80\xa1\x30\x03"),                /* result completion without result */
        X("\x92\x05\x80"),                            /* cancel without id */
        X("\x91\x07"),                                /* close without error slot */
        X("\x93\x07\xc0\x01"),                        /* allowReconnect not a bool */
        X("\x91\x08"),                                /* ack without id */
        X("\x92\x09\xff"),                            /* negative sequence id */
        X("\x92\x09\xcf\xff\xff\xff\xff\xff\xff\xff\xff"), /* > INT64_MAX */
        X("\x92\x06\x06\x06"),                        /* trailing bytes after the array */
        X("\x95\x01\x80\xc0\xa2\xc3\x28\x90"),        /* target not UTF-8 */
        X("\x95\x01\x80\xc0\xa2t\x00\x90"),           /* NUL inside the target */
        X("\x95\x01\x80\xc0\xa1t\x91\xa1\xff"),       /* argument string not UTF-8 */
        X("\x95\x01\x80\xc0\xa1t\x91\xc1"),           /* reserved byte c1 */
        X("\x95\x01\x80\xc0\xa1t\x91\xa5hi"),         /* truncated string */
#undef X
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct hcp_msg m;
        m.type = 12345;
        const char *reason = NULL;
        int rc = hcp_msgpack_msg_decode((const uint8_t *)bad[i].bytes, bad[i].len, &m, &reason);
        if (rc != HCP_ERR_MALFORMED)
            fail_msg("case %zu: expected MALFORMED, got %d", i, rc);
        assert_non_null(reason);
        assert_int_equal(m.type, 12345); /* untouched */
    }
    /* Nesting deeper than msgpack-c's unpack stack (32) is malformed. */
    uint8_t deep[80];
    size_t n = 0;
    deep[n++] = 0x95;
    deep[n++] = 0x01;
    deep[n++] = 0x80;
    deep[n++] = 0xc0;
    deep[n++] = 0xa1;
    deep[n++] = 't';
    for (int i = 0; i < 40; i++)
        deep[n++] = 0x91;
    deep[n++] = 0xc0;
    struct hcp_msg m;
    const char *reason;
    assert_int_equal(hcp_msgpack_msg_decode(deep, n, &m, &reason), HCP_ERR_MALFORMED);
}

static void test_encoders_golden(void **state)
{
    (void)state;
    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    /* Server-side examples (ASP.NET shapes), section 6. */
    assert_int_equal(hcp_msgpack_encode_invocation(&b, NULL, "Push", 4, "[42]", 4), 0);
    assert_buf_eq(&b, "\x0c\x96\x01\x80\xc0\xa4Push\x91\x2a\x90");
    hcp_buf_reset(&b);
    assert_int_equal(hcp_msgpack_encode_completion(&b, "0", "null", 4, NULL), 0);
    assert_buf_eq(&b, "\x07\x95\x03\x80\xa1\x30\x03\xc0");
    hcp_buf_reset(&b);
    assert_int_equal(hcp_msgpack_encode_completion(&b, "0", NULL, 0, NULL), 0);
    assert_buf_eq(&b, "\x06\x94\x03\x80\xa1\x30\x02");
    hcp_buf_reset(&b);
    assert_int_equal(hcp_msgpack_encode_completion(&b, "0", NULL, 0, "boom"), 0);
    assert_buf_eq(&b, "\x0b\x95\x03\x80\xa1\x30\x01\xa4\x62oom");
    hcp_buf_reset(&b);
    assert_int_equal(hcp_msgpack_encode_completion(&b, "0", NULL, 0, ""), HCP_ERR_INVALID);
    assert_int_equal(b.len, 0);
    assert_int_equal(hcp_msgpack_encode_stream_item(&b, "0", "7", 1), 0);
    assert_buf_eq(&b, "\x06\x94\x02\x80\xa1\x30\x07");
    hcp_buf_reset(&b);
    /* Client-side messages: the JS client's exact bytes. */
    assert_int_equal(hcp_msgpack_encode_stream_invocation(&b, "2", "Counter", 7, "[5]", 3), 0);
    assert_buf_eq(&b, "\x0f\x95\x04\x80\xa1\x32\xa7\x43ounter\x91\x05");
    hcp_buf_reset(&b);
    assert_int_equal(hcp_msgpack_encode_cancel(&b, "2"), 0);
    assert_buf_eq(&b, "\x05\x93\x05\x80\xa1\x32");
    hcp_buf_reset(&b);
    assert_int_equal(hcp_msgpack_encode_cancel(&b, ""), HCP_ERR_INVALID);
    assert_int_equal(hcp_msgpack_encode_stream_invocation(&b, NULL, "t", 1, "[]", 2),
                     HCP_ERR_INVALID);
    assert_int_equal(hcp_msgpack_encode_stream_invocation(&b, "1", "t", 1, "{}", 2),
                     HCP_ERR_MALFORMED);
    assert_int_equal(hcp_msgpack_encode_stream_invocation(&b, "1", "t", 1, "[1,]", 4),
                     HCP_ERR_MALFORMED);
    assert_int_equal(b.len, 0);
    assert_int_equal(hcp_msgpack_encode_ping(&b), 0);
    assert_buf_eq(&b, "\x02\x91\x06");
    hcp_buf_reset(&b);
    assert_int_equal(hcp_msgpack_encode_close(&b, NULL, false), 0);
    assert_buf_eq(&b, "\x04\x93\x07\xc0\xc2");
    hcp_buf_reset(&b);
    assert_int_equal(hcp_msgpack_encode_close(&b, "xyz", true), 0);
    assert_buf_eq(&b, "\x07\x93\x07\xa3xyz\xc3");
    hcp_buf_reset(&b);
    assert_int_equal(hcp_msgpack_encode_ack(&b, 5), 0);
    assert_int_equal(hcp_msgpack_encode_sequence(&b, 300), 0);
    assert_buf_eq(&b, "\x03\x92\x08\x05\x05\x92\x09\xcd\x01\x2c");
    hcp_buf_reset(&b);
    assert_int_equal(hcp_json_encode_ack(&b, 12), 0);
    assert_int_equal(hcp_json_encode_sequence(&b, 4), 0);
    assert_buf_eq(&b, "{\"type\":8,\"sequenceId\":12}\x1e{\"type\":9,\"sequenceId\":4}\x1e");
    hcp_buf_reset(&b);
    /* Invalid argument JSON leaves the buffer as it was. */
    assert_int_equal(hcp_buf_append(&b, "x", 1), 0);
    assert_int_equal(hcp_msgpack_encode_invocation(&b, NULL, "t", 1, "[1,]", 4),
                     HCP_ERR_MALFORMED);
    assert_int_equal(hcp_msgpack_encode_invocation(&b, NULL, "t", 1, "{}", 2), HCP_ERR_MALFORMED);
    assert_buf_eq(&b, "x");
    hcp_buf_reset(&b);
    /* A record of 128+ bytes gets a two-byte prefix. */
    char args[300];
    snprintf(args, sizeof(args), "[\"%0200d\"]", 0);
    assert_int_equal(hcp_msgpack_encode_invocation(&b, "7", "t", 1, args, strlen(args)), 0);
    size_t off, len;
    assert_int_equal(hcp_msgpack_record_next(b.data, b.len, b.len, &off, &len), (int)b.len);
    assert_int_equal(off, 2);
    struct hcp_msg m;
    const char *reason;
    assert_int_equal(hcp_msgpack_msg_decode(b.data + off, len, &m, &reason), 0);
    assert_string_equal(m.invocation_id, "7");
    assert_int_equal(strlen(cJSON_GetArrayItem(m.arguments, 0)->valuestring), 200);
    hcp_msg_cleanup(&m);
    hcp_buf_cleanup(&b);
}

/* JSON text -> MessagePack, exact bytes. */
static void test_from_json(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        const char *mp;
        size_t mp_len;
    } cases[] = {
#define X(j, lit) {j, lit, sizeof(lit) - 1}
        X("null", "\xc0"),
        X(" true ", "\xc3"),
        X("false", "\xc2"),
        X("0", "\x00"),
        X("-0", "\x00"),
        X("127", "\x7f"),
        X("128", "\xcc\x80"),
        X("-1", "\xff"),
        X("-33", "\xd0\xdf"),
        X("65536", "\xce\x00\x01\x00\x00"),
        /* 2^53 + 1: exact, no double in between */
        X("9007199254740993", "\xcf\x00\x20\x00\x00\x00\x00\x00\x01"),
        X("18446744073709551615", "\xcf\xff\xff\xff\xff\xff\xff\xff\xff"),
        X("-9223372036854775808", "\xd3\x80\x00\x00\x00\x00\x00\x00\x00"),
        /* beyond 64 bits: a double, as JSON.parse does */
        X("18446744073709551616", "\xcb\x43\xf0\x00\x00\x00\x00\x00\x00"),
        X("1.5", "\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00"),
        X("-2.5e0", "\xcb\xc0\x04\x00\x00\x00\x00\x00\x00"),
        X("\"\"", "\xa0"),
        X("\"a\\u0000b\"", "\xa3\x61\x00\x62"),
        X("\"\\ud83d\\ude00\"", "\xa4\xf0\x9f\x98\x80"),
        X("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\xa8\"\\/\b\f\n\r\t"),
        X("\"\xc3\xa9\"", "\xa2\xc3\xa9"),
        X("[]", "\x90"),
        X("[1,[2,[3]],{}]", "\x93\x01\x92\x02\x91\x03\x80"),
        X("{\"a\":1,\"b\":[true]}", "\x82\xa1\x61\x01\xa1\x62\x91\xc3"),
#undef X
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct hcp_buf b;
        hcp_buf_init(&b, 0);
        int rc = hcp_msgpack_from_json(&b, cases[i].json, strlen(cases[i].json));
        if (rc != 0)
            fail_msg("case %zu (%s): rc %d", i, cases[i].json, rc);
        if (b.len != cases[i].mp_len || memcmp(b.data, cases[i].mp, b.len) != 0)
            fail_msg("case %zu (%s): wrong bytes (len %zu)", i, cases[i].json, b.len);
        hcp_buf_cleanup(&b);
    }
    /* 256 elements: array16, counts come from the first pass. */
    char big[1024];
    size_t o = 0;
    big[o++] = '[';
    for (int i = 0; i < 256; i++) {
        big[o++] = '1';
        big[o++] = i < 255 ? ',' : ']';
    }
    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    assert_int_equal(hcp_msgpack_from_json(&b, big, o), 0);
    assert_int_equal(b.len, 3 + 256);
    assert_memory_equal(b.data, "\xdc\x01\x00", 3);
    hcp_buf_cleanup(&b);

    static const char *bad[] = {"", "nul", "[1,]", "{\"a\"}", "{1:2}", "\"\x01\"", "01",
                                "1.", "-", "1e", "\"\\x\"", "\"\\u12\"", "[1] 2", "[", "\"abc"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        hcp_buf_init(&b, 0);
        if (hcp_msgpack_from_json(&b, bad[i], strlen(bad[i])) != HCP_ERR_MALFORMED)
            fail_msg("bad case %zu (%s) accepted", i, bad[i]);
        assert_int_equal(b.len, 0);
        hcp_buf_cleanup(&b);
    }
    /* Depth limit. */
    char deep[2 * HCP_JSON_MAX_DEPTH + 8];
    memset(deep, '[', HCP_JSON_MAX_DEPTH + 2);
    memset(deep + HCP_JSON_MAX_DEPTH + 2, ']', HCP_JSON_MAX_DEPTH + 2);
    hcp_buf_init(&b, 0);
    assert_int_equal(hcp_msgpack_from_json(&b, deep, 2 * HCP_JSON_MAX_DEPTH + 4),
                     HCP_ERR_MALFORMED);
    hcp_buf_cleanup(&b);
}

/* MessagePack -> JSON text. */
static void test_to_json(void **state)
{
    (void)state;
    static const struct {
        const char *mp;
        size_t mp_len;
        const char *json;
    } cases[] = {
#define X(lit, j) {lit, sizeof(lit) - 1, j}
        X("\xc0", "null"),
        X("\xc3", "true"),
        X("\xcf\x00\x20\x00\x00\x00\x00\x00\x01", "9007199254740993"),
        X("\xd3\x80\x00\x00\x00\x00\x00\x00\x00", "-9223372036854775808"),
        X("\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00", "1.5"),
        X("\xcb\x3f\xb9\x99\x99\x99\x99\x99\x9a", "0.1"),
        X("\xca\x3f\xc0\x00\x00", "1.5"),                    /* float32 */
        X("\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00", "null"),   /* NaN */
        X("\xa3\x61\x00\x62", "\"a\\u0000b\""),
        X("\xa4\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\""),
        X("\xc4\x03\x01\x02\x03", "\"AQID\""),               /* bin -> base64 */
        X("\xc4\x01\xff", "\"/w==\""),
        X("\xc4\x00", "\"\""),
        /* timestamp 32: 1700000000 s */
        X("\xd6\xff\x65\x53\xf1\x00", "\"2023-11-14T22:13:20.000Z\""),
        /* timestamp 64: 123 ms after the epoch */
        X("\xd7\xff\x1d\x53\x53\x00\x00\x00\x00\x00", "\"1970-01-01T00:00:00.123Z\""),
        /* timestamp 96: -1 s and 1 ns */
        X("\xc7\x0c\xff\x00\x00\x00\x01\xff\xff\xff\xff\xff\xff\xff\xff",
          "\"1969-12-31T23:59:59.000000001Z\""),
        X("\xd4\x05\x07", "\"Bw==\""),                       /* other extension */
        X("\x82\xa1k\x90\x01\xc0", "{\"k\":[],\"1\":null}"),  /* non-string key */
#undef X
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct hcp_buf b;
        hcp_buf_init(&b, 0);
        int rc = hcp_msgpack_to_json(&b, (const uint8_t *)cases[i].mp, cases[i].mp_len);
        if (rc != 0)
            fail_msg("case %zu: rc %d", i, rc);
        if (strcmp(hcp_buf_cstr(&b), cases[i].json) != 0)
            fail_msg("case %zu: got %s, want %s", i, hcp_buf_cstr(&b), cases[i].json);
        hcp_buf_cleanup(&b);
    }
    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    assert_int_equal(hcp_msgpack_to_json(&b, B("\xa1\xff")), HCP_ERR_MALFORMED);
    assert_int_equal(hcp_msgpack_to_json(&b, B("\xc0\xc0")), HCP_ERR_MALFORMED);
    assert_int_equal(hcp_msgpack_to_json(&b, B("\x92\x01")), HCP_ERR_MALFORMED);
    assert_int_equal(b.len, 0);
    hcp_buf_cleanup(&b);
}

/* Round trips keep every type the issue lists. */
static void test_round_trip(void **state)
{
    (void)state;
    const char *json = "[9007199254740993,-9007199254740993,1.25,\"\\u0000\xc3\xa9\",null,"
                       "{\"a\":[1,{\"b\":false}]},[],true]";
    struct hcp_buf mp, back;
    hcp_buf_init(&mp, 0);
    hcp_buf_init(&back, 0);
    assert_int_equal(hcp_msgpack_from_json(&mp, json, strlen(json)), 0);
    assert_int_equal(hcp_msgpack_to_json(&back, mp.data, mp.len), 0);
    assert_string_equal(hcp_buf_cstr(&back),
                        "[9007199254740993,-9007199254740993,1.25,\"\\u0000\xc3\xa9\",null,"
                        "{\"a\":[1,{\"b\":false}]},[],true]");
    hcp_buf_cleanup(&mp);
    hcp_buf_cleanup(&back);
}

static void test_invocation_conversion(void **state)
{
    (void)state;
    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    const char *rec = "{\"type\":1,\"target\":\"Push\",\"arguments\":[42]}";
    assert_int_equal(hcp_msgpack_invocation_from_json(&b, rec, strlen(rec)), 0);
    assert_buf_eq(&b, "\x0c\x96\x01\x80\xc0\xa4Push\x91\x2a\x90");
    hcp_buf_reset(&b);
    /* Escaped target, id kept, key order free. */
    rec = "{\"arguments\":[],\"invocationId\":\"9\",\"target\":\"P\\u0075sh\",\"type\":1}";
    assert_int_equal(hcp_msgpack_invocation_from_json(&b, rec, strlen(rec)), 0);
    assert_buf_eq(&b, "\x0c\x96\x01\x80\xa1\x39\xa4Push\x90\x90");
    hcp_buf_reset(&b);
    rec = "{\"type\":3,\"invocationId\":\"1\"}";
    assert_int_equal(hcp_msgpack_invocation_from_json(&b, rec, strlen(rec)), HCP_ERR_MALFORMED);
    rec = "{\"type\":1,\"target\":\"\",\"arguments\":[]}";
    assert_int_equal(hcp_msgpack_invocation_from_json(&b, rec, strlen(rec)), HCP_ERR_MALFORMED);
    assert_int_equal(b.len, 0);

    assert_int_equal(hcp_json_invocation_from_msgpack(
                         &b, B("\x96\x01\x80\xc0\xa4Push\x92\x2a\xc4\x01\xff\x90")),
                     0);
    assert_string_equal(hcp_buf_cstr(&b),
                        "{\"type\":1,\"target\":\"Push\",\"arguments\":[42,\"/w==\"]}\x1e");
    hcp_buf_reset(&b);
    assert_int_equal(hcp_json_invocation_from_msgpack(&b, B("\x92\x06\x80")), HCP_ERR_MALFORMED);
    assert_int_equal(b.len, 0);
    hcp_buf_cleanup(&b);
}

static void test_rest_multi(void **state)
{
    (void)state;
    struct hcp_rest_multi r;
    const char *reason = NULL;
    /* {"json": bin(record), "messagepack": bin(framed)} */
    static const char both[] =
        "\x82\xa4json\xc4\x2c{\"type\":1,\"target\":\"t\",\"arguments\":[1,\"x\"]}\x1e"
        "\xabmessagepack\xc4\x0c\x0b\x96\x01\x80\xc0\xa1t\x92\x01\xa1x\x90";
    assert_int_equal(hcp_rest_multi_decode(B(both), &r, &reason), 0);
    assert_int_equal(r.json.len, 44);
    assert_int_equal(r.json.ptr[43], 0x1e);
    assert_int_equal(r.msgpack.len, 12);
    assert_int_equal((uint8_t)r.msgpack.ptr[0], 0x0b);
    /* Case-insensitive names, unknown entries skipped, one protocol is enough. */
    static const char one[] = "\x82\xa3xml\xc4\x01x\xabMessagePack\xc4\x0c\x0b\x96\x01\x80\xc0"
                              "\xa1t\x92\x01\xa1x\x90";
    assert_int_equal(hcp_rest_multi_decode(B(one), &r, &reason), 0);
    assert_null(r.json.ptr);
    assert_non_null(r.msgpack.ptr);

    static const struct {
        const char *bytes;
        size_t len;
    } bad[] = {
#define X(lit) {lit, sizeof(lit) - 1}
        X("\x90"),                                      /* not a map */
        X("\x80"),                                      /* no entry */
        X("\x81\xa3xml\xc4\x01x"),                      /* only unknown entries */
        X("\x81\xa4json\x01"),                          /* entry not binary */
        X("\x81\xa4json\xc4\x0a{\"type\":1}"),          /* no 0x1E */
        X("\x81\xa4json\xc4\x0b{\"type\":6}\x1e"),      /* not an invocation */
        X("\x81\xabmessagepack\xc4\x03\x05\x91\x06"),   /* prefix longer than the data */
        X("\x81\xabmessagepack\xc4\x03\x02\x91\x06"),   /* a ping */
        X("\x81\xa4json\xc4\x02{\x1e\xc0"),             /* trailing bytes after the map */
#undef X
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        reason = NULL;
        if (hcp_rest_multi_decode((const uint8_t *)bad[i].bytes, bad[i].len, &r, &reason) !=
            HCP_ERR_MALFORMED)
            fail_msg("bad case %zu accepted", i);
        assert_non_null(reason);
    }
}

/* Every allocation failure is reported cleanly (and leaks nothing). */
static void test_oom(void **state)
{
    (void)state;
    for (int n = 1; n < 60; n++) {
        tu_fail_nth(n);
        struct hcp_buf b;
        hcp_buf_init(&b, 0);
        int rc = hcp_msgpack_encode_invocation(&b, "1", "t", 1, "[{\"a\":[1,2,\"x\"]},\"yy\"]",
                                               22);
        assert_true(rc == 0 || rc == HCP_ERR_NOMEM);
        if (rc == 0) {
            struct hcp_msg m;
            const char *reason;
            rc = hcp_msgpack_msg_decode(b.data + 1, b.len - 1, &m, &reason);
            assert_true(rc == 0 || rc == HCP_ERR_NOMEM);
            if (rc == 0)
                hcp_msg_cleanup(&m);
        }
        hcp_buf_cleanup(&b);
    }
    tu_fail_nth(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST(test_record_next),      TU_TEST(test_decode_js_golden),
        TU_TEST(test_decode_malformed), TU_TEST(test_encoders_golden),
        TU_TEST(test_from_json),        TU_TEST(test_to_json),
        TU_TEST(test_round_trip),       TU_TEST(test_invocation_conversion),
        TU_TEST(test_rest_multi),       TU_TEST(test_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
