/*
 * hcs_auth: the one module that verifies and issues JWTs. Verification is
 * our own (OpenSSL HMAC, constant-time comparison: docs/security.md);
 * issuing uses libjwt 1.10.
 *
 * libjwt 1.10 verifies only the signature and accepts `alg: none`; this module
 * adds everything else: it refuses any algorithm but HS256/HS384/HS512,
 * checks `exp` and `nbf` (with skew), tries every configured access key
 * (ignoring `kid`), and extracts the user id and claims
 * (azure-signalr-service.md section 2). Keys are used as their UTF-8 bytes.
 * Never logs tokens or keys.
 */
#ifndef HCS_AUTH_H
#define HCS_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define HCS_AUTH_MAX_TOKEN 8192

struct hcs_auth_keys {
    const char *const *keys; /* access keys, primary first */
    size_t n_keys;
};

struct hcs_auth_options {
    bool check_lifetime;        /* check exp / nbf (default true) */
    int64_t skew_s;             /* allowed clock skew in seconds (default 300) */
    /* Strict audience: when non-NULL, `aud` (string or any element of an
     * array) must contain this path family (e.g. "/client/" or "/api/"),
     * ignoring scheme, host, port and query. NULL: audience not checked. */
    const char *audience_path;
};

struct hcs_principal {
    char *user_id;      /* from asrs.s.uid, nameid, the long nameidentifier claim, or sub;
                           NULL when none (hcp_malloc'd) */
    cJSON *claims;      /* the whole payload object (owned) */
    int64_t exp;        /* 0 when absent */
    unsigned transports; /* from asrs.s.htt (1 WS, 2 SSE, 4 LP); 7 when absent */
};

/*
 * Verify `token[0..len)` at unix time now_s. On success fills *out (release
 * with hcs_principal_cleanup) and returns 0. On failure returns -1 and sets
 * *out_reason to a static English reason ("token expired", "bad signature",
 * "algorithm not allowed", "malformed token", "token not yet valid",
 * "audience mismatch", "token too long"); *out is untouched.
 */
int hcs_auth_verify(const struct hcs_auth_keys *keys, const struct hcs_auth_options *opt,
                    const char *token, size_t len, int64_t now_s, struct hcs_principal *out,
                    const char **out_reason);
void hcs_principal_cleanup(struct hcs_principal *p);

/*
 * A bounded cache of verdicts for callers that need only "valid or not" (the
 * REST API, where one server token signs many requests): a token that
 * verified once is recognised by its exact bytes (length + constant-time
 * comparison) and only its lifetime is checked again, with the options of
 * the call, so an entry never outlives its token's exp + skew. Only
 * successes are kept; entries are bound to the options' audience path and
 * to the key list the cache was first used with (another list empties it).
 * Not thread-safe: one cache per thread. slots == 0 disables caching.
 */
struct hcs_auth_cache;

struct hcs_auth_cache *hcs_auth_cache_new(size_t slots);
void hcs_auth_cache_free(struct hcs_auth_cache *c);

/* Like hcs_auth_verify without a principal: 0 = valid, -1 = refused with
 * *out_reason. c may be NULL (no caching). */
int hcs_auth_check(struct hcs_auth_cache *c, const struct hcs_auth_keys *keys,
                   const struct hcs_auth_options *opt, const char *token, size_t len,
                   int64_t now_s, const char **out_reason);

/* Counters for tests and diagnostics. */
struct hcs_auth_cache_stats {
    uint64_t hits;
    uint64_t misses;
    size_t entries;
};
void hcs_auth_cache_stats(const struct hcs_auth_cache *c, struct hcs_auth_cache_stats *out);

/*
 * Issue an HS256 token signed with `key`: claims aud, iat, nbf = now,
 * exp = now + lifetime_s, and asrs.s.uid = user_id when non-NULL/non-empty.
 * *out_token is allocated with hcp_malloc. Returns 0 or -1.
 */
int hcs_auth_issue(const char *key, const char *audience, const char *user_id, int64_t now_s,
                   int64_t lifetime_s, char **out_token);

/*
 * Extract the bearer token: from an Authorization header value
 * ("Bearer <t>", scheme case-insensitive) if present, else from an
 * access_token query value. Returns a pointer into one of the inputs and its
 * length via *out_len, or NULL when neither holds a token.
 */
const char *hcs_auth_bearer(const char *authorization, const char *access_token_query,
                            size_t *out_len);

/* Upper-case hex HMAC-SHA256(key, data) into out (65 bytes). For upstream
 * X-ASRS-Signature. Returns 0 or -1. */
int hcs_auth_hmac_sha256_hex(const char *key, const char *data, size_t len, char out[65]);

#endif
