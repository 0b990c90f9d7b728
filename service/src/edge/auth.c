/*
 * hcs_auth: JWT verification and issuing, bearer extraction and the upstream
 * HMAC signature (azure-signalr-service.md sections 2 and 5.3).
 *
 * libjwt 1.10 checks only the signature, matches `alg` case-insensitively,
 * parses with jansson and compares signatures with strcmp() (not constant
 * time), so verification does not use it: this file splits and decodes the
 * token itself (exactly three base64url segments, a JSON object header whose
 * `alg` is exactly HS256, HS384 or HS512, a JSON object payload) and checks
 * the HMAC with OpenSSL and CRYPTO_memcmp. libjwt is kept for issuing.
 * The claims returned are our own cJSON parse of the signed payload; duplicate
 * member names are refused so that libjwt (last wins) and cJSON (first wins)
 * can never read different values.
 *
 * Invariants: never logs; keeps no state between calls except in a
 * caller-owned struct hcs_auth_cache; out-parameters are
 * written only on success. Memory comes from hcp_malloc (and cJSON's hooks,
 * which hcp_set_alloc routes); libjwt allocates with libc and its results
 * are copied and released here.
 */
#include "auth.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <hcp/common.h>
#include <jwt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#define R_TOO_LONG "token too long"
#define R_MALFORMED "malformed token"
#define R_ALG "algorithm not allowed"
#define R_SIGNATURE "bad signature"
#define R_EXPIRED "token expired"
#define R_NOT_YET "token not yet valid"
#define R_AUDIENCE "audience mismatch"
#define R_NOMEM "out of memory"

/* Largest decoded segment (3 bytes per 4 characters) plus a NUL. */
#define MAX_DECODED ((HCS_AUTH_MAX_TOKEN / 4) * 3 + 4)

/* Claims holding the user id, highest priority first (section 2.1). */
static const char *const user_id_claims[] = {
    "asrs.s.uid",
    "nameid",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier",
    "sub",
};

#define ALL_TRANSPORTS 7u

static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

static bool is_b64url(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (b64url_value((unsigned char)s[i]) < 0)
            return false;
    }
    return len % 4 != 1;
}

/*
 * Decode unpadded base64url s[0..len) into out (at least len / 4 * 3 + 2
 * bytes). Returns the decoded length or -1 on a character outside the
 * alphabet or an impossible length. Unused trailing bits are ignored, as
 * libjwt does.
 */
static long b64url_decode(const char *s, size_t len, unsigned char *out)
{
    uint32_t acc = 0;
    int bits = 0;
    long n = 0;

    if (!is_b64url(s, len))
        return -1;
    for (size_t i = 0; i < len; i++) {
        acc = (acc << 6) | (uint32_t)b64url_value((unsigned char)s[i]);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1u;
        }
    }
    return n;
}

/* True when an object has two members with the same name. */
static bool has_duplicate_names(const cJSON *obj)
{
    for (const cJSON *a = obj->child; a != NULL; a = a->next) {
        for (const cJSON *b = a->next; b != NULL; b = b->next) {
            if (a->string != NULL && b->string != NULL && strcmp(a->string, b->string) == 0)
                return true;
        }
    }
    return false;
}

/* Decode one segment and parse it as a JSON object; NULL when it is not one. */
static cJSON *decode_object(const char *s, size_t len, unsigned char *scratch)
{
    long n = b64url_decode(s, len, scratch);
    const char *end = NULL;
    cJSON *obj;

    if (n <= 0)
        return NULL;
    /* Some cJSON releases read past `length` in unterminated strings. */
    scratch[n] = '\0';
    obj = cJSON_ParseWithLengthOpts((const char *)scratch, (size_t)n, &end, false);
    if (obj == NULL)
        return NULL;
    /* Only whitespace may follow the object. */
    while (end < (const char *)scratch + n &&
           (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
        end++;
    if (!cJSON_IsObject(obj) || end != (const char *)scratch + n || has_duplicate_names(obj)) {
        cJSON_Delete(obj);
        return NULL;
    }
    return obj;
}

/* Map the header's `alg` to libjwt's enum; JWT_ALG_INVAL unless exactly HS*. */
static jwt_alg_t allowed_alg(const char *alg)
{
    if (strcmp(alg, "HS256") == 0)
        return JWT_ALG_HS256;
    if (strcmp(alg, "HS384") == 0)
        return JWT_ALG_HS384;
    if (strcmp(alg, "HS512") == 0)
        return JWT_ALG_HS512;
    return JWT_ALG_INVAL;
}

/*
 * A NumericDate claim (RFC 7519 section 2): absent is fine (*out_has false),
 * present must be a JSON number (integer or fraction). Returns -1 otherwise.
 */
static int numeric_claim(const cJSON *claims, const char *name, bool *out_has, double *out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(claims, name);

    *out_has = false;
    if (item == NULL)
        return 0;
    if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble))
        return -1;
    *out_has = true;
    *out = item->valuedouble;
    return 0;
}

static int64_t clamp_i64(double v)
{
    if (v >= 9223372036854775807.0)
        return INT64_MAX;
    if (v <= -9223372036854775808.0)
        return INT64_MIN;
    return (int64_t)v;
}

/*
 * The path of an audience URL: after "scheme://authority" when present, up to
 * '?' or '#'. Sets *out_len; the result points into `aud`.
 */
static const char *aud_path(const char *aud, size_t *out_len)
{
    const char *p = strstr(aud, "://");
    size_t n;

    if (p != NULL) {
        p += 3;
        p += strcspn(p, "/?#");
    } else {
        p = aud;
    }
    n = strcspn(p, "?#");
    *out_len = n;
    return p;
}

/* ASCII case-insensitive search for family[0..flen) in s[0..len). */
static bool contains_ci(const char *s, size_t len, const char *family, size_t flen)
{
    if (flen > len)
        return false;
    for (size_t i = 0; i + flen <= len; i++) {
        if (strncasecmp(s + i, family, flen) == 0)
            return true;
    }
    return false;
}

/*
 * Section 1.1: the SDKs put different schemes, hosts, ports and queries into
 * `aud`, so strict mode compares only the path family. A family with a
 * trailing '/' also matches a path that ends without it ("/client").
 */
static bool aud_matches(const char *aud, const char *family)
{
    size_t len;
    size_t flen = strlen(family);
    const char *path = aud_path(aud, &len);

    if (contains_ci(path, len, family, flen))
        return true;
    if (flen > 1 && family[flen - 1] == '/' && len >= flen - 1)
        return strncasecmp(path + len - (flen - 1), family, flen - 1) == 0;
    return false;
}

static bool audience_ok(const cJSON *claims, const char *family)
{
    const cJSON *aud = cJSON_GetObjectItemCaseSensitive(claims, "aud");
    const cJSON *el;

    if (cJSON_IsString(aud))
        return aud_matches(aud->valuestring, family);
    if (cJSON_IsArray(aud)) {
        cJSON_ArrayForEach(el, aud)
        {
            if (cJSON_IsString(el) && aud_matches(el->valuestring, family))
                return true;
        }
    }
    return false;
}

static const char *find_user_id(const cJSON *claims)
{
    for (size_t i = 0; i < sizeof(user_id_claims) / sizeof(user_id_claims[0]); i++) {
        const cJSON *item = cJSON_GetObjectItemCaseSensitive(claims, user_id_claims[i]);

        if (cJSON_IsString(item) && item->valuestring[0] != '\0')
            return item->valuestring;
    }
    return NULL;
}

/*
 * asrs.s.htt (section 2.1): a bitmask 1..7. The .NET SDK writes claim values
 * as strings, so a decimal string is accepted as well as a JSON integer.
 * Anything else means all transports.
 */
static unsigned find_transports(const cJSON *claims)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(claims, "asrs.s.htt");
    double v;

    if (cJSON_IsNumber(item)) {
        v = item->valuedouble;
        if (v >= 1.0 && v <= 7.0 && v == (double)(unsigned)v)
            return (unsigned)v;
    } else if (cJSON_IsString(item)) {
        const char *s = item->valuestring;

        if (s[0] >= '1' && s[0] <= '7' && s[1] == '\0')
            return (unsigned)(s[0] - '0');
    }
    return ALL_TRANSPORTS;
}

/* The OpenSSL digest for an allowed algorithm. */
static const char *alg_digest(jwt_alg_t alg)
{
    switch (alg) {
    case JWT_ALG_HS256:
        return "SHA256";
    case JWT_ALG_HS384:
        return "SHA384";
    case JWT_ALG_HS512:
        return "SHA512";
    default:
        return NULL;
    }
}

/* Unpadded base64url of in[0..len) into out (at least (len * 4 + 2) / 3). */
static size_t b64url_encode(const unsigned char *in, size_t len, char *out)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[n++] = abc[(acc >> bits) & 63u];
        }
        acc &= (1u << bits) - 1u;
    }
    if (bits > 0)
        out[n++] = abc[(acc << (6 - bits)) & 63u];
    return n;
}

/*
 * Verify the HS* signature ourselves rather than with jwt_decode(): libjwt
 * 1.10 compares the expected and received signatures with strcmp(), whose
 * running time tells an attacker how many leading characters of a forged
 * signature are right. Here the HMAC of "header.payload" under every key is
 * encoded in canonical unpadded base64url (what libjwt accepts) and compared
 * with CRYPTO_memcmp, whose time depends only on the length (public: fixed
 * by the algorithm). Every key is tried, without an early exit, so the time
 * does not reveal which key matched either. 0 when one key verifies.
 */
static int check_signature(const struct hcs_auth_keys *keys, const char *signed_part,
                           size_t signed_len, const char *sig, size_t sig_len, jwt_alg_t alg,
                           size_t *out_key, const char **out_reason)
{
    const char *digest = alg_digest(alg);
    unsigned char mac[EVP_MAX_MD_SIZE];
    char expect[(EVP_MAX_MD_SIZE * 4 + 2) / 3 + 1];
    int matched = 0;
    size_t which = 0;
    bool failed = false;

    if (digest == NULL) {
        *out_reason = R_ALG;
        return -1;
    }
    for (size_t i = 0; keys != NULL && i < keys->n_keys; i++) {
        const char *key = keys->keys[i];
        size_t klen = key != NULL ? strlen(key) : 0;
        size_t mac_len = 0;
        size_t elen;

        /* An empty key is never a secret: refuse it as libjwt did. */
        if (klen == 0)
            continue;
        if (EVP_Q_mac(NULL, "HMAC", NULL, digest, NULL, key, klen,
                      (const unsigned char *)signed_part, signed_len, mac, sizeof mac,
                      &mac_len) == NULL) {
            failed = true;
            continue;
        }
        elen = b64url_encode(mac, mac_len, expect);
        if (elen == sig_len && CRYPTO_memcmp(expect, sig, sig_len) == 0 && !matched) {
            matched = 1;
            which = i;
        }
    }
    OPENSSL_cleanse(mac, sizeof mac);
    OPENSSL_cleanse(expect, sizeof expect);
    if (matched) {
        *out_key = which;
        return 0;
    }
    *out_reason = failed ? R_NOMEM : R_SIGNATURE;
    return -1;
}

/*
 * Once the signature is known to be right, libjwt still adds value: its
 * jansson parse of header and payload is stricter than cJSON (it refuses
 * invalid UTF-8, \u0000, integers beyond int64 and numbers overflowing a
 * double), and this keeps the accepted language what it was. Its strcmp()
 * now only ever compares equal signatures, so it leaks nothing.
 */
static int libjwt_accepts(const char *token, size_t len, const char *key, jwt_alg_t alg,
                          const char **out_reason)
{
    char tok[HCS_AUTH_MAX_TOKEN + 1];
    size_t klen = strlen(key);
    jwt_t *jwt = NULL;
    int rc;

    if (klen > INT_MAX) {
        *out_reason = R_MALFORMED;
        return -1;
    }
    memcpy(tok, token, len);
    tok[len] = '\0';
    rc = jwt_decode(&jwt, tok, (const unsigned char *)key, (int)klen);
    if (rc == 0 && jwt_get_alg(jwt) != alg)
        rc = EINVAL;
    jwt_free(jwt);
    OPENSSL_cleanse(tok, len);
    if (rc != 0) {
        *out_reason = rc == ENOMEM ? R_NOMEM : R_MALFORMED;
        return -1;
    }
    return 0;
}

static int verify(const struct hcs_auth_keys *keys, const struct hcs_auth_options *opt,
                  const char *token, size_t len, int64_t now_s, struct hcs_principal *out,
                  const char **out_reason)
{
    static const struct hcs_auth_options defaults = {true, 300, NULL};
    unsigned char scratch[MAX_DECODED];
    const char *dot1, *dot2;
    cJSON *header = NULL, *claims = NULL;
    const cJSON *alg_item, *typ;
    jwt_alg_t alg;
    bool has_exp, has_nbf;
    double exp = 0, nbf = 0;
    const char *uid;
    char *user_id = NULL;
    size_t key_index = 0;

    if (opt == NULL)
        opt = &defaults;
    if (token == NULL) {
        *out_reason = R_MALFORMED;
        return -1;
    }
    if (len > HCS_AUTH_MAX_TOKEN) {
        *out_reason = R_TOO_LONG;
        return -1;
    }

    /* Exactly three segments; header and payload non-empty (RFC 7515 7.1). */
    *out_reason = R_MALFORMED;
    dot1 = memchr(token, '.', len);
    if (dot1 == NULL)
        return -1;
    dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token));
    if (dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL)
        return -1;
    if (dot1 == token || dot2 == dot1 + 1)
        return -1;
    if (!is_b64url(dot2 + 1, len - (size_t)(dot2 + 1 - token)))
        return -1;

    header = decode_object(token, (size_t)(dot1 - token), scratch);
    if (header == NULL)
        return -1;
    alg_item = cJSON_GetObjectItemCaseSensitive(header, "alg");
    typ = cJSON_GetObjectItemCaseSensitive(header, "typ");
    if (!cJSON_IsString(alg_item) ||
        (typ != NULL && (!cJSON_IsString(typ) || strcasecmp(typ->valuestring, "JWT") != 0))) {
        cJSON_Delete(header);
        return -1;
    }
    alg = allowed_alg(alg_item->valuestring);
    cJSON_Delete(header);
    if (alg == JWT_ALG_INVAL) {
        *out_reason = R_ALG;
        return -1;
    }

    claims = decode_object(dot1 + 1, (size_t)(dot2 - dot1 - 1), scratch);
    if (claims == NULL)
        return -1;

    if (dot2 + 1 == token + len) {
        *out_reason = R_SIGNATURE;
        goto fail;
    }
    if (check_signature(keys, token, (size_t)(dot2 - token), dot2 + 1,
                        len - (size_t)(dot2 + 1 - token), alg, &key_index, out_reason) != 0 ||
        libjwt_accepts(token, len, keys->keys[key_index], alg, out_reason) != 0)
        goto fail;

    *out_reason = R_MALFORMED;
    if (numeric_claim(claims, "exp", &has_exp, &exp) != 0 ||
        numeric_claim(claims, "nbf", &has_nbf, &nbf) != 0)
        goto fail;
    if (opt->check_lifetime) {
        double skew = opt->skew_s > 0 ? (double)opt->skew_s : 0.0;

        if (has_exp && (double)now_s > exp + skew) {
            *out_reason = R_EXPIRED;
            goto fail;
        }
        if (has_nbf && (double)now_s + skew < nbf) {
            *out_reason = R_NOT_YET;
            goto fail;
        }
    }
    if (opt->audience_path != NULL && !audience_ok(claims, opt->audience_path)) {
        *out_reason = R_AUDIENCE;
        goto fail;
    }

    uid = find_user_id(claims);
    if (uid != NULL) {
        user_id = hcp_strdup(uid);
        if (user_id == NULL) {
            *out_reason = R_NOMEM;
            goto fail;
        }
    }
    out->user_id = user_id;
    out->transports = find_transports(claims);
    out->exp = has_exp ? clamp_i64(exp) : 0;
    out->claims = claims;
    return 0;

fail:
    cJSON_Delete(claims);
    return -1;
}

int hcs_auth_verify(const struct hcs_auth_keys *keys, const struct hcs_auth_options *opt,
                    const char *token, size_t len, int64_t now_s, struct hcs_principal *out,
                    const char **out_reason)
{
    const char *reason = NULL;
    int rc;

    if (out == NULL) {
        if (out_reason != NULL)
            *out_reason = R_MALFORMED;
        return -1;
    }
    rc = verify(keys, opt, token, len, now_s, out, &reason);
    if (rc != 0 && out_reason != NULL)
        *out_reason = reason;
    return rc;
}

void hcs_principal_cleanup(struct hcs_principal *p)
{
    if (p == NULL)
        return;
    hcp_free(p->user_id);
    cJSON_Delete(p->claims);
    p->user_id = NULL;
    p->claims = NULL;
    p->exp = 0;
    p->transports = 0;
}

/* ---- verdict cache ----------------------------------------------------------------------- */

struct cache_entry {
    char *token;             /* NULL: empty slot */
    size_t len;
    uint64_t hash;
    const char *audience;    /* opt->audience_path the verdict was reached with */
    bool has_exp, has_nbf;
    double exp, nbf;
};

struct hcs_auth_cache {
    struct cache_entry *slots;
    size_t n_slots;
    const char *const *keys; /* the key list the entries were verified against */
    size_t n_keys;
    uint64_t hits, misses;
};

struct hcs_auth_cache *hcs_auth_cache_new(size_t slots)
{
    struct hcs_auth_cache *c = hcp_calloc(1, sizeof *c);

    if (c == NULL)
        return NULL;
    if (slots > 0) {
        c->slots = hcp_calloc(slots, sizeof *c->slots);
        if (c->slots == NULL) {
            hcp_free(c);
            return NULL;
        }
        c->n_slots = slots;
    }
    return c;
}

static void entry_clear(struct cache_entry *e)
{
    if (e->token != NULL) {
        OPENSSL_cleanse(e->token, e->len);
        hcp_free(e->token);
    }
    memset(e, 0, sizeof *e);
}

void hcs_auth_cache_free(struct hcs_auth_cache *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n_slots; i++)
        entry_clear(&c->slots[i]);
    hcp_free(c->slots);
    hcp_free(c);
}

void hcs_auth_cache_stats(const struct hcs_auth_cache *c, struct hcs_auth_cache_stats *out)
{
    memset(out, 0, sizeof *out);
    if (c == NULL)
        return;
    out->hits = c->hits;
    out->misses = c->misses;
    for (size_t i = 0; i < c->n_slots; i++)
        out->entries += c->slots[i].token != NULL;
}

/* FNV-1a: picks the slot only; equality is decided by comparing the bytes. */
static uint64_t token_hash(const char *s, size_t len)
{
    uint64_t h = UINT64_C(14695981039346656037);

    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= UINT64_C(1099511628211);
    }
    return h;
}

static bool same_audience(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* The lifetime part of verify(), on remembered claims: 0 ok, -1 not yet
 * valid, -2 expired. */
static int lifetime_ok(const struct hcs_auth_options *opt, const struct cache_entry *e,
                       int64_t now_s, const char **out_reason)
{
    double skew;

    if (!opt->check_lifetime)
        return 0;
    skew = opt->skew_s > 0 ? (double)opt->skew_s : 0.0;
    if (e->has_exp && (double)now_s > e->exp + skew) {
        *out_reason = R_EXPIRED;
        return -2;
    }
    if (e->has_nbf && (double)now_s + skew < e->nbf) {
        *out_reason = R_NOT_YET;
        return -1;
    }
    return 0;
}

int hcs_auth_check(struct hcs_auth_cache *c, const struct hcs_auth_keys *keys,
                   const struct hcs_auth_options *opt, const char *token, size_t len,
                   int64_t now_s, const char **out_reason)
{
    static const struct hcs_auth_options defaults = {true, 300, NULL};
    struct hcs_principal p = {0};
    struct cache_entry *e = NULL;
    const char *reason = R_MALFORMED;
    uint64_t h = 0;

    if (opt == NULL)
        opt = &defaults;
    if (c != NULL && c->n_slots > 0 && token != NULL && keys != NULL &&
        len <= HCS_AUTH_MAX_TOKEN) {
        if (c->keys != keys->keys || c->n_keys != keys->n_keys) {
            for (size_t i = 0; i < c->n_slots; i++)
                entry_clear(&c->slots[i]);
            c->keys = keys->keys;
            c->n_keys = keys->n_keys;
        }
        h = token_hash(token, len);
        e = &c->slots[h % c->n_slots];
        if (e->token != NULL && e->hash == h && e->len == len &&
            same_audience(e->audience, opt->audience_path) &&
            CRYPTO_memcmp(e->token, token, len) == 0) {
            int lt;

            c->hits++;
            lt = lifetime_ok(opt, e, now_s, &reason);
            if (lt == 0)
                return 0;
            if (lt == -2)
                entry_clear(e); /* expired: never valid again */
            if (out_reason != NULL)
                *out_reason = reason;
            return -1;
        }
        c->misses++;
    }
    if (verify(keys, opt, token, len, now_s, &p, &reason) != 0) {
        if (out_reason != NULL)
            *out_reason = reason;
        return -1;
    }
    if (e != NULL) {
        char *copy = hcp_malloc(len);

        /* Out of memory only means no caching this time. */
        if (copy != NULL) {
            entry_clear(e);
            memcpy(copy, token, len);
            e->token = copy;
            e->len = len;
            e->hash = h;
            e->audience = opt->audience_path;
            /* verify() accepted these claims, so they are numbers or absent. */
            (void)numeric_claim(p.claims, "exp", &e->has_exp, &e->exp);
            (void)numeric_claim(p.claims, "nbf", &e->has_nbf, &e->nbf);
        }
    }
    hcs_principal_cleanup(&p);
    return 0;
}

int hcs_auth_issue(const char *key, const char *audience, const char *user_id, int64_t now_s,
                   int64_t lifetime_s, char **out_token)
{
    jwt_t *jwt = NULL;
    char *encoded = NULL;
    char *copy = NULL;
    size_t klen;
    int64_t exp;

    if (key == NULL || out_token == NULL)
        return -1;
    klen = strlen(key);
    if (klen == 0 || klen > INT_MAX)
        return -1;
    if (__builtin_add_overflow(now_s, lifetime_s, &exp) || now_s < LONG_MIN || now_s > LONG_MAX ||
        exp < LONG_MIN || exp > LONG_MAX)
        return -1;

    if (jwt_new(&jwt) != 0)
        return -1;
    if (jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)key, (int)klen) != 0)
        goto fail;
    if (audience != NULL && jwt_add_grant(jwt, "aud", audience) != 0)
        goto fail;
    if (jwt_add_grant_int(jwt, "iat", (long)now_s) != 0 ||
        jwt_add_grant_int(jwt, "nbf", (long)now_s) != 0 ||
        jwt_add_grant_int(jwt, "exp", (long)exp) != 0)
        goto fail;
    if (user_id != NULL && user_id[0] != '\0' && jwt_add_grant(jwt, "asrs.s.uid", user_id) != 0)
        goto fail;
    encoded = jwt_encode_str(jwt);
    if (encoded == NULL)
        goto fail;
    copy = hcp_strdup(encoded);
    /* libjwt 1.10 allocates with libc and has no jwt_free_str(). */
    free(encoded);
    if (copy == NULL)
        goto fail;
    jwt_free(jwt);
    *out_token = copy;
    return 0;

fail:
    jwt_free(jwt);
    return -1;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Trim spaces around s; NULL when nothing is left. */
static const char *trimmed(const char *s, size_t *out_len)
{
    size_t n;

    while (is_space(*s))
        s++;
    n = strlen(s);
    while (n > 0 && is_space(s[n - 1]))
        n--;
    if (n == 0)
        return NULL;
    *out_len = n;
    return s;
}

const char *hcs_auth_bearer(const char *authorization, const char *access_token_query,
                            size_t *out_len)
{
    static const char scheme[] = "Bearer";
    const size_t slen = sizeof(scheme) - 1;
    const char *t;
    size_t n = 0;

    if (authorization != NULL) {
        const char *s = authorization;

        while (is_space(*s))
            s++;
        if (strncasecmp(s, scheme, slen) == 0 && is_space(s[slen])) {
            t = trimmed(s + slen, &n);
            if (t != NULL) {
                if (out_len != NULL)
                    *out_len = n;
                return t;
            }
        }
    }
    if (access_token_query != NULL) {
        t = trimmed(access_token_query, &n);
        if (t != NULL) {
            if (out_len != NULL)
                *out_len = n;
            return t;
        }
    }
    return NULL;
}

int hcs_auth_hmac_sha256_hex(const char *key, const char *data, size_t len, char out[65])
{
    static const char hex[] = "0123456789ABCDEF";
    unsigned char mac[32];
    size_t mac_len = 0;

    if (key == NULL || out == NULL || (data == NULL && len > 0))
        return -1;
    if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, strlen(key),
                  (const unsigned char *)(data != NULL ? data : ""), len, mac, sizeof(mac),
                  &mac_len) == NULL ||
        mac_len != sizeof(mac))
        return -1;
    for (size_t i = 0; i < sizeof(mac); i++) {
        out[2 * i] = hex[mac[i] >> 4];
        out[2 * i + 1] = hex[mac[i] & 0x0f];
    }
    out[64] = '\0';
    return 0;
}
