/* Unit tests for upstream_req.h: the X-ASRS-* header block (signature known
 * vectors), settings path resolution and reading, the default file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "upstream_req.h"

#define EMU_KEY "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH"
/* printf %s conn1 | openssl dgst -sha256 -hmac <key> */
#define SIG_EMU "8DE7281E588E23B0A30A7180FFA240257B8176E983004C240C9F3F7A7233C993"
#define SIG_SECOND "885DF3DF1B2B910FE88B696754379277E42EC15172131C789664F9B0B0A2EEE1"

static void *t_malloc(size_t n)
{
    return test_malloc(n);
}
static void *t_realloc(void *p, size_t n)
{
    return test_realloc(p, n);
}
static void t_free(void *p)
{
    test_free(p);
}

static int setup(void **state)
{
    (void)state;
    static const struct hcp_alloc a = {t_malloc, t_realloc, t_free};
    hcp_set_alloc(&a);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hcp_set_alloc(NULL);
    return 0;
}

/* Join the NUL-separated lines with '\n' for comparison. */
static char *lines(const struct hcp_buf *b)
{
    char *s = malloc(b->len + 1);
    assert_non_null(s);
    memcpy(s, b->data, b->len);
    for (size_t i = 0; i < b->len; i++)
        if (s[i] == '\0')
            s[i] = '\n';
    s[b->len] = '\0';
    return s;
}

static void test_headers_full(void **state)
{
    (void)state;
    cJSON *claims = cJSON_Parse("{\"aud\":\"x\",\"exp\":1,\"asrs.s.uid\":\"alice\","
                                "\"marker\":\"abc\",\"asrs.u.iss\":\"me\"}");
    assert_non_null(claims);
    struct hcs_upstream_event ev = {
        .hub = "chat",
        .conn_id = "conn1",
        .user_id = "alice",
        .claims = claims,
        .query = "hub=chat&foo=bar",
        .category = "messages",
        .event = "broadcast",
    };
    const char *keys[] = {EMU_KEY, "secondary-key"};
    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    assert_int_equal(hcs_upstream_req_headers(&b, &ev, keys, 2, "application/json"), 0);
    char *got = lines(&b);
    assert_string_equal(got, "Content-Type: application/json\n"
                             "X-ASRS-Connection-Id: conn1\n"
                             "X-ASRS-Hub: chat\n"
                             "X-ASRS-Category: messages\n"
                             "X-ASRS-Event: broadcast\n"
                             "X-ASRS-User-Id: alice\n"
                             "X-ASRS-User-Claims: marker: abc, iss: me\n"
                             "X-ASRS-Client-Query: ?hub=chat&foo=bar\n"
                             "X-ASRS-Signature: sha256=" SIG_EMU ",sha256=" SIG_SECOND "\n");
    free(got);
    hcp_buf_cleanup(&b);
    cJSON_Delete(claims);
}

static void test_headers_minimal(void **state)
{
    (void)state;
    /* No user, only system claims, no query; a target with CR LF cannot
     * inject a header. */
    cJSON *claims = cJSON_Parse("{\"aud\":\"x\",\"asrs.s.htt\":1}");
    struct hcs_upstream_event ev = {
        .hub = "h",
        .conn_id = "conn1",
        .user_id = "",
        .claims = claims,
        .query = NULL,
        .category = "messages",
        .event = "a\r\nX-Evil: 1",
    };
    const char *keys[] = {EMU_KEY};
    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    assert_int_equal(hcs_upstream_req_headers(&b, &ev, keys, 1, "application/json"), 0);
    char *got = lines(&b);
    assert_string_equal(got, "Content-Type: application/json\n"
                             "X-ASRS-Connection-Id: conn1\n"
                             "X-ASRS-Hub: h\n"
                             "X-ASRS-Category: messages\n"
                             "X-ASRS-Event: a  X-Evil: 1\n"
                             "X-ASRS-Client-Query: ?\n"
                             "X-ASRS-Signature: sha256=" SIG_EMU "\n");
    free(got);
    hcp_buf_cleanup(&b);
    cJSON_Delete(claims);
}

static void test_default_settings(void **state)
{
    (void)state;
    struct hcp_upstream_settings s;
    const char *reason = NULL;
    assert_int_equal(hcp_upstream_settings_parse(HCS_UPSTREAM_DEFAULT_SETTINGS,
                                                 strlen(HCS_UPSTREAM_DEFAULT_SETTINGS), &s,
                                                 &reason),
                     HCP_OK);
    assert_int_equal(s.n_rules, 1);
    assert_string_equal(s.rules[0].url_template, "http://localhost:7071/runtime/webhooks/signalr");
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    hcs_upstream_settings_print(f, &s);
    fclose(f);
    assert_string_equal(text, "[0] http://localhost:7071/runtime/webhooks/signalr (hub: '*', "
                              "category: '*', event: '*')\n");
    free(text);
    hcp_upstream_settings_cleanup(&s);
}

static void test_path_and_read(void **state)
{
    (void)state;
    char dir[] = "/tmp/hcs_up_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], file[300];
    assert_int_equal(hcs_upstream_settings_path("", path, sizeof(path)), 0);
    assert_string_equal(path, "./settings.json");
    assert_int_equal(hcs_upstream_settings_path(dir, path, sizeof(path)), 0);
    snprintf(file, sizeof(file), "%s/settings.json", dir);
    assert_string_equal(path, file);
    assert_int_equal(hcs_upstream_settings_path(file, path, sizeof(path)), 0);
    assert_string_equal(path, file);
    assert_int_equal(hcs_upstream_settings_path(file, path, 4), -1);

    struct hcp_upstream_settings s;
    struct stat st;
    bool missing = false;
    char err[256];
    assert_int_equal(hcs_upstream_settings_read(file, &s, &st, &missing, err, sizeof(err)), -1);
    assert_true(missing);

    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fputs("{\"UpstreamSettings\":{\"Templates\":[{\"UrlTemplate\":\"ftp://x/\"}]}}", f);
    fclose(f);
    assert_int_equal(hcs_upstream_settings_read(file, &s, &st, &missing, err, sizeof(err)), -1);
    assert_false(missing);
    assert_non_null(strstr(err, "UrlTemplate"));

    f = fopen(file, "w");
    fputs(HCS_UPSTREAM_DEFAULT_SETTINGS, f);
    fclose(f);
    assert_int_equal(hcs_upstream_settings_read(file, &s, &st, &missing, err, sizeof(err)), 0);
    assert_int_equal(s.n_rules, 1);
    assert_int_equal((size_t)st.st_size, strlen(HCS_UPSTREAM_DEFAULT_SETTINGS));
    hcp_upstream_settings_cleanup(&s);

    /* A directory is not a settings file. */
    assert_int_equal(hcs_upstream_settings_read(dir, &s, &st, &missing, err, sizeof(err)), -1);
    assert_false(missing);

    unlink(file);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_headers_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_headers_minimal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_default_settings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_and_read, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
