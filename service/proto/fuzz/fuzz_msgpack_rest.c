/* Fuzz target: the multi-protocol REST send body (application/octet-stream,
 * azure-signalr-service.md section 4.1) and the conversions fan-out applies
 * to its entries. */
#include "fuzz.h"
#include "hcp/hcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hcp_rest_multi r;
    const char *reason;
    if (hcp_rest_multi_decode(data, size, &r, &reason) != HCP_OK)
        return 0;
    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    if (r.json.ptr && hcp_msgpack_invocation_from_json(&b, r.json.ptr, r.json.len - 1) != HCP_OK)
        __builtin_trap(); /* a validated JSON invocation always converts */
    if (r.msgpack.ptr) {
        size_t off, len;
        if (hcp_msgpack_record_next((const uint8_t *)r.msgpack.ptr, r.msgpack.len,
                                    r.msgpack.len, &off, &len) <= 0)
            __builtin_trap();
        hcp_buf_reset(&b);
        /* May fail only on strings JSON cannot carry (invalid UTF-8 in a
         * value the invocation check does not look into). */
        int rc = hcp_json_invocation_from_msgpack(&b, (const uint8_t *)r.msgpack.ptr + off, len);
        if (rc != HCP_OK && rc != HCP_ERR_MALFORMED)
            __builtin_trap();
    }
    hcp_buf_cleanup(&b);
    return 0;
}
