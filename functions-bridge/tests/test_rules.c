/* Unit tests for core/rules.h: the declarative transform. */
#include "hcb_test.h"

#include "event.h"
#include "rules.h"

static cJSON *event(const char *json)
{
    struct hcb_limits l;
    hcb_limits_default(&l);
    cJSON *b = NULL;
    const char *why = NULL;
    assert_int_equal(hcb_event_parse_request(json, strlen(json), &l, &b, &why), HCP_OK);
    cJSON *ev = cJSON_DetachItemFromArray(b, 0);
    cJSON_Delete(b);
    assert_int_equal(hcb_event_stamp(ev, 1000, 3, 3, "none"), HCP_OK);
    return ev;
}

static struct hcb_rules *rules(const char *json)
{
    struct hcb_rules *r = NULL;
    const char *why = NULL;
    assert_int_equal(hcb_rules_parse(json, strlen(json), &r, &why), HCP_OK);
    return r;
}

static void test_apply(void **state)
{
    (void)state;
    struct hcb_rules *r = rules(
        "{\"rules\":["
        "{\"match\":{\"deviceId\":\"thermo-*\",\"properties\":{\"alert\":\"true\"}},"
        "\"target\":\"alert\",\"to\":{\"group\":\"device:{deviceId}\"},"
        "\"project\":{\"id\":\"deviceId\",\"t\":\"body.temperature\",\"seq\":\"sequenceNumber\","
        "\"missing\":\"body.nope\",\"site\":\"properties.site.name\"}},"
        "{\"match\":{\"body\":{\"kind\":\"door\"}},\"target\":\"door\",\"to\":{\"user\":"
        "\"{properties.owner}\"},\"stop\":true},"
        "{\"target\":\"all\",\"to\":{\"all\":true},\"project\":{\"b\":\"body\"}}],"
        "\"unmatched\":\"drop\"}");
    cJSON *ev = event("{\"body\":{\"temperature\":30.5},\"properties\":{\"alert\":\"true\","
                      "\"site.name\":\"lab\"},\"systemProperties\":{"
                      "\"iothub-connection-device-id\":\"thermo-2\"}}");
    cJSON *acts = cJSON_CreateArray();
    assert_int_equal(hcb_rules_apply(r, ev, acts), 2);
    tu_assert_json(acts, "[{\"target\":\"alert\",\"arguments\":[{\"id\":\"thermo-2\",\"t\":30.5,"
                         "\"seq\":3,\"missing\":null,\"site\":\"lab\"}],\"groupName\":"
                         "\"device:thermo-2\"},"
                         "{\"target\":\"all\",\"arguments\":[{\"b\":{\"temperature\":30.5}}]}]");
    cJSON_Delete(acts);
    cJSON_Delete(ev);

    ev = event("{\"body\":{\"kind\":\"door\"},\"properties\":{\"owner\":\"alice\"},"
               "\"systemProperties\":{\"iothub-connection-device-id\":\"door-1\"}}");
    acts = cJSON_CreateArray();
    assert_int_equal(hcb_rules_apply(r, ev, acts), 1);
    const cJSON *a0 = cJSON_GetArrayItem(acts, 0);
    assert_string_equal(cJSON_GetObjectItem(a0, "target")->valuestring, "door");
    assert_string_equal(cJSON_GetObjectItem(a0, "userId")->valuestring, "alice");
    /* No projection: the default telemetry summary. */
    const cJSON *arg = cJSON_GetArrayItem(cJSON_GetObjectItem(a0, "arguments"), 0);
    assert_string_equal(cJSON_GetObjectItem(arg, "deviceId")->valuestring, "door-1");
    cJSON_Delete(acts);
    cJSON_Delete(ev);
    hcb_rules_free(r);
}

static void test_unmatched(void **state)
{
    (void)state;
    struct hcb_rules *drop = rules("{\"rules\":[{\"match\":{\"deviceId\":\"x?\"},"
                                   "\"target\":\"t\"}]}");
    struct hcb_rules *tel = rules("{\"rules\":[],\"unmatched\":\"telemetry\"}");
    cJSON *ev = event("{\"body\":1,\"systemProperties\":{\"iothub-connection-device-id\":\"x\"}}");
    cJSON *acts = cJSON_CreateArray();
    assert_int_equal(hcb_rules_apply(drop, ev, acts), 0);
    assert_int_equal(hcb_rules_apply(tel, ev, acts), 1);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(acts, 0), "target")->valuestring,
                        "telemetry");
    cJSON_Delete(acts);
    cJSON_Delete(ev);
    hcb_rules_free(drop);
    hcb_rules_free(tel);
}

static void test_bad_files(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "[]", "{}", "{\"rules\":{}}", "{\"rules\":[1]}", "{\"rules\":[{}]}",
        "{\"rules\":[{\"target\":\"\"}]}",
        "{\"rules\":[{\"target\":\"t\",\"match\":{\"deviceid\":\"x\"}}]}",
        "{\"rules\":[{\"target\":\"t\",\"match\":{\"properties\":{\"a\":1}}}]}",
        "{\"rules\":[{\"target\":\"t\",\"to\":{\"group\":\"a\",\"user\":\"b\"}}]}",
        "{\"rules\":[{\"target\":\"t\",\"to\":{\"room\":\"a\"}}]}",
        "{\"rules\":[{\"target\":\"t\",\"project\":{\"a\":1}}]}",
        "{\"rules\":[{\"target\":\"t\",\"stop\":\"yes\"}]}",
        "{\"rules\":[],\"unmatched\":\"keep\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct hcb_rules *r = NULL;
        const char *why = NULL;
        assert_int_equal(hcb_rules_parse(bad[i], strlen(bad[i]), &r, &why), HCP_ERR_MALFORMED);
        assert_null(r);
        assert_non_null(why);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {TU_TEST(test_apply), TU_TEST(test_unmatched),
                                       TU_TEST(test_bad_files)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
