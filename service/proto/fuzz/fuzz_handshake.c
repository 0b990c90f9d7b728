/* Fuzz target: handshake request decoding and the error reply encoder. */
#include <string.h>

#include "fuzz.h"
#include "hcp/hcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hcp_handshake h;
    char err[256];
    unsigned mask = size > 0 ? data[0] & 3u : 3u;
    int rc = hcp_handshake_decode((const char *)data, size, mask, 2, &h, err, sizeof(err));
    struct hcp_buf b;
    hcp_buf_init(&b, 4096);
    if (rc != HCP_OK && hcp_handshake_encode_error(&b, err) == HCP_OK &&
        memchr(b.data, 0x1e, b.len - 1) != NULL)
        __builtin_trap(); /* a reply must hold exactly one separator, at the end */
    hcp_buf_cleanup(&b);
    return 0;
}
