/*
 * Fuzz target: the bridge's POST /api/events body parser (canonical events,
 * Event Grid DeviceTelemetry, CloudEvents; hcb_event_parse_request), then
 * what the edge does with each event: stamp, default transform, rules,
 * action -> REST call.
 */
#include <string.h>

#include "action.h"
#include "event.h"
#include "fuzz.h"
#include "rules.h"

static const char RULES[] =
    "{\"rules\":[{\"match\":{\"deviceId\":\"d*\",\"properties\":{\"a\":\"1\"}},"
    "\"target\":\"alert\",\"to\":{\"group\":\"device:{deviceId}\"},"
    "\"project\":{\"t\":\"body.t\",\"p\":\"properties.a\",\"x\":\"body.a.0\"}},"
    "{\"match\":{\"body\":{\"kind\":\"door\"}},\"target\":\"door\",\"to\":{\"user\":\"{body.u}\"},"
    "\"stop\":true}],\"unmatched\":\"telemetry\"}";

static void route(const cJSON *actions)
{
    const cJSON *a;
    cJSON_ArrayForEach(a, actions)
    {
        struct hcb_rest_call call;
        const char *why = NULL;
        if (hcb_action_to_rest(a, "Hub", &call, &why) == HCP_OK)
            hcb_rest_call_cleanup(&call);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct hcb_rules *rules;
    struct hcb_limits lim;
    cJSON *batch = NULL;
    const char *why = NULL;

    if (rules == NULL && hcb_rules_parse(RULES, strlen(RULES), &rules, &why) != HCP_OK)
        __builtin_trap();
    hcb_limits_default(&lim);
    lim.max_batch_events = 50;
    if (hcb_event_parse_request((const char *)data, size, &lim, &batch, &why) != HCP_OK) {
        if (why == NULL)
            __builtin_trap();
        return 0;
    }
    if (!cJSON_IsArray(batch) || cJSON_GetArraySize(batch) < 1)
        __builtin_trap();
    cJSON *ev;
    int64_t seq = 1;
    cJSON_ArrayForEach(ev, batch)
    {
        if (hcb_event_stamp(ev, 1700000000000LL, seq, seq, "none") != HCP_OK)
            continue;
        seq++;
        (void)hcb_event_device_id(ev);
        (void)hcb_event_module_id(ev);
        cJSON *actions = cJSON_CreateArray();
        cJSON *def = hcb_event_default_action(ev);
        if (actions != NULL && def != NULL) {
            cJSON_AddItemToArray(actions, def);
            def = NULL;
            if (hcb_rules_apply(rules, ev, actions) >= 0)
                route(actions);
        }
        cJSON_Delete(def);
        cJSON_Delete(actions);
    }
    cJSON_Delete(batch);
    return 0;
}
