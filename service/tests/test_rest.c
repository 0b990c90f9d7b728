/*
 * Unit tests for the REST data plane (rest.h): every route of
 * azure-signalr-service.md section 4.3 rows 1-20 with its status and
 * x-ms-error-code, v1 variants, HEAD, auth, application prefix and the
 * 400/404/405 cases. Connections are made through core.h; the allocator hook
 * points at CMocka's test_malloc/test_free, so every test is a leak check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/rest.h"

#define RS "\x1e"
#define HS_JSON "{\"protocol\":\"json\",\"version\":1}" RS
#define BODY "{\"target\":\"newMessage\",\"arguments\":[\"ann\",1]}"
#define WIRE "{\"type\":1,\"target\":\"newMessage\",\"arguments\":[\"ann\",1]}" RS

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

static const struct hcp_alloc talloc = {t_malloc, t_realloc, t_free};

struct fx {
    struct hcs_core *core;
    struct hcs_rest_response resp;
    int auth_status;
    const char *content_type;
    bool path_decoded;
    int64_t now;
    /* issue_token recording */
    char tok_hub[64], tok_user[64];
    int64_t tok_lifetime;
    int n_tokens;
};

static void on_want(void *user, const char *conn_id, void *transport)
{
    (void)user;
    (void)conn_id;
    (void)transport;
}

static const struct hcs_sink_ops sink_ops = {on_want};

/* The fixture comes from libc; the core is created and freed inside each
 * test because CMocka 1.1.5 checks for leaks right after the test body. */
static int setup(void **state)
{
    hcp_set_alloc(&talloc);
    struct fx *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    hcs_rest_response_cleanup(&f->resp);
    hcs_core_free(f->core);
    free(f);
    return 0;
}

static struct fx *fx(void **state)
{
    struct fx *f = *state;
    struct hcs_core_limits l;
    hcs_core_limits_default(&l);
    f->core = hcs_core_new(&l, &sink_ops, f);
    assert_non_null(f->core);
    hcs_rest_response_init(&f->resp);
    f->content_type = "application/json";
    return f;
}

static void fx_end(struct fx *f)
{
    hcs_rest_response_cleanup(&f->resp);
    hcs_rest_response_init(&f->resp);
    hcs_core_free(f->core);
    f->core = NULL;
}

static int issue_token(void *user, const char *hub, const char *user_id, int64_t lifetime_s,
                       char **out_token)
{
    struct fx *f = user;
    f->n_tokens++;
    snprintf(f->tok_hub, sizeof(f->tok_hub), "%s", hub);
    snprintf(f->tok_user, sizeof(f->tok_user), "%s", user_id ? user_id : "(null)");
    f->tok_lifetime = lifetime_s;
    *out_token = hcp_strdup("eyJ.tok\"en");
    return *out_token ? 0 : -1;
}

/*
 * Issue a request. `query` is "k=v&k=v" with no escaping (test values are
 * plain); returns the status.
 */
static int rest(struct fx *f, enum hcp_method m, const char *path, const char *query,
                const char *body)
{
    struct hcs_rest_param params[16];
    char qbuf[512];
    size_t n = 0;
    if (query) {
        snprintf(qbuf, sizeof(qbuf), "%s", query);
        for (char *save = NULL, *kv = strtok_r(qbuf, "&", &save); kv && n < 16;
             kv = strtok_r(NULL, "&", &save)) {
            char *eq = strchr(kv, '=');
            if (eq)
                *eq = '\0';
            params[n].key = kv;
            params[n].value = eq ? eq + 1 : "";
            n++;
        }
    }
    struct hcs_rest_request req = {
        .method = m,
        .path = path,
        .path_len = strlen(path),
        .path_decoded = f->path_decoded,
        .params = params,
        .n_params = n,
        .content_type = f->content_type,
        .body = (const uint8_t *)body,
        .body_len = body ? strlen(body) : 0,
        .auth_status = f->auth_status,
        .now_ms = f->now,
        .issue_token = issue_token,
        .issue_user = f,
    };
    assert_int_equal(hcs_rest_handle(f->core, &req, &f->resp), 0);
    return f->resp.status;
}

static const char *body(struct fx *f)
{
    return hcp_buf_cstr(&f->resp.body);
}

/* Expect an error answer with code and an ErrorDetail body naming it. */
static void expect_error(struct fx *f, int status, const char *code)
{
    assert_int_equal(f->resp.status, status);
    assert_non_null(f->resp.error_code);
    assert_string_equal(f->resp.error_code, code);
    assert_non_null(f->resp.content_type);
    assert_string_equal(f->resp.content_type, "application/json");
    char want[128];
    snprintf(want, sizeof(want), "{\"code\":\"%s\",\"message\":\"", code);
    assert_true(strncmp(body(f), want, strlen(want)) == 0);
}

static void expect_ok(struct fx *f, int status)
{
    assert_int_equal(f->resp.status, status);
    assert_null(f->resp.error_code);
    assert_null(f->resp.content_type);
    assert_int_equal(f->resp.body.len, 0);
}

static struct hcs_conn *connect(struct fx *f, const char *hub, const char *id, const char *user)
{
    char token[64];
    snprintf(token, sizeof(token), "%s/%s", hub, id);
    struct hcs_conn_params p = {.hub = hub,
                                .id = id,
                                .token = token,
                                .user_id = user,
                                .transports = HCS_TRANSPORT_WEBSOCKETS};
    struct hcs_conn *c = NULL;
    assert_int_equal(hcs_core_conn_new(f->core, &p, 0, &c), 0);
    assert_int_equal(hcs_core_conn_attach(f->core, c, HCS_TRANSPORT_WEBSOCKETS, c, 0), 0);
    assert_int_equal(hcs_core_conn_input(f->core, c, (const uint8_t *)HS_JSON, strlen(HS_JSON), 0),
                     0);
    return c;
}

/* Everything written to c since the last call (handshake answer skipped). */
static const char *out(struct fx *f, struct hcs_conn *c, enum hcs_output *final)
{
    static char buf[4096];
    size_t len = 0;
    enum hcs_output o;
    uint8_t *p;
    size_t n;
    while ((o = hcs_core_conn_output(f->core, c, &p, &n, 0)) == HCS_OUTPUT_DATA) {
        assert_true(len + n < sizeof(buf));
        memcpy(buf + len, p, n);
        len += n;
        hcs_core_conn_output_done(f->core, c);
    }
    buf[len] = '\0';
    if (final)
        *final = o;
    return strncmp(buf, "{}" RS, 3) == 0 ? buf + 3 : buf;
}

/* ---- tests ---- */

static void t_health_and_auth(void **state)
{
    struct fx *f = fx(state);
    f->auth_status = -1; /* health is anonymous */
    assert_int_equal(rest(f, HCP_METHOD_GET, "/api/health", NULL, NULL), 200);
    expect_ok(f, 200);
    assert_int_equal(rest(f, HCP_METHOD_HEAD, "/api/v1/health", NULL, NULL), 200);
    assert_int_equal(rest(f, HCP_METHOD_HEAD, "/api/health", "api-version=2022-06-01", NULL), 200);
    /* Everything else needs the token, whatever the path. */
    assert_int_equal(rest(f, HCP_METHOD_POST, "/api/hubs/chat/:send", NULL, BODY), 401);
    assert_true(f->resp.www_authenticate);
    assert_int_equal(f->resp.body.len, 0);
    assert_int_equal(rest(f, HCP_METHOD_GET, "/api/nope", NULL, NULL), 401);
    assert_int_equal(rest(f, HCP_METHOD_HEAD, "/api/hubs/chat/connections/c", NULL, NULL), 401);
    f->auth_status = 0;
    assert_int_equal(rest(f, HCP_METHOD_POST, "/api/hubs/chat/:send", NULL, BODY), 202);
    assert_false(f->resp.www_authenticate);
    fx_end(f);
}

static void t_not_found_and_method(void **state)
{
    struct fx *f = fx(state);
    assert_int_equal(rest(f, HCP_METHOD_GET, "/api/nope", NULL, NULL), 404);
    expect_error(f, 404, "Error.Request.NotFound");
    assert_int_equal(rest(f, HCP_METHOD_GET, "/api/hubs/chat/:send", NULL, NULL), 405);
    expect_error(f, 405, "Error.Request.MethodNotAllowed");
    assert_int_equal(rest(f, HCP_METHOD_PATCH, "/api/hubs/chat/groups/g/connections/c", NULL, NULL),
                     405);
    assert_int_equal(rest(f, HCP_METHOD_POST, "/api/health", NULL, NULL), 405);
    /* HEAD errors carry no body. */
    assert_int_equal(rest(f, HCP_METHOD_HEAD, "/api/nothing/here", NULL, NULL), 404);
    assert_int_equal(f->resp.body.len, 0);
    assert_null(f->resp.content_type);
    fx_end(f);
}

static void t_invalid_names(void **state)
{
    struct fx *f = fx(state);
    assert_int_equal(rest(f, HCP_METHOD_POST, "/api/hubs/1chat/:send", NULL, BODY), 400);
    expect_error(f, 400, "Error.Request.Invalid");
    assert_non_null(strstr(body(f), "Invalid hub name."));
    assert_int_equal(rest(f, HCP_METHOD_POST, "/api/hubs/chat/groups/%20/:send", NULL, BODY), 400);
    assert_non_null(strstr(body(f), "Invalid group name."));
    assert_int_equal(rest(f, HCP_METHOD_POST, "/api/hubs/chat/:send", "application=9app", BODY),
                     400);
    assert_non_null(strstr(body(f), "application"));
    assert_int_equal(rest(f, HCP_METHOD_POST, "/api/hubs/chat/groups/a%zz/:send", NULL, BODY), 400);
    fx_end(f);
}

static void t_broadcast(void **state)
{
    struct fx *f = fx(state);
    struct hcs_conn *c1 = connect(f, "chat", "c1", NULL);
    struct hcs_conn *c2 = connect(f, "chat", "c2", NULL);
    struct hcs_conn *c3 = connect(f, "chat", "c3", NULL);
    assert_int_equal(rest(f, HCP_METHOD_POST, "/api/hubs/Chat/:send",
                          "api-version=2022-06-01&excluded=c2&excluded=c3", BODY),
                     202);
    expect_ok(f, 202);
    assert_string_equal(out(f, c1, NULL), WIRE);
    assert_string_equal(out(f, c2, NULL), "");
    assert_string_equal(out(f, c3, NULL), "");
    /* v1 path, charset parameter, .NET property casing. */
    f->content_type = "application/json; charset=UTF-8";
    assert_int_equal(rest(f, HCP_METHOD_POST, "/api/v1/hubs/CHAT", NULL,
                          "{\"Target\":\"newMessage\",\"Arguments\":[\"ann\",1]}"),
                     202);
    assert_string_equal(out(f, c2, NULL), WIRE);
    assert_string_equal(out(f, c1, NULL), WIRE);
    assert_string_equal(out(f, c3, NULL), WIRE);
    f->content_type = NULL;
    assert_int_equal(rest(f, HCP_METHOD_POST, "/api/hubs/chat/:send", NULL, "{\"target\":\"t\"}"),
                     202);
    assert_string_equal(out(f, c3, NULL), "{\"type\":1,\"target\":\"t\",\"arguments\":[]}" RS);
    /* Unknown hub is fine. */
    assert_int_equal(rest(f, HCP_METHOD_POST, "/api/hubs/nobody/:send", NULL, BODY), 202);
    fx_end(f);
}

static void t_send_bad_bodies(void **state)
{
    struct fx *f = fx(state);
    static const char *bodies[] = {NULL,
                                   "",
                                   "not json",
                                   "[1]",
                                   "{\"arguments\":[]}",
                                   "{\"target\":\"\"}",
                                   "{\"target\":\"t\",\"arguments\":5}"};
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        assert_int_equal(rest(f, HCP_METHOD_POST, "/api/hubs/chat/:send", NULL, bodies[i]), 400);
        expect_error(f, 400, "Error.Request.Invalid");
    }
    f->content_type = "text/plain";
    assert_int_equal(rest(f, HCP_METHOD_POST, "/api/hubs/chat/:send", NULL, BODY), 400);
    assert_non_null(strstr(body(f), "content type"));
    f->content_type = "text/json";
    assert_int_equal(rest(f, HCP_METHOD_POST, "/api/hubs/chat/:send", NULL, BODY), 202);
    fx_end(f);
}

static void t_send_user_group_connection(void **state)
{
    struct fx *f = fx(state);
    struct hcs_conn *c1 = connect(f, "chat", "c1", "ann");
    struct hcs_conn *c2 = connect(f, "chat", "c2", "bob");
    assert_int_equal(hcs_core_group_add_conn(f->core, "chat", "g", "c1"), 0);
    assert_int_equal(hcs_core_group_add_conn(f->core, "chat", "g", "c2"), 0);

    assert_int_equal(rest(f, HCP_METHOD_POST, "/api/hubs/chat/users/ann/:send", NULL, BODY), 202);
    assert_string_equal(out(f, c1, NULL), WIRE);
    assert_string_equal(out(f, c2, NULL), "");
    assert_int_equal(rest(f, HCP_METHOD_POST, "/api/v1/hubs/chat/users/bob", NULL, BODY), 202);
    assert_string_equal(out(f, c2, NULL), WIRE);

    assert_int_equal(rest(f, HCP_METHOD_POST, "/api/hubs/chat/groups/g/:send", "excluded=c1", BODY),
                     202);
    assert_string_equal(out(f, c1, NULL), "");
    assert_string_equal(out(f, c2, NULL), WIRE);
    assert_int_equal(rest(f, HCP_METHOD_POST, "/api/v1/hubs/chat/groups/g", NULL, BODY), 202);
    assert_string_equal(out(f, c1, NULL), WIRE);
    assert_string_equal(out(f, c2, NULL), WIRE);

    assert_int_equal(rest(f, HCP_METHOD_POST, "/api/hubs/chat/connections/c2/:send", NULL, BODY),
                     202);
    assert_int_equal(rest(f, HCP_METHOD_POST, "/api/v1/hubs/chat/connections/c2", NULL, BODY), 202);
    assert_string_equal(out(f, c2, NULL), WIRE WIRE);
    assert_string_equal(out(f, c1, NULL), "");
    assert_int_equal(rest(f, HCP_METHOD_POST, "/api/hubs/chat/connections/zz/:send", NULL, BODY),
                     202);
    /* Percent-encoded names are decoded once (unless already decoded). */
    assert_int_equal(hcs_core_group_add_conn(f->core, "chat", "a b/c", "c1"), 0);
    assert_int_equal(rest(f, HCP_METHOD_POST, "/api/hubs/chat/groups/a%20b%2Fc/:send", NULL, BODY),
                     202);
    assert_string_equal(out(f, c1, NULL), WIRE);
    fx_end(f);
}

static void t_group_connection(void **state)
{
    struct fx *f = fx(state);
    connect(f, "chat", "c1", NULL);
    assert_int_equal(rest(f, HCP_METHOD_PUT, "/api/hubs/chat/groups/g/connections/c1", NULL, NULL),
                     200);
    expect_ok(f, 200);
    assert_true(hcs_core_group_exists(f->core, "chat", "g"));
    assert_int_equal(
        rest(f, HCP_METHOD_PUT, "/api/v1/hubs/chat/connections/c1/groups/h", NULL, NULL), 200);
    assert_true(hcs_core_group_exists(f->core, "chat", "h"));
    assert_int_equal(
        rest(f, HCP_METHOD_PUT, "/api/hubs/chat/groups/g/connections/nope", NULL, NULL), 404);
    expect_error(f, 404, "Error.Connection.NotExisted");

    assert_int_equal(
        rest(f, HCP_METHOD_DELETE, "/api/hubs/chat/groups/g/connections/c1", NULL, NULL), 200);
    assert_false(hcs_core_group_exists(f->core, "chat", "g"));
    assert_int_equal(
        rest(f, HCP_METHOD_DELETE, "/api/hubs/chat/connections/c1/groups/g", NULL, NULL), 200);
    assert_int_equal(
        rest(f, HCP_METHOD_DELETE, "/api/hubs/chat/groups/g/connections/nope", NULL, NULL), 200);
    assert_int_equal(rest(f, HCP_METHOD_DELETE, "/api/hubs/chat/connections/c1/groups", NULL, NULL),
                     200);
    assert_false(hcs_core_group_exists(f->core, "chat", "h"));
    fx_end(f);
}

static void t_user_group(void **state)
{
    struct fx *f = fx(state);
    /* Stored before the user connects; applied on connect. */
    assert_int_equal(rest(f, HCP_METHOD_PUT, "/api/hubs/chat/users/ann/groups/g", NULL, NULL), 200);
    expect_ok(f, 200);
    assert_int_equal(rest(f, HCP_METHOD_PUT, "/api/v1/hubs/chat/groups/g2/users/ann", NULL, NULL),
                     202);
    connect(f, "chat", "c1", "ann");
    assert_true(hcs_core_group_exists(f->core, "chat", "g"));
    assert_true(hcs_core_group_exists(f->core, "chat", "g2"));

    assert_int_equal(rest(f, HCP_METHOD_PUT, "/api/hubs/chat/users/ann/groups/t", "ttl=0", NULL),
                     200);
    assert_true(hcs_core_group_exists(f->core, "chat", "t"));
    const char *bad_ttl[] = {"ttl=-1", "ttl=abc", "ttl=", "ttl=1.5"};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(
            rest(f, HCP_METHOD_PUT, "/api/hubs/chat/users/ann/groups/x", bad_ttl[i], NULL), 400);
        expect_error(f, 400, "Error.Request.Invalid");
    }
    assert_false(hcs_core_user_in_group(f->core, "chat", "ann", "x", 0));
    assert_int_equal(rest(f, HCP_METHOD_PUT, "/api/hubs/chat/users/bob/groups/x", "ttl=10", NULL),
                     200);
    assert_true(hcs_core_user_in_group(f->core, "chat", "bob", "x", 9999));
    assert_false(hcs_core_user_in_group(f->core, "chat", "bob", "x", 10000));

    /* Existence (GET with body, HEAD without). */
    assert_int_equal(rest(f, HCP_METHOD_GET, "/api/hubs/chat/users/ann/groups/g", NULL, NULL), 200);
    assert_int_equal(rest(f, HCP_METHOD_HEAD, "/api/v1/hubs/chat/groups/g/users/ann", NULL, NULL),
                     200);
    assert_int_equal(rest(f, HCP_METHOD_GET, "/api/hubs/chat/users/ann/groups/zz", NULL, NULL),
                     404);
    expect_error(f, 404, "Info.User.NotInGroup");
    assert_int_equal(rest(f, HCP_METHOD_HEAD, "/api/hubs/chat/users/ann/groups/zz", NULL, NULL),
                     404);
    assert_string_equal(f->resp.error_code, "Info.User.NotInGroup");
    assert_int_equal(f->resp.body.len, 0);

    /* Remove one (204, v1 202), remove all (204, v1 200). */
    assert_int_equal(rest(f, HCP_METHOD_DELETE, "/api/hubs/chat/users/ann/groups/g", NULL, NULL),
                     204);
    expect_ok(f, 204);
    assert_false(hcs_core_group_exists(f->core, "chat", "g"));
    assert_int_equal(
        rest(f, HCP_METHOD_DELETE, "/api/v1/hubs/chat/groups/g2/users/ann", NULL, NULL), 202);
    assert_false(hcs_core_group_exists(f->core, "chat", "g2"));
    assert_int_equal(rest(f, HCP_METHOD_DELETE, "/api/hubs/chat/users/ann/groups", NULL, NULL),
                     204);
    assert_false(hcs_core_group_exists(f->core, "chat", "t"));
    assert_int_equal(rest(f, HCP_METHOD_DELETE, "/api/v1/hubs/chat/users/bob/groups", NULL, NULL),
                     200);
    assert_false(hcs_core_user_in_group(f->core, "chat", "bob", "x", 0));
    fx_end(f);
}

static void t_existence(void **state)
{
    struct fx *f = fx(state);
    connect(f, "chat", "c1", "ann");
    assert_int_equal(hcs_core_group_add_conn(f->core, "chat", "g", "c1"), 0);
    static const struct {
        const char *path;
        int status;
        const char *code;
    } cases[] = {
        {"/api/hubs/chat/connections/c1", 200, NULL},
        {"/api/hubs/CHAT/connections/c1", 200, NULL},
        {"/api/v1/hubs/chat/connections/c1", 200, NULL},
        {"/api/hubs/chat/connections/C1", 404, "Warning.Connection.NotExisted"},
        {"/api/hubs/other/connections/c1", 404, "Warning.Connection.NotExisted"},
        {"/api/hubs/chat/users/ann", 200, NULL},
        {"/api/v1/hubs/chat/users/bob", 404, "Warning.User.NotExisted"},
        {"/api/hubs/chat/groups/g", 200, NULL},
        {"/api/hubs/chat/groups/G", 404, "Warning.Group.NotExisted"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(rest(f, HCP_METHOD_GET, cases[i].path, NULL, NULL), cases[i].status);
        if (cases[i].code)
            expect_error(f, cases[i].status, cases[i].code);
        else
            expect_ok(f, 200);
        assert_int_equal(rest(f, HCP_METHOD_HEAD, cases[i].path, NULL, NULL), cases[i].status);
        if (cases[i].code)
            assert_string_equal(f->resp.error_code, cases[i].code);
        assert_int_equal(f->resp.body.len, 0);
        assert_null(f->resp.content_type);
    }
    fx_end(f);
}

static void t_close(void **state)
{
    struct fx *f = fx(state);
    struct hcs_conn *c1 = connect(f, "chat", "c1", "ann");
    struct hcs_conn *c2 = connect(f, "chat", "c2", "ann");
    struct hcs_conn *c3 = connect(f, "chat", "c3", NULL);
    struct hcs_conn *c4 = connect(f, "chat", "c4", NULL);
    struct hcs_conn *c5 = connect(f, "chat", "c5", NULL);
    struct hcs_conn *c6 = connect(f, "chat", "c6", NULL);
    assert_int_equal(hcs_core_group_add_conn(f->core, "chat", "g", "c3"), 0);
    assert_int_equal(hcs_core_group_add_conn(f->core, "chat", "g", "c4"), 0);
    enum hcs_output o;

    assert_int_equal(
        rest(f, HCP_METHOD_DELETE, "/api/hubs/chat/connections/c5", "reason=bye", NULL), 200);
    expect_ok(f, 200);
    assert_string_equal(out(f, c5, &o),
                        "{\"type\":7,\"error\":\"bye\",\"allowReconnect\":true}" RS);
    assert_int_equal(o, HCS_OUTPUT_CLOSE);
    assert_int_equal(rest(f, HCP_METHOD_DELETE, "/api/v1/hubs/chat/connections/nope", NULL, NULL),
                     202);

    assert_int_equal(rest(f, HCP_METHOD_POST, "/api/hubs/chat/users/ann/:closeConnections",
                          "excluded=c2&reason=u", NULL),
                     204);
    expect_ok(f, 204);
    assert_string_equal(out(f, c1, &o), "{\"type\":7,\"error\":\"u\",\"allowReconnect\":true}" RS);
    assert_string_equal(out(f, c2, &o), "");
    assert_int_equal(o, HCS_OUTPUT_NONE);

    assert_int_equal(
        rest(f, HCP_METHOD_POST, "/api/hubs/chat/groups/g/:closeConnections", "excluded=c4", NULL),
        204);
    assert_string_equal(out(f, c3, &o), "{\"type\":7,\"allowReconnect\":true}" RS);
    assert_string_equal(out(f, c4, &o), "");

    assert_int_equal(rest(f, HCP_METHOD_POST, "/api/hubs/chat/:closeConnections",
                          "excluded=c2&excluded=c6&reason=all", NULL),
                     204);
    assert_string_equal(out(f, c4, &o),
                        "{\"type\":7,\"error\":\"all\",\"allowReconnect\":true}" RS);
    assert_string_equal(out(f, c2, &o), "");
    assert_string_equal(out(f, c6, &o), "");
    assert_int_equal(rest(f, HCP_METHOD_POST, "/api/v1/hubs/chat/:closeConnections", NULL, NULL),
                     204);
    assert_string_equal(out(f, c6, &o), "{\"type\":7,\"allowReconnect\":true}" RS);
    fx_end(f);
}

static void t_application(void **state)
{
    struct fx *f = fx(state);
    struct hcs_conn *c = connect(f, "myapp_chat", "c1", "ann");
    struct hcs_conn *plain = connect(f, "chat", "c1", "ann");
    assert_int_equal(rest(f, HCP_METHOD_POST, "/api/hubs/Chat/:send", "application=MyApp", BODY),
                     202);
    assert_string_equal(out(f, c, NULL), WIRE);
    assert_string_equal(out(f, plain, NULL), "");
    assert_int_equal(
        rest(f, HCP_METHOD_GET, "/api/hubs/chat/connections/c1", "application=myapp", NULL), 200);
    assert_int_equal(
        rest(f, HCP_METHOD_PUT, "/api/hubs/chat/users/ann/groups/g", "application=myapp", NULL),
        200);
    assert_true(hcs_core_group_exists(f->core, "myapp_chat", "g"));
    assert_false(hcs_core_group_exists(f->core, "chat", "g"));
    fx_end(f);
}

static void t_generate_token(void **state)
{
    struct fx *f = fx(state);
    assert_int_equal(rest(f, HCP_METHOD_POST, "/api/hubs/Chat/:generateToken",
                          "userId=ann&minutesToExpire=5", NULL),
                     200);
    assert_string_equal(body(f), "{\"token\":\"eyJ.tok\\\"en\"}");
    assert_string_equal(f->resp.content_type, "application/json");
    assert_null(f->resp.error_code);
    assert_string_equal(f->tok_hub, "chat");
    assert_string_equal(f->tok_user, "ann");
    assert_int_equal(f->tok_lifetime, 300);
    assert_int_equal(
        rest(f, HCP_METHOD_POST, "/api/hubs/chat/:generateToken", "application=App", NULL), 200);
    assert_string_equal(f->tok_hub, "app_chat");
    assert_string_equal(f->tok_user, "(null)");
    assert_int_equal(f->tok_lifetime, 3600);
    const char *bad[] = {"minutesToExpire=0", "minutesToExpire=-5", "minutesToExpire=x"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(rest(f, HCP_METHOD_POST, "/api/hubs/chat/:generateToken", bad[i], NULL),
                         400);
        expect_error(f, 400, "Error.Request.Invalid");
    }
    assert_int_equal(f->n_tokens, 2);
    assert_int_equal(rest(f, HCP_METHOD_GET, "/api/hubs/chat/:generateToken", NULL, NULL), 405);
    fx_end(f);
}

static void t_response_reuse(void **state)
{
    /* One response object across requests: error fields do not leak over. */
    struct fx *f = fx(state);
    assert_int_equal(rest(f, HCP_METHOD_GET, "/api/hubs/chat/users/u", NULL, NULL), 404);
    assert_int_equal(rest(f, HCP_METHOD_GET, "/api/health", NULL, NULL), 200);
    expect_ok(f, 200);
    fx_end(f);
}


/* The multi-protocol body (azure-signalr-service.md section 4.1). */
static int rest_bin(struct fx *f, const char *path, const char *ct, const void *b, size_t n)
{
    struct hcs_rest_request req = {
        .method = HCP_METHOD_POST, .path = path, .path_len = strlen(path),
        .path_decoded = true, .content_type = ct, .body = b, .body_len = n, .now_ms = f->now,
    };
    assert_int_equal(hcs_rest_handle(f->core, &req, &f->resp), 0);
    return f->resp.status;
}

static void t_send_octet_stream(void **state)
{
    struct fx *f = fx(state);
    struct hcs_conn *j = connect(f, "hub", "j", NULL);
    struct hcs_conn *m = hcs_core_conn_by_id(f->core, "hub", "j");
    assert_ptr_equal(j, m);
    out(f, j, NULL);
    /* Both protocols: the JSON client gets the "json" bytes verbatim. */
    static const char both[] =
        "\x82\xa4json\xc4\x2c{\"type\":1,\"target\":\"t\",\"arguments\":[1,\"x\"]}\x1e"
        "\xabmessagepack\xc4\x0c\x0b\x96\x01\x80\xc0\xa1t\x92\x01\xa1x\x90";
    assert_int_equal(rest_bin(f, "/api/hubs/hub/:send", "application/octet-stream", both,
                              sizeof(both) - 1),
                     202);
    assert_string_equal(out(f, j, NULL), "{\"type\":1,\"target\":\"t\",\"arguments\":[1,\"x\"]}" RS);
    /* Only MessagePack (x-msgpack): converted for the JSON client. */
    static const char mp[] = "\x81\xabmessagepack\xc4\x0c\x0b\x96\x01\x80\xc0\xa1t\x92\x02\xa1y\x90";
    assert_int_equal(rest_bin(f, "/api/v1/hubs/hub/connections/j", "application/x-msgpack", mp,
                              sizeof(mp) - 1),
                     202);
    assert_string_equal(out(f, j, NULL), "{\"type\":1,\"target\":\"t\",\"arguments\":[2,\"y\"]}" RS);
    /* Not a protocol map, or a JSON body sent as octet-stream: 400. */
    assert_int_equal(rest_bin(f, "/api/hubs/hub/:send", "application/octet-stream", "\x90", 1),
                     400);
    expect_error(f, 400, "Error.Request.Invalid");
    const char *js = "{\"target\":\"t\",\"arguments\":[]}";
    assert_int_equal(rest_bin(f, "/api/hubs/hub/:send", "application/octet-stream", js,
                              strlen(js)),
                     400);
    assert_int_equal(rest_bin(f, "/api/hubs/hub/:send", "text/plain", js, strlen(js)), 400);
    assert_string_equal(out(f, j, NULL), "");
    fx_end(f);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(t_health_and_auth),  T(t_not_found_and_method),
        T(t_invalid_names),    T(t_broadcast),
        T(t_send_bad_bodies),  T(t_send_user_group_connection),
        T(t_group_connection), T(t_user_group),
        T(t_existence),        T(t_close),
        T(t_application),      T(t_generate_token),
        T(t_response_reuse),   T(t_send_octet_stream),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
