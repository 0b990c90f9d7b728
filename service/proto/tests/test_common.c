/* Unit tests for hcp/common.h: errors, allocator hook, hcp_buf, JSON strings. */
#include "test_util.h"

static void test_strerror(void **state)
{
    (void)state;
    assert_string_equal(hcp_strerror(HCP_OK), "success");
    assert_string_equal(hcp_strerror(HCP_ERR_INCOMPLETE), "incomplete input, more bytes needed");
    assert_string_equal(hcp_strerror(HCP_ERR_METHOD), "method not allowed");
    assert_string_equal(hcp_strerror(-999), "unknown error");
    assert_string_equal(hcp_strerror(1), "unknown error");
}

static void test_strdup(void **state)
{
    (void)state;
    char *s = hcp_strndup("hello world", 5);
    assert_non_null(s);
    assert_string_equal(s, "hello");
    hcp_free(s);
    s = hcp_strdup("");
    assert_non_null(s);
    assert_string_equal(s, "");
    hcp_free(s);
    hcp_free(NULL);
    tu_fail_nth(1);
    assert_null(hcp_strdup("x"));
    int *z = hcp_calloc(4, sizeof(int));
    assert_non_null(z);
    assert_int_equal(z[0] | z[1] | z[2] | z[3], 0);
    hcp_free(z);
    assert_null(hcp_calloc(SIZE_MAX / 2, 4));
}

static void test_buf_basic(void **state)
{
    (void)state;
    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    assert_string_equal(hcp_buf_cstr(&b), "");
    assert_int_equal(hcp_buf_append_str(&b, "abc"), HCP_OK);
    assert_int_equal(hcp_buf_append_byte(&b, 'd'), HCP_OK);
    assert_int_equal(hcp_buf_appendf(&b, "-%d-%s", 42, "x"), HCP_OK);
    assert_string_equal(hcp_buf_cstr(&b), "abcd-42-x");
    assert_int_equal(b.len, 9);
    hcp_buf_consume(&b, 2);
    assert_string_equal(hcp_buf_cstr(&b), "cd-42-x");
    hcp_buf_consume(&b, 100);
    assert_int_equal(b.len, 0);
    assert_int_equal(hcp_buf_append_zeros(&b, 3), HCP_OK);
    assert_int_equal(b.len, 3);
    assert_int_equal(b.data[0] | b.data[1] | b.data[2], 0);
    hcp_buf_reset(&b);
    assert_int_equal(b.len, 0);
    /* appendf longer than the current capacity */
    char big[300];
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(hcp_buf_appendf(&b, "%s|%s", big, big), HCP_OK);
    assert_int_equal(b.len, 2 * 299 + 1);
    assert_true(b.cap > b.len);
    size_t len = 0;
    uint8_t *p = hcp_buf_take(&b, &len);
    assert_non_null(p);
    assert_int_equal(len, 599);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    hcp_free(p);
    assert_null(hcp_buf_take(&b, &len));
    assert_int_equal(len, 0);
    hcp_buf_cleanup(&b);
    hcp_buf_cleanup(&b);
}

static void test_buf_cap(void **state)
{
    (void)state;
    struct hcp_buf b;
    hcp_buf_init(&b, 8);
    assert_int_equal(hcp_buf_append_str(&b, "12345678"), HCP_OK);
    assert_int_equal(hcp_buf_append_byte(&b, '9'), HCP_ERR_TOO_LARGE);
    assert_int_equal(hcp_buf_appendf(&b, "%d", 9), HCP_ERR_TOO_LARGE);
    assert_string_equal(hcp_buf_cstr(&b), "12345678");
    assert_int_equal(hcp_buf_reserve(&b, SIZE_MAX), HCP_ERR_TOO_LARGE);
    assert_int_equal(hcp_buf_append_zeros(&b, 1), HCP_ERR_TOO_LARGE);
    assert_int_equal(b.len, 8);
    hcp_buf_cleanup(&b);

    hcp_buf_init(&b, 0);
    assert_int_equal(hcp_buf_reserve(&b, SIZE_MAX), HCP_ERR_TOO_LARGE);
    hcp_buf_cleanup(&b);
}

static void test_buf_nomem(void **state)
{
    (void)state;
    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    assert_int_equal(hcp_buf_append_str(&b, "keep"), HCP_OK);
    char big[200];
    memset(big, 'z', sizeof(big));
    tu_fail_nth(1);
    assert_int_equal(hcp_buf_append(&b, big, sizeof(big)), HCP_ERR_NOMEM);
    assert_string_equal(hcp_buf_cstr(&b), "keep");
    tu_fail_nth(1);
    assert_int_equal(hcp_buf_appendf(&b, "%.*s", 150, big), HCP_ERR_NOMEM);
    assert_string_equal(hcp_buf_cstr(&b), "keep");
    tu_fail_nth(0);
    hcp_buf_cleanup(&b);
}

static void test_json_string(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t len;
        const char *out;
    } cases[] = {
        {"", 0, "\"\""},
        {"plain", 5, "\"plain\""},
        {"a\"b\\c", 5, "\"a\\\"b\\\\c\""},
        {"\x1e", 1, "\"\\u001e\""},
        {"x\ny\r\t", 5, "\"x\\u000ay\\u000d\\u0009\""},
        {"\0z", 2, "\"\\u0000z\""},
        {"\x1f\x7f", 2, "\"\\u001f\x7f\""},
        {"h\xc3\xa9llo", 6, "\"h\xc3\xa9llo\""},
        {"/", 1, "\"/\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct hcp_buf b;
        hcp_buf_init(&b, 0);
        assert_int_equal(hcp_json_append_string(&b, cases[i].in, cases[i].len), HCP_OK);
        assert_string_equal(hcp_buf_cstr(&b), cases[i].out);
        assert_null(memchr(b.data, 0x1e, b.len));
        hcp_buf_cleanup(&b);
    }
    /* Cap hit mid-string leaves the buffer as it was. */
    struct hcp_buf b;
    hcp_buf_init(&b, 6);
    assert_int_equal(hcp_buf_append_str(&b, "ab"), HCP_OK);
    assert_int_equal(hcp_json_append_string(&b, "\x01", 1), HCP_ERR_TOO_LARGE);
    assert_int_equal(b.len, 2);
    hcp_buf_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST(test_strerror), TU_TEST(test_strdup),    TU_TEST(test_buf_basic),
        TU_TEST(test_buf_cap),  TU_TEST(test_buf_nomem), TU_TEST(test_json_string),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
