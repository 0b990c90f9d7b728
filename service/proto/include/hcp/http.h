/*
 * HTTP/1.1 helpers the edge needs beyond its HTTP library: a streaming
 * decoder for chunked request bodies (RFC 9112 section 7.1), since
 * libwebsockets 4.1 hands chunked bodies to the application undecoded.
 */
#ifndef HCP_HTTP_H
#define HCP_HTTP_H

#include "hcp/common.h"

struct hcp_chunked {
    int state;          /* internal */
    uint64_t remaining; /* bytes left in the current chunk */
    unsigned line_len;  /* bytes seen on the current size/trailer line */
};

void hcp_chunked_init(struct hcp_chunked *d);

/*
 * Decode in[0..len) and append the payload bytes to `out` (bounded by its
 * max). Returns HCP_OK when more input is expected, 1 when the final chunk
 * and trailers have been consumed (*out_consumed tells how much of `in` was
 * used; the rest belongs to the next request), HCP_ERR_MALFORMED for bad
 * framing, HCP_ERR_TOO_LARGE when `out` would exceed its cap.
 */
HCP_NODISCARD int hcp_chunked_decode(struct hcp_chunked *d, const uint8_t *in, size_t len,
                                     struct hcp_buf *out, size_t *out_consumed);

#endif
