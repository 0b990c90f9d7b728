/* Unit tests for hcp/rest.h (azure-signalr-service.md section 4). */
#include "test_util.h"

#define GET HCP_METHOD_GET
#define HEAD HCP_METHOD_HEAD
#define POST HCP_METHOD_POST
#define PUT HCP_METHOD_PUT
#define DEL HCP_METHOD_DELETE

struct route_case {
    enum hcp_method method;
    const char *path;
    int rc;
    enum hcp_rest_route route;
    bool is_v1;
    const char *hub, *user, *group, *conn;
};

static void check_str(struct hcp_str s, const char *want, size_t i, const char *what)
{
    if (want == NULL) {
        if (s.ptr != NULL)
            fail_msg("case %zu: %s should be absent", i, what);
        return;
    }
    if (s.ptr == NULL || s.len != strlen(want) || memcmp(s.ptr, want, s.len) != 0 ||
        s.ptr[s.len] != '\0')
        fail_msg("case %zu: %s = '%.*s', want '%s'", i, what, (int)s.len, s.ptr ? s.ptr : "", want);
}

static void run_cases(const struct route_case *cases, size_t n, bool decode)
{
    for (size_t i = 0; i < n; i++) {
        char scratch[256];
        struct hcp_rest_target t;
        memset(&t, 0, sizeof(t));
        t.route = HCP_REST_ROUTE_COUNT;
        int rc = hcp_rest_route(cases[i].method, cases[i].path, strlen(cases[i].path), decode,
                                scratch, sizeof(scratch), &t);
        if (rc != cases[i].rc)
            fail_msg("case %zu (%s %s): rc %d want %d", i, hcp_method_name(cases[i].method),
                     cases[i].path, rc, cases[i].rc);
        if (rc != HCP_OK) {
            assert_int_equal(t.route, HCP_REST_ROUTE_COUNT);
            continue;
        }
        if (t.route != cases[i].route || t.is_v1 != cases[i].is_v1)
            fail_msg("case %zu (%s): route %s v1 %d", i, cases[i].path,
                     hcp_rest_route_name(t.route), t.is_v1);
        check_str(t.hub, cases[i].hub, i, "hub");
        check_str(t.user, cases[i].user, i, "user");
        check_str(t.group, cases[i].group, i, "group");
        check_str(t.connection, cases[i].conn, i, "connection");
    }
}

#define OK HCP_OK
#define NF HCP_ERR_NOT_FOUND
#define MNA HCP_ERR_METHOD
#define R(x) HCP_REST_##x

static void test_route_table(void **state)
{
    (void)state;
    static const struct route_case cases[] = {
        /* 1-4 sends */
        {POST, "/api/hubs/chat/:send", OK, R(BROADCAST), false, "chat", NULL, NULL, NULL},
        {POST, "/api/v1/hubs/chat", OK, R(BROADCAST), true, "chat", NULL, NULL, NULL},
        {POST, "/api/v1/hubs/chat/", OK, R(BROADCAST), true, "chat", NULL, NULL, NULL},
        {POST, "/api/hubs/chat/users/u1/:send", OK, R(SEND_USER), false, "chat", "u1", NULL, NULL},
        {POST, "/api/v1/hubs/chat/users/u1", OK, R(SEND_USER), true, "chat", "u1", NULL, NULL},
        {POST, "/api/hubs/chat/groups/g1/:send", OK, R(SEND_GROUP), false, "chat", NULL, "g1",
         NULL},
        {POST, "/api/v1/hubs/chat/groups/g1", OK, R(SEND_GROUP), true, "chat", NULL, "g1", NULL},
        {POST, "/api/hubs/chat/connections/c1/:send", OK, R(SEND_CONNECTION), false, "chat", NULL,
         NULL, "c1"},
        {POST, "/api/v1/hubs/chat/connections/c1", OK, R(SEND_CONNECTION), true, "chat", NULL, NULL,
         "c1"},
        /* 5-7 connection groups, both orders */
        {PUT, "/api/hubs/chat/groups/g/connections/c", OK, R(GROUP_ADD_CONNECTION), false, "chat",
         NULL, "g", "c"},
        {PUT, "/api/hubs/chat/connections/c/groups/g", OK, R(GROUP_ADD_CONNECTION), false, "chat",
         NULL, "g", "c"},
        {PUT, "/api/v1/hubs/chat/groups/g/connections/c", OK, R(GROUP_ADD_CONNECTION), true, "chat",
         NULL, "g", "c"},
        {DEL, "/api/hubs/chat/groups/g/connections/c", OK, R(GROUP_REMOVE_CONNECTION), false,
         "chat", NULL, "g", "c"},
        {DEL, "/api/v1/hubs/chat/connections/c/groups/g", OK, R(GROUP_REMOVE_CONNECTION), true,
         "chat", NULL, "g", "c"},
        {DEL, "/api/hubs/chat/connections/c/groups", OK, R(CONNECTION_LEAVE_ALL), false, "chat",
         NULL, NULL, "c"},
        {DEL, "/api/v1/hubs/chat/connections/c/groups/", OK, R(CONNECTION_LEAVE_ALL), true, "chat",
         NULL, NULL, "c"},
        /* 8-11 user groups, both orders */
        {PUT, "/api/hubs/chat/users/u/groups/g", OK, R(USER_ADD_GROUP), false, "chat", "u", "g",
         NULL},
        {PUT, "/api/v1/hubs/chat/groups/g/users/u", OK, R(USER_ADD_GROUP), true, "chat", "u", "g",
         NULL},
        {DEL, "/api/hubs/chat/users/u/groups/g", OK, R(USER_REMOVE_GROUP), false, "chat", "u", "g",
         NULL},
        {DEL, "/api/v1/hubs/chat/groups/g/users/u", OK, R(USER_REMOVE_GROUP), true, "chat", "u",
         "g", NULL},
        {DEL, "/api/hubs/chat/users/u/groups", OK, R(USER_REMOVE_ALL_GROUPS), false, "chat", "u",
         NULL, NULL},
        {DEL, "/api/v1/hubs/chat/users/u/groups", OK, R(USER_REMOVE_ALL_GROUPS), true, "chat", "u",
         NULL, NULL},
        {GET, "/api/hubs/chat/users/u/groups/g", OK, R(USER_IN_GROUP), false, "chat", "u", "g",
         NULL},
        {HEAD, "/api/hubs/chat/users/u/groups/g", OK, R(USER_IN_GROUP), false, "chat", "u", "g",
         NULL},
        {GET, "/api/v1/hubs/chat/groups/g/users/u", OK, R(USER_IN_GROUP), true, "chat", "u", "g",
         NULL},
        /* 12-15 existence and close */
        {HEAD, "/api/hubs/chat/connections/c", OK, R(CONNECTION_EXISTS), false, "chat", NULL, NULL,
         "c"},
        {GET, "/api/v1/hubs/chat/connections/c", OK, R(CONNECTION_EXISTS), true, "chat", NULL, NULL,
         "c"},
        {GET, "/api/hubs/chat/users/u", OK, R(USER_EXISTS), false, "chat", "u", NULL, NULL},
        {HEAD, "/api/v1/hubs/chat/users/u", OK, R(USER_EXISTS), true, "chat", "u", NULL, NULL},
        {GET, "/api/hubs/chat/groups/g", OK, R(GROUP_EXISTS), false, "chat", NULL, "g", NULL},
        {HEAD, "/api/v1/hubs/chat/groups/g/", OK, R(GROUP_EXISTS), true, "chat", NULL, "g", NULL},
        {DEL, "/api/hubs/chat/connections/c", OK, R(CLOSE_CONNECTION), false, "chat", NULL, NULL,
         "c"},
        {DEL, "/api/v1/hubs/chat/connections/c", OK, R(CLOSE_CONNECTION), true, "chat", NULL, NULL,
         "c"},
        /* 16-18 close many */
        {POST, "/api/hubs/chat/:closeConnections", OK, R(CLOSE_ALL), false, "chat", NULL, NULL,
         NULL},
        {POST, "/api/v1/hubs/chat/:closeConnections", OK, R(CLOSE_ALL), true, "chat", NULL, NULL,
         NULL},
        {POST, "/api/hubs/chat/groups/g/:closeConnections", OK, R(CLOSE_GROUP), false, "chat", NULL,
         "g", NULL},
        {POST, "/api/hubs/chat/users/u/:closeConnections", OK, R(CLOSE_USER), false, "chat", "u",
         NULL, NULL},
        /* 19 health, 20 generateToken */
        {GET, "/api/health", OK, R(HEALTH), false, NULL, NULL, NULL, NULL},
        {HEAD, "/api/health/", OK, R(HEALTH), false, NULL, NULL, NULL, NULL},
        {HEAD, "/api/v1/health", OK, R(HEALTH), true, NULL, NULL, NULL, NULL},
        {POST, "/api/hubs/chat/:generateToken", OK, R(GENERATE_TOKEN), false, "chat", NULL, NULL,
         NULL},
        {POST, "/api/v1/hubs/chat/:generateToken", OK, R(GENERATE_TOKEN), true, "chat", NULL, NULL,
         NULL},
        /* literal segments are case-insensitive; names keep their case */
        {POST, "/API/Hubs/Chat/Groups/G1/:SEND", OK, R(SEND_GROUP), false, "Chat", NULL, "G1",
         NULL},
        /* names that look like literals are taken by position */
        {PUT, "/api/hubs/groups/users/users/groups/groups", OK, R(USER_ADD_GROUP), false, "groups",
         "users", "groups", NULL},
        {DEL, "/api/hubs/h/users/groups/groups", OK, R(USER_REMOVE_ALL_GROUPS), false, "h",
         "groups", NULL, NULL},

        /* wrong method for an existing shape */
        {GET, "/api/hubs/chat/:send", MNA, 0, false, NULL, NULL, NULL, NULL},
        {PUT, "/api/v1/hubs/chat", MNA, 0, false, NULL, NULL, NULL, NULL},
        {POST, "/api/health", MNA, 0, false, NULL, NULL, NULL, NULL},
        {DEL, "/api/v1/health", MNA, 0, false, NULL, NULL, NULL, NULL},
        {POST, "/api/hubs/chat/users/u", MNA, 0, false, NULL, NULL, NULL, NULL},
        {PUT, "/api/hubs/chat/connections/c", MNA, 0, false, NULL, NULL, NULL, NULL},
        {GET, "/api/hubs/chat/groups/g/connections/c", MNA, 0, false, NULL, NULL, NULL, NULL},
        {POST, "/api/hubs/chat/users/u/groups/g", MNA, 0, false, NULL, NULL, NULL, NULL},
        {HCP_METHOD_OPTIONS, "/api/hubs/chat/:send", MNA, 0, false, NULL, NULL, NULL, NULL},
        {HCP_METHOD_PATCH, "/api/hubs/chat/groups/g", MNA, 0, false, NULL, NULL, NULL, NULL},
        {HCP_METHOD_OTHER, "/api/hubs/chat/groups/g", MNA, 0, false, NULL, NULL, NULL, NULL},
        {(enum hcp_method)77, "/api/hubs/chat/groups/g", MNA, 0, false, NULL, NULL, NULL, NULL},
        {GET, "/api/hubs/chat/connections/c/groups", MNA, 0, false, NULL, NULL, NULL, NULL},

        /* unknown shapes */
        {POST, "", NF, 0, false, NULL, NULL, NULL, NULL},
        {POST, "/", NF, 0, false, NULL, NULL, NULL, NULL},
        {POST, "api/hubs/chat/:send", NF, 0, false, NULL, NULL, NULL, NULL},
        {POST, "/api", NF, 0, false, NULL, NULL, NULL, NULL},
        {POST, "/api/hubs", NF, 0, false, NULL, NULL, NULL, NULL},
        {POST, "/api/hubs/chat", NF, 0, false, NULL, NULL, NULL, NULL},
        {POST, "/api/v1/hubs/chat/:send", NF, 0, false, NULL, NULL, NULL, NULL},
        {POST, "/api/hubs//:send", NF, 0, false, NULL, NULL, NULL, NULL},
        {POST, "/api/hubs/chat//:send", NF, 0, false, NULL, NULL, NULL, NULL},
        {POST, "/api/hubs/chat/:send//", NF, 0, false, NULL, NULL, NULL, NULL},
        {POST, "/api/hubs/chat/:sendx", NF, 0, false, NULL, NULL, NULL, NULL},
        {POST, "/client/negotiate", NF, 0, false, NULL, NULL, NULL, NULL},
        {GET, "/api/v2/health", NF, 0, false, NULL, NULL, NULL, NULL},
        {GET, "/api/health/x", NF, 0, false, NULL, NULL, NULL, NULL},
        {GET, "/api/hubs/chat/users", NF, 0, false, NULL, NULL, NULL, NULL},
        {PUT, "/api/hubs/chat/users/u/groups/g/x", NF, 0, false, NULL, NULL, NULL, NULL},
        {PUT, "/api/hubs/chat/a/b/c/d/e/f/g/h/i", NF, 0, false, NULL, NULL, NULL, NULL},
        {PUT, "/api/hubs/chat/groups/g/members/c", NF, 0, false, NULL, NULL, NULL, NULL},
        {GET, "/api/v1/auth/accessKey", NF, 0, false, NULL, NULL, NULL, NULL},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]), true);
    run_cases(cases, sizeof(cases) / sizeof(cases[0]), false);
}

static void test_route_decode(void **state)
{
    (void)state;
    static const struct route_case decoded[] = {
        {POST, "/api/hubs/chat/groups/a%20b%2Fc/:send", OK, R(SEND_GROUP), false, "chat", NULL,
         "a b/c", NULL},
        {PUT, "/api/hubs/chat/users/%C3%A9/groups/x+y", OK, R(USER_ADD_GROUP), false, "chat",
         "\xc3\xa9", "x+y", NULL},
        {POST, "/api/hubs/chat/groups/g/%3Asend", OK, R(SEND_GROUP), false, "chat", NULL, "g",
         NULL},
        {POST, "/api/hubs/chat/groups/%zz/:send", HCP_ERR_MALFORMED, 0, false, NULL, NULL, NULL,
         NULL},
        {POST, "/api/hubs/ch%4/:send", HCP_ERR_MALFORMED, 0, false, NULL, NULL, NULL, NULL},
    };
    run_cases(decoded, sizeof(decoded) / sizeof(decoded[0]), true);
    static const struct route_case raw[] = {
        {POST, "/api/hubs/chat/groups/a%20b/:send", OK, R(SEND_GROUP), false, "chat", NULL, "a%20b",
         NULL},
        {POST, "/api/hubs/chat/groups/%zz/:send", OK, R(SEND_GROUP), false, "chat", NULL, "%zz",
         NULL},
        {POST, "/api/hubs/chat/groups/g/%3Asend", NF, 0, false, NULL, NULL, NULL, NULL},
    };
    run_cases(raw, sizeof(raw) / sizeof(raw[0]), false);

    /* path length is bounded by len, not NUL */
    char scratch[64];
    struct hcp_rest_target t;
    const char *p = "/api/health/garbage";
    assert_int_equal(hcp_rest_route(GET, p, 11, true, scratch, sizeof(scratch), &t), HCP_OK);
    assert_int_equal(t.route, HCP_REST_HEALTH);
    assert_null(t.hub.ptr);
}

static void test_route_scratch(void **state)
{
    (void)state;
    const char *p = "/api/hubs/chat/groups/group1/connections/conn1";
    struct hcp_rest_target t;
    char scratch[64];
    /* chat\0 group1\0 conn1\0 = 5 + 7 + 6 = 18 bytes */
    for (size_t cap = 0; cap < 18; cap++) {
        t.route = HCP_REST_ROUTE_COUNT;
        assert_int_equal(hcp_rest_route(PUT, p, strlen(p), true, scratch, cap, &t),
                         HCP_ERR_TOO_LARGE);
        assert_int_equal(hcp_rest_route(PUT, p, strlen(p), false, scratch, cap, &t),
                         HCP_ERR_TOO_LARGE);
        assert_int_equal(t.route, HCP_REST_ROUTE_COUNT);
    }
    assert_int_equal(hcp_rest_route(PUT, p, strlen(p), true, scratch, 18, &t), HCP_OK);
    assert_int_equal(hcp_rest_route(PUT, p, strlen(p), false, scratch, 18, &t), HCP_OK);
    assert_string_equal(t.connection.ptr, "conn1");
}

static void test_validate(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        bool ok;
    } hubs[] = {
        {"chat", true}, {"Chat_1", true}, {"a`,.[]", true},     {"A", true},
        {"", false},    {"1chat", false}, {"_x", false},        {"a-b", false},
        {"a b", false}, {"a/b", false},   {"h\xc3\xa9", false},
    };
    for (size_t i = 0; i < sizeof(hubs) / sizeof(hubs[0]); i++) {
        if (hcp_rest_valid_hub(hubs[i].s, strlen(hubs[i].s)) != hubs[i].ok)
            fail_msg("hub case %zu (%s)", i, hubs[i].s);
    }
    char long_name[1100];
    memset(long_name, 'a', sizeof(long_name));
    assert_true(hcp_rest_valid_hub(long_name, 128));
    assert_false(hcp_rest_valid_hub(long_name, 129));

    assert_true(hcp_rest_valid_group("g", 1));
    assert_true(hcp_rest_valid_group(" g ", 3));
    assert_true(hcp_rest_valid_group("gr\xc3\xa9", 4));
    assert_false(hcp_rest_valid_group("", 0));
    assert_false(hcp_rest_valid_group(" \t\r\n", 4));
    assert_false(hcp_rest_valid_group("\xff", 1));
    assert_true(hcp_rest_valid_group(long_name, 1024));
    assert_false(hcp_rest_valid_group(long_name, 1025));

    assert_true(hcp_rest_valid_id("u", 1));
    assert_true(hcp_rest_valid_id(" ", 1));
    assert_false(hcp_rest_valid_id("", 0));
    assert_false(hcp_rest_valid_id("\xc0\xaf", 2));
    assert_false(hcp_rest_valid_id(long_name, 1025));

    struct hcp_rest_target t;
    memset(&t, 0, sizeof(t));
    const char *reason = NULL;
    t.hub.ptr = "chat";
    t.hub.len = 4;
    t.group.ptr = "g";
    t.group.len = 1;
    assert_int_equal(hcp_rest_validate(&t, &reason), HCP_OK);
    t.user.ptr = "";
    assert_int_equal(hcp_rest_validate(&t, &reason), HCP_ERR_INVALID);
    assert_string_equal(reason, "Invalid user id.");
    t.user.ptr = NULL;
    t.connection.ptr = "\xff";
    t.connection.len = 1;
    assert_int_equal(hcp_rest_validate(&t, &reason), HCP_ERR_INVALID);
    assert_string_equal(reason, "Invalid connection id.");
    t.group.ptr = "  ";
    t.group.len = 2;
    assert_int_equal(hcp_rest_validate(&t, &reason), HCP_ERR_INVALID);
    assert_string_equal(reason, "Invalid group name.");
    t.hub.ptr = "9";
    t.hub.len = 1;
    assert_int_equal(hcp_rest_validate(&t, &reason), HCP_ERR_INVALID);
    assert_string_equal(reason, "Invalid hub name.");
    /* HEALTH has no names */
    memset(&t, 0, sizeof(t));
    assert_int_equal(hcp_rest_validate(&t, &reason), HCP_OK);
}

static void test_names_and_errors(void **state)
{
    (void)state;
    assert_string_equal(hcp_method_name(HCP_METHOD_DELETE), "DELETE");
    assert_string_equal(hcp_method_name((enum hcp_method)99), "OTHER");
    assert_string_equal(hcp_rest_route_name(HCP_REST_BROADCAST), "broadcast");
    assert_string_equal(hcp_rest_route_name(HCP_REST_ROUTE_COUNT), "unknown");
    assert_string_equal(hcp_rest_error_code(HCP_REST_E_CONNECTION_NOT_EXISTED),
                        "Warning.Connection.NotExisted");
    assert_string_equal(hcp_rest_error_code(HCP_REST_E_USER_NOT_IN_GROUP), "Info.User.NotInGroup");
    assert_string_equal(hcp_rest_error_code(HCP_REST_E_ERROR_CONNECTION_NOT_EXISTED),
                        "Error.Connection.NotExisted");

    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    assert_int_equal(hcp_rest_error_encode(&b, "Error.Request.Invalid", "Invalid \"hub\" name."),
                     HCP_OK);
    assert_string_equal(hcp_buf_cstr(&b),
                        "{\"code\":\"Error.Request.Invalid\",\"message\":\"Invalid \\\"hub\\\" "
                        "name.\"}");
    hcp_buf_cleanup(&b);
}

static int decode(const char *body, struct hcp_rest_payload *p, const char **reason)
{
    return hcp_rest_payload_decode(body, strlen(body), p, reason);
}

static void expect_encoded(const struct hcp_rest_payload *p, const char *want)
{
    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    assert_int_equal(hcp_rest_payload_encode_json(&b, p), HCP_OK);
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data, want, b.len);
    hcp_buf_cleanup(&b);
}

static void test_payload(void **state)
{
    (void)state;
    struct hcp_rest_payload p;
    const char *reason = NULL;

    assert_int_equal(
        decode("{\"target\":\"newMessage\",\"arguments\":[\"ann\",\"hi\"]}", &p, &reason), HCP_OK);
    assert_string_equal(p.target, "newMessage");
    assert_int_equal(p.target_len, 10);
    expect_encoded(&p, "{\"type\":1,\"target\":\"newMessage\",\"arguments\":[\"ann\",\"hi\"]}\x1e");
    hcp_rest_payload_cleanup(&p);

    /* .NET SDK casing, whitespace, many arguments of every kind; the arguments
     * pass through verbatim (whitespace included) */
    assert_int_equal(decode("{ \"Target\" : \"t\", \"Arguments\" : [1, 2.5, true, null, "
                            "{\"a\": [\"x\\u001ey\"]}, [], \"\", 3, 4, 5, 6, 7, 8] }",
                            &p, &reason),
                     HCP_OK);
    assert_int_equal(cJSON_GetArraySize(p.arguments), 13);
    expect_encoded(&p, "{\"type\":1,\"target\":\"t\",\"arguments\":[1, 2.5, true, null, "
                       "{\"a\": [\"x\\u001ey\"]}, [], \"\", 3, 4, 5, 6, 7, 8]}\x1e");
    hcp_rest_payload_cleanup(&p);

    /* arguments absent or null: [] */
    assert_int_equal(decode("{\"TARGET\":\"t\"}", &p, &reason), HCP_OK);
    assert_null(p.arguments);
    expect_encoded(&p, "{\"type\":1,\"target\":\"t\",\"arguments\":[]}\x1e");
    hcp_rest_payload_cleanup(&p);
    assert_int_equal(decode("{\"target\":\"t\",\"arguments\":null,\"extra\":1}", &p, &reason),
                     HCP_OK);
    assert_null(p.arguments);
    hcp_rest_payload_cleanup(&p);
    hcp_rest_payload_cleanup(&p);
    hcp_rest_payload_cleanup(NULL);

    static const char *const bad[] = {
        "",
        "{",
        "[]",
        "null",
        "{}",
        "{\"target\":\"\"}",
        "{\"target\":1}",
        "{\"target\":null}",
        "{\"target\":\"t\",\"arguments\":{}}",
        "{\"target\":\"t\",\"arguments\":\"x\"}",
        "{\"target\":\"t\xff\"}",
        "{\"target\":\"t\"} {}",
        "{\"target\":\"t\",\"arguments\":[1,]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&p, 0x33, sizeof(p));
        reason = NULL;
        if (decode(bad[i], &p, &reason) != HCP_ERR_MALFORMED)
            fail_msg("bad case %zu: %s", i, bad[i]);
        assert_non_null(reason);
        assert_int_equal(((unsigned char *)&p)[0], 0x33);
    }
}

static void test_payload_nomem(void **state)
{
    (void)state;
    const char *body = "{\"Target\":\"t\",\"Arguments\":[{\"a\":[1,\"b\"]},\"c\"]}";
    /* Decode under allocation failure. */
    for (int n = 1; n < 100; n++) {
        tu_fail_nth(n);
        struct hcp_rest_payload p;
        const char *reason;
        int rc = hcp_rest_payload_decode(body, strlen(body), &p, &reason);
        if (tu_n_failed == 0) {
            assert_int_equal(rc, HCP_OK);
            hcp_rest_payload_cleanup(&p);
            break;
        }
        assert_true(rc == HCP_ERR_MALFORMED || rc == HCP_ERR_NOMEM);
    }
    /* Encode under allocation failure. */
    tu_fail_nth(0);
    struct hcp_rest_payload p;
    const char *reason;
    assert_int_equal(hcp_rest_payload_decode(body, strlen(body), &p, &reason), HCP_OK);
    for (int n = 1; n < 100; n++) {
        struct hcp_buf b;
        hcp_buf_init(&b, 0);
        tu_fail_nth(n);
        int rc = hcp_rest_payload_encode_json(&b, &p);
        bool failed = tu_n_failed != 0;
        tu_fail_nth(0);
        if (!failed) {
            assert_int_equal(rc, HCP_OK);
            hcp_buf_cleanup(&b);
            hcp_rest_payload_cleanup(&p);
            return;
        }
        assert_int_equal(rc, HCP_ERR_NOMEM);
        assert_int_equal(b.len, 0);
        hcp_buf_cleanup(&b);
    }
    fail_msg("allocation count did not converge");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST(test_route_table),   TU_TEST(test_route_decode),     TU_TEST(test_route_scratch),
        TU_TEST(test_validate),      TU_TEST(test_names_and_errors), TU_TEST(test_payload),
        TU_TEST(test_payload_nomem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
