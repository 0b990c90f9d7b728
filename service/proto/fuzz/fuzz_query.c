/* Fuzz target: query lookup, URL decoding/encoding and UTF-8 validation. */
#include "fuzz.h"
#include "hcp/hcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const keys[] = {"id", "hub", "access_token", "negotiateVersion", "excluded"};
    char out[128];
    const char *q = (const char *)data;
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        int n = hcp_query_get(q, size, keys[k], 0, out, sizeof(out));
        if (n > 1)
            n = hcp_query_get(q, size, keys[k], (size_t)n - 1, out, sizeof(out));
        (void)n;
    }
    size_t olen = 0;
    if (hcp_url_decode(q, size, true, out, sizeof(out), &olen) == HCP_OK && olen >= sizeof(out))
        __builtin_trap();
    (void)hcp_utf8_valid(data, size);
    struct hcp_buf b;
    hcp_buf_init(&b, 1 << 16);
    if (hcp_url_encode(&b, q, size) == HCP_OK && b.len < size)
        __builtin_trap();
    hcp_buf_cleanup(&b);
    return 0;
}
