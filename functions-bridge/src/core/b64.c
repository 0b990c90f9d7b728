/* hcb_b64: see b64.h. */
#include "b64.h"

static const char ALPHA[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int hcb_b64_encode(struct hcp_buf *b, const uint8_t *in, size_t len)
{
    size_t out_len = (len + 2) / 3 * 4;
    int rc = hcp_buf_reserve(b, out_len);
    if (rc)
        return rc;
    uint8_t *o = b->data + b->len;
    size_t i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *o++ = (uint8_t)ALPHA[v >> 18];
        *o++ = (uint8_t)ALPHA[(v >> 12) & 63];
        *o++ = (uint8_t)ALPHA[(v >> 6) & 63];
        *o++ = (uint8_t)ALPHA[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);
        *o++ = (uint8_t)ALPHA[v >> 18];
        *o++ = (uint8_t)ALPHA[(v >> 12) & 63];
        *o++ = i + 1 < len ? (uint8_t)ALPHA[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    b->len += out_len;
    return HCP_OK;
}

static int val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int hcb_b64_decode(struct hcp_buf *b, const char *in, size_t len)
{
    while (len && in[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return HCP_ERR_MALFORMED;
    for (size_t i = 0; i < len; i++)
        if (val(in[i]) < 0)
            return HCP_ERR_MALFORMED;
    int rc = hcp_buf_reserve(b, len / 4 * 3 + 3);
    if (rc)
        return rc;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        acc = acc << 6 | (uint32_t)val(in[i]);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            b->data[b->len++] = (uint8_t)(acc >> bits);
        }
    }
    return HCP_OK;
}
