/*
 * hcp settings: the upstream (webhook) rules of a serverless service and the
 * pure pieces of the upstream wire protocol (azure-signalr-service.md
 * section 5): settings.json parsing, pattern matching, URL template
 * expansion, the X-ASRS-User-Claims header value and the interpretation of
 * an upstream's answer to an invocation.
 *
 * Pure: no files, sockets, clock or logging. The edge reads the file and
 * passes its bytes; results are owned by the caller (hcp_malloc).
 */
#ifndef HCP_SETTINGS_H
#define HCP_SETTINGS_H

#include <cjson/cJSON.h>

#include "hcp/common.h"

/* One rule: the first rule whose three patterns match an event wins. */
struct hcp_upstream_rule {
    char *url_template; /* absolute http:// or https:// URL, may hold {hub} {category} {event} */
    char *hub_pattern;      /* "*" when absent */
    char *category_pattern; /* "*" when absent */
    char *event_pattern;    /* "*" when absent */
};

struct hcp_upstream_settings {
    struct hcp_upstream_rule *rules; /* n_rules entries, in file order */
    size_t n_rules;
    bool has_auth; /* some ARM-shape rule carried an "auth" object (ignored) */
};

/* Largest settings file accepted (bytes). */
#define HCP_SETTINGS_MAX_BYTES (1024 * 1024)
/* Most rules accepted. */
#define HCP_SETTINGS_MAX_RULES 1024

/*
 * Parse settings.json text[0..len). Two shapes are read, with member names
 * matched case-insensitively (as .NET configuration binding does):
 *   official emulator:  {"UpstreamSettings":{"Templates":[{"UrlTemplate":…,
 *                        "HubPattern":…,"CategoryPattern":…,"EventPattern":…}]}}
 *   ARM resource:       {"upstream":{"templates":[{"urlTemplate":…,…,"auth":{…}}]}}
 *                        (also under "properties"). "auth" is ignored.
 * `//` and block comments are allowed. A file with neither section yields
 * zero rules. Pattern members missing, null or blank mean "*".
 * Returns HCP_OK and fills *out (release with hcp_upstream_settings_cleanup),
 * or HCP_ERR_MALFORMED / HCP_ERR_TOO_LARGE / HCP_ERR_NOMEM with a static
 * English reason in *out_reason; *out is untouched on failure.
 */
HCP_NODISCARD int hcp_upstream_settings_parse(const char *text, size_t len,
                                              struct hcp_upstream_settings *out,
                                              const char **out_reason);
void hcp_upstream_settings_cleanup(struct hcp_upstream_settings *s);

/*
 * Does `pattern` match `value`? "*" matches anything; otherwise the pattern
 * is one name or a comma list of names (each trimmed of spaces and tabs; an
 * item "*" matches anything). Names compare exactly, or ASCII
 * case-insensitively when `ignore_case` (used for hubs).
 */
bool hcp_upstream_pattern_match(const char *pattern, const char *value, bool ignore_case);

/* Index of the first rule matching (hub case-insensitive, category and event
 * exact), or -1 when none does. */
long hcp_upstream_settings_match(const struct hcp_upstream_settings *s, const char *hub,
                                 const char *category, const char *event);

/*
 * Append the URL for `tmpl` with {hub}, {category} and {event} (placeholder
 * names ASCII case-insensitive) replaced by the percent-encoded values; any
 * other text is copied as is. Returns HCP_OK or a buffer error.
 */
HCP_NODISCARD int hcp_upstream_url_expand(struct hcp_buf *b, const char *tmpl, const char *hub,
                                          const char *category, const char *event);

/*
 * Append the X-ASRS-User-Claims value for a token's claims object: one
 * `name: value` per claim, joined by ", ", with the raw JWT claim names.
 * `asrs.s.*` and the registered aud, exp, iat, nbf, iss are omitted;
 * `asrs.u.<name>` is sent as `<name>`. Strings are sent as is, numbers and
 * booleans as their JSON text, an array as one entry per element, objects
 * as compact JSON; null is skipped. A value containing ", " cannot be told
 * apart by the receiver (the Functions extension splits on commas): it is
 * sent unchanged. Control characters are replaced by spaces so the value is
 * a legal single header line. Appends nothing when no claim remains (the
 * caller then omits the header). Returns HCP_OK or a buffer error.
 */
HCP_NODISCARD int hcp_upstream_claims_header(struct hcp_buf *b, const cJSON *claims);

/* Append s with every control character (< 0x20 or 0x7F) replaced by a space:
 * header values must be a single line. */
HCP_NODISCARD int hcp_upstream_header_value(struct hcp_buf *b, const char *s);

/* Largest upstream answer accepted for an invocation (azure-signalr-service.md 5.4). */
#define HCP_UPSTREAM_MAX_RESPONSE (16u * 1024 * 1024)

/*
 * Turn an upstream's HTTP answer to a JSON-protocol invocation with id
 * `invocation_id` into exactly one framed hub record for the client
 * (azure-signalr-service.md section 5.4), appended to `out`:
 *   status 2xx with a body that is one JSON record ending in 0x1E and
 *     decoding as a Completion for this invocation id → the body unchanged;
 *   2xx with another body that is valid JSON → a Completion with it as result;
 *   2xx with an empty body (or 204) → {"type":3,"invocationId":"…"};
 *   2xx with anything else → Completion error "Invocation failed, invalid
 *     response from upstream.";
 *   other status → Completion error "Invocation failed, status code <N>".
 * `too_large` (the caller stopped reading past HCP_UPSTREAM_MAX_RESPONSE)
 * gives "Invocation failed, response too large.". Transport failures are
 * the caller's (it has no status). *out_kind tells which case applied (the
 * edge logs the failures). Returns HCP_OK or a buffer error.
 */
enum hcp_upstream_result {
    HCP_UPSTREAM_RELAYED,   /* framed Completion passed through unchanged */
    HCP_UPSTREAM_EMPTY,     /* empty Completion */
    HCP_UPSTREAM_WRAPPED,   /* unframed JSON wrapped as the result */
    HCP_UPSTREAM_INVALID,   /* 2xx with a body that is neither */
    HCP_UPSTREAM_STATUS,    /* non-2xx status */
    HCP_UPSTREAM_TOO_LARGE, /* body over the limit */
};
HCP_NODISCARD int hcp_upstream_invocation_result(struct hcp_buf *out, const char *invocation_id,
                                                 long status, const uint8_t *body, size_t len,
                                                 bool too_large,
                                                 enum hcp_upstream_result *out_kind);

#endif
