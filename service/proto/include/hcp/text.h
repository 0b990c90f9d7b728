/*
 * Text helpers shared by every codec: UTF-8 validation, URL and query
 * decoding, base64url. Pure functions over caller buffers.
 */
#ifndef HCP_TEXT_H
#define HCP_TEXT_H

#include "hcp/common.h"

/* True if s[0..len) is well-formed UTF-8 (no overlongs, no surrogates,
 * nothing above U+10FFFF). NUL bytes are allowed. */
bool hcp_utf8_valid(const uint8_t *s, size_t len);

/*
 * Percent-decode in[0..len) into out (cap bytes incl. the terminating NUL).
 * With plus_as_space '+' becomes ' ' (query strings). A '%' not followed by
 * two hex digits is HCP_ERR_MALFORMED. On success writes the decoded length to
 * *out_len (if non-NULL) and returns HCP_OK; HCP_ERR_TOO_LARGE if out is too
 * small.
 */
HCP_NODISCARD int hcp_url_decode(const char *in, size_t len, bool plus_as_space, char *out,
                                 size_t cap, size_t *out_len);

/* Append s[0..len) percent-encoded; unreserved characters (A-Z a-z 0-9 - . _ ~)
 * are kept, everything else becomes %XX (uppercase hex). */
HCP_NODISCARD int hcp_url_encode(struct hcp_buf *b, const char *s, size_t len);

/*
 * Look up a query parameter in a raw query string (no leading '?'; pairs split
 * on '&'). The key is compared case-insensitively after decoding. Writes the
 * decoded value of the `index`-th occurrence (0-based) into out (NUL
 * terminated). Returns the total number of occurrences of key (0 when absent,
 * in which case out is untouched), or a negative hcp_err if the index-th value
 * does not fit or is malformed. A key without '=' has the empty value.
 */
HCP_NODISCARD int hcp_query_get(const char *query, size_t len, const char *key, size_t index,
                                char *out, size_t cap);

/* Base64url without padding (RFC 4648 section 5) of in[0..len) into out
 * (cap incl. NUL). Returns the encoded length or HCP_ERR_TOO_LARGE. */
HCP_NODISCARD int hcp_base64url_encode(const uint8_t *in, size_t len, char *out, size_t cap);

/*
 * Comma-separated lists ("a, b,c"): step to the next item, trimmed of spaces
 * and tabs; empty items are skipped. Returns false at the end. *cursor starts
 * at the list and is advanced.
 */
bool hcp_list_next(const char **cursor, const char **out_item, size_t *out_len);
/* True if the list holds item[0..len), compared ASCII case-insensitively. */
bool hcp_list_contains_ci(const char *list, const char *item, size_t len);

/* ASCII case-insensitive comparisons. */
bool hcp_str_ieq(const char *a, const char *b);
bool hcp_strn_ieq(const char *a, size_t alen, const char *b);

#endif
