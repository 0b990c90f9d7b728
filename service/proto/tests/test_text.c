/* Unit tests for hcp/text.h: UTF-8, URL coding, query lookup, base64url. */
#include "test_util.h"

static void test_utf8(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t len;
        bool ok;
    } cases[] = {
        {"", 0, true},
        {"ascii", 5, true},
        {"\0nul", 4, true},
        {"\xc3\xa9", 2, true},          /* U+00E9 */
        {"\xe2\x82\xac", 3, true},      /* U+20AC */
        {"\xf0\x9f\x98\x80", 4, true},  /* U+1F600 */
        {"\xf4\x8f\xbf\xbf", 4, true},  /* U+10FFFF */
        {"\xed\x9f\xbf", 3, true},      /* U+D7FF */
        {"\xee\x80\x80", 3, true},      /* U+E000 */
        {"\xc0\xaf", 2, false},         /* overlong '/' */
        {"\xc1\xbf", 2, false},         /* overlong */
        {"\xe0\x80\xaf", 3, false},     /* overlong */
        {"\xe0\x9f\xbf", 3, false},     /* overlong */
        {"\xf0\x80\x80\xaf", 4, false}, /* overlong */
        {"\xf0\x8f\xbf\xbf", 4, false}, /* overlong */
        {"\xed\xa0\x80", 3, false},     /* U+D800 surrogate */
        {"\xed\xbf\xbf", 3, false},     /* U+DFFF surrogate */
        {"\xf4\x90\x80\x80", 4, false}, /* U+110000 */
        {"\xf5\x80\x80\x80", 4, false},
        {"\xff", 1, false},
        {"\x80", 1, false},         /* stray continuation */
        {"\xc3", 1, false},         /* truncated */
        {"\xe2\x82", 2, false},     /* truncated */
        {"\xf0\x9f\x98", 3, false}, /* truncated */
        {"\xe2\x28\xa1", 3, false}, /* bad continuation */
        {"a\xc3\xa9\xe2\x82\xac!", 7, true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (hcp_utf8_valid((const uint8_t *)cases[i].s, cases[i].len) != cases[i].ok)
            fail_msg("utf8 case %zu", i);
    }
}

static void test_url_decode(void **state)
{
    (void)state;
    char out[32];
    size_t n = 99;
    assert_int_equal(hcp_url_decode("a%20b%2Fc%2fd", 13, false, out, sizeof(out), &n), HCP_OK);
    assert_string_equal(out, "a b/c/d");
    assert_int_equal(n, 7);
    assert_int_equal(hcp_url_decode("a+b", 3, false, out, sizeof(out), NULL), HCP_OK);
    assert_string_equal(out, "a+b");
    assert_int_equal(hcp_url_decode("a+b", 3, true, out, sizeof(out), NULL), HCP_OK);
    assert_string_equal(out, "a b");
    assert_int_equal(hcp_url_decode("", 0, true, out, sizeof(out), &n), HCP_OK);
    assert_int_equal(n, 0);
    assert_string_equal(out, "");
    assert_int_equal(hcp_url_decode("%00x", 4, false, out, sizeof(out), &n), HCP_OK);
    assert_int_equal(n, 2);
    assert_int_equal(out[0], 0);
    /* malformed escapes */
    assert_int_equal(hcp_url_decode("%", 1, false, out, sizeof(out), NULL), HCP_ERR_MALFORMED);
    assert_int_equal(hcp_url_decode("%4", 2, false, out, sizeof(out), NULL), HCP_ERR_MALFORMED);
    assert_int_equal(hcp_url_decode("%zz", 3, false, out, sizeof(out), NULL), HCP_ERR_MALFORMED);
    assert_int_equal(hcp_url_decode("ab%g1", 5, false, out, sizeof(out), NULL), HCP_ERR_MALFORMED);
    /* "%4" at the end must not read past len */
    assert_int_equal(hcp_url_decode("%41%4", 5, false, out, sizeof(out), NULL), HCP_ERR_MALFORMED);
    /* capacity: cap counts the NUL */
    assert_int_equal(hcp_url_decode("abc", 3, false, out, 3, NULL), HCP_ERR_TOO_LARGE);
    assert_int_equal(hcp_url_decode("abc", 3, false, out, 4, NULL), HCP_OK);
    assert_int_equal(hcp_url_decode("", 0, false, out, 0, NULL), HCP_ERR_TOO_LARGE);
}

static void test_url_encode(void **state)
{
    (void)state;
    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    assert_int_equal(hcp_url_encode(&b, "aZ09-._~ /?&=\xc3\xa9", 15), HCP_OK);
    assert_string_equal(hcp_buf_cstr(&b), "aZ09-._~%20%2F%3F%26%3D%C3%A9");
    hcp_buf_cleanup(&b);
    hcp_buf_init(&b, 4);
    assert_int_equal(hcp_url_encode(&b, "ab /", 4), HCP_ERR_TOO_LARGE);
    assert_int_equal(b.len, 0);
    hcp_buf_cleanup(&b);
}

static void test_query_get(void **state)
{
    (void)state;
    char out[32];
    const char *q = "hub=chat&id=abc%2Bdef&Excluded=a&excluded=b+c&flag&x=&&EXCLUDED=%7E";
    size_t len = strlen(q);
    assert_int_equal(hcp_query_get(q, len, "hub", 0, out, sizeof(out)), 1);
    assert_string_equal(out, "chat");
    assert_int_equal(hcp_query_get(q, len, "ID", 0, out, sizeof(out)), 1);
    assert_string_equal(out, "abc+def");
    assert_int_equal(hcp_query_get(q, len, "excluded", 0, out, sizeof(out)), 3);
    assert_string_equal(out, "a");
    assert_int_equal(hcp_query_get(q, len, "excluded", 1, out, sizeof(out)), 3);
    assert_string_equal(out, "b c");
    assert_int_equal(hcp_query_get(q, len, "excluded", 2, out, sizeof(out)), 3);
    assert_string_equal(out, "~");
    strcpy(out, "untouched");
    assert_int_equal(hcp_query_get(q, len, "excluded", 3, out, sizeof(out)), 3);
    assert_string_equal(out, "untouched");
    assert_int_equal(hcp_query_get(q, len, "flag", 0, out, sizeof(out)), 1);
    assert_string_equal(out, "");
    assert_int_equal(hcp_query_get(q, len, "x", 0, out, sizeof(out)), 1);
    assert_string_equal(out, "");
    strcpy(out, "untouched");
    assert_int_equal(hcp_query_get(q, len, "missing", 0, out, sizeof(out)), 0);
    assert_string_equal(out, "untouched");
    assert_int_equal(hcp_query_get(q, len, "hu", 0, out, sizeof(out)), 0);
    assert_int_equal(hcp_query_get("", 0, "hub", 0, out, sizeof(out)), 0);
    /* encoded keys are decoded before comparing */
    assert_int_equal(hcp_query_get("access%5Ftoken=t", 16, "access_token", 0, out, sizeof(out)), 1);
    assert_string_equal(out, "t");
    assert_int_equal(hcp_query_get("a+b=1", 5, "a b", 0, out, sizeof(out)), 1);
    /* errors on the selected value */
    assert_int_equal(hcp_query_get("k=%zz", 5, "k", 0, out, sizeof(out)), HCP_ERR_MALFORMED);
    assert_int_equal(hcp_query_get("k=%zz&k=1", 9, "k", 1, out, sizeof(out)), 2);
    assert_string_equal(out, "1");
    assert_int_equal(hcp_query_get("k=12345", 7, "k", 0, out, 4), HCP_ERR_TOO_LARGE);
    /* a malformed key never matches */
    assert_int_equal(hcp_query_get("%zk=1", 5, "k", 0, out, sizeof(out)), 0);
    /* len bounds the scan */
    assert_int_equal(hcp_query_get("a=1&b=2", 3, "b", 0, out, sizeof(out)), 0);
}

static void test_base64url(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *out;
    } cases[] = {
        {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
        {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}, {"\xfb\xff\xbf", "-_-_"},
    };
    char out[32];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int n = hcp_base64url_encode((const uint8_t *)cases[i].in, strlen(cases[i].in), out,
                                     sizeof(out));
        assert_int_equal(n, strlen(cases[i].out));
        assert_string_equal(out, cases[i].out);
    }
    /* 16 random bytes -> 22 chars, as ASP.NET connection ids */
    uint8_t id[16] = {0};
    assert_int_equal(hcp_base64url_encode(id, 16, out, 23), 22);
    assert_int_equal(hcp_base64url_encode(id, 16, out, 22), HCP_ERR_TOO_LARGE);
    assert_int_equal(hcp_base64url_encode(id, 0, out, 0), HCP_ERR_TOO_LARGE);
}

static void test_ieq(void **state)
{
    (void)state;
    assert_true(hcp_str_ieq("Target", "tARGET"));
    assert_true(hcp_str_ieq("", ""));
    assert_false(hcp_str_ieq("abc", "abcd"));
    assert_false(hcp_str_ieq("abcd", "abc"));
    assert_true(hcp_strn_ieq("JSONxyz", 4, "json"));
    assert_false(hcp_strn_ieq("JSONxyz", 5, "json"));
    assert_false(hcp_strn_ieq("JSO", 3, "json"));
    assert_true(hcp_strn_ieq("", 0, ""));
}

static void test_list(void **state)
{
    (void)state;
    const char *cur = " a, ,bb ,\tccc\t,, ", *it = NULL;
    size_t n = 0;
    const char *want[] = {"a", "bb", "ccc"};
    for (size_t i = 0; i < 3; i++) {
        assert_true(hcp_list_next(&cur, &it, &n));
        assert_int_equal(n, strlen(want[i]));
        assert_memory_equal(it, want[i], n);
    }
    assert_false(hcp_list_next(&cur, &it, &n));
    cur = "";
    assert_false(hcp_list_next(&cur, &it, &n));
    assert_true(hcp_list_contains_ci("http://a.test, HTTP://B.test", "http://b.TEST", 13));
    assert_false(hcp_list_contains_ci("http://a.test, http://b.test", "http://b.tes", 12));
    assert_false(hcp_list_contains_ci("", "x", 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST(test_utf8),      TU_TEST(test_url_decode), TU_TEST(test_url_encode),
        TU_TEST(test_query_get), TU_TEST(test_base64url),  TU_TEST(test_ieq),
        TU_TEST(test_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
