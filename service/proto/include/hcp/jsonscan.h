/*
 * A strict, allocation-free JSON scanner that finds where a top-level member's
 * value lies in the original text, so payloads can be passed through byte for
 * byte (cJSON would truncate strings at \u0000 and round large integers).
 */
#ifndef HCP_JSONSCAN_H
#define HCP_JSONSCAN_H

#include "hcp/common.h"

#define HCP_JSON_MAX_DEPTH 512

/*
 * json[0..len) must hold one JSON object (surrounding whitespace allowed).
 * Finds the first member whose name equals `key` (ASCII case-insensitively
 * when `icase`; names containing escapes never match) and sets *out to the raw
 * text of its value (out->ptr NULL when absent). The whole text is checked
 * strictly: raw control characters inside strings, bad escapes, trailing
 * garbage, or nesting deeper than HCP_JSON_MAX_DEPTH are HCP_ERR_MALFORMED.
 * UTF-8 validity is not checked here (see hcp_utf8_valid).
 */
HCP_NODISCARD int hcp_json_member_span(const char *json, size_t len, const char *key, bool icase,
                                       struct hcp_str *out);

/* Check that json[0..len) is exactly one strict JSON value (same rules). */
HCP_NODISCARD int hcp_json_validate(const char *json, size_t len);

#endif
