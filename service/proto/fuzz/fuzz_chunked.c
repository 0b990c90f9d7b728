/* Fuzz target: the chunked request-body decoder (hcp/http.h). The body is fed
 * whole and in small pieces; both must agree. */
#include <string.h>

#include "fuzz.h"
#include "hcp/hcp.h"
#include "hcp/http.h"

static int run(const uint8_t *in, size_t size, size_t step, struct hcp_buf *out,
               size_t *out_used)
{
    struct hcp_chunked d;
    hcp_chunked_init(&d);
    size_t off = 0;
    while (off < size) {
        size_t n = size - off < step ? size - off : step;
        size_t used = 0;
        int rc = hcp_chunked_decode(&d, in + off, n, out, &used);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            if (used > n)
                __builtin_trap();
            *out_used = off + used;
            return 1;
        }
        off += n;
    }
    *out_used = size;
    return 0;
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
    size_t step = (size_t)(data[0] % 7) + 1;
    struct hcp_buf a, b;
    size_t ua = 0, ub = 0;
    hcp_buf_init(&a, 4096);
    hcp_buf_init(&b, 4096);
    int ra = run(data + 1, size - 1, size, &a, &ua);
    int rb = run(data + 1, size - 1, step, &b, &ub);
    if (ra != rb)
        __builtin_trap();
    if (ra == 1 && (ua != ub || a.len != b.len || !same(&a, &b)))
        __builtin_trap();
    hcp_buf_cleanup(&a);
    hcp_buf_cleanup(&b);
    return 0;
}
