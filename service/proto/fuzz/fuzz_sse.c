/* Fuzz target: the Server-Sent Events parser (hcp/client.h). The input is
 * fed in pieces whose sizes come from the first byte, so CR/LF pairs split
 * across chunks are exercised; the output must not depend on the split. */
#include <string.h>

#include "fuzz.h"
#include "hcp/hcp.h"

static int run(const uint8_t *data, size_t size, size_t step, struct hcp_buf *out)
{
    struct hcp_sse p;
    int rc = HCP_OK;
    hcp_sse_init(&p, 4096);
    for (size_t off = 0; off < size && rc == HCP_OK; off += step) {
        size_t n = size - off < step ? size - off : step;
        rc = hcp_sse_feed(&p, (const char *)data + off, n, out);
    }
    hcp_sse_cleanup(&p);
    return rc;
}

/* Equal contents; an empty buffer may have no storage (data NULL). */
static int same(const struct hcp_buf *a, const struct hcp_buf *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (size_t)(data[0] % 16) + 1;
    struct hcp_buf a, b;
    hcp_buf_init(&a, 1 << 20);
    hcp_buf_init(&b, 1 << 20);
    int ra = run(data + 1, size - 1, step, &a);
    int rb = run(data + 1, size - 1, size, &b);
    /* Same verdict and the same data either way (unless one failed). */
    if (ra == HCP_OK && rb == HCP_OK && (a.len != b.len || !same(&a, &b)))
        __builtin_trap();
    if ((ra == HCP_OK) != (rb == HCP_OK))
        __builtin_trap();
    hcp_buf_cleanup(&a);
    hcp_buf_cleanup(&b);
    return 0;
}
