/* Unit tests for the chunked body decoder (hcp/http.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hcp/http.h"

static int decode_all(const char *in, size_t step, size_t max, struct hcp_buf *out)
{
    struct hcp_chunked d;
    hcp_chunked_init(&d);
    hcp_buf_init(out, max);
    size_t len = strlen(in), off = 0;
    while (off < len) {
        size_t n = len - off < step ? len - off : step, used = 0;
        int rc = hcp_chunked_decode(&d, (const uint8_t *)in + off, n, out, &used);
        if (rc != HCP_OK)
            return rc;
        off += used;
    }
    return HCP_OK;
}

static void test_valid(void **state)
{
    (void)state;
    const char *cases[][2] = {
        {"5\r\nhello\r\n0\r\n\r\n", "hello"},
        {"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world"},
        {"A;ext=1\r\n0123456789\r\n0\r\nX-T: y\r\n\r\n", "0123456789"},
        {"0\r\n\r\n", ""},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (size_t step = 1; step <= 64; step *= 2) {
            struct hcp_buf out;
            assert_int_equal(decode_all(cases[c][0], step, 0, &out), 1);
            assert_int_equal(out.len, strlen(cases[c][1]));
            assert_memory_equal(hcp_buf_cstr(&out), cases[c][1], out.len);
            hcp_buf_cleanup(&out);
        }
    }
}

static void test_leftover_belongs_to_next_request(void **state)
{
    (void)state;
    const char *in = "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
    struct hcp_chunked d;
    struct hcp_buf out;
    hcp_chunked_init(&d);
    hcp_buf_init(&out, 0);
    size_t used = 0;
    assert_int_equal(hcp_chunked_decode(&d, (const uint8_t *)in, strlen(in), &out, &used), 1);
    assert_int_equal(used, strlen("3\r\nabc\r\n0\r\n\r\n"));
    hcp_buf_cleanup(&out);
}

static void test_malformed(void **state)
{
    (void)state;
    const char *bad[] = {"x\r\n",        "5\r\nhelloXX",          "\r\n",
                         "5\nhello\r\n", "FFFFFFFFFFFFFFFFF\r\n", "3\r\nabc\r\n0\r\n\rX"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct hcp_buf out;
        assert_int_equal(decode_all(bad[i], 1000, 0, &out), HCP_ERR_MALFORMED);
        hcp_buf_cleanup(&out);
    }
}

static void test_cap(void **state)
{
    (void)state;
    struct hcp_buf out;
    assert_int_equal(decode_all("a\r\n0123456789\r\n0\r\n\r\n", 100, 4, &out), HCP_ERR_TOO_LARGE);
    hcp_buf_cleanup(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_leftover_belongs_to_next_request),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
