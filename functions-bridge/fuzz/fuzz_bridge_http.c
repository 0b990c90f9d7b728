/*
 * Fuzz target: the bridge's HTTP/1.1 request-head parser (hcb_http_parse_head)
 * and what the device endpoint does with a parsed head: path match, header
 * mapping onto properties, and the rest of the input as a batch body.
 */
#include <string.h>

#include "event.h"
#include "fuzz.h"
#include "httpreq.h"
#include "iothub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct hcb_http_head head;
    const char *buf = (const char *)data;
    int n = hcb_http_parse_head(buf, size, 8192, &head);
    if (n <= 0)
        return 0;
    if ((size_t)n > size || head.n_headers > HCB_HTTP_MAX_HEADERS)
        __builtin_trap();
    char dev[HCB_ID_MAX], mod[HCB_ID_MAX];
    if (hcb_iothub_match_path(head.path.ptr, head.path.len, dev, mod) == HCP_OK &&
        strlen(dev) >= HCB_ID_MAX)
        __builtin_trap();
    (void)hcb_http_header(&head, "content-type");

    cJSON *props = cJSON_CreateObject();
    cJSON *sys = cJSON_CreateObject();
    const char *why = NULL;
    int rc = HCP_OK;
    if (props == NULL || sys == NULL ||
        !cJSON_AddStringToObject(sys, "iothub-connection-device-id", "dev1"))
        rc = HCP_ERR_NOMEM;
    for (size_t i = 0; rc == HCP_OK && i < head.n_headers; i++) {
        const struct hcb_http_header *h = &head.headers[i];
        rc = hcb_iothub_map_header(h->name.ptr, h->name.len, h->value.ptr, h->value.len, props,
                                   sys, &why);
    }
    if (rc == HCP_OK) {
        struct hcb_limits lim;
        cJSON *batch = NULL;
        hcb_limits_default(&lim);
        if (hcb_iothub_parse_batch(buf + n, size - (size_t)n, sys, &lim, &batch, &why) ==
            HCP_OK)
            cJSON_Delete(batch);
    }
    cJSON_Delete(props);
    cJSON_Delete(sys);
    return 0;
}
