/* Unit tests for core/httpreq.h: the request-head parser. */
#include "hcb_test.h"

#include "httpreq.h"

static void test_parse(void **state)
{
    (void)state;
    const char *r = "POST /devices/d1/messages/events?api-version=2021-04-12 HTTP/1.1\r\n"
                    "Host: localhost\r\n"
                    "iothub-app-unit:   C  \r\n"
                    "Transfer-Encoding: chunked\r\n"
                    "\r\n"
                    "5\r\nhello\r\n0\r\n\r\n";
    struct hcb_http_head h;
    int n = hcb_http_parse_head(r, strlen(r), 16384, &h);
    assert_int_equal(n, (int)(strstr(r, "5\r\n") - r));
    assert_int_equal(h.method.len, 4);
    assert_memory_equal(h.path.ptr, "/devices/d1/messages/events", h.path.len);
    assert_int_equal(h.query.len, strlen("api-version=2021-04-12"));
    assert_int_equal(h.minor_version, 1);
    assert_int_equal(h.n_headers, 3);
    const struct hcp_str *v = hcb_http_header(&h, "IOTHUB-APP-UNIT");
    assert_non_null(v);
    assert_int_equal(v->len, 1);
    assert_int_equal(v->ptr[0], 'C');
    assert_null(hcb_http_header(&h, "content-length"));
    /* Bare LF line ends, no query. */
    const char *r2 = "GET / HTTP/1.0\nA: b\n\n";
    assert_int_equal(hcb_http_parse_head(r2, strlen(r2), 16384, &h), (int)strlen(r2));
    assert_null(h.query.ptr);
    assert_int_equal(h.minor_version, 0);
}

static void test_incomplete_and_bad(void **state)
{
    (void)state;
    struct hcb_http_head h;
    const char *part = "GET / HTTP/1.1\r\nHost: x\r\n";
    assert_int_equal(hcb_http_parse_head(part, strlen(part), 16384, &h), HCP_ERR_INCOMPLETE);
    assert_int_equal(hcb_http_parse_head(part, strlen(part), 10, &h), HCP_ERR_TOO_LARGE);
    static const char *const bad[] = {
        "GET\r\n\r\n", "GET / HTTP/2.0\r\n\r\n", "GET x HTTP/1.1\r\n\r\n",
        "G(T / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
        "GET / HTTP/1.1\r\n folded\r\n\r\n", "GET / HTTP/1.1\r\nBad Name: v\r\n\r\n",
        "GET /a b HTTP/1.1\r\n\r\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(hcb_http_parse_head(bad[i], strlen(bad[i]), 16384, &h),
                         HCP_ERR_MALFORMED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {TU_TEST(test_parse), TU_TEST(test_incomplete_and_bad)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
