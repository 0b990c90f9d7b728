/*
 * Fuzz target: IoT Hub SAS tokens (hcb_sas_parse, hcb_sas_verify) and the
 * device registry file (hcb_registry_parse). The first byte picks which.
 */
#include <string.h>

#include "fuzz.h"
#include "sas.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *s = (const char *)data + 1;
    size_t len = size - 1;
    const char *why = NULL;

    if (data[0] & 1) {
        struct hcb_registry *r = NULL;
        if (hcb_registry_parse(s, len, &r, &why) == HCP_OK) {
            (void)hcb_registry_key(r, "dev1", NULL, 0);
            (void)hcb_registry_key(r, "dev1", "m", 1);
            hcb_registry_free(r);
        } else if (why == NULL) {
            __builtin_trap();
        }
        return 0;
    }
    struct hcb_sas_token t;
    if (hcb_sas_parse(s, len, &t, &why) != HCP_OK) {
        if (why == NULL)
            __builtin_trap();
        return 0;
    }
    if (t.sr.ptr < s || t.sr.ptr + t.sr.len > s + len || t.sig.ptr < s ||
        t.sig.ptr + t.sig.len > s + len)
        __builtin_trap();
    static const char key[] = "aHViY2FzdC10ZXN0LWRldmljZS1rZXktMzItYnl0ZXM=";
    int rc = hcb_sas_verify(&t, key, "dev1", NULL, NULL, 1700000000, &why);
    if (rc != HCP_OK && why == NULL)
        __builtin_trap();
    rc = hcb_sas_verify(&t, key, "dev1", "m", "hub.azure-devices.net", 0, &why);
    if (rc != HCP_OK && why == NULL)
        __builtin_trap();
    return 0;
}
