/*
 * Text helpers: UTF-8 validation (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF), percent decoding/encoding, query lookup and
 * base64url. Pure functions over caller buffers; no allocation except the
 * hcp_buf appends of hcp_url_encode.
 */
#include "hcp/text.h"

#include <ctype.h>

#include <limits.h>
#include <string.h>
#include "internal.h"

bool hcp_utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
        } else if (c == 0xE0) {
            n = 2;
            lo = 0xA0; /* overlong */
        } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
            n = 2;
        } else if (c == 0xED) {
            n = 2;
            hi = 0x9F; /* surrogates */
        } else if (c == 0xF0) {
            n = 3;
            lo = 0x90; /* overlong */
        } else if (c >= 0xF1 && c <= 0xF3) {
            n = 3;
        } else if (c == 0xF4) {
            n = 3;
            hi = 0x8F; /* above U+10FFFF */
        } else {
            return false;
        }
        if (len - i - 1 < n)
            return false;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return false;
        for (size_t k = 2; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
        }
        i += n + 1;
    }
    return true;
}


/* Decode the byte at in[*i], advancing *i. Returns the byte or -1 for a bad
 * escape. */
static int next_decoded(const char *in, size_t len, size_t *i, bool plus_as_space)
{
    char c = in[*i];
    if (c == '%') {
        if (len - *i < 3)
            return -1;
        int h = hcp__hexval(in[*i + 1]), l = hcp__hexval(in[*i + 2]);
        if (h < 0 || l < 0)
            return -1;
        *i += 3;
        return h * 16 + l;
    }
    *i += 1;
    if (c == '+' && plus_as_space)
        return ' ';
    return (unsigned char)c;
}

int hcp_url_decode(const char *in, size_t len, bool plus_as_space, char *out, size_t cap,
                   size_t *out_len)
{
    size_t i = 0, o = 0;
    while (i < len) {
        int c = next_decoded(in, len, &i, plus_as_space);
        if (c < 0)
            return HCP_ERR_MALFORMED;
        if (o + 1 >= cap)
            return HCP_ERR_TOO_LARGE;
        out[o++] = (char)c;
    }
    if (cap == 0)
        return HCP_ERR_TOO_LARGE;
    out[o] = '\0';
    if (out_len != NULL)
        *out_len = o;
    return HCP_OK;
}

int hcp_url_encode(struct hcp_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t start = b->len;
    int rc = HCP_OK;
    for (size_t i = 0; i < len && rc == HCP_OK; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            rc = hcp_buf_append_byte(b, c);
        } else {
            char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
            rc = hcp_buf_append(b, esc, 3);
        }
    }
    if (rc != HCP_OK)
        b->len = start;
    return rc;
}

static unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

/* True if the percent-decoded form of k[0..klen) equals key, ignoring ASCII
 * case. A malformed escape never matches. */
static bool key_matches(const char *k, size_t klen, const char *key)
{
    size_t i = 0, j = 0;
    while (i < klen) {
        int c = next_decoded(k, klen, &i, true);
        if (c < 0 || key[j] == '\0')
            return false;
        if (lower((unsigned char)c) != lower((unsigned char)key[j]))
            return false;
        j++;
    }
    return key[j] == '\0';
}

int hcp_query_get(const char *query, size_t len, const char *key, size_t index, char *out,
                  size_t cap)
{
    size_t count = 0;
    size_t pos = 0;
    while (pos < len) {
        const char *amp = memchr(query + pos, '&', len - pos);
        size_t end = amp != NULL ? (size_t)(amp - query) : len;
        const char *pair = query + pos;
        size_t plen = end - pos;
        pos = end + 1;
        if (plen == 0)
            continue;
        const char *eq = memchr(pair, '=', plen);
        size_t klen = eq != NULL ? (size_t)(eq - pair) : plen;
        if (!key_matches(pair, klen, key))
            continue;
        if (count == index) {
            const char *val = eq != NULL ? eq + 1 : pair + plen;
            size_t vlen = eq != NULL ? plen - klen - 1 : 0;
            int rc = hcp_url_decode(val, vlen, true, out, cap, NULL);
            if (rc != HCP_OK)
                return rc;
        }
        if (count == INT_MAX)
            return HCP_ERR_TOO_LARGE;
        count++;
    }
    return (int)count;
}

int hcp_base64url_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    if (len > (size_t)INT_MAX / 4 * 3 - 3)
        return HCP_ERR_TOO_LARGE;
    size_t need = len / 3 * 4 + (len % 3 == 0 ? 0 : len % 3 + 1);
    if (cap == 0 || need > cap - 1)
        return HCP_ERR_TOO_LARGE;
    size_t o = 0, i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = tbl[v >> 18 & 63];
        out[o++] = tbl[v >> 12 & 63];
        out[o++] = tbl[v >> 6 & 63];
        out[o++] = tbl[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = tbl[v >> 18 & 63];
        out[o++] = tbl[v >> 12 & 63];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = tbl[v >> 18 & 63];
        out[o++] = tbl[v >> 12 & 63];
        out[o++] = tbl[v >> 6 & 63];
    }
    out[o] = '\0';
    return (int)o;
}

bool hcp_str_ieq(const char *a, const char *b)
{
    for (;; a++, b++) {
        if (lower((unsigned char)*a) != lower((unsigned char)*b))
            return false;
        if (*a == '\0')
            return true;
    }
}

bool hcp_strn_ieq(const char *a, size_t alen, const char *b)
{
    for (size_t i = 0; i < alen; i++) {
        if (b[i] == '\0' || lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return false;
    }
    return b[alen] == '\0';
}

bool hcp_list_next(const char **cursor, const char **out_item, size_t *out_len)
{
    const char *p = *cursor;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p) {
            *cursor = p;
            return false;
        }
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *te = e;
        while (te > p && (te[-1] == ' ' || te[-1] == '\t'))
            te--;
        *cursor = e;
        if (te > p) {
            *out_item = p;
            *out_len = (size_t)(te - p);
            return true;
        }
        p = e;
    }
}

bool hcp_list_contains_ci(const char *list, const char *item, size_t len)
{
    const char *it;
    size_t n;
    while (hcp_list_next(&list, &it, &n)) {
        if (n == len) {
            size_t i = 0;
            while (i < n && tolower((unsigned char)it[i]) == tolower((unsigned char)item[i]))
                i++;
            if (i == n)
                return true;
        }
    }
    return false;
}
