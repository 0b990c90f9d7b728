/* Fuzz target: REST route matching, validation and send payload decoding.
 * Input: first byte selects the method, then "path\nbody". */
#include <string.h>

#include "fuzz.h"
#include "hcp/hcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    enum hcp_method method = (enum hcp_method)(data[0] % (HCP_METHOD_OTHER + 1));
    const char *in = (const char *)data + 1;
    size_t len = size - 1;
    const char *nl = memchr(in, '\n', len);
    size_t plen = nl != NULL ? (size_t)(nl - in) : len;
    char scratch[512];
    struct hcp_rest_target t;
    for (int decode = 0; decode < 2; decode++) {
        if (hcp_rest_route(method, in, plen, decode != 0, scratch, sizeof(scratch), &t) == HCP_OK) {
            const char *reason;
            if (hcp_rest_validate(&t, &reason) != HCP_OK && reason == NULL)
                __builtin_trap();
        }
    }
    if (nl != NULL) {
        struct hcp_rest_payload p;
        const char *reason;
        if (hcp_rest_payload_decode(nl + 1, len - plen - 1, &p, &reason) == HCP_OK) {
            struct hcp_buf b;
            hcp_buf_init(&b, 0);
            if (hcp_rest_payload_encode_json(&b, &p) == HCP_OK) {
                size_t rlen;
                if (hcp_json_record_next(b.data, b.len, b.len, &rlen) != (int)b.len)
                    __builtin_trap();
            }
            hcp_buf_cleanup(&b);
            hcp_rest_payload_cleanup(&p);
        }
    }
    return 0;
}
