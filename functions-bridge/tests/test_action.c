/* Unit tests for core/action.h (iot-bridge-and-client.md section 6). */
#include "hcb_test.h"

#include "action.h"

static void test_table(void **state)
{
    (void)state;
    static const struct {
        const char *action;
        enum hcp_method method;
        const char *path, *body;
    } cases[] = {
        {"{\"target\":\"t\",\"arguments\":[1,{\"a\":\"b\"}]}", HCP_METHOD_POST,
         "/api/hubs/iot/:send", "{\"target\":\"t\",\"arguments\":[1,{\"a\":\"b\"}]}"},
        {"{\"target\":\"t\",\"arguments\":[],\"groupName\":\"store:1\"}", HCP_METHOD_POST,
         "/api/hubs/iot/groups/store%3A1/:send", "{\"target\":\"t\",\"arguments\":[]}"},
        {"{\"target\":\"t\",\"arguments\":[],\"groupName\":\"g\",\"userId\":\"a b\"}",
         HCP_METHOD_POST, "/api/hubs/iot/users/a%20b/:send", "{\"target\":\"t\",\"arguments\":[]}"},
        {"{\"target\":\"t\",\"arguments\":[],\"userId\":\"u\",\"connectionId\":\"c/1\","
         "\"endpoints\":[]}",
         HCP_METHOD_POST, "/api/hubs/iot/connections/c%2F1/:send",
         "{\"target\":\"t\",\"arguments\":[]}"},
        {"{\"target\":\"t\",\"arguments\":[],\"groupName\":\"\"}", HCP_METHOD_POST,
         "/api/hubs/iot/:send", "{\"target\":\"t\",\"arguments\":[]}"},
        {"{\"action\":\"add\",\"groupName\":\"g\",\"connectionId\":\"c\",\"userId\":\"u\"}",
         HCP_METHOD_PUT, "/api/hubs/iot/groups/g/connections/c", NULL},
        {"{\"action\":\"remove\",\"groupName\":\"g\",\"connectionId\":\"c\"}", HCP_METHOD_DELETE,
         "/api/hubs/iot/groups/g/connections/c", NULL},
        {"{\"action\":\"add\",\"groupName\":\"g\",\"userId\":\"u\"}", HCP_METHOD_PUT,
         "/api/hubs/iot/users/u/groups/g", NULL},
        {"{\"action\":\"remove\",\"groupName\":\"g\",\"userId\":\"u\"}", HCP_METHOD_DELETE,
         "/api/hubs/iot/users/u/groups/g", NULL},
        {"{\"action\":\"removeAll\",\"userId\":\"u\"}", HCP_METHOD_DELETE,
         "/api/hubs/iot/users/u/groups", NULL},
        {"{\"action\":\"removeAll\",\"connectionId\":\"c\"}", HCP_METHOD_DELETE,
         "/api/hubs/iot/connections/c/groups", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cJSON *a = cJSON_Parse(cases[i].action);
        struct hcb_rest_call c;
        const char *why = NULL;
        assert_int_equal(hcb_action_to_rest(a, "IoT", &c, &why), HCP_OK);
        assert_int_equal(c.method, cases[i].method);
        assert_string_equal(c.path, cases[i].path);
        if (cases[i].body) {
            assert_string_equal(c.body, cases[i].body);
            assert_int_equal(c.body_len, strlen(cases[i].body));
        } else {
            assert_null(c.body);
        }
        hcb_rest_call_cleanup(&c);
        cJSON_Delete(a);
    }
}

static void test_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "[]", "{}", "{\"target\":\"\",\"arguments\":[]}", "{\"target\":\"t\"}",
        "{\"target\":\"t\",\"arguments\":{}}", "{\"target\":1,\"arguments\":[]}",
        "{\"action\":\"join\",\"groupName\":\"g\",\"userId\":\"u\"}",
        "{\"action\":\"add\",\"groupName\":\"g\"}", "{\"action\":\"add\",\"userId\":\"u\"}",
        "{\"action\":\"removeAll\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cJSON *a = cJSON_Parse(bad[i]);
        struct hcb_rest_call c = {0};
        const char *why = NULL;
        assert_int_equal(hcb_action_to_rest(a, "iot", &c, &why), HCP_ERR_MALFORMED);
        assert_non_null(why);
        assert_null(c.path);
        cJSON_Delete(a);
    }
}

static void test_oom(void **state)
{
    (void)state;
    cJSON *a = cJSON_Parse("{\"target\":\"t\",\"arguments\":[1,\"x\"],\"groupName\":\"g\"}");
    for (int n = 1; n < 40; n++) {
        tu_fail_nth(n);
        struct hcb_rest_call c;
        const char *why = NULL;
        int rc = hcb_action_to_rest(a, "iot", &c, &why);
        tu_fail_nth(0);
        if (rc == HCP_OK)
            hcb_rest_call_cleanup(&c);
        else
            assert_int_equal(rc, HCP_ERR_NOMEM);
    }
    cJSON_Delete(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {TU_TEST(test_table), TU_TEST(test_invalid),
                                       TU_TEST(test_oom)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
