/*
 * hcproto common definitions: error codes, the allocator hook and a bounded
 * growable byte buffer.
 *
 * Everything in hcproto is pure: no sockets, clock, logging or global state
 * other than the allocator hook, which is process configuration set once at
 * start (tests point it at CMocka's test_malloc/test_free).
 * Depends only on libc and cJSON.
 */
#ifndef HCP_COMMON_H
#define HCP_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define HCP_NODISCARD __attribute__((warn_unused_result))
#define HCP_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define HCP_NODISCARD
#define HCP_PRINTF(a, b)
#endif

/* X(name, value, description). 0 is success, errors are negative. */
#define HCP_ERR_MAP(X)                                                                             \
    X(INCOMPLETE, -1, "incomplete input, more bytes needed")                                      \
    X(MALFORMED, -2, "malformed input")                                                            \
    X(TOO_LARGE, -3, "size limit exceeded")                                                        \
    X(NOMEM, -4, "out of memory")                                                                  \
    X(UNSUPPORTED, -5, "unsupported")                                                              \
    X(INVALID, -6, "invalid argument")                                                             \
    X(NOT_FOUND, -7, "not found")                                                                  \
    X(METHOD, -8, "method not allowed")

enum hcp_err {
    HCP_OK = 0,
#define HCP_ERR_ENUM_(name, value, desc) HCP_ERR_##name = value,
    HCP_ERR_MAP(HCP_ERR_ENUM_)
#undef HCP_ERR_ENUM_
};

/* Static description of an hcp_err value; never NULL. */
const char *hcp_strerror(int err);

/*
 * Allocator hook. Passing NULL restores malloc/realloc/free. Also routes cJSON
 * (cJSON_InitHooks) so that every allocation made on behalf of hcproto users
 * goes through the same functions. Call before any other hcproto function.
 */
struct hcp_alloc {
    void *(*malloc_fn)(size_t size);
    void *(*realloc_fn)(void *ptr, size_t size);
    void (*free_fn)(void *ptr);
};
void hcp_set_alloc(const struct hcp_alloc *alloc);
void *hcp_malloc(size_t size);
void *hcp_calloc(size_t n, size_t size);
void *hcp_realloc(void *ptr, size_t size);
void hcp_free(void *ptr);
/* NUL-terminated copy of s[0..len); NULL on allocation failure. */
char *hcp_strndup(const char *s, size_t len);
char *hcp_strdup(const char *s);

/*
 * A growable byte buffer with a hard cap (`max`, 0 = SIZE_MAX). Appends that
 * would grow it past the cap fail with HCP_ERR_TOO_LARGE and leave it intact.
 * The buffer keeps one spare byte so that data[len] can be set to '\0' for
 * text; hcp_buf_cstr() does so.
 */
struct hcp_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t max;
};

void hcp_buf_init(struct hcp_buf *b, size_t max);
void hcp_buf_cleanup(struct hcp_buf *b);
/* Make room for `extra` more bytes. */
HCP_NODISCARD int hcp_buf_reserve(struct hcp_buf *b, size_t extra);
HCP_NODISCARD int hcp_buf_append(struct hcp_buf *b, const void *data, size_t len);
HCP_NODISCARD int hcp_buf_append_str(struct hcp_buf *b, const char *s);
HCP_NODISCARD int hcp_buf_append_byte(struct hcp_buf *b, uint8_t c);
HCP_NODISCARD int hcp_buf_appendf(struct hcp_buf *b, const char *fmt, ...) HCP_PRINTF(2, 3);
/* Append `n` zero bytes (used to reserve transport headroom before a frame). */
HCP_NODISCARD int hcp_buf_append_zeros(struct hcp_buf *b, size_t n);
/* Drop `n` bytes from the front (memmove). n > len empties the buffer. */
void hcp_buf_consume(struct hcp_buf *b, size_t n);
void hcp_buf_reset(struct hcp_buf *b);
/* NUL-terminates (without counting it in len) and returns data as char *;
 * returns "" for an empty unallocated buffer. */
const char *hcp_buf_cstr(struct hcp_buf *b);
/* Transfer ownership of the storage to the caller (free with hcp_free); the
 * buffer is left empty. Returns NULL if nothing was allocated. */
uint8_t *hcp_buf_take(struct hcp_buf *b, size_t *out_len);

/* Append s[0..len) as a quoted, escaped JSON string. Control characters and
 * the record separator 0x1E are escaped as \u00XX. Input must be valid UTF-8
 * (not checked here). */
HCP_NODISCARD int hcp_json_append_string(struct hcp_buf *b, const char *s, size_t len);

/* A borrowed view of bytes; ptr NULL means absent. */
struct hcp_str {
    const char *ptr;
    size_t len;
};

#endif
