/* Unit tests for the strict JSON scanner (hcp/jsonscan.h) and the verbatim
 * argument pass-through of REST payloads built on it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hcp/jsonscan.h"
#include "hcp/rest.h"
#include "test_util.h"

static void test_member_span(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        const char *key;
        bool icase;
        const char *expect; /* NULL = absent */
    } cases[] = {
        {"{\"target\":\"t\",\"arguments\":[1,2]}", "arguments", true, "[1,2]"},
        {"{\"Arguments\": [ \"a\\u0000b\" , 12345678901234567890 ] }", "arguments", true,
         "[ \"a\\u0000b\" , 12345678901234567890 ]"},
        {"{\"Arguments\":[1]}", "arguments", false, NULL},
        {"{\"x\":{\"arguments\":[9]},\"arguments\":[3]}", "arguments", true, "[3]"},
        {"{\"arguments\":[1],\"arguments\":[2]}", "arguments", true, "[1]"},
        {"{}", "arguments", true, NULL},
        {"  {\"a\":null}  ", "a", true, "null"},
        {"{\"a\":-0.5e+10}", "a", true, "-0.5e+10"},
        {"{\"a\":{\"b\":[{},[],\"\\\"\"]}}", "a", true, "{\"b\":[{},[],\"\\\"\"]}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct hcp_str out = {"x", 1};
        assert_int_equal(hcp_json_member_span(cases[i].json, strlen(cases[i].json), cases[i].key,
                                              cases[i].icase, &out),
                         HCP_OK);
        if (!cases[i].expect) {
            assert_null(out.ptr);
        } else {
            assert_non_null(out.ptr);
            assert_int_equal(out.len, strlen(cases[i].expect));
            assert_memory_equal(out.ptr, cases[i].expect, out.len);
        }
    }
}

static void test_malformed(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",          "[]",         "{",          "{\"a\"}",     "{\"a\":}",    "{\"a\":1,}",
        "{\"a\":01}", "{\"a\":1.}",  "{\"a\":.5}",  "{\"a\":tru}", "{\"a\":\"x}", "{\"a\":1}x",
        "{\"a\":\"\x1e\"}", "{\"a\":\"\n\"}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12g4\"}",
        "{\"a\":[1 2]}", "{\"a\":[1,]}", "{\"a\" 1}", "{a:1}", "{\"a\":-}", "{\"a\":1e}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct hcp_str out;
        assert_int_equal(hcp_json_member_span(bad[i], strlen(bad[i]), "a", true, &out),
                         HCP_ERR_MALFORMED);
    }
    assert_int_equal(hcp_json_validate("[1,{\"a\":[]}]", 12), HCP_OK);
    assert_int_equal(hcp_json_validate("[1,{\"a\":[]}", 11), HCP_ERR_MALFORMED);
}

static void test_deep_nesting_is_bounded(void **state)
{
    (void)state;
    size_t n = 100000;
    char *s = malloc(2 * n + 16);
    assert_non_null(s);
    size_t len = 0;
    s[len++] = '{';
    memcpy(s + len, "\"a\":", 4);
    len += 4;
    memset(s + len, '[', n);
    len += n;
    memset(s + len, ']', n);
    len += n;
    s[len++] = '}';
    struct hcp_str out;
    assert_int_equal(hcp_json_member_span(s, len, "a", true, &out), HCP_ERR_MALFORMED);
    free(s);
}

static void test_rest_payload_verbatim(void **state)
{
    (void)state;
    const char *body = "{\"Target\":\"t\",\"Arguments\":[\"nul\\u0000in\",12345678901234567890,"
                       "1.0e2]}";
    struct hcp_rest_payload p;
    const char *reason = NULL;
    assert_int_equal(hcp_rest_payload_decode(body, strlen(body), &p, &reason), HCP_OK);
    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    assert_int_equal(hcp_rest_payload_encode_json(&b, &p), HCP_OK);
    const char *want = "{\"type\":1,\"target\":\"t\",\"arguments\":[\"nul\\u0000in\","
                       "12345678901234567890,1.0e2]}\x1e";
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data, want, b.len);
    hcp_buf_cleanup(&b);
    hcp_rest_payload_cleanup(&p);

    /* A raw control character inside a string would break 0x1E framing. */
    const char *raw_rs = "{\"target\":\"t\",\"arguments\":[\"a\x1e\"]}";
    assert_int_equal(hcp_rest_payload_decode(raw_rs, strlen(raw_rs), &p, &reason),
                     HCP_ERR_MALFORMED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_member_span, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_malformed, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_deep_nesting_is_bounded, tu_setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_rest_payload_verbatim, tu_setup, tu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
