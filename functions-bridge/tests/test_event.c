/* Unit tests for core/event.h (iot-bridge-and-client.md sections 2, 2.1). */
#include "hcb_test.h"

#include "event.h"

static struct hcb_limits lim(void)
{
    struct hcb_limits l;
    hcb_limits_default(&l);
    return l;
}

static int parse(const char *s, cJSON **out, const char **why)
{
    struct hcb_limits l = lim();
    return hcb_event_parse_request(s, strlen(s), &l, out, why);
}

static void test_canonical_single(void **state)
{
    (void)state;
    cJSON *b = NULL;
    const char *why = NULL;
    assert_int_equal(parse("{\"body\":{\"t\":1},\"properties\":{\"a\":\"x\",\"n\":null},"
                           "\"systemProperties\":{\"iothub-connection-device-id\":\"d1\","
                           "\"message-id\":\"m1\",\"iothub-enqueuedtime\":\"forged\","
                           "\"x-opt-sequence-number\":99}}",
                           &b, &why),
                     HCP_OK);
    tu_assert_json(b, "[{\"body\":{\"t\":1},\"properties\":{\"a\":\"x\",\"n\":null},"
                      "\"systemProperties\":{\"iothub-connection-device-id\":\"d1\","
                      "\"iothub-connection-module-id\":null,\"message-id\":\"m1\"},"
                      "\"bodyEncoding\":\"json\"}]");
    cJSON_Delete(b);
}

static void test_batch_and_base64(void **state)
{
    (void)state;
    cJSON *b = NULL;
    const char *why = NULL;
    assert_int_equal(
        parse("[{\"body\":\"aGVsbG8=\",\"bodyEncoding\":\"base64\",\"systemProperties\":{"
              "\"iothub-connection-device-id\":\"d1\",\"iothub-connection-module-id\":\"m\"}},"
              "{\"body\":[1,2],\"systemProperties\":{\"iothub-connection-device-id\":\"d2\"}}]",
              &b, &why),
        HCP_OK);
    assert_int_equal(cJSON_GetArraySize(b), 2);
    assert_string_equal(hcb_event_device_id(cJSON_GetArrayItem(b, 0)), "d1");
    assert_string_equal(hcb_event_module_id(cJSON_GetArrayItem(b, 0)), "m");
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetArrayItem(b, 0), "bodyEncoding")->valuestring, "base64");
    assert_null(hcb_event_module_id(cJSON_GetArrayItem(b, 1)));
    cJSON_Delete(b);
}

static void test_event_grid(void **state)
{
    (void)state;
    cJSON *b = NULL;
    const char *why = NULL;
    assert_int_equal(
        parse("[{\"id\":\"1\",\"subject\":\"devices/forklift-7\",\"eventType\":"
              "\"Microsoft.Devices.DeviceTelemetry\",\"data\":{\"properties\":{\"zone\":\"dock\"},"
              "\"systemProperties\":{\"iothub-content-type\":\"application/json\","
              "\"iothub-content-encoding\":\"utf-8\",\"iothub-connection-device-id\":"
              "\"forklift-7\",\"iothub-enqueuedtime\":\"x\"},\"body\":{\"speed\":3.4}}},"
              "{\"subject\":\"devices/cam-1/modules/vision\",\"eventType\":"
              "\"Microsoft.Devices.DeviceTelemetry\",\"data\":{\"systemProperties\":{"
              "\"iothub-content-type\":\"application/octet-stream\"},\"body\":\"aGVsbG8=\"}}]",
              &b, &why),
        HCP_OK);
    tu_assert_json(cJSON_GetArrayItem(b, 0),
                   "{\"body\":{\"speed\":3.4},\"properties\":{\"zone\":\"dock\"},"
                   "\"systemProperties\":{\"iothub-connection-device-id\":\"forklift-7\","
                   "\"iothub-connection-module-id\":null,\"content-type\":\"application/json\","
                   "\"content-encoding\":\"utf-8\"},\"bodyEncoding\":\"json\"}");
    const cJSON *e1 = cJSON_GetArrayItem(b, 1);
    assert_string_equal(hcb_event_device_id(e1), "cam-1");
    assert_string_equal(hcb_event_module_id(e1), "vision");
    assert_string_equal(cJSON_GetObjectItem(e1, "bodyEncoding")->valuestring, "base64");
    cJSON_Delete(b);
}

static void test_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "nope", "[]", "42", "[1]",
        "{\"body\":1}",
        "{\"systemProperties\":{}}",
        "{\"systemProperties\":{\"iothub-connection-device-id\":\"a/b\"}}",
        "{\"systemProperties\":{\"iothub-connection-device-id\":\"d\"},\"properties\":{\"a\":1}}",
        "{\"systemProperties\":{\"iothub-connection-device-id\":\"d\"},\"properties\":[]}",
        "{\"systemProperties\":{\"iothub-connection-device-id\":\"d\"},\"bodyEncoding\":\"x\"}",
        "{\"systemProperties\":{\"iothub-connection-device-id\":\"d\"},\"bodyEncoding\":"
        "\"base64\",\"body\":\"!!\"}",
        "{\"systemProperties\":{\"iothub-connection-device-id\":\"d\"},\"bodyEncoding\":"
        "\"base64\",\"body\":{}}",
        "[{\"eventType\":\"Other\",\"data\":{}}]",
        "[{\"eventType\":\"Microsoft.Devices.DeviceTelemetry\",\"data\":{\"body\":1}}]",
        "{\"systemProperties\":{\"iothub-connection-device-id\":\"d\"}} trailing",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cJSON *b = NULL;
        const char *why = NULL;
        int rc = parse(bad[i], &b, &why);
        if (rc != HCP_ERR_MALFORMED)
            fprintf(stderr, "case %zu: rc=%d\n", i, rc);
        assert_int_equal(rc, HCP_ERR_MALFORMED);
        assert_non_null(why);
        assert_null(b);
    }
}

static void test_limits(void **state)
{
    (void)state;
    struct hcb_limits l = lim();
    l.max_message_bytes = 64;
    const char *ok = "{\"body\":\"0123456789\",\"systemProperties\":{"
                     "\"iothub-connection-device-id\":\"d\"}}";
    cJSON *b = NULL;
    const char *why = NULL;
    assert_int_equal(hcb_event_parse_request(ok, strlen(ok), &l, &b, &why), HCP_OK);
    cJSON_Delete(b);
    b = NULL;
    const char *big = "{\"body\":\"01234567890123456789012345678901234567890123456789012345678901234567"
                      "89\",\"systemProperties\":{\"iothub-connection-device-id\":\"d\"}}";
    assert_int_equal(hcb_event_parse_request(big, strlen(big), &l, &b, &why), HCP_ERR_TOO_LARGE);
    l.max_batch_bytes = 10;
    assert_int_equal(hcb_event_parse_request(ok, strlen(ok), &l, &b, &why), HCP_ERR_TOO_LARGE);
    assert_null(b);
}

static void test_from_device(void **state)
{
    (void)state;
    struct hcb_limits l = lim();
    static const struct {
        const char *body, *ct, *ce, *expect_body, *enc;
    } cases[] = {
        {"{\"t\":21.5}", "application/json", "utf-8", "{\"t\":21.5}", "json"},
        {"{\"t\":21.5}\n", "application/json; charset=utf-8", NULL, "{\"t\":21.5}", "json"},
        {"{\"t\":21.5}", NULL, NULL, "\"eyJ0IjoyMS41fQ==\"", "base64"},
        {"{\"t\":", "application/json", NULL, "\"eyJ0Ijo=\"", "base64"},
        {"[1]", "application/json", "utf-16", "\"WzFd\"", "base64"},
        {"", NULL, NULL, "\"\"", "base64"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cJSON *sys = cJSON_CreateObject();
        cJSON_AddStringToObject(sys, "iothub-connection-device-id", "dev");
        if (cases[i].ct)
            cJSON_AddStringToObject(sys, "content-type", cases[i].ct);
        if (cases[i].ce)
            cJSON_AddStringToObject(sys, "content-encoding", cases[i].ce);
        cJSON *ev = NULL;
        const char *why = NULL;
        assert_int_equal(hcb_event_from_device((const uint8_t *)cases[i].body,
                                               strlen(cases[i].body), cJSON_CreateObject(), sys,
                                               &l, &ev, &why),
                         HCP_OK);
        tu_assert_json(cJSON_GetObjectItem(ev, "body"), cases[i].expect_body);
        assert_string_equal(cJSON_GetObjectItem(ev, "bodyEncoding")->valuestring, cases[i].enc);
        cJSON_Delete(ev);
    }
    /* Over the limit: properties count too. */
    l.max_message_bytes = 10;
    cJSON *sys = cJSON_CreateObject();
    cJSON_AddStringToObject(sys, "iothub-connection-device-id", "dev");
    cJSON *props = cJSON_CreateObject();
    cJSON_AddStringToObject(props, "name", "value");
    cJSON *ev = NULL;
    const char *why = NULL;
    assert_int_equal(hcb_event_from_device((const uint8_t *)"12", 2, props, sys, &l, &ev, &why),
                     HCP_ERR_TOO_LARGE);
    assert_null(ev);
}

static void test_stamp_and_default(void **state)
{
    (void)state;
    cJSON *b = NULL;
    const char *why = NULL;
    assert_int_equal(parse("{\"body\":{\"t\":1},\"properties\":{\"u\":\"C\"},\"systemProperties\":"
                           "{\"iothub-connection-device-id\":\"d1\"}}",
                           &b, &why),
                     HCP_OK);
    cJSON *ev = cJSON_GetArrayItem(b, 0);
    assert_int_equal(hcb_event_stamp(ev, 1795665166118LL, 7, 42, "sas"), HCP_OK);
    const cJSON *sys = cJSON_GetObjectItem(ev, "systemProperties");
    assert_string_equal(cJSON_GetObjectItem(sys, "iothub-enqueuedtime")->valuestring,
                        "2026-11-26T03:52:46.118Z");
    assert_string_equal(cJSON_GetObjectItem(sys, "iothub-connection-auth-method")->valuestring,
                        "{\"scope\":\"device\",\"type\":\"sas\",\"issuer\":\"iothub\"}");
    assert_int_equal(cJSON_GetObjectItem(sys, "x-opt-sequence-number")->valuedouble, 7);
    assert_string_equal(cJSON_GetObjectItem(ev, "offset")->valuestring, "42");
    assert_string_equal(cJSON_GetObjectItem(ev, "partitionKey")->valuestring, "d1");
    cJSON *a = hcb_event_default_action(ev);
    tu_assert_json(a, "{\"target\":\"telemetry\",\"arguments\":[{\"deviceId\":\"d1\","
                      "\"moduleId\":null,\"enqueuedTime\":\"2026-11-26T03:52:46.118Z\","
                      "\"sequenceNumber\":7,\"properties\":{\"u\":\"C\"},\"body\":{\"t\":1}}]}");
    cJSON_Delete(a);
    cJSON_Delete(b);
}

static void test_oom(void **state)
{
    (void)state;
    const char *in = "[{\"subject\":\"devices/x\",\"eventType\":\"Microsoft.Devices."
                     "DeviceTelemetry\",\"data\":{\"properties\":{\"a\":\"b\"},\"body\":{\"k\":"
                     "[1,2]}}},{\"body\":\"aGk=\",\"bodyEncoding\":\"base64\",\"systemProperties\""
                     ":{\"iothub-connection-device-id\":\"d\",\"message-id\":\"m\"}}]";
    for (int n = 1; n < 200; n++) {
        tu_fail_nth(n);
        cJSON *b = NULL;
        const char *why = NULL;
        struct hcb_limits l = lim();
        int rc = hcb_event_parse_request(in, strlen(in), &l, &b, &why);
        tu_fail_nth(0);
        if (rc == HCP_OK) {
            cJSON_Delete(b);
            continue;
        }
        assert_null(b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST(test_canonical_single), TU_TEST(test_batch_and_base64), TU_TEST(test_event_grid),
        TU_TEST(test_malformed),        TU_TEST(test_limits),           TU_TEST(test_from_device),
        TU_TEST(test_stamp_and_default), TU_TEST(test_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
