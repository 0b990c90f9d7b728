/* Streaming decoder for chunked transfer coding; see hcp/http.h. */
#include "hcp/http.h"
#include "internal.h"

enum {
    S_SIZE,    /* reading hex digits of a chunk size */
    S_EXT,     /* skipping a chunk extension up to CRLF */
    S_SIZE_LF, /* expecting LF after the size line's CR */
    S_DATA,    /* copying chunk data */
    S_DATA_CR, /* expecting CR after data */
    S_DATA_LF, /* expecting LF after data */
    S_TRAILER, /* at the start of a trailer line (or the final CRLF) */
    S_TRAILER_LINE,
    S_TRAILER_LF,
    S_END_LF,
    S_DONE,
};

#define MAX_LINE 4096

void hcp_chunked_init(struct hcp_chunked *d)
{
    d->state = S_SIZE;
    d->remaining = 0;
    d->line_len = 0;
}


int hcp_chunked_decode(struct hcp_chunked *d, const uint8_t *in, size_t len, struct hcp_buf *out,
                       size_t *out_consumed)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = in[i];
        switch (d->state) {
        case S_SIZE: {
            int v = hcp__hexval(c);
            if (v >= 0) {
                if (d->line_len >= 15)
                    return HCP_ERR_MALFORMED;
                d->remaining = d->remaining * 16 + (uint64_t)v;
                d->line_len++;
                i++;
                break;
            }
            if (d->line_len == 0)
                return HCP_ERR_MALFORMED;
            if (c == ';' || c == ' ' || c == '\t') {
                d->state = S_EXT;
            } else if (c == '\r') {
                d->state = S_SIZE_LF;
            } else {
                return HCP_ERR_MALFORMED;
            }
            i++;
            break;
        }
        case S_EXT:
            if (++d->line_len > MAX_LINE)
                return HCP_ERR_MALFORMED;
            if (c == '\r')
                d->state = S_SIZE_LF;
            i++;
            break;
        case S_SIZE_LF:
            if (c != '\n')
                return HCP_ERR_MALFORMED;
            i++;
            d->line_len = 0;
            d->state = d->remaining ? S_DATA : S_TRAILER;
            break;
        case S_DATA: {
            size_t n = len - i;
            if ((uint64_t)n > d->remaining)
                n = (size_t)d->remaining;
            int rc = hcp_buf_append(out, in + i, n);
            if (rc)
                return rc;
            i += n;
            d->remaining -= n;
            if (!d->remaining)
                d->state = S_DATA_CR;
            break;
        }
        case S_DATA_CR:
            if (c != '\r')
                return HCP_ERR_MALFORMED;
            d->state = S_DATA_LF;
            i++;
            break;
        case S_DATA_LF:
            if (c != '\n')
                return HCP_ERR_MALFORMED;
            d->state = S_SIZE;
            d->line_len = 0;
            i++;
            break;
        case S_TRAILER:
            if (c == '\r') {
                d->state = S_END_LF;
            } else {
                d->state = S_TRAILER_LINE;
                d->line_len = 1;
            }
            i++;
            break;
        case S_TRAILER_LINE:
            if (++d->line_len > MAX_LINE)
                return HCP_ERR_MALFORMED;
            if (c == '\r')
                d->state = S_TRAILER_LF;
            i++;
            break;
        case S_TRAILER_LF:
            if (c != '\n')
                return HCP_ERR_MALFORMED;
            d->state = S_TRAILER;
            i++;
            break;
        case S_END_LF:
            if (c != '\n')
                return HCP_ERR_MALFORMED;
            i++;
            d->state = S_DONE;
            *out_consumed = i;
            return 1;
        case S_DONE:
        default:
            *out_consumed = i;
            return 1;
        }
    }
    *out_consumed = i;
    return d->state == S_DONE ? 1 : HCP_OK;
}
