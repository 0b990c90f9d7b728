/*
 * Fuzz target: what the bridge does with one MQTT PUBLISH: the topic (IoT
 * Hub property bag, hcb_iothub_parse_topic) then the payload as a device
 * message (hcb_event_from_device). Input: topic, a NUL byte, payload; the
 * HTTPS path matcher sees the topic too.
 */
#include <string.h>

#include "event.h"
#include "fuzz.h"
#include "iothub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, '\0', size);
    size_t tlen = nul != NULL ? (size_t)(nul - data) : size;
    const uint8_t *payload = nul != NULL ? nul + 1 : data + size;
    size_t plen = size - (size_t)(payload - data);
    char dev[HCB_ID_MAX], mod[HCB_ID_MAX];

    if (hcb_iothub_match_path((const char *)data, tlen, dev, mod) == HCP_OK &&
        (!hcb_event_valid_id(dev, strlen(dev)) || strlen(mod) >= HCB_ID_MAX))
        __builtin_trap();

    cJSON *props = NULL, *sys = NULL, *ev = NULL;
    const char *why = NULL;
    /* The broker hands topics over as C strings: stop at the NUL. */
    if (hcb_iothub_parse_topic((const char *)data, tlen, &props, &sys, &why) != HCP_OK)
        return 0;
    if (!cJSON_IsObject(props) || !cJSON_IsObject(sys))
        __builtin_trap();
    struct hcb_limits lim;
    hcb_limits_default(&lim);
    lim.max_message_bytes = 4096;
    if (hcb_event_from_device(payload, plen, props, sys, &lim, &ev, &why) == HCP_OK) {
        if (hcb_event_stamp(ev, 0, 1, 1, "sas") == HCP_OK) {
            cJSON *s = hcb_event_summary(ev);
            cJSON_Delete(s);
        }
        cJSON_Delete(ev);
    }
    return 0;
}
