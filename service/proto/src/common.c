/*
 * hcproto common: error strings, the allocator hook and the bounded byte
 * buffer.
 *
 * The allocator hook is the only global state in hcproto. It is process
 * configuration, set once at start before any other call; it also routes
 * cJSON through cJSON_InitHooks so that trees built by the decoders use the
 * same functions (tests count and fail allocations through it).
 */
#include "hcp/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

const char *hcp_strerror(int err)
{
    switch (err) {
    case HCP_OK:
        return "success";
#define HCP_ERR_CASE_(name, value, desc)                                                           \
    case HCP_ERR_##name:                                                                           \
        return desc;
        HCP_ERR_MAP(HCP_ERR_CASE_)
#undef HCP_ERR_CASE_
    default:
        return "unknown error";
    }
}

/* The active allocator. Defaults to libc. */
static struct hcp_alloc alloc_fns = {malloc, realloc, free};

void hcp_set_alloc(const struct hcp_alloc *alloc)
{
    if (alloc == NULL || alloc->malloc_fn == NULL || alloc->realloc_fn == NULL ||
        alloc->free_fn == NULL) {
        alloc_fns.malloc_fn = malloc;
        alloc_fns.realloc_fn = realloc;
        alloc_fns.free_fn = free;
        cJSON_InitHooks(NULL);
        return;
    }
    alloc_fns = *alloc;
    cJSON_Hooks hooks = {alloc->malloc_fn, alloc->free_fn};
    cJSON_InitHooks(&hooks);
}

void *hcp_malloc(size_t size)
{
    return alloc_fns.malloc_fn(size);
}

void *hcp_calloc(size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size)
        return NULL;
    void *p = alloc_fns.malloc_fn(n * size);
    if (p != NULL)
        memset(p, 0, n * size);
    return p;
}

void *hcp_realloc(void *ptr, size_t size)
{
    return alloc_fns.realloc_fn(ptr, size);
}

void hcp_free(void *ptr)
{
    if (ptr != NULL)
        alloc_fns.free_fn(ptr);
}

char *hcp_strndup(const char *s, size_t len)
{
    if (len == SIZE_MAX)
        return NULL;
    char *p = hcp_malloc(len + 1);
    if (p == NULL)
        return NULL;
    if (len > 0)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *hcp_strdup(const char *s)
{
    return hcp_strndup(s, strlen(s));
}

/* ---- hcp_buf ---------------------------------------------------------------------------- */

void hcp_buf_init(struct hcp_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max == 0 ? SIZE_MAX : max;
}

void hcp_buf_cleanup(struct hcp_buf *b)
{
    hcp_free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

int hcp_buf_reserve(struct hcp_buf *b, size_t extra)
{
    size_t max = b->max == 0 ? SIZE_MAX : b->max;
    if (extra > max || b->len > max - extra)
        return HCP_ERR_TOO_LARGE;
    size_t need = b->len + extra;
    /* One spare byte for the NUL of hcp_buf_cstr(). */
    if (need == SIZE_MAX)
        return HCP_ERR_TOO_LARGE;
    if (b->data != NULL && need + 1 <= b->cap)
        return HCP_OK;
    size_t want = b->cap < 64 ? 64 : b->cap;
    while (want < need + 1) {
        if (want > SIZE_MAX / 2) {
            want = need + 1;
            break;
        }
        want *= 2;
    }
    /* Never allocate beyond the cap (plus the spare byte). */
    if (max != SIZE_MAX && want > max + 1)
        want = max + 1;
    if (want < need + 1)
        want = need + 1;
    uint8_t *p = hcp_realloc(b->data, want);
    if (p == NULL)
        return HCP_ERR_NOMEM;
    b->data = p;
    b->cap = want;
    return HCP_OK;
}

int hcp_buf_append(struct hcp_buf *b, const void *data, size_t len)
{
    int rc = hcp_buf_reserve(b, len);
    if (rc != HCP_OK)
        return rc;
    if (len > 0)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    return HCP_OK;
}

int hcp_buf_append_str(struct hcp_buf *b, const char *s)
{
    return hcp_buf_append(b, s, strlen(s));
}

int hcp_buf_append_byte(struct hcp_buf *b, uint8_t c)
{
    return hcp_buf_append(b, &c, 1);
}

int hcp_buf_appendf(struct hcp_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = (b->data != NULL && b->cap > b->len) ? b->cap - b->len : 0;
    char *dst = room > 0 ? (char *)b->data + b->len : NULL;
    int n = vsnprintf(dst, room, fmt, ap);
    va_end(ap);
    if (n < 0)
        return HCP_ERR_INVALID;
    if ((size_t)n < room) {
        b->len += (size_t)n;
        return HCP_OK;
    }
    int rc = hcp_buf_reserve(b, (size_t)n);
    if (rc != HCP_OK) {
        if (b->data != NULL && b->cap > b->len)
            b->data[b->len] = '\0';
        return rc;
    }
    va_start(ap, fmt);
    n = vsnprintf((char *)b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return HCP_ERR_INVALID;
    b->len += (size_t)n;
    return HCP_OK;
}

int hcp_buf_append_zeros(struct hcp_buf *b, size_t n)
{
    int rc = hcp_buf_reserve(b, n);
    if (rc != HCP_OK)
        return rc;
    if (n > 0)
        memset(b->data + b->len, 0, n);
    b->len += n;
    return HCP_OK;
}

void hcp_buf_consume(struct hcp_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void hcp_buf_reset(struct hcp_buf *b)
{
    b->len = 0;
}

const char *hcp_buf_cstr(struct hcp_buf *b)
{
    if (b->data == NULL)
        return "";
    b->data[b->len] = '\0';
    return (const char *)b->data;
}

uint8_t *hcp_buf_take(struct hcp_buf *b, size_t *out_len)
{
    uint8_t *p = b->data;
    if (out_len != NULL)
        *out_len = p != NULL ? b->len : 0;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}

/* ---- JSON strings ------------------------------------------------------------------------ */

int hcp_json_append_string(struct hcp_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t start = b->len;
    int rc = hcp_buf_append_byte(b, '"');
    size_t run = 0; /* start of the pending run of bytes copied verbatim */
    for (size_t i = 0; rc == HCP_OK && i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        rc = hcp_buf_append(b, s + run, i - run);
        if (rc != HCP_OK)
            break;
        run = i + 1;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            rc = hcp_buf_append(b, esc, 2);
        } else {
            /* Every control character, including the record separator 0x1E,
             * becomes \u00XX so a JSON record never contains a raw 0x1E. */
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            rc = hcp_buf_append(b, esc, 6);
        }
    }
    if (rc == HCP_OK)
        rc = hcp_buf_append(b, s + run, len - run);
    if (rc == HCP_OK)
        rc = hcp_buf_append_byte(b, '"');
    if (rc != HCP_OK)
        b->len = start;
    return rc;
}
