/*
 * Fuzz target: the declarative transform file (hcb_rules_parse) applied to a
 * fixed stamped event, and every resulting action mapped to a REST call.
 */
#include <string.h>

#include "action.h"
#include "event.h"
#include "fuzz.h"
#include "rules.h"

static const char EVENT[] =
    "{\"body\":{\"t\":21.5,\"kind\":\"door\",\"a\":[1,{\"b\":\"x\"}],\"u\":\"alice\"},"
    "\"properties\":{\"a\":\"1\",\"alert\":\"true\"},"
    "\"systemProperties\":{\"iothub-connection-device-id\":\"dev1\","
    "\"iothub-connection-module-id\":\"m1\"}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cJSON *ev;
    struct hcb_rules *r = NULL;
    const char *why = NULL;

    if (ev == NULL) {
        struct hcb_limits lim;
        cJSON *batch = NULL;
        hcb_limits_default(&lim);
        if (hcb_event_parse_request(EVENT, strlen(EVENT), &lim, &batch, &why) != HCP_OK)
            __builtin_trap();
        ev = cJSON_DetachItemFromArray(batch, 0);
        cJSON_Delete(batch);
        if (ev == NULL || hcb_event_stamp(ev, 1700000000000LL, 5, 5, "none") != HCP_OK)
            __builtin_trap();
    }
    if (hcb_rules_parse((const char *)data, size, &r, &why) != HCP_OK) {
        if (why == NULL)
            __builtin_trap();
        return 0;
    }
    cJSON *actions = cJSON_CreateArray();
    if (actions != NULL && hcb_rules_apply(r, ev, actions) >= 0) {
        const cJSON *a;
        cJSON_ArrayForEach(a, actions)
        {
            struct hcb_rest_call call;
            if (hcb_action_to_rest(a, "Hub", &call, &why) == HCP_OK)
                hcb_rest_call_cleanup(&call);
        }
    }
    cJSON_Delete(actions);
    hcb_rules_free(r);
    return 0;
}
