/*
 * MessagePack hub protocol codec and JSON <-> MessagePack conversion
 * (hcp/msgpack.h, signalr-protocol.md section 6).
 *
 * Invariants:
 * - Pure: no globals, no I/O. msgpack-c's packer writes into a caller's
 *   hcp_buf through pack_write(); its unpacker's views point into the input.
 * - Every function that appends to a buffer restores the buffer's length on
 *   failure, so a caller never sees half a record.
 * - JSON text is converted without cJSON or doubles in between (except for
 *   numbers that have a fraction or exponent, or do not fit 64 bits).
 */
#include "hcp/msgpack.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "hcp/jsonscan.h"
#include "hcp/text.h"
#include "internal.h"

/* ---- framing ---- */

int hcp_msgpack_record_next(const uint8_t *buf, size_t len, size_t max, size_t *out_off,
                            size_t *out_len)
{
    uint64_t v = 0;
    size_t i = 0;
    for (;;) {
        if (i >= len)
            return HCP_ERR_INCOMPLETE;
        if (i == 5)
            return HCP_ERR_MALFORMED;
        uint8_t c = buf[i];
        v |= (uint64_t)(c & 0x7f) << (7 * i);
        i++;
        if (!(c & 0x80))
            break;
    }
    if (v > HCP_MSGPACK_MAX_RECORD)
        return HCP_ERR_MALFORMED;
    if (v > max)
        return HCP_ERR_TOO_LARGE;
    if (len - i < v)
        return HCP_ERR_INCOMPLETE;
    *out_off = i;
    *out_len = (size_t)v;
    return (int)(i + (size_t)v);
}

static size_t varint_size(size_t len)
{
    size_t n = 1;
    while (len >= 0x80) {
        len >>= 7;
        n++;
    }
    return n;
}

static void varint_write(uint8_t *p, size_t len)
{
    while (len >= 0x80) {
        *p++ = (uint8_t)(len | 0x80);
        len >>= 7;
    }
    *p = (uint8_t)len;
}

int hcp_msgpack_varint_append(struct hcp_buf *b, size_t len)
{
    if (len > HCP_MSGPACK_MAX_RECORD)
        return HCP_ERR_TOO_LARGE;
    uint8_t tmp[5];
    varint_write(tmp, len);
    return hcp_buf_append(b, tmp, varint_size(len));
}

/* The record appended since `start` gets its VarInt prefix inserted in
 * front (one memmove: records are encoded before their length is known). */
static int frame_record(struct hcp_buf *b, size_t start)
{
    size_t rlen = b->len - start;
    if (rlen > HCP_MSGPACK_MAX_RECORD)
        return HCP_ERR_TOO_LARGE;
    size_t k = varint_size(rlen);
    int rc = hcp_buf_reserve(b, k);
    if (rc != 0)
        return rc;
    memmove(b->data + start + k, b->data + start, rlen);
    varint_write(b->data + start, rlen);
    b->len += k;
    return HCP_OK;
}

/* ---- packer into an hcp_buf ---- */

static int pack_write(void *data, const char *buf, size_t len)
{
    return hcp_buf_append(data, buf, len) == 0 ? 0 : -1;
}

static void packer_init(msgpack_packer *pk, struct hcp_buf *b)
{
    msgpack_packer_init(pk, b, pack_write);
}

static int pack_str(msgpack_packer *pk, const char *s, size_t len)
{
    if (msgpack_pack_str(pk, len) != 0 || msgpack_pack_str_body(pk, s, len) != 0)
        return -1;
    return 0;
}

static int pack_str_or_nil(msgpack_packer *pk, const char *s)
{
    return s ? pack_str(pk, s, strlen(s)) : msgpack_pack_nil(pk);
}

/* Map a failed append: the buffer reports TOO_LARGE when capped, else NOMEM. */
static int buf_err(const struct hcp_buf *b)
{
    return (b->max && b->len + 64 >= b->max) ? HCP_ERR_TOO_LARGE : HCP_ERR_NOMEM;
}

/* ---- JSON text -> MessagePack ---- */

struct jconv {
    const char *s;
    size_t n, i;
    bool emit;            /* pass 2: write; pass 1: only count container sizes */
    uint32_t *counts;     /* element count of every container, in opening order */
    size_t n_counts, cap_counts, next;
    msgpack_packer pk;
    struct hcp_buf tmp;   /* decoded string scratch */
    int err;
};

static void jws(struct jconv *j)
{
    while (j->i < j->n && (j->s[j->i] == ' ' || j->s[j->i] == '\t' || j->s[j->i] == '\n' ||
                           j->s[j->i] == '\r'))
        j->i++;
}

static int jfail(struct jconv *j, int err)
{
    if (j->err == 0)
        j->err = err;
    return -1;
}


static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hcp__hexval(p[k]);
        if (h < 0)
            return -1;
        v = (v << 4) | (unsigned)h;
    }
    *out = v;
    return 0;
}

static int put_utf8(struct hcp_buf *b, unsigned cp)
{
    uint8_t u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (uint8_t)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (uint8_t)(0xc0 | (cp >> 6));
        u[1] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (uint8_t)(0xe0 | (cp >> 12));
        u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (uint8_t)(0xf0 | (cp >> 18));
        u[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 4;
    }
    return hcp_buf_append(b, u, n);
}

/* Decode the JSON string at j->i (on the opening quote) into j->tmp. A lone
 * surrogate is kept as its 3-byte form (what Node's TextEncoder would not
 * do, but it never loses the rest of the string). */
static int jstring(struct jconv *j)
{
    hcp_buf_reset(&j->tmp);
    j->i++; /* opening quote */
    for (;;) {
        if (j->i >= j->n)
            return jfail(j, HCP_ERR_MALFORMED);
        unsigned char c = (unsigned char)j->s[j->i];
        if (c == '"') {
            j->i++;
            return 0;
        }
        if (c < 0x20)
            return jfail(j, HCP_ERR_MALFORMED);
        if (c != '\\') {
            size_t start = j->i;
            while (j->i < j->n && j->s[j->i] != '"' && j->s[j->i] != '\\' &&
                   (unsigned char)j->s[j->i] >= 0x20)
                j->i++;
            if (hcp_buf_append(&j->tmp, j->s + start, j->i - start) != 0)
                return jfail(j, HCP_ERR_NOMEM);
            continue;
        }
        if (j->i + 1 >= j->n)
            return jfail(j, HCP_ERR_MALFORMED);
        char e = j->s[j->i + 1];
        j->i += 2;
        char out;
        switch (e) {
        case '"': out = '"'; break;
        case '\\': out = '\\'; break;
        case '/': out = '/'; break;
        case 'b': out = '\b'; break;
        case 'f': out = '\f'; break;
        case 'n': out = '\n'; break;
        case 'r': out = '\r'; break;
        case 't': out = '\t'; break;
        case 'u': {
            unsigned cp;
            if (j->i + 4 > j->n || hex4(j->s + j->i, &cp) != 0)
                return jfail(j, HCP_ERR_MALFORMED);
            j->i += 4;
            if (cp >= 0xd800 && cp < 0xdc00 && j->i + 6 <= j->n && j->s[j->i] == '\\' &&
                j->s[j->i + 1] == 'u') {
                unsigned lo;
                if (hex4(j->s + j->i + 2, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    j->i += 6;
                }
            }
            if (put_utf8(&j->tmp, cp) != 0)
                return jfail(j, HCP_ERR_NOMEM);
            continue;
        }
        default:
            return jfail(j, HCP_ERR_MALFORMED);
        }
        if (hcp_buf_append_byte(&j->tmp, (uint8_t)out) != 0)
            return jfail(j, HCP_ERR_NOMEM);
    }
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int jnumber(struct jconv *j)
{
    size_t start = j->i;
    bool neg = false, is_int = true;
    if (j->s[j->i] == '-') {
        neg = true;
        j->i++;
    }
    if (j->i >= j->n || !is_digit(j->s[j->i]))
        return jfail(j, HCP_ERR_MALFORMED);
    if (j->s[j->i] == '0') {
        j->i++;
    } else {
        while (j->i < j->n && is_digit(j->s[j->i]))
            j->i++;
    }
    size_t int_end = j->i;
    if (j->i < j->n && j->s[j->i] == '.') {
        is_int = false;
        j->i++;
        if (j->i >= j->n || !is_digit(j->s[j->i]))
            return jfail(j, HCP_ERR_MALFORMED);
        while (j->i < j->n && is_digit(j->s[j->i]))
            j->i++;
    }
    if (j->i < j->n && (j->s[j->i] == 'e' || j->s[j->i] == 'E')) {
        is_int = false;
        j->i++;
        if (j->i < j->n && (j->s[j->i] == '+' || j->s[j->i] == '-'))
            j->i++;
        if (j->i >= j->n || !is_digit(j->s[j->i]))
            return jfail(j, HCP_ERR_MALFORMED);
        while (j->i < j->n && is_digit(j->s[j->i]))
            j->i++;
    }
    if (!j->emit)
        return 0;
    if (is_int) {
        uint64_t mag = 0;
        bool overflow = false;
        for (size_t k = start + (neg ? 1 : 0); k < int_end; k++) {
            unsigned d = (unsigned)(j->s[k] - '0');
            if (mag > (UINT64_MAX - d) / 10) {
                overflow = true;
                break;
            }
            mag = mag * 10 + d;
        }
        if (!overflow && !neg)
            return msgpack_pack_uint64(&j->pk, mag) == 0 ? 0 : jfail(j, HCP_ERR_NOMEM);
        if (!overflow && mag <= (uint64_t)INT64_MAX + 1) {
            int64_t v = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
            return msgpack_pack_int64(&j->pk, v) == 0 ? 0 : jfail(j, HCP_ERR_NOMEM);
        }
    }
    /* A float, or an integer beyond 64 bits: as a double, like JSON.parse. */
    hcp_buf_reset(&j->tmp);
    if (hcp_buf_append(&j->tmp, j->s + start, j->i - start) != 0)
        return jfail(j, HCP_ERR_NOMEM);
    double d = strtod(hcp_buf_cstr(&j->tmp), NULL);
    return msgpack_pack_double(&j->pk, d) == 0 ? 0 : jfail(j, HCP_ERR_NOMEM);
}

static int jliteral(struct jconv *j, const char *word)
{
    size_t wl = strlen(word);
    if (j->n - j->i < wl || memcmp(j->s + j->i, word, wl) != 0)
        return jfail(j, HCP_ERR_MALFORMED);
    j->i += wl;
    if (!j->emit)
        return 0;
    int rc = word[0] == 'n'   ? msgpack_pack_nil(&j->pk)
             : word[0] == 't' ? msgpack_pack_true(&j->pk)
                              : msgpack_pack_false(&j->pk);
    return rc == 0 ? 0 : jfail(j, HCP_ERR_NOMEM);
}

/* Pass 1 reserves a slot per container and fills its element count; pass 2
 * reads the counts back in the same order. */
static int jcontainer_open(struct jconv *j, size_t *out_slot, uint32_t *out_count)
{
    if (!j->emit) {
        if (j->n_counts == j->cap_counts) {
            size_t ncap = j->cap_counts ? j->cap_counts * 2 : 16;
            uint32_t *nc = hcp_realloc(j->counts, ncap * sizeof(*nc));
            if (!nc)
                return jfail(j, HCP_ERR_NOMEM);
            j->counts = nc;
            j->cap_counts = ncap;
        }
        *out_slot = j->n_counts;
        j->counts[j->n_counts++] = 0;
        return 0;
    }
    *out_slot = j->next;
    *out_count = j->counts[j->next++];
    return 0;
}

static int jvalue(struct jconv *j, int depth);

static int jarray(struct jconv *j, int depth)
{
    size_t slot;
    uint32_t count = 0;
    if (jcontainer_open(j, &slot, &count) != 0)
        return -1;
    if (j->emit && msgpack_pack_array(&j->pk, count) != 0)
        return jfail(j, HCP_ERR_NOMEM);
    j->i++;
    jws(j);
    uint32_t k = 0;
    if (j->i < j->n && j->s[j->i] == ']') {
        j->i++;
    } else {
        for (;;) {
            if (jvalue(j, depth + 1) != 0)
                return -1;
            if (k == UINT32_MAX)
                return jfail(j, HCP_ERR_TOO_LARGE);
            k++;
            jws(j);
            if (j->i < j->n && j->s[j->i] == ',') {
                j->i++;
                jws(j);
                continue;
            }
            if (j->i < j->n && j->s[j->i] == ']') {
                j->i++;
                break;
            }
            return jfail(j, HCP_ERR_MALFORMED);
        }
    }
    if (!j->emit)
        j->counts[slot] = k;
    return 0;
}

static int jobject(struct jconv *j, int depth)
{
    size_t slot;
    uint32_t count = 0;
    if (jcontainer_open(j, &slot, &count) != 0)
        return -1;
    if (j->emit && msgpack_pack_map(&j->pk, count) != 0)
        return jfail(j, HCP_ERR_NOMEM);
    j->i++;
    jws(j);
    uint32_t k = 0;
    if (j->i < j->n && j->s[j->i] == '}') {
        j->i++;
    } else {
        for (;;) {
            if (j->i >= j->n || j->s[j->i] != '"')
                return jfail(j, HCP_ERR_MALFORMED);
            if (jstring(j) != 0)
                return -1;
            if (j->emit && pack_str(&j->pk, (const char *)j->tmp.data, j->tmp.len) != 0)
                return jfail(j, HCP_ERR_NOMEM);
            jws(j);
            if (j->i >= j->n || j->s[j->i] != ':')
                return jfail(j, HCP_ERR_MALFORMED);
            j->i++;
            jws(j);
            if (jvalue(j, depth + 1) != 0)
                return -1;
            if (k == UINT32_MAX)
                return jfail(j, HCP_ERR_TOO_LARGE);
            k++;
            jws(j);
            if (j->i < j->n && j->s[j->i] == ',') {
                j->i++;
                jws(j);
                continue;
            }
            if (j->i < j->n && j->s[j->i] == '}') {
                j->i++;
                break;
            }
            return jfail(j, HCP_ERR_MALFORMED);
        }
    }
    if (!j->emit)
        j->counts[slot] = k;
    return 0;
}

static int jvalue(struct jconv *j, int depth)
{
    if (depth > HCP_JSON_MAX_DEPTH)
        return jfail(j, HCP_ERR_MALFORMED);
    if (j->i >= j->n)
        return jfail(j, HCP_ERR_MALFORMED);
    switch (j->s[j->i]) {
    case '{':
        return jobject(j, depth);
    case '[':
        return jarray(j, depth);
    case '"':
        if (jstring(j) != 0)
            return -1;
        if (j->emit && pack_str(&j->pk, (const char *)j->tmp.data, j->tmp.len) != 0)
            return jfail(j, HCP_ERR_NOMEM);
        return 0;
    case 't':
        return jliteral(j, "true");
    case 'f':
        return jliteral(j, "false");
    case 'n':
        return jliteral(j, "null");
    default:
        return jnumber(j);
    }
}

int hcp_msgpack_from_json(struct hcp_buf *b, const char *json, size_t len)
{
    size_t mark = b->len;
    struct jconv j;
    memset(&j, 0, sizeof(j));
    j.s = json;
    j.n = len;
    hcp_buf_init(&j.tmp, 0);
    packer_init(&j.pk, b);
    for (int pass = 0; pass < 2 && j.err == 0; pass++) {
        j.emit = pass == 1;
        j.i = 0;
        j.next = 0;
        jws(&j);
        if (jvalue(&j, 0) == 0) {
            jws(&j);
            if (j.i != j.n)
                (void)jfail(&j, HCP_ERR_MALFORMED);
        }
    }
    hcp_buf_cleanup(&j.tmp);
    hcp_free(j.counts);
    if (j.err != 0) {
        int err = (j.err == HCP_ERR_NOMEM && b->len > mark) ? buf_err(b) : j.err;
        b->len = mark;
        return err;
    }
    return HCP_OK;
}

/* ---- MessagePack -> JSON text ---- */

/* Unpack exactly one object from p[0..len). */
static int unpack_one(const uint8_t *p, size_t len, msgpack_unpacked *u)
{
    size_t off = 0;
    if (len == 0)
        return HCP_ERR_MALFORMED;
    msgpack_unpacked_init(u);
    msgpack_unpack_return r = msgpack_unpack_next(u, (const char *)p, len, &off);
    /* msgpack-c also answers NOMEM_ERROR for nesting deeper than its fixed
     * stack, so that is peer input, not memory: MALFORMED (like cJSON's
     * allocation failures, documented in msgpack.h). */
    if (r != MSGPACK_UNPACK_SUCCESS || off != len) {
        msgpack_unpacked_destroy(u);
        return HCP_ERR_MALFORMED;
    }
    return HCP_OK;
}

static int append_double(struct hcp_buf *b, double d)
{
    if (!isfinite(d))
        return hcp_buf_append_str(b, "null");
    char tmp[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    return hcp_buf_append_str(b, tmp);
}

static int append_base64(struct hcp_buf *b, const uint8_t *p, size_t len)
{
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    int rc = hcp_buf_append_byte(b, '"');
    for (size_t i = 0; rc == 0 && i < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < len)
            v |= p[i + 2];
        char q[4] = {A[(v >> 18) & 63], A[(v >> 12) & 63], i + 1 < len ? A[(v >> 6) & 63] : '=',
                     i + 2 < len ? A[v & 63] : '='};
        rc = hcp_buf_append(b, q, 4);
    }
    return rc == 0 ? hcp_buf_append_byte(b, '"') : rc;
}

static uint64_t be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yy + (*m <= 2);
}

/* The timestamp extension (type -1, 4/8/12 bytes) as JSON.stringify(Date)
 * writes it: "2024-05-06T07:08:09.123Z"; sub-millisecond digits are kept
 * (up to 9) when present. False when the payload is not a timestamp. */
static bool timestamp_json(struct hcp_buf *b, const uint8_t *p, size_t n, int *rc)
{
    int64_t sec;
    uint32_t nsec;
    if (n == 4) {
        sec = (int64_t)be(p, 4);
        nsec = 0;
    } else if (n == 8) {
        uint64_t v = be(p, 8);
        nsec = (uint32_t)(v >> 34);
        sec = (int64_t)(v & 0x3ffffffffull);
    } else if (n == 12) {
        nsec = (uint32_t)be(p, 4);
        sec = (int64_t)be(p + 4, 8);
    } else {
        return false;
    }
    if (nsec > 999999999u || sec > INT64_MAX / 2 || sec < INT64_MIN / 2)
        return false;
    int64_t days = sec / 86400, rem = sec % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    int64_t y;
    unsigned mo, d;
    civil_from_days(days, &y, &mo, &d);
    char frac[16];
    if (nsec % 1000000 == 0)
        snprintf(frac, sizeof(frac), "%03u", nsec / 1000000);
    else if (nsec % 1000 == 0)
        snprintf(frac, sizeof(frac), "%06u", nsec / 1000);
    else
        snprintf(frac, sizeof(frac), "%09u", nsec);
    if (y >= 0 && y <= 9999)
        *rc = hcp_buf_appendf(b, "\"%04lld", (long long)y);
    else
        *rc = hcp_buf_appendf(b, "\"%+07lld", (long long)y);
    if (*rc == 0)
        *rc = hcp_buf_appendf(b, "-%02u-%02uT%02u:%02u:%02u.%sZ\"", mo, d,
                              (unsigned)(rem / 3600), (unsigned)(rem / 60 % 60),
                              (unsigned)(rem % 60), frac);
    return true;
}

static int obj_to_json(struct hcp_buf *b, const msgpack_object *o, int depth);

static int str_to_json(struct hcp_buf *b, const char *p, size_t n)
{
    if (n == 0)
        return hcp_buf_append_str(b, "\"\"");
    if (!hcp_utf8_valid((const uint8_t *)p, n))
        return HCP_ERR_MALFORMED;
    return hcp_json_append_string(b, p, n);
}

static int obj_to_json(struct hcp_buf *b, const msgpack_object *o, int depth)
{
    if (depth > HCP_JSON_MAX_DEPTH)
        return HCP_ERR_MALFORMED;
    int rc = 0;
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        return hcp_buf_append_str(b, "null");
    case MSGPACK_OBJECT_BOOLEAN:
        return hcp_buf_append_str(b, o->via.boolean ? "true" : "false");
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return hcp_buf_appendf(b, "%llu", (unsigned long long)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return hcp_buf_appendf(b, "%lld", (long long)o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return append_double(b, o->via.f64);
    case MSGPACK_OBJECT_STR:
        return str_to_json(b, o->via.str.ptr, o->via.str.size);
    case MSGPACK_OBJECT_BIN:
        return append_base64(b, (const uint8_t *)o->via.bin.ptr, o->via.bin.size);
    case MSGPACK_OBJECT_EXT:
        if (o->via.ext.type == -1 &&
            timestamp_json(b, (const uint8_t *)o->via.ext.ptr, o->via.ext.size, &rc))
            return rc;
        return append_base64(b, (const uint8_t *)o->via.ext.ptr, o->via.ext.size);
    case MSGPACK_OBJECT_ARRAY:
        rc = hcp_buf_append_byte(b, '[');
        for (uint32_t i = 0; rc == 0 && i < o->via.array.size; i++) {
            if (i)
                rc = hcp_buf_append_byte(b, ',');
            if (rc == 0)
                rc = obj_to_json(b, &o->via.array.ptr[i], depth + 1);
        }
        return rc == 0 ? hcp_buf_append_byte(b, ']') : rc;
    case MSGPACK_OBJECT_MAP:
        rc = hcp_buf_append_byte(b, '{');
        for (uint32_t i = 0; rc == 0 && i < o->via.map.size; i++) {
            const msgpack_object_kv *kv = &o->via.map.ptr[i];
            if (i)
                rc = hcp_buf_append_byte(b, ',');
            if (rc != 0)
                break;
            if (kv->key.type == MSGPACK_OBJECT_STR) {
                rc = str_to_json(b, kv->key.via.str.ptr, kv->key.via.str.size);
            } else {
                /* A non-string key becomes its JSON text as the name. */
                struct hcp_buf k;
                hcp_buf_init(&k, 0);
                rc = obj_to_json(&k, &kv->key, depth + 1);
                if (rc == 0)
                    rc = hcp_json_append_string(b, (const char *)k.data, k.len);
                hcp_buf_cleanup(&k);
            }
            if (rc == 0)
                rc = hcp_buf_append_byte(b, ':');
            if (rc == 0)
                rc = obj_to_json(b, &kv->val, depth + 1);
        }
        return rc == 0 ? hcp_buf_append_byte(b, '}') : rc;
    }
    return HCP_ERR_MALFORMED;
}

static int obj_to_json_restore(struct hcp_buf *b, const msgpack_object *o)
{
    size_t mark = b->len;
    int rc = obj_to_json(b, o, 0);
    if (rc != 0)
        b->len = mark;
    return rc;
}

int hcp_msgpack_to_json(struct hcp_buf *b, const uint8_t *mp, size_t len)
{
    msgpack_unpacked u;
    int rc = unpack_one(mp, len, &u);
    if (rc != 0)
        return rc;
    rc = obj_to_json_restore(b, &u.data);
    msgpack_unpacked_destroy(&u);
    return rc;
}

/* ---- decoding messages ---- */

static bool is_uint(const msgpack_object *o)
{
    return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER;
}

static bool headers_ok(const msgpack_object *h)
{
    if (h->type != MSGPACK_OBJECT_MAP)
        return false;
    for (uint32_t i = 0; i < h->via.map.size; i++) {
        const msgpack_object_kv *kv = &h->via.map.ptr[i];
        if (kv->key.type != MSGPACK_OBJECT_STR || kv->key.via.str.size == 0 ||
            kv->val.type != MSGPACK_OBJECT_STR)
            return false;
    }
    return true;
}

/* A string usable as a C string: UTF-8, no NUL inside. (msgpack-c leaves
 * ptr NULL for empty strings.) */
static bool cstr_ok(const msgpack_object *o)
{
    return o->type == MSGPACK_OBJECT_STR &&
           (o->via.str.size == 0 || (!memchr(o->via.str.ptr, 0, o->via.str.size) &&
                                     hcp_utf8_valid((const uint8_t *)o->via.str.ptr,
                                                    o->via.str.size)));
}

struct mdec {
    cJSON *root;
    const char *reason;
    int err;
};

static int mfail(struct mdec *d, int err, const char *reason)
{
    if (d->err == 0) {
        d->err = err;
        d->reason = reason;
    }
    return -1;
}

static int madd_str(struct mdec *d, const char *key, const msgpack_object *o)
{
    char *s = hcp_strndup(o->via.str.size ? o->via.str.ptr : "", o->via.str.size);
    if (!s)
        return mfail(d, HCP_ERR_NOMEM, "out of memory");
    cJSON *item = cJSON_CreateString(s);
    hcp_free(s);
    if (!item || !cJSON_AddItemToObject(d->root, key, item)) {
        cJSON_Delete(item);
        return mfail(d, HCP_ERR_NOMEM, "out of memory");
    }
    return 0;
}

/* Convert o to a cJSON node under `key` (through JSON text). */
static int madd_value(struct mdec *d, const char *key, const msgpack_object *o)
{
    struct hcp_buf t;
    hcp_buf_init(&t, 0);
    int rc = obj_to_json(&t, o, 0);
    if (rc != 0) {
        hcp_buf_cleanup(&t);
        return mfail(d, rc, rc == HCP_ERR_NOMEM ? "out of memory"
                                               : "a string is not valid UTF-8 or nesting is too deep");
    }
    cJSON *item = cJSON_ParseWithLength((const char *)t.data, t.len);
    hcp_buf_cleanup(&t);
    if (!item || !cJSON_AddItemToObject(d->root, key, item)) {
        cJSON_Delete(item);
        return mfail(d, HCP_ERR_NOMEM, "out of memory");
    }
    return 0;
}

/* id: a string (required) or, when `optional`, nil / "" for none. */
static int mget_id(struct mdec *d, const msgpack_object *o, bool optional)
{
    if (optional && (o->type == MSGPACK_OBJECT_NIL ||
                     (o->type == MSGPACK_OBJECT_STR && o->via.str.size == 0)))
        return 0;
    if (!cstr_ok(o) || o->via.str.size == 0)
        return mfail(d, HCP_ERR_MALFORMED, "the invocation id must be a non-empty string");
    return madd_str(d, "invocationId", o);
}

static int decode_fields(struct mdec *d, const msgpack_object *a, int type, bool *allow_reconnect,
                         int64_t *seq, bool *has_seq)
{
    uint32_t n = a->via.array.size;
    const msgpack_object *e = a->via.array.ptr;
    switch (type) {
    case HCP_MSG_INVOCATION:
    case HCP_MSG_STREAM_INVOCATION:
        if (n < 5)
            return mfail(d, HCP_ERR_MALFORMED, "an invocation needs at least 5 elements");
        if (!headers_ok(&e[1]))
            return mfail(d, HCP_ERR_MALFORMED, "headers must be a map of strings");
        if (mget_id(d, &e[2], type == HCP_MSG_INVOCATION) != 0)
            return -1;
        if (!cstr_ok(&e[3]) || e[3].via.str.size == 0)
            return mfail(d, HCP_ERR_MALFORMED, "the target must be a non-empty string");
        if (e[4].type != MSGPACK_OBJECT_ARRAY)
            return mfail(d, HCP_ERR_MALFORMED, "the arguments must be an array");
        if (n >= 6) {
            if (e[5].type != MSGPACK_OBJECT_ARRAY)
                return mfail(d, HCP_ERR_MALFORMED, "the stream ids must be an array");
            for (uint32_t i = 0; i < e[5].via.array.size; i++)
                if (!cstr_ok(&e[5].via.array.ptr[i]))
                    return mfail(d, HCP_ERR_MALFORMED, "a stream id is not a string");
        }
        if (madd_str(d, "target", &e[3]) != 0 || madd_value(d, "arguments", &e[4]) != 0)
            return -1;
        if (n >= 6 && e[5].via.array.size > 0 && madd_value(d, "streamIds", &e[5]) != 0)
            return -1;
        return 0;
    case HCP_MSG_STREAM_ITEM:
        if (n < 4)
            return mfail(d, HCP_ERR_MALFORMED, "a stream item needs 4 elements");
        if (!headers_ok(&e[1]))
            return mfail(d, HCP_ERR_MALFORMED, "headers must be a map of strings");
        if (mget_id(d, &e[2], false) != 0)
            return -1;
        return madd_value(d, "item", &e[3]);
    case HCP_MSG_COMPLETION: {
        if (n < 4)
            return mfail(d, HCP_ERR_MALFORMED, "a completion needs at least 4 elements");
        if (!headers_ok(&e[1]))
            return mfail(d, HCP_ERR_MALFORMED, "headers must be a map of strings");
        if (mget_id(d, &e[2], false) != 0)
            return -1;
        if (!is_uint(&e[3]) || e[3].via.u64 < 1 || e[3].via.u64 > 3)
            return mfail(d, HCP_ERR_MALFORMED, "the completion kind must be 1, 2 or 3");
        uint64_t kind = e[3].via.u64;
        if (kind == 2)
            return 0;
        if (n < 5)
            return mfail(d, HCP_ERR_MALFORMED, "the completion lacks its error or result");
        if (kind == 1) {
            if (!cstr_ok(&e[4]))
                return mfail(d, HCP_ERR_MALFORMED, "the completion error must be a string");
            return madd_str(d, "error", &e[4]);
        }
        return madd_value(d, "result", &e[4]);
    }
    case HCP_MSG_CANCEL_INVOCATION:
        if (n < 3)
            return mfail(d, HCP_ERR_MALFORMED, "a cancel invocation needs 3 elements");
        if (!headers_ok(&e[1]))
            return mfail(d, HCP_ERR_MALFORMED, "headers must be a map of strings");
        return mget_id(d, &e[2], false);
    case HCP_MSG_CLOSE:
        if (n < 2)
            return mfail(d, HCP_ERR_MALFORMED, "a close needs at least 2 elements");
        if (e[1].type != MSGPACK_OBJECT_NIL) {
            if (!cstr_ok(&e[1]))
                return mfail(d, HCP_ERR_MALFORMED, "the close error must be a string or nil");
            if (madd_str(d, "error", &e[1]) != 0)
                return -1;
        }
        if (n >= 3) {
            if (e[2].type != MSGPACK_OBJECT_BOOLEAN)
                return mfail(d, HCP_ERR_MALFORMED, "allowReconnect must be a boolean");
            *allow_reconnect = e[2].via.boolean;
        }
        return 0;
    case HCP_MSG_ACK:
    case HCP_MSG_SEQUENCE:
        if (n < 2 || !is_uint(&e[1]) || e[1].via.u64 > (uint64_t)INT64_MAX)
            return mfail(d, HCP_ERR_MALFORMED, "the sequence id must be an unsigned integer");
        *seq = (int64_t)e[1].via.u64;
        *has_seq = true;
        return 0;
    default:
        return 0; /* Ping and unknown types carry nothing we read */
    }
}

int hcp_msgpack_msg_decode(const uint8_t *rec, size_t len, struct hcp_msg *out,
                           const char **out_reason)
{
    msgpack_unpacked u;
    int rc = unpack_one(rec, len, &u);
    if (rc != 0) {
        *out_reason = rc == HCP_ERR_NOMEM ? "out of memory" : "not a single MessagePack value";
        return rc;
    }
    struct mdec d = {0};
    const msgpack_object *a = &u.data;
    bool allow_reconnect = false, has_seq = false;
    int64_t seq = 0;
    int type = 0;
    if (a->type != MSGPACK_OBJECT_ARRAY || a->via.array.size == 0) {
        (void)mfail(&d, HCP_ERR_MALFORMED, "a message must be a non-empty array");
    } else if (!is_uint(&a->via.array.ptr[0])) {
        (void)mfail(&d, HCP_ERR_MALFORMED, "the message type must be an unsigned integer");
    } else {
        uint64_t t = a->via.array.ptr[0].via.u64;
        type = t > 1000000 ? 0 : (int)t; /* huge: just an unknown type */
        d.root = cJSON_CreateObject();
        if (!d.root)
            (void)mfail(&d, HCP_ERR_NOMEM, "out of memory");
        else
            (void)decode_fields(&d, a, type, &allow_reconnect, &seq, &has_seq);
    }
    msgpack_unpacked_destroy(&u);
    if (d.err != 0) {
        cJSON_Delete(d.root);
        *out_reason = d.reason;
        return d.err;
    }
    memset(out, 0, sizeof(*out));
    out->type = type;
    out->root = d.root;
    const cJSON *s;
    if ((s = cJSON_GetObjectItemCaseSensitive(d.root, "invocationId")) != NULL)
        out->invocation_id = s->valuestring;
    if ((s = cJSON_GetObjectItemCaseSensitive(d.root, "target")) != NULL)
        out->target = s->valuestring;
    if ((s = cJSON_GetObjectItemCaseSensitive(d.root, "error")) != NULL)
        out->error = s->valuestring;
    out->arguments = cJSON_GetObjectItemCaseSensitive(d.root, "arguments");
    out->stream_ids = cJSON_GetObjectItemCaseSensitive(d.root, "streamIds");
    out->item = cJSON_GetObjectItemCaseSensitive(d.root, "item");
    out->result = cJSON_GetObjectItemCaseSensitive(d.root, "result");
    out->allow_reconnect = allow_reconnect;
    out->has_sequence_id = has_seq;
    out->sequence_id = seq;
    return HCP_OK;
}

/* ---- encoders ---- */

/* Finish an encoder: frame on success, restore on failure. */
static int finish(struct hcp_buf *b, size_t mark, int packed)
{
    int rc = packed == 0 ? frame_record(b, mark) : buf_err(b);
    if (rc != 0)
        b->len = mark;
    return rc;
}

static int pack_invocation_head(msgpack_packer *pk, const char *invocation_id, const char *target,
                                size_t target_len)
{
    if (msgpack_pack_array(pk, 6) != 0 || msgpack_pack_uint8(pk, HCP_MSG_INVOCATION) != 0 ||
        msgpack_pack_map(pk, 0) != 0 || pack_str_or_nil(pk, invocation_id) != 0 ||
        pack_str(pk, target, target_len) != 0)
        return -1;
    return 0;
}

int hcp_msgpack_encode_invocation(struct hcp_buf *b, const char *invocation_id,
                                  const char *target, size_t target_len, const char *args_json,
                                  size_t args_len)
{
    size_t mark = b->len;
    msgpack_packer pk;
    packer_init(&pk, b);
    size_t i = 0;
    while (i < args_len && (args_json[i] == ' ' || args_json[i] == '\t' || args_json[i] == '\n' ||
                            args_json[i] == '\r'))
        i++;
    if (i >= args_len || args_json[i] != '[')
        return HCP_ERR_MALFORMED;
    if (pack_invocation_head(&pk, invocation_id, target, target_len) != 0)
        return finish(b, mark, -1);
    int rc = hcp_msgpack_from_json(b, args_json, args_len);
    if (rc != 0) {
        b->len = mark;
        return rc;
    }
    /* The .NET server always writes the (empty) stream ids: 6 elements. */
    return finish(b, mark, msgpack_pack_array(&pk, 0));
}

int hcp_msgpack_encode_invocation_raw(struct hcp_buf *b, const char *invocation_id,
                                      const char *target, size_t target_len,
                                      const uint8_t *args_mp, size_t args_len)
{
    size_t mark = b->len;
    msgpack_packer pk;
    packer_init(&pk, b);
    int packed = pack_invocation_head(&pk, invocation_id, target, target_len);
    if (packed == 0)
        packed = hcp_buf_append(b, args_mp, args_len) == 0 ? 0 : -1;
    if (packed == 0)
        packed = msgpack_pack_array(&pk, 0);
    return finish(b, mark, packed);
}

int hcp_msgpack_encode_completion(struct hcp_buf *b, const char *invocation_id,
                                  const char *result_json, size_t result_len, const char *error)
{
    if (!invocation_id || (error && !*error) || (error && result_json))
        return HCP_ERR_INVALID;
    size_t mark = b->len;
    msgpack_packer pk;
    packer_init(&pk, b);
    int kind = error ? 1 : result_json ? 3 : 2;
    int packed = msgpack_pack_array(&pk, kind == 2 ? 4 : 5) != 0 ||
                 msgpack_pack_uint8(&pk, HCP_MSG_COMPLETION) != 0 ||
                 msgpack_pack_map(&pk, 0) != 0 ||
                 pack_str(&pk, invocation_id, strlen(invocation_id)) != 0 ||
                 msgpack_pack_uint8(&pk, (uint8_t)kind) != 0;
    if (!packed && kind == 1)
        packed = pack_str(&pk, error, strlen(error));
    if (!packed && kind == 3) {
        int rc = hcp_msgpack_from_json(b, result_json, result_len);
        if (rc != 0) {
            b->len = mark;
            return rc;
        }
    }
    return finish(b, mark, packed ? -1 : 0);
}

int hcp_msgpack_encode_stream_item(struct hcp_buf *b, const char *invocation_id,
                                   const char *item_json, size_t item_len)
{
    if (!invocation_id)
        return HCP_ERR_INVALID;
    size_t mark = b->len;
    msgpack_packer pk;
    packer_init(&pk, b);
    if (msgpack_pack_array(&pk, 4) != 0 || msgpack_pack_uint8(&pk, HCP_MSG_STREAM_ITEM) != 0 ||
        msgpack_pack_map(&pk, 0) != 0 ||
        pack_str(&pk, invocation_id, strlen(invocation_id)) != 0)
        return finish(b, mark, -1);
    int rc = hcp_msgpack_from_json(b, item_json, item_len);
    if (rc != 0) {
        b->len = mark;
        return rc;
    }
    return finish(b, mark, 0);
}

int hcp_msgpack_encode_stream_invocation(struct hcp_buf *b, const char *invocation_id,
                                         const char *target, size_t target_len,
                                         const char *args_json, size_t args_len)
{
    if (!invocation_id || !*invocation_id)
        return HCP_ERR_INVALID;
    size_t mark = b->len;
    msgpack_packer pk;
    packer_init(&pk, b);
    size_t i = 0;
    while (i < args_len && (args_json[i] == ' ' || args_json[i] == '\t' || args_json[i] == '\n' ||
                            args_json[i] == '\r'))
        i++;
    if (i >= args_len || args_json[i] != '[')
        return HCP_ERR_MALFORMED;
    /* The JS client's 5-element form (no stream ids), section 6. */
    if (msgpack_pack_array(&pk, 5) != 0 ||
        msgpack_pack_uint8(&pk, HCP_MSG_STREAM_INVOCATION) != 0 ||
        msgpack_pack_map(&pk, 0) != 0 ||
        pack_str(&pk, invocation_id, strlen(invocation_id)) != 0 ||
        pack_str(&pk, target, target_len) != 0)
        return finish(b, mark, -1);
    int rc = hcp_msgpack_from_json(b, args_json, args_len);
    if (rc != 0) {
        b->len = mark;
        return rc;
    }
    return finish(b, mark, 0);
}

int hcp_msgpack_encode_cancel(struct hcp_buf *b, const char *invocation_id)
{
    if (!invocation_id || !*invocation_id)
        return HCP_ERR_INVALID;
    size_t mark = b->len;
    msgpack_packer pk;
    packer_init(&pk, b);
    int packed = msgpack_pack_array(&pk, 3) != 0 ||
                 msgpack_pack_uint8(&pk, HCP_MSG_CANCEL_INVOCATION) != 0 ||
                 msgpack_pack_map(&pk, 0) != 0 ||
                 pack_str(&pk, invocation_id, strlen(invocation_id)) != 0;
    return finish(b, mark, packed ? -1 : 0);
}

int hcp_msgpack_encode_ping(struct hcp_buf *b)
{
    static const uint8_t ping[] = {0x02, 0x91, 0x06};
    return hcp_buf_append(b, ping, sizeof(ping));
}

int hcp_msgpack_encode_close(struct hcp_buf *b, const char *error, bool allow_reconnect)
{
    size_t mark = b->len;
    msgpack_packer pk;
    packer_init(&pk, b);
    int packed = msgpack_pack_array(&pk, 3) != 0 || msgpack_pack_uint8(&pk, HCP_MSG_CLOSE) != 0 ||
                 pack_str_or_nil(&pk, (error && *error) ? error : NULL) != 0 ||
                 (allow_reconnect ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk)) != 0;
    return finish(b, mark, packed ? -1 : 0);
}

static int encode_seq(struct hcp_buf *b, int type, uint64_t seq)
{
    size_t mark = b->len;
    msgpack_packer pk;
    packer_init(&pk, b);
    int packed = msgpack_pack_array(&pk, 2) != 0 || msgpack_pack_uint8(&pk, (uint8_t)type) != 0 ||
                 msgpack_pack_uint64(&pk, seq) != 0;
    return finish(b, mark, packed ? -1 : 0);
}

int hcp_msgpack_encode_ack(struct hcp_buf *b, uint64_t sequence_id)
{
    return encode_seq(b, HCP_MSG_ACK, sequence_id);
}

int hcp_msgpack_encode_sequence(struct hcp_buf *b, uint64_t sequence_id)
{
    return encode_seq(b, HCP_MSG_SEQUENCE, sequence_id);
}

/* ---- invocation re-encoding ---- */

/* Decode a JSON string literal span (with quotes) into a new NUL-free
 * buffer `out`. */
static int json_string_value(const struct hcp_str *span, struct hcp_buf *out)
{
    struct jconv j;
    memset(&j, 0, sizeof(j));
    j.s = span->ptr;
    j.n = span->len;
    hcp_buf_init(&j.tmp, 0);
    if (j.n == 0 || j.s[0] != '"' || jstring(&j) != 0 || j.i != j.n) {
        hcp_buf_cleanup(&j.tmp);
        return j.err == HCP_ERR_NOMEM ? HCP_ERR_NOMEM : HCP_ERR_MALFORMED;
    }
    *out = j.tmp;
    return HCP_OK;
}

int hcp_msgpack_invocation_from_json(struct hcp_buf *b, const char *rec, size_t len)
{
    struct hcp_str type, target, args, id;
    if (hcp_json_member_span(rec, len, "type", false, &type) != 0 ||
        hcp_json_member_span(rec, len, "target", false, &target) != 0 ||
        hcp_json_member_span(rec, len, "arguments", false, &args) != 0 ||
        hcp_json_member_span(rec, len, "invocationId", false, &id) != 0)
        return HCP_ERR_MALFORMED;
    if (!type.ptr || type.len != 1 || type.ptr[0] != '1' || !target.ptr || !args.ptr)
        return HCP_ERR_MALFORMED;
    struct hcp_buf t, i;
    hcp_buf_init(&i, 0);
    int rc = json_string_value(&target, &t);
    if (rc != 0)
        return rc;
    if (id.ptr && !(id.len == 4 && !memcmp(id.ptr, "null", 4)))
        rc = json_string_value(&id, &i);
    if (rc == 0 && (t.len == 0 || (i.len && memchr(i.data, 0, i.len))))
        rc = HCP_ERR_MALFORMED;
    if (rc == 0)
        rc = hcp_msgpack_encode_invocation(b, i.len ? hcp_buf_cstr(&i) : NULL,
                                           (const char *)t.data, t.len, args.ptr, args.len);
    hcp_buf_cleanup(&t);
    hcp_buf_cleanup(&i);
    return rc;
}

int hcp_json_invocation_from_msgpack(struct hcp_buf *b, const uint8_t *rec, size_t len)
{
    msgpack_unpacked u;
    int rc = unpack_one(rec, len, &u);
    if (rc != 0)
        return rc;
    const msgpack_object *a = &u.data;
    const msgpack_object *e = a->type == MSGPACK_OBJECT_ARRAY ? a->via.array.ptr : NULL;
    rc = HCP_ERR_MALFORMED;
    if (!e || a->via.array.size < 5 || !is_uint(&e[0]) || e[0].via.u64 != HCP_MSG_INVOCATION ||
        !headers_ok(&e[1]) || !cstr_ok(&e[3]) || e[3].via.str.size == 0 ||
        e[4].type != MSGPACK_OBJECT_ARRAY ||
        !(e[2].type == MSGPACK_OBJECT_NIL || cstr_ok(&e[2])))
        goto out;
    struct hcp_buf args;
    hcp_buf_init(&args, 0);
    rc = obj_to_json(&args, &e[4], 0);
    char *id = NULL;
    if (rc == 0 && e[2].type == MSGPACK_OBJECT_STR && e[2].via.str.size) {
        id = hcp_strndup(e[2].via.str.ptr, e[2].via.str.size);
        if (!id)
            rc = HCP_ERR_NOMEM;
    }
    if (rc == 0)
        rc = hcp_json_encode_invocation(b, id, e[3].via.str.ptr, e[3].via.str.size,
                                        (const char *)args.data, args.len);
    hcp_free(id);
    hcp_buf_cleanup(&args);
out:
    msgpack_unpacked_destroy(&u);
    return rc;
}

/* ---- REST multi-protocol body ---- */

static bool name_is(const msgpack_object *k, const char *name)
{
    size_t n = strlen(name);
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
           hcp_strn_ieq(k->via.str.ptr, n, name);
}

static int check_invocation(int (*dec)(const void *, size_t, struct hcp_msg *, const char **),
                            const void *p, size_t n, const char **reason)
{
    struct hcp_msg m;
    int rc = dec(p, n, &m, reason);
    if (rc != 0)
        return rc;
    bool ok = m.type == HCP_MSG_INVOCATION;
    hcp_msg_cleanup(&m);
    if (!ok) {
        *reason = "the message is not an invocation";
        return HCP_ERR_MALFORMED;
    }
    return HCP_OK;
}

static int dec_json(const void *p, size_t n, struct hcp_msg *m, const char **reason)
{
    return hcp_json_msg_decode(p, n, m, reason);
}

static int dec_mp(const void *p, size_t n, struct hcp_msg *m, const char **reason)
{
    return hcp_msgpack_msg_decode(p, n, m, reason);
}

int hcp_rest_multi_decode(const uint8_t *body, size_t len, struct hcp_rest_multi *out,
                          const char **out_reason)
{
    msgpack_unpacked u;
    int rc = unpack_one(body, len, &u);
    if (rc != 0) {
        *out_reason = rc == HCP_ERR_NOMEM ? "out of memory" : "the body is not one MessagePack value";
        return rc;
    }
    struct hcp_rest_multi r = {{NULL, 0}, {NULL, 0}};
    const msgpack_object *m = &u.data;
    const char *reason = NULL;
    rc = HCP_ERR_MALFORMED;
    if (m->type != MSGPACK_OBJECT_MAP) {
        reason = "the body must be a MessagePack map of protocol name to message bytes";
        goto out;
    }
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object_kv *kv = &m->via.map.ptr[i];
        struct hcp_str *slot = name_is(&kv->key, "json")          ? &r.json
                               : name_is(&kv->key, "messagepack") ? &r.msgpack
                                                                  : NULL;
        if (!slot)
            continue;
        if (kv->val.type == MSGPACK_OBJECT_BIN) {
            slot->ptr = kv->val.via.bin.ptr;
            slot->len = kv->val.via.bin.size;
        } else if (kv->val.type == MSGPACK_OBJECT_STR) {
            slot->ptr = kv->val.via.str.ptr;
            slot->len = kv->val.via.str.size;
        } else {
            reason = "a protocol entry must be binary";
            goto out;
        }
    }
    if (!r.json.ptr && !r.msgpack.ptr) {
        reason = "the body has neither a 'json' nor a 'messagepack' entry";
        goto out;
    }
    if (r.json.ptr) {
        size_t rlen = 0;
        int n = hcp_json_record_next((const uint8_t *)r.json.ptr, r.json.len, r.json.len, &rlen);
        if (n <= 0 || (size_t)n != r.json.len) {
            reason = "the 'json' entry must be exactly one record ending in 0x1E";
            goto out;
        }
        if ((rc = check_invocation(dec_json, r.json.ptr, rlen, &reason)) != 0)
            goto out;
        rc = HCP_ERR_MALFORMED;
    }
    if (r.msgpack.ptr) {
        size_t off = 0, rlen = 0;
        int n = hcp_msgpack_record_next((const uint8_t *)r.msgpack.ptr, r.msgpack.len,
                                        HCP_MSGPACK_MAX_RECORD, &off, &rlen);
        if (n <= 0 || (size_t)n != r.msgpack.len) {
            reason = "the 'messagepack' entry must be exactly one length-prefixed record";
            goto out;
        }
        if ((rc = check_invocation(dec_mp, r.msgpack.ptr + off, rlen, &reason)) != 0)
            goto out;
    }
    rc = HCP_OK;
    *out = r;
out:
    msgpack_unpacked_destroy(&u);
    if (rc != 0)
        *out_reason = reason ? reason : "malformed body";
    return rc;
}
