/* Unit tests for hcp/connstr.h (azure-signalr-service.md section 1). */
#include "test_util.h"

static int parse(const char *s, struct hcp_connstr *c, const char **reason)
{
    return hcp_connstr_parse(s, strlen(s), c, reason);
}

static void test_parse_ok(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *endpoint, *scheme, *host;
        int port;
        const char *key, *version, *client, *server, *auth;
    } cases[] = {
        {"Endpoint=http://"
         "localhost;Port=8888;AccessKey=ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH;"
         "Version=1.0;",
         "http://localhost:8888", "http", "localhost", 8888,
         "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH", "1.0", "", "", ""},
        {"endpoint=https://x.service.signalr.net/;accesskey=k=with=eq",
         "https://x.service.signalr.net", "https", "x.service.signalr.net", 443, "k=with=eq", "",
         "", "", ""},
        {"  ENDPOINT = HTTP://h:81/base// ; ACCESSKEY= k ;;; junk ; version=1.2-preview",
         "http://h:81/base", "http", "h", 81, "k", "1.2-preview", "", "", ""},
        {"Endpoint=http://h:81;Port=9000;AccessKey=k", "http://h:9000", "http", "h", 9000, "k", "",
         "", "", ""},
        {"Endpoint=http://h;Port=80;AccessKey=k", "http://h", "http", "h", 80, "k", "", "", "", ""},
        {"Endpoint=https://h:443;AccessKey=k", "https://h", "https", "h", 443, "k", "", "", "", ""},
        {"Endpoint=http://[::1]:8080;AccessKey=k", "http://[::1]:8080", "http", "::1", 8080, "k",
         "", "", "", ""},
        {"Endpoint=https://h;AuthType=aad;ClientId=x", "https://h", "https", "h", 443, "", "", "",
         "", "aad"},
        {"Endpoint=http://h;AccessKey=k;ClientEndpoint=http://c:1;ServerEndpoint=http://s/",
         "http://h", "http", "h", 80, "k", "", "http://c:1", "http://s/", ""},
        {"Unknown=1;Endpoint=http://h;AccessKey=k;Other", "http://h", "http", "h", 80, "k", "", "",
         "", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct hcp_connstr c;
        const char *reason = NULL;
        int rc = parse(cases[i].in, &c, &reason);
        if (rc != HCP_OK)
            fail_msg("case %zu: rc %d (%s)", i, rc, reason);
        assert_string_equal(c.endpoint, cases[i].endpoint);
        assert_string_equal(c.scheme, cases[i].scheme);
        assert_string_equal(c.host, cases[i].host);
        assert_int_equal(c.port, cases[i].port);
        assert_string_equal(c.access_key, cases[i].key);
        assert_string_equal(c.version, cases[i].version);
        assert_string_equal(c.client_endpoint, cases[i].client);
        assert_string_equal(c.server_endpoint, cases[i].server);
        assert_string_equal(c.auth_type, cases[i].auth);
    }
}

static void test_parse_errors(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int rc;
        const char *reason;
    } cases[] = {
        {"", HCP_ERR_MALFORMED, "Endpoint is required."},
        {";;;", HCP_ERR_MALFORMED, "Endpoint is required."},
        {"AccessKey=k", HCP_ERR_MALFORMED, "Endpoint is required."},
        {"Endpoint=;AccessKey=k", HCP_ERR_MALFORMED, "Endpoint is required."},
        {"Endpoint=http://h", HCP_ERR_MALFORMED, "AccessKey is required."},
        {"Endpoint=http://h;AccessKey=", HCP_ERR_MALFORMED, "AccessKey is required."},
        {"Endpoint=ftp://h;AccessKey=k", HCP_ERR_MALFORMED,
         "Endpoint must be an absolute http or https URL."},
        {"Endpoint=localhost;AccessKey=k", HCP_ERR_MALFORMED,
         "Endpoint must be an absolute http or https URL."},
        {"Endpoint=http://;AccessKey=k", HCP_ERR_MALFORMED,
         "Endpoint must be an absolute http or https URL."},
        {"Endpoint=http://h:0;AccessKey=k", HCP_ERR_MALFORMED,
         "Endpoint must be an absolute http or https URL."},
        {"Endpoint=http://h:70000;AccessKey=k", HCP_ERR_MALFORMED,
         "Endpoint must be an absolute http or https URL."},
        {"Endpoint=http://h:;AccessKey=k", HCP_ERR_MALFORMED,
         "Endpoint must be an absolute http or https URL."},
        {"Endpoint=http://[::1;AccessKey=k", HCP_ERR_MALFORMED,
         "Endpoint must be an absolute http or https URL."},
        {"Endpoint=http://h;Port=0;AccessKey=k", HCP_ERR_MALFORMED,
         "Port must be an integer between 1 and 65535."},
        {"Endpoint=http://h;Port=65536;AccessKey=k", HCP_ERR_MALFORMED,
         "Port must be an integer between 1 and 65535."},
        {"Endpoint=http://h;Port=abc;AccessKey=k", HCP_ERR_MALFORMED,
         "Port must be an integer between 1 and 65535."},
        {"Endpoint=http://h;Port=;AccessKey=k", HCP_ERR_MALFORMED,
         "Port must be an integer between 1 and 65535."},
        {"Endpoint=http://h;AccessKey=k;Version=2.0", HCP_ERR_MALFORMED,
         "Version is not supported; expected 1.x."},
        {"Endpoint=http://h;AccessKey=k;Version=1", HCP_ERR_MALFORMED,
         "Version is not supported; expected 1.x."},
        {"Endpoint=http://h;AccessKey=k;Version=1.x", HCP_ERR_MALFORMED,
         "Version is not supported; expected 1.x."},
        {"Endpoint=http://h;AccessKey=k;endpoint=http://g", HCP_ERR_MALFORMED,
         "Duplicate key in connection string."},
        {"Endpoint=http://h;AccessKey=k;foo=1;FOO=2", HCP_ERR_MALFORMED,
         "Duplicate key in connection string."},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct hcp_connstr c;
        memset(&c, 0x5A, sizeof(c));
        const char *reason = NULL;
        int rc = parse(cases[i].in, &c, &reason);
        if (rc != cases[i].rc || reason == NULL || strcmp(reason, cases[i].reason) != 0)
            fail_msg("case %zu (%s): rc %d reason %s", i, cases[i].in, rc,
                     reason ? reason : "(null)");
        assert_int_equal(((unsigned char *)&c)[0], 0x5A);
    }
}

static void test_parse_limits(void **state)
{
    (void)state;
    char s[2048];
    char key[600];
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    snprintf(s, sizeof(s), "Endpoint=http://h;AccessKey=%s", key);
    struct hcp_connstr c;
    const char *reason = NULL;
    assert_int_equal(parse(s, &c, &reason), HCP_ERR_TOO_LARGE);
    assert_string_equal(reason, "AccessKey is too long.");
    char host[300];
    memset(host, 'h', sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    snprintf(s, sizeof(s), "Endpoint=http://%s;AccessKey=k", host);
    assert_int_equal(parse(s, &c, &reason), HCP_ERR_TOO_LARGE);
    /* len bounds the input */
    const char *full = "Endpoint=http://h;AccessKey=k;Version=9";
    assert_int_equal(hcp_connstr_parse(full, 29, &c, &reason), HCP_OK);
    assert_string_equal(c.access_key, "k");
}

static void test_format(void **state)
{
    (void)state;
    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    assert_int_equal(hcp_connstr_format(&b, "http", "localhost", 8888,
                                        "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH"),
                     HCP_OK);
    assert_string_equal(hcp_buf_cstr(&b), "Endpoint=http://localhost;Port=8888;AccessKey="
                                          "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH;"
                                          "Version=1.0;");
    /* and it parses back */
    struct hcp_connstr c;
    const char *reason;
    assert_int_equal(hcp_connstr_parse((const char *)b.data, b.len, &c, &reason), HCP_OK);
    assert_int_equal(c.port, 8888);
    assert_string_equal(c.endpoint, "http://localhost:8888");
    hcp_buf_reset(&b);
    assert_int_equal(hcp_connstr_format(&b, "http", "::1", 80, "k"), HCP_OK);
    assert_string_equal(hcp_buf_cstr(&b), "Endpoint=http://[::1];Port=80;AccessKey=k;Version=1.0;");
    hcp_buf_reset(&b);
    assert_int_equal(hcp_connstr_format(&b, "http", "h", 0, "k"), HCP_ERR_INVALID);
    hcp_buf_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST(test_parse_ok),
        TU_TEST(test_parse_errors),
        TU_TEST(test_parse_limits),
        TU_TEST(test_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
