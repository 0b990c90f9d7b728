/*
 * Unit tests for hcs_auth (service/src/edge/auth.h).
 *
 * Tokens with hand-crafted headers are built here with a small signer of our
 * own (OpenSSL HMAC + base64url), independent of libjwt, so that golden
 * tokens do not depend on the code under test. The allocator hook points at
 * CMocka's test_malloc/test_free, so every test is also a leak check, and
 * the OOM tests fail allocation N for N = 1, 2, ...
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <hcp/common.h>
#include <openssl/evp.h>

#include "auth.h"

#define NOW INT64_C(1700000000)
#define EMU_KEY "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH"
#define OTHER_KEY "secondary-access-key-0123456789"
#define TOKBUF (HCS_AUTH_MAX_TOKEN * 2 + 64)

#define H256 "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define H384 "{\"alg\":\"HS384\",\"typ\":\"JWT\"}"
#define H512 "{\"alg\":\"HS512\",\"typ\":\"JWT\"}"
/* exp NOW + 3600, nbf and iat NOW. */
#define P_OK                                                                                       \
    "{\"aud\":\"http://localhost/client/?hub=chat\",\"iat\":1700000000,"                           \
    "\"nbf\":1700000000,\"exp\":1700003600,\"nameid\":\"alice\"}"

static const char *const emu_key_list[] = {EMU_KEY};
static const struct hcs_auth_keys emu_keys = {emu_key_list, 1};
static const char *const rotated_key_list[] = {OTHER_KEY, EMU_KEY};
static const struct hcs_auth_keys rotated_keys = {rotated_key_list, 2};
static const char *const other_key_list[] = {OTHER_KEY};
static const struct hcs_auth_keys other_keys = {other_key_list, 1};
static const struct hcs_auth_options default_opt = {true, 300, NULL};

/* ---- allocator hook with failure injection ------------------------------------------------ */

static long alloc_count;
static long alloc_fail_at; /* 0: never fail */

static void *t_malloc(size_t size)
{
    if (alloc_fail_at > 0 && ++alloc_count == alloc_fail_at)
        return NULL;
    return test_malloc(size);
}

static void *t_realloc(void *ptr, size_t size)
{
    if (alloc_fail_at > 0 && ++alloc_count == alloc_fail_at)
        return NULL;
    return test_realloc(ptr, size);
}

static void t_free(void *ptr)
{
    test_free(ptr);
}

static int group_setup(void **state)
{
    static const struct hcp_alloc hooks = {t_malloc, t_realloc, t_free};

    (void)state;
    hcp_set_alloc(&hooks);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    hcp_set_alloc(NULL);
    return 0;
}

/* ---- our own signer ----------------------------------------------------------------------- */

static size_t b64url(const unsigned char *in, size_t len, char *out)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t n = 0;
    size_t i;

    for (i = 0; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[n++] = abc[v >> 18];
        out[n++] = abc[(v >> 12) & 63];
        out[n++] = abc[(v >> 6) & 63];
        out[n++] = abc[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[n++] = abc[v >> 18];
        out[n++] = abc[(v >> 12) & 63];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[n++] = abc[v >> 18];
        out[n++] = abc[(v >> 12) & 63];
        out[n++] = abc[(v >> 6) & 63];
    }
    out[n] = '\0';
    return n;
}

/*
 * buf = b64url(header) "." b64url(payload) "." signature, where the signature
 * is HMAC-<digest>(key) over the first two segments, or empty when digest is
 * NULL. Returns the token length.
 */
static size_t sign_token(char *buf, const char *header, const char *payload, const char *digest,
                         const char *key)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t mac_len = 0;
    size_t n = b64url((const unsigned char *)header, strlen(header), buf);

    buf[n++] = '.';
    n += b64url((const unsigned char *)payload, strlen(payload), buf + n);
    if (digest != NULL) {
        assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, digest, NULL, key, strlen(key),
                                  (const unsigned char *)buf, n, mac, sizeof(mac), &mac_len));
    }
    buf[n++] = '.';
    n += b64url(mac, mac_len, buf + n);
    assert_true(n < TOKBUF);
    return n;
}

/* ---- verify case tables ------------------------------------------------------------------ */

#define ANY_FAILURE "*"

struct verify_case {
    const char *name;
    const char *header;
    const char *payload;
    const char *digest; /* NULL: empty signature */
    const char *key;    /* signing key */
    const struct hcs_auth_keys *keys;
    const char *reason; /* NULL: success expected; ANY_FAILURE: any reason */
    int64_t now;
    bool check_lifetime;
    int64_t skew;
    const char *audience_path;
    const char *user_id; /* expected on success */
    unsigned transports; /* expected on success; 0 means 7 */
    int64_t exp;         /* expected on success */
};

static void run_verify_cases(const struct verify_case *cases, size_t n)
{
    char tok[TOKBUF];

    for (size_t i = 0; i < n; i++) {
        const struct verify_case *c = &cases[i];
        struct hcs_auth_options opt = {c->check_lifetime, c->skew, c->audience_path};
        struct hcs_principal p = {0};
        const char *reason = NULL;
        size_t len = sign_token(tok, c->header, c->payload, c->digest, c->key);
        int rc = hcs_auth_verify(c->keys, &opt, tok, len, c->now, &p, &reason);

        print_message("case %zu: %s\n", i, c->name);
        if (c->reason == NULL) {
            assert_int_equal(rc, 0);
            if (c->user_id == NULL)
                assert_null(p.user_id);
            else
                assert_string_equal(p.user_id, c->user_id);
            assert_true(cJSON_IsObject(p.claims));
            assert_int_equal(p.transports, c->transports != 0 ? c->transports : 7u);
            assert_true(p.exp == c->exp);
            hcs_principal_cleanup(&p);
            assert_null(p.claims);
            assert_null(p.user_id);
        } else {
            assert_int_equal(rc, -1);
            assert_non_null(reason);
            if (strcmp(c->reason, ANY_FAILURE) != 0)
                assert_string_equal(reason, c->reason);
            /* *out untouched on failure. */
            assert_null(p.claims);
            assert_null(p.user_id);
        }
    }
}

#define CASES(t) run_verify_cases((t), sizeof(t) / sizeof((t)[0]))

static void test_verify_algorithms(void **state)
{
    static const struct verify_case cases[] = {
        {"HS256", H256, P_OK, "SHA256", EMU_KEY, &emu_keys, NULL, NOW, true, 300, NULL, "alice", 0,
         NOW + 3600},
        {"HS384", H384, P_OK, "SHA384", EMU_KEY, &emu_keys, NULL, NOW, true, 300, NULL, "alice", 0,
         NOW + 3600},
        {"HS512", H512, P_OK, "SHA512", EMU_KEY, &emu_keys, NULL, NOW, true, 300, NULL, "alice", 0,
         NOW + 3600},
        {"kid is ignored", "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"-1234567\"}", P_OK,
         "SHA256", EMU_KEY, &emu_keys, NULL, NOW, true, 300, NULL, "alice", 0, NOW + 3600},
        {"no typ", "{\"alg\":\"HS256\"}", P_OK, "SHA256", EMU_KEY, &emu_keys, NULL, NOW, true, 300,
         NULL, "alice", 0, NOW + 3600},
        {"typ lower case", "{\"alg\":\"HS256\",\"typ\":\"jwt\"}", P_OK, "SHA256", EMU_KEY,
         &emu_keys, NULL, NOW, true, 300, NULL, "alice", 0, NOW + 3600},
        {"second key (rotation)", H256, P_OK, "SHA256", EMU_KEY, &rotated_keys, NULL, NOW, true,
         300, NULL, "alice", 0, NOW + 3600},
        {"first key of two", H256, P_OK, "SHA256", OTHER_KEY, &rotated_keys, NULL, NOW, true, 300,
         NULL, "alice", 0, NOW + 3600},
        {"wrong key", H256, P_OK, "SHA256", EMU_KEY, &other_keys, "bad signature", NOW, true, 300,
         NULL, NULL, 0, 0},
        {"HS512 signature under HS256 header", H256, P_OK, "SHA512", EMU_KEY, &emu_keys,
         "bad signature", NOW, true, 300, NULL, NULL, 0, 0},
        {"HS256 empty signature", H256, P_OK, NULL, EMU_KEY, &emu_keys, "bad signature", NOW, true,
         300, NULL, NULL, 0, 0},
        {"alg none, empty signature", "{\"alg\":\"none\",\"typ\":\"JWT\"}", P_OK, NULL, EMU_KEY,
         &emu_keys, "algorithm not allowed", NOW, true, 300, NULL, NULL, 0, 0},
        {"alg none, signature present", "{\"alg\":\"none\",\"typ\":\"JWT\"}", P_OK, "SHA256",
         EMU_KEY, &emu_keys, "algorithm not allowed", NOW, true, 300, NULL, NULL, 0, 0},
        {"alg None", "{\"alg\":\"None\"}", P_OK, NULL, EMU_KEY, &emu_keys, "algorithm not allowed",
         NOW, true, 300, NULL, NULL, 0, 0},
        {"alg hs256 (case)", "{\"alg\":\"hs256\"}", P_OK, "SHA256", EMU_KEY, &emu_keys,
         "algorithm not allowed", NOW, true, 300, NULL, NULL, 0, 0},
        {"alg RS256", "{\"alg\":\"RS256\",\"typ\":\"JWT\"}", P_OK, "SHA256", EMU_KEY, &emu_keys,
         "algorithm not allowed", NOW, true, 300, NULL, NULL, 0, 0},
        {"alg ES256", "{\"alg\":\"ES256\"}", P_OK, "SHA256", EMU_KEY, &emu_keys,
         "algorithm not allowed", NOW, true, 300, NULL, NULL, 0, 0},
        {"alg PS256", "{\"alg\":\"PS256\"}", P_OK, "SHA256", EMU_KEY, &emu_keys,
         "algorithm not allowed", NOW, true, 300, NULL, NULL, 0, 0},
        {"alg empty", "{\"alg\":\"\"}", P_OK, "SHA256", EMU_KEY, &emu_keys, "algorithm not allowed",
         NOW, true, 300, NULL, NULL, 0, 0},
        {"alg missing", "{\"typ\":\"JWT\"}", P_OK, "SHA256", EMU_KEY, &emu_keys, "malformed token",
         NOW, true, 300, NULL, NULL, 0, 0},
        {"alg number", "{\"alg\":256}", P_OK, "SHA256", EMU_KEY, &emu_keys, "malformed token", NOW,
         true, 300, NULL, NULL, 0, 0},
        {"alg duplicated", "{\"alg\":\"HS256\",\"alg\":\"none\"}", P_OK, "SHA256", EMU_KEY,
         &emu_keys, "malformed token", NOW, true, 300, NULL, NULL, 0, 0},
        {"typ not JWT", "{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}", P_OK, "SHA256", EMU_KEY,
         &emu_keys, "malformed token", NOW, true, 300, NULL, NULL, 0, 0},
        {"no keys", H256, P_OK, "SHA256", EMU_KEY, NULL, "bad signature", NOW, true, 300, NULL,
         NULL, 0, 0},
    };

    (void)state;
    CASES(cases);
}

static void test_verify_lifetime(void **state)
{
    static const struct verify_case cases[] = {
        {"valid", H256, "{\"exp\":1700000100}", "SHA256", EMU_KEY, &emu_keys, NULL, NOW, true, 300,
         NULL, NULL, 0, NOW + 100},
        {"expired", H256, "{\"exp\":1699999000}", "SHA256", EMU_KEY, &emu_keys, "token expired",
         NOW, true, 300, NULL, NULL, 0, 0},
        {"expired by 1 s past skew", H256, "{\"exp\":1699999699}", "SHA256", EMU_KEY, &emu_keys,
         "token expired", NOW, true, 300, NULL, NULL, 0, 0},
        {"expired at skew edge", H256, "{\"exp\":1699999700}", "SHA256", EMU_KEY, &emu_keys, NULL,
         NOW, true, 300, NULL, NULL, 0, NOW - 300},
        {"expired within skew", H256, "{\"exp\":1699999900}", "SHA256", EMU_KEY, &emu_keys, NULL,
         NOW, true, 300, NULL, NULL, 0, NOW - 100},
        {"expired, zero skew", H256, "{\"exp\":1699999999}", "SHA256", EMU_KEY, &emu_keys,
         "token expired", NOW, true, 0, NULL, NULL, 0, 0},
        {"expired, negative skew is zero", H256, "{\"exp\":1700000000}", "SHA256", EMU_KEY,
         &emu_keys, NULL, NOW, true, -50, NULL, NULL, 0, NOW},
        {"fractional exp", H256, "{\"exp\":1700000000.75}", "SHA256", EMU_KEY, &emu_keys, NULL, NOW,
         true, 0, NULL, NULL, 0, NOW},
        {"fractional exp expired", H256, "{\"exp\":1699999999.5}", "SHA256", EMU_KEY, &emu_keys,
         "token expired", NOW, true, 0, NULL, NULL, 0, 0},
        {"exponent exp", H256, "{\"exp\":1.7e9}", "SHA256", EMU_KEY, &emu_keys, NULL, NOW, true, 0,
         NULL, NULL, 0, NOW},
        {"nbf in future", H256, "{\"nbf\":1700000301,\"exp\":1700003600}", "SHA256", EMU_KEY,
         &emu_keys, "token not yet valid", NOW, true, 300, NULL, NULL, 0, 0},
        {"nbf within skew", H256, "{\"nbf\":1700000300,\"exp\":1700003600}", "SHA256", EMU_KEY,
         &emu_keys, NULL, NOW, true, 300, NULL, NULL, 0, NOW + 3600},
        {"check_lifetime false, expired", H256, "{\"exp\":1600000000}", "SHA256", EMU_KEY,
         &emu_keys, NULL, NOW, false, 300, NULL, NULL, 0, INT64_C(1600000000)},
        {"check_lifetime false, nbf future", H256, "{\"nbf\":1800000000}", "SHA256", EMU_KEY,
         &emu_keys, NULL, NOW, false, 300, NULL, NULL, 0, 0},
        {"no exp", H256, "{\"aud\":\"x\"}", "SHA256", EMU_KEY, &emu_keys, NULL, NOW, true, 300,
         NULL, NULL, 0, 0},
        {"exp string", H256, "{\"exp\":\"1700003600\"}", "SHA256", EMU_KEY, &emu_keys,
         "malformed token", NOW, true, 300, NULL, NULL, 0, 0},
        {"nbf null", H256, "{\"nbf\":null}", "SHA256", EMU_KEY, &emu_keys, "malformed token", NOW,
         true, 300, NULL, NULL, 0, 0},
        {"exp huge float", H256, "{\"exp\":1e300}", "SHA256", EMU_KEY, &emu_keys, NULL, NOW, true,
         300, NULL, NULL, 0, INT64_MAX},
        {"exp huge negative float", H256, "{\"exp\":-1e300}", "SHA256", EMU_KEY, &emu_keys,
         "token expired", NOW, true, 300, NULL, NULL, 0, 0},
        {"exp huge negative, unchecked", H256, "{\"exp\":-1e300}", "SHA256", EMU_KEY, &emu_keys,
         NULL, NOW, false, 300, NULL, NULL, 0, INT64_MIN},
        /* libjwt's parser (jansson) refuses these; any refusal is fine. */
        {"exp overflowing double", H256, "{\"exp\":1e999}", "SHA256", EMU_KEY, &emu_keys,
         ANY_FAILURE, NOW, true, 300, NULL, NULL, 0, 0},
        {"exp beyond int64", H256, "{\"exp\":123456789012345678901234567890}", "SHA256", EMU_KEY,
         &emu_keys, ANY_FAILURE, NOW, true, 300, NULL, NULL, 0, 0},
    };

    (void)state;
    CASES(cases);
}

static void test_verify_claims(void **state)
{
    static const struct verify_case cases[] = {
        {"uid wins", H256,
         "{\"sub\":\"s\",\"nameid\":\"n\",\"asrs.s.uid\":\"u\","
         "\"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier\":\"l\"}",
         "SHA256", EMU_KEY, &emu_keys, NULL, NOW, true, 300, NULL, "u", 0, 0},
        {"nameid over long form", H256,
         "{\"sub\":\"s\",\"nameid\":\"n\","
         "\"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier\":\"l\"}",
         "SHA256", EMU_KEY, &emu_keys, NULL, NOW, true, 300, NULL, "n", 0, 0},
        {"long form over sub", H256,
         "{\"sub\":\"s\","
         "\"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier\":\"l\"}",
         "SHA256", EMU_KEY, &emu_keys, NULL, NOW, true, 300, NULL, "l", 0, 0},
        {"sub", H256, "{\"sub\":\"s\"}", "SHA256", EMU_KEY, &emu_keys, NULL, NOW, true, 300, NULL,
         "s", 0, 0},
        {"non-string uid skipped", H256, "{\"asrs.s.uid\":42,\"sub\":\"s\"}", "SHA256", EMU_KEY,
         &emu_keys, NULL, NOW, true, 300, NULL, "s", 0, 0},
        {"empty uid skipped", H256, "{\"asrs.s.uid\":\"\",\"nameid\":\"n\"}", "SHA256", EMU_KEY,
         &emu_keys, NULL, NOW, true, 300, NULL, "n", 0, 0},
        {"array nameid skipped", H256, "{\"nameid\":[\"a\"]}", "SHA256", EMU_KEY, &emu_keys, NULL,
         NOW, true, 300, NULL, NULL, 0, 0},
        {"no user", H256, "{\"marker\":\"abc\"}", "SHA256", EMU_KEY, &emu_keys, NULL, NOW, true,
         300, NULL, NULL, 0, 0},
        {"unicode uid", H256, "{\"asrs.s.uid\":\"J\\u00fcrgen\"}", "SHA256", EMU_KEY, &emu_keys,
         NULL, NOW, true, 300, NULL, "J\xc3\xbcrgen", 0, 0},
        {"duplicate claim", H256, "{\"sub\":\"a\",\"sub\":\"b\"}", "SHA256", EMU_KEY, &emu_keys,
         "malformed token", NOW, true, 300, NULL, NULL, 0, 0},
        {"htt absent", H256, "{}", "SHA256", EMU_KEY, &emu_keys, NULL, NOW, true, 300, NULL, NULL,
         7, 0},
        {"htt 1", H256, "{\"asrs.s.htt\":1}", "SHA256", EMU_KEY, &emu_keys, NULL, NOW, true, 300,
         NULL, NULL, 1, 0},
        {"htt 5", H256, "{\"asrs.s.htt\":5}", "SHA256", EMU_KEY, &emu_keys, NULL, NOW, true, 300,
         NULL, NULL, 5, 0},
        {"htt 7", H256, "{\"asrs.s.htt\":7}", "SHA256", EMU_KEY, &emu_keys, NULL, NOW, true, 300,
         NULL, NULL, 7, 0},
        {"htt 2.0", H256, "{\"asrs.s.htt\":2.0}", "SHA256", EMU_KEY, &emu_keys, NULL, NOW, true,
         300, NULL, NULL, 2, 0},
        {"htt string 3", H256, "{\"asrs.s.htt\":\"3\"}", "SHA256", EMU_KEY, &emu_keys, NULL, NOW,
         true, 300, NULL, NULL, 3, 0},
        {"htt 0", H256, "{\"asrs.s.htt\":0}", "SHA256", EMU_KEY, &emu_keys, NULL, NOW, true, 300,
         NULL, NULL, 7, 0},
        {"htt 8", H256, "{\"asrs.s.htt\":8}", "SHA256", EMU_KEY, &emu_keys, NULL, NOW, true, 300,
         NULL, NULL, 7, 0},
        {"htt -1", H256, "{\"asrs.s.htt\":-1}", "SHA256", EMU_KEY, &emu_keys, NULL, NOW, true, 300,
         NULL, NULL, 7, 0},
        {"htt 2.5", H256, "{\"asrs.s.htt\":2.5}", "SHA256", EMU_KEY, &emu_keys, NULL, NOW, true,
         300, NULL, NULL, 7, 0},
        {"htt huge", H256, "{\"asrs.s.htt\":1e300}", "SHA256", EMU_KEY, &emu_keys, NULL, NOW, true,
         300, NULL, NULL, 7, 0},
        {"htt string junk", H256, "{\"asrs.s.htt\":\"3x\"}", "SHA256", EMU_KEY, &emu_keys, NULL,
         NOW, true, 300, NULL, NULL, 7, 0},
        {"htt bool", H256, "{\"asrs.s.htt\":true}", "SHA256", EMU_KEY, &emu_keys, NULL, NOW, true,
         300, NULL, NULL, 7, 0},
    };

    (void)state;
    CASES(cases);
}

static void test_verify_audience(void **state)
{
    static const struct verify_case cases[] = {
        {"client string", H256, "{\"aud\":\"http://localhost/client/?hub=chat\"}", "SHA256",
         EMU_KEY, &emu_keys, NULL, NOW, true, 300, "/client/", NULL, 0, 0},
        {"client with port and https", H256,
         "{\"aud\":\"https://example.com:8443/client/?hub=chat&asrs.op=%2Fchat\"}", "SHA256",
         EMU_KEY, &emu_keys, NULL, NOW, true, 300, "/client/", NULL, 0, 0},
        {"client without trailing slash", H256, "{\"aud\":\"http://localhost/client?hub=chat\"}",
         "SHA256", EMU_KEY, &emu_keys, NULL, NOW, true, 300, "/client/", NULL, 0, 0},
        {"rest api", H256,
         "{\"aud\":\"http://localhost/api/hubs/chat/:send?api-version=2022-06-01\"}", "SHA256",
         EMU_KEY, &emu_keys, NULL, NOW, true, 300, "/api/", NULL, 0, 0},
        {"rest v1", H256, "{\"aud\":\"http://localhost:8888/api/v1/hubs/chat\"}", "SHA256", EMU_KEY,
         &emu_keys, NULL, NOW, true, 300, "/api/", NULL, 0, 0},
        {"array, second matches", H256,
         "{\"aud\":[\"urn:other\",42,\"http://localhost/api/hubs/chat\"]}", "SHA256", EMU_KEY,
         &emu_keys, NULL, NOW, true, 300, "/api/", NULL, 0, 0},
        {"array, none matches", H256, "{\"aud\":[\"http://localhost/client/?hub=a\",\"urn:x\"]}",
         "SHA256", EMU_KEY, &emu_keys, "audience mismatch", NOW, true, 300, "/api/", NULL, 0, 0},
        {"empty array", H256, "{\"aud\":[]}", "SHA256", EMU_KEY, &emu_keys, "audience mismatch",
         NOW, true, 300, "/api/", NULL, 0, 0},
        {"mismatch", H256, "{\"aud\":\"http://localhost/api/hubs/chat\"}", "SHA256", EMU_KEY,
         &emu_keys, "audience mismatch", NOW, true, 300, "/client/", NULL, 0, 0},
        {"family only in query", H256, "{\"aud\":\"http://localhost/api/?x=/client/\"}", "SHA256",
         EMU_KEY, &emu_keys, "audience mismatch", NOW, true, 300, "/client/", NULL, 0, 0},
        {"family only in host", H256, "{\"aud\":\"http://client/x\"}", "SHA256", EMU_KEY, &emu_keys,
         "audience mismatch", NOW, true, 300, "/client/", NULL, 0, 0},
        {"aud absent", H256, "{}", "SHA256", EMU_KEY, &emu_keys, "audience mismatch", NOW, true,
         300, "/client/", NULL, 0, 0},
        {"aud number", H256, "{\"aud\":1}", "SHA256", EMU_KEY, &emu_keys, "audience mismatch", NOW,
         true, 300, "/client/", NULL, 0, 0},
        {"not strict: anything", H256, "{\"aud\":\"urn:anything\"}", "SHA256", EMU_KEY, &emu_keys,
         NULL, NOW, true, 300, NULL, NULL, 0, 0},
        {"not strict: absent", H256, "{}", "SHA256", EMU_KEY, &emu_keys, NULL, NOW, true, 300, NULL,
         NULL, 0, 0},
    };

    (void)state;
    CASES(cases);
}

/* Structurally broken inputs, with a syntactically fine header where needed. */
static void test_verify_malformed_segments(void **state)
{
    static const struct verify_case cases[] = {
        {"header not JSON", "not json", P_OK, "SHA256", EMU_KEY, &emu_keys, "malformed token", NOW,
         true, 300, NULL, NULL, 0, 0},
        {"header array", "[\"HS256\"]", P_OK, "SHA256", EMU_KEY, &emu_keys, "malformed token", NOW,
         true, 300, NULL, NULL, 0, 0},
        {"header trailing garbage", H256 "x", P_OK, "SHA256", EMU_KEY, &emu_keys, "malformed token",
         NOW, true, 300, NULL, NULL, 0, 0},
        {"payload not JSON", H256, "{\"exp\":", "SHA256", EMU_KEY, &emu_keys, "malformed token",
         NOW, true, 300, NULL, NULL, 0, 0},
        {"payload array", H256, "[1,2]", "SHA256", EMU_KEY, &emu_keys, "malformed token", NOW, true,
         300, NULL, NULL, 0, 0},
        {"payload string", H256, "\"sub\"", "SHA256", EMU_KEY, &emu_keys, "malformed token", NOW,
         true, 300, NULL, NULL, 0, 0},
        {"payload number", H256, "12", "SHA256", EMU_KEY, &emu_keys, "malformed token", NOW, true,
         300, NULL, NULL, 0, 0},
        {"payload null", H256, "null", "SHA256", EMU_KEY, &emu_keys, "malformed token", NOW, true,
         300, NULL, NULL, 0, 0},
        {"payload with whitespace", H256, " {\"sub\":\"s\"} \n", "SHA256", EMU_KEY, &emu_keys, NULL,
         NOW, true, 300, NULL, "s", 0, 0},
        {"payload deeply nested", H256,
         "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
         "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
         "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
         "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
         "SHA256", EMU_KEY, &emu_keys, NULL, NOW, true, 300, NULL, NULL, 0, 0},
    };

    (void)state;
    CASES(cases);
}

struct raw_case {
    const char *token;
    size_t len; /* 0: strlen */
    const char *reason;
};

static void test_verify_malformed_raw(void **state)
{
    static const struct raw_case cases[] = {
        {"", 0, "malformed token"},
        {"abc", 0, "malformed token"},
        {".", 0, "malformed token"},
        {"..", 0, "malformed token"},
        {"...", 0, "malformed token"},
        {"a.b", 0, "malformed token"},
        {"eyJhbGciOiJIUzI1NiJ9.e30", 0, "malformed token"},
        {"eyJhbGciOiJIUzI1NiJ9.e30.", 0, "bad signature"},
        {"eyJhbGciOiJIUzI1NiJ9.e30.c2ln.c2ln", 0, "malformed token"},
        {"eyJhbGciOiJIUzI1NiJ9.e30.c2ln.c2ln.c2ln", 0, "malformed token"},
        {"eyJhbGciOiJIUzI1NiJ9..c2ln", 0, "malformed token"},
        {".e30.c2ln", 0, "malformed token"},
        {"!!!!.e30.c2ln", 0, "malformed token"},
        {"eyJhbGciOiJIUzI1NiJ9.e3!0.c2ln", 0, "malformed token"},
        {"eyJhbGciOiJIUzI1NiJ9.e30.c2l+", 0, "malformed token"},
        {"eyJhbGciOiJIUzI1NiJ9.e30=.c2ln", 0, "malformed token"},
        {"eyJhbGciOiJIUzI1NiJ9=.e30.c2ln", 0, "malformed token"},
        {"eyJhbGciOiJIUzI1NiJ9.e.c2ln", 0, "malformed token"}, /* length 1 mod 4 */
        {"eyJhbGciOiJIUzI1NiJ9.e30.c", 0, "malformed token"},
        {"eyJhbGciOiJIUzI1NiJ9 .e30.c2ln", 0, "malformed token"},
        {"eyJhbGciOiJIUzI1NiJ9.e30.c2ln\0xyz", 33, "malformed token"},
        {"eyJhbGciOiJIUzI1NiJ9\0.e30.c2ln", 30, "malformed token"},
        {"eyJhbGciOiJIUzI1NiJ9.e30.c2ln", 0, "bad signature"},
        {"eyJhbGciOiJub25lIn0.e30.", 0, "algorithm not allowed"},
        {"eyJhbGciOiJub25lIn0.e30.c2ln", 0, "algorithm not allowed"},
        {"W10.e30.c2ln", 0, "malformed token"}, /* header [] */
        {"e30.e30.c2ln", 0, "malformed token"}, /* header {} */
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct hcs_principal p = {0};
        const char *reason = NULL;
        size_t len = cases[i].len != 0 ? cases[i].len : strlen(cases[i].token);

        print_message("raw case %zu\n", i);
        assert_int_equal(
            hcs_auth_verify(&emu_keys, &default_opt, cases[i].token, len, NOW, &p, &reason), -1);
        assert_string_equal(reason, cases[i].reason);
        assert_null(p.claims);
    }
}

static void test_verify_length_limits(void **state)
{
    static char tok[TOKBUF];
    static char payload[HCS_AUTH_MAX_TOKEN];
    struct hcs_principal p = {0};
    const char *reason = NULL;
    size_t len = 0;

    (void)state;
    /* Grow a filler claim until the token is exactly at the limit (a base64url
     * segment cannot have length 1 mod 4, so 8191 may be the largest). */
    for (size_t fill = 5000; fill < sizeof(payload) - 64; fill++) {
        int n =
            snprintf(payload, sizeof(payload), "{\"sub\":\"s\",\"pad\":\"%0*d\"}", (int)fill, 0);
        assert_true(n > 0);
        len = sign_token(tok, H256, payload, "SHA256", EMU_KEY);
        if (len >= HCS_AUTH_MAX_TOKEN - 1)
            break;
    }
    assert_true(len == HCS_AUTH_MAX_TOKEN || len == HCS_AUTH_MAX_TOKEN - 1);
    assert_int_equal(hcs_auth_verify(&emu_keys, &default_opt, tok, len, NOW, &p, &reason), 0);
    assert_string_equal(p.user_id, "s");
    hcs_principal_cleanup(&p);

    /* One byte more than the limit, whatever the content. */
    memset(tok, 'a', HCS_AUTH_MAX_TOKEN + 1);
    assert_int_equal(
        hcs_auth_verify(&emu_keys, &default_opt, tok, HCS_AUTH_MAX_TOKEN + 1, NOW, &p, &reason),
        -1);
    assert_string_equal(reason, "token too long");
    assert_int_equal(hcs_auth_verify(&emu_keys, &default_opt, tok, SIZE_MAX, NOW, &p, &reason), -1);
    assert_string_equal(reason, "token too long");
    assert_null(p.claims);
}

static void test_verify_honours_len(void **state)
{
    char tok[TOKBUF];
    struct hcs_principal p = {0};
    const char *reason = NULL;
    size_t len = sign_token(tok, H256, P_OK, "SHA256", EMU_KEY);

    (void)state;
    /* Bytes after len are not part of the token. */
    memcpy(tok + len, "XYZ.", 5);
    assert_int_equal(hcs_auth_verify(&emu_keys, &default_opt, tok, len, NOW, &p, &reason), 0);
    hcs_principal_cleanup(&p);
    assert_int_equal(hcs_auth_verify(&emu_keys, &default_opt, tok, len + 3, NOW, &p, &reason), -1);
    assert_string_equal(reason, "bad signature");
    /* A truncated signature. */
    assert_int_equal(hcs_auth_verify(&emu_keys, &default_opt, tok, len - 4, NOW, &p, &reason), -1);
    assert_string_equal(reason, "bad signature");
}

static void test_verify_tampered(void **state)
{
    char tok[TOKBUF];
    char forged[TOKBUF];
    char seg[256];
    struct hcs_principal p = {0};
    const char *reason = NULL;
    size_t len = sign_token(tok, H256, "{\"asrs.s.uid\":\"alice\"}", "SHA256", EMU_KEY);
    const char *dot2 = strrchr(tok, '.');
    const char *dot1 = strchr(tok, '.');
    const char *evil = "{\"asrs.s.uid\":\"admin\"}";
    size_t n;

    (void)state;
    /* Swap in another payload, keep header and signature. */
    n = (size_t)(dot1 + 1 - tok);
    memcpy(forged, tok, n);
    b64url((const unsigned char *)evil, strlen(evil), seg);
    strcpy(forged + n, seg);
    strcat(forged, dot2);
    assert_int_equal(
        hcs_auth_verify(&emu_keys, &default_opt, forged, strlen(forged), NOW, &p, &reason), -1);
    assert_string_equal(reason, "bad signature");

    /* Flip one signature character. */
    tok[len - 2] = tok[len - 2] == 'A' ? 'B' : 'A';
    assert_int_equal(hcs_auth_verify(&emu_keys, &default_opt, tok, len, NOW, &p, &reason), -1);
    assert_string_equal(reason, "bad signature");
    assert_null(p.claims);
}

static void test_verify_claims_object(void **state)
{
    char tok[TOKBUF];
    struct hcs_principal p = {0};
    const char *reason = NULL;
    size_t len = sign_token(tok, H256,
                            "{\"aud\":\"http://localhost/client/?hub=chat\",\"exp\":1700003600,"
                            "\"marker\":\"abc\",\"asrs.u.aud\":\"x\",\"roles\":[\"a\",\"b\"]}",
                            "SHA256", EMU_KEY);
    const cJSON *marker;

    (void)state;
    /* NULL options mean the defaults: lifetime checked with 300 s skew. */
    assert_int_equal(hcs_auth_verify(&emu_keys, NULL, tok, len, NOW, &p, &reason), 0);
    marker = cJSON_GetObjectItemCaseSensitive(p.claims, "marker");
    assert_true(cJSON_IsString(marker));
    assert_string_equal(marker->valuestring, "abc");
    assert_true(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(p.claims, "roles")));
    assert_int_equal(cJSON_GetArraySize(p.claims), 5);
    assert_true(p.exp == NOW + 3600);
    hcs_principal_cleanup(&p);
    hcs_principal_cleanup(&p); /* idempotent */
    hcs_principal_cleanup(NULL);

    assert_int_equal(hcs_auth_verify(&emu_keys, NULL, tok, len, NOW + 3601 + 300, &p, &reason), -1);
    assert_string_equal(reason, "token expired");

    /* NULL token / out. */
    assert_int_equal(hcs_auth_verify(&emu_keys, NULL, NULL, 0, NOW, &p, &reason), -1);
    assert_string_equal(reason, "malformed token");
    assert_int_equal(hcs_auth_verify(&emu_keys, NULL, tok, len, NOW, NULL, &reason), -1);
    assert_int_equal(hcs_auth_verify(&emu_keys, NULL, tok, len, NOW, &p, NULL), 0);
    hcs_principal_cleanup(&p);
}

static void test_verify_key_list_edge(void **state)
{
    static const char *const keys_with_holes[] = {NULL, "", EMU_KEY};
    static const struct hcs_auth_keys holes = {keys_with_holes, 3};
    static const char *const only_empty[] = {""};
    static const struct hcs_auth_keys empty = {only_empty, 1};
    static const struct hcs_auth_keys zero = {NULL, 0};
    char tok[TOKBUF];
    struct hcs_principal p = {0};
    const char *reason = NULL;
    size_t len = sign_token(tok, H256, P_OK, "SHA256", EMU_KEY);

    (void)state;
    assert_int_equal(hcs_auth_verify(&holes, NULL, tok, len, NOW, &p, &reason), 0);
    hcs_principal_cleanup(&p);
    assert_int_equal(hcs_auth_verify(&zero, NULL, tok, len, NOW, &p, &reason), -1);
    assert_string_equal(reason, "bad signature");

    /* A token signed with an empty key never verifies against an empty key. */
    len = sign_token(tok, H256, P_OK, "SHA256", "");
    assert_int_equal(hcs_auth_verify(&empty, NULL, tok, len, NOW, &p, &reason), -1);
    assert_string_equal(reason, "bad signature");
}

static void test_verify_too_deep(void **state)
{
    static char payload[4096];
    char tok[TOKBUF];
    struct hcs_principal p = {0};
    const char *reason = NULL;
    size_t n = 0;
    size_t len;

    (void)state;
    /* Deeper than cJSON's nesting limit (1000). */
    n += (size_t)snprintf(payload, sizeof(payload), "{\"a\":");
    for (int i = 0; i < 1500; i++)
        payload[n++] = '[';
    for (int i = 0; i < 1500; i++)
        payload[n++] = ']';
    payload[n++] = '}';
    payload[n] = '\0';
    len = sign_token(tok, H256, payload, "SHA256", EMU_KEY);
    assert_int_equal(hcs_auth_verify(&emu_keys, NULL, tok, len, NOW, &p, &reason), -1);
    assert_string_equal(reason, "malformed token");
    assert_null(p.claims);
}

/*
 * Deterministic mutations of a valid token (and random strings over the
 * token alphabet): never crash, never leak, and a changed token never
 * verifies.
 */
static void test_verify_garbage(void **state)
{
    static const char alphabet[] = "ABCabc012-_.=+/ {}\"\0\x1e\xff";
    char good[TOKBUF];
    char tok[TOKBUF];
    size_t good_len = sign_token(good, H256, P_OK, "SHA256", EMU_KEY);
    uint32_t seed = 12345;

    (void)state;
    for (int iter = 0; iter < 20000; iter++) {
        struct hcs_principal p = {0};
        const char *reason = NULL;
        size_t len;
        int rc;

        seed = seed * 1103515245u + 12345u;
        if (iter % 4 == 3) {
            /* Random string of 0..99 bytes. */
            len = (seed >> 8) % 100;
            for (size_t i = 0; i < len; i++) {
                seed = seed * 1103515245u + 12345u;
                tok[i] = alphabet[(seed >> 8) % (sizeof(alphabet) - 1)];
            }
        } else {
            /* 1..3 byte substitutions, sometimes truncated. */
            int edits = 1 + (int)((seed >> 8) % 3);

            memcpy(tok, good, good_len);
            len = good_len;
            for (int e = 0; e < edits; e++) {
                seed = seed * 1103515245u + 12345u;
                tok[(seed >> 8) % good_len] = alphabet[(seed >> 20) % (sizeof(alphabet) - 1)];
            }
            if (iter % 5 == 0)
                len = (seed >> 4) % good_len;
        }
        rc = hcs_auth_verify(&emu_keys, &default_opt, tok, len, NOW, &p, &reason);
        if (rc == 0) {
            /* Only a no-op edit may still verify: libjwt 1.10 compares the
             * canonical base64url MAC text, so even unused trailing bits count. */
            assert_int_equal(len, good_len);
            assert_memory_equal(tok, good, len);
            hcs_principal_cleanup(&p);
        } else {
            assert_non_null(reason);
            assert_null(p.claims);
        }
    }
}

/* ---- issue ----------------------------------------------------------------------------- */

/*
 * Signature comparison (docs/security.md): verification computes the HMAC
 * itself and compares canonical base64url with CRYPTO_memcmp. Only the exact
 * signature is accepted: not one differing in the unused trailing bits, not
 * a truncated or extended one, not a MAC of another length.
 */
static void test_verify_signature_exact(void **state)
{
    char tok[TOKBUF];
    char alt[TOKBUF];
    struct hcs_principal p = {0};
    const char *reason = NULL;
    size_t len = sign_token(tok, H256, P_OK, "SHA256", EMU_KEY);
    const char *sig = strrchr(tok, '.') + 1;
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    (void)state;
    assert_int_equal(strlen(sig), 43); /* 32 bytes: 2 unused bits in the last character */
    assert_int_equal(hcs_auth_verify(&emu_keys, &default_opt, tok, len, NOW, &p, &reason), 0);
    hcs_principal_cleanup(&p);

    /* Same decoded bytes, other unused bits: libjwt's string compare refused
     * it, so must we. */
    memcpy(alt, tok, len + 1);
    {
        int v = (int)(strchr(abc, alt[len - 1]) - abc);
        alt[len - 1] = abc[v ^ 1];
    }
    assert_int_equal(hcs_auth_verify(&emu_keys, &default_opt, alt, len, NOW, &p, &reason), -1);
    assert_string_equal(reason, "bad signature");

    /* Truncated by one character, extended by one. */
    assert_int_equal(hcs_auth_verify(&emu_keys, &default_opt, tok, len - 1, NOW, &p, &reason),
                     -1);
    assert_string_equal(reason, "bad signature");
    memcpy(alt, tok, len);
    alt[len] = 'A';
    alt[len + 1] = '\0';
    assert_int_equal(hcs_auth_verify(&emu_keys, &default_opt, alt, len + 1, NOW, &p, &reason),
                     -1);
    assert_string_equal(reason, "bad signature");

    /* HS256 header carrying an HS512 MAC, and the reverse. */
    len = sign_token(alt, H256, P_OK, "SHA512", EMU_KEY);
    assert_int_equal(hcs_auth_verify(&emu_keys, &default_opt, alt, len, NOW, &p, &reason), -1);
    assert_string_equal(reason, "bad signature");
    len = sign_token(alt, H512, P_OK, "SHA256", EMU_KEY);
    assert_int_equal(hcs_auth_verify(&emu_keys, &default_opt, alt, len, NOW, &p, &reason), -1);
    assert_string_equal(reason, "bad signature");

    /* HS384 with the second of two keys verifies; with neither it does not. */
    len = sign_token(alt, H384, P_OK, "SHA384", EMU_KEY);
    assert_int_equal(hcs_auth_verify(&rotated_keys, &default_opt, alt, len, NOW, &p, &reason), 0);
    hcs_principal_cleanup(&p);
    assert_int_equal(hcs_auth_verify(&other_keys, &default_opt, alt, len, NOW, &p, &reason), -1);
    assert_string_equal(reason, "bad signature");

    /* A signature that is the right MAC under the wrong key differs in every
     * position checked, but gets the same answer. */
    len = sign_token(alt, H256, P_OK, "SHA256", OTHER_KEY);
    assert_int_equal(hcs_auth_verify(&emu_keys, &default_opt, alt, len, NOW, &p, &reason), -1);
    assert_string_equal(reason, "bad signature");
    assert_null(p.claims);
}

static void test_issue_roundtrip(void **state)
{
    static const struct hcs_auth_options strict = {true, 0, "/client/"};
    char *tok = NULL;
    struct hcs_principal p = {0};
    const char *reason = NULL;

    (void)state;
    assert_int_equal(
        hcs_auth_issue(EMU_KEY, "http://localhost/client/?hub=chat", "alice", NOW, 3600, &tok), 0);
    assert_non_null(tok);
    assert_true(strlen(tok) < HCS_AUTH_MAX_TOKEN);
    assert_int_equal(hcs_auth_verify(&emu_keys, &strict, tok, strlen(tok), NOW, &p, &reason), 0);
    assert_string_equal(p.user_id, "alice");
    assert_true(p.exp == NOW + 3600);
    assert_int_equal(p.transports, 7);
    assert_true(cJSON_GetObjectItemCaseSensitive(p.claims, "iat")->valuedouble == (double)NOW);
    assert_true(cJSON_GetObjectItemCaseSensitive(p.claims, "nbf")->valuedouble == (double)NOW);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(p.claims, "aud")->valuestring,
                        "http://localhost/client/?hub=chat");
    hcs_principal_cleanup(&p);

    /* Header is exactly HS256 and the second key in a list still verifies. */
    assert_int_equal(hcs_auth_verify(&rotated_keys, &strict, tok, strlen(tok), NOW, &p, &reason),
                     0);
    hcs_principal_cleanup(&p);
    assert_int_equal(hcs_auth_verify(&other_keys, &strict, tok, strlen(tok), NOW, &p, &reason), -1);
    assert_string_equal(reason, "bad signature");
    assert_int_equal(hcs_auth_verify(&emu_keys, &strict, tok, strlen(tok), NOW + 3601, &p, &reason),
                     -1);
    assert_string_equal(reason, "token expired");
    hcp_free(tok);

    /* No user id: no asrs.s.uid claim. Empty user id likewise. */
    assert_int_equal(hcs_auth_issue(EMU_KEY, "http://localhost/api/hubs/chat", "", NOW, 60, &tok),
                     0);
    assert_int_equal(hcs_auth_verify(&emu_keys, NULL, tok, strlen(tok), NOW, &p, &reason), 0);
    assert_null(p.user_id);
    assert_null(cJSON_GetObjectItemCaseSensitive(p.claims, "asrs.s.uid"));
    hcs_principal_cleanup(&p);
    assert_int_equal(hcs_auth_verify(&emu_keys, &strict, tok, strlen(tok), NOW, &p, &reason), -1);
    assert_string_equal(reason, "audience mismatch");
    hcp_free(tok);

    assert_int_equal(hcs_auth_issue(EMU_KEY, "aud", NULL, NOW, -10, &tok), 0);
    assert_int_equal(hcs_auth_verify(&emu_keys, &strict, tok, strlen(tok), NOW, &p, &reason), -1);
    assert_string_equal(reason, "token expired");
    hcp_free(tok);

    /* Bad arguments leave *out_token alone. */
    tok = NULL;
    assert_int_equal(hcs_auth_issue(NULL, "aud", NULL, NOW, 60, &tok), -1);
    assert_int_equal(hcs_auth_issue("", "aud", NULL, NOW, 60, &tok), -1);
    assert_int_equal(hcs_auth_issue(EMU_KEY, "aud", NULL, INT64_MAX, 60, &tok), -1);
    assert_int_equal(hcs_auth_issue(EMU_KEY, "aud", NULL, NOW, 60, NULL), -1);
    assert_null(tok);
}

/* ---- bearer ---------------------------------------------------------------------------- */

static void test_bearer(void **state)
{
    static const struct {
        const char *authorization;
        const char *query;
        const char *expect; /* NULL: no token */
    } cases[] = {
        {"Bearer abc.def.ghi", NULL, "abc.def.ghi"},
        {"bearer abc", NULL, "abc"},
        {"BEARER   abc  ", NULL, "abc"},
        {"  Bearer\tabc\t", NULL, "abc"},
        {"Bearer abc", "query", "abc"},
        {"Bearer ", "query", "query"},
        {"Bearer    ", NULL, NULL},
        {"Bearer", "query", "query"},
        {"Bearerabc", NULL, NULL},
        {"Basic dXNlcjpwYXNz", "query", "query"},
        {"Basic dXNlcjpwYXNz", NULL, NULL},
        {NULL, "tok", "tok"},
        {NULL, " tok ", "tok"},
        {NULL, "", NULL},
        {NULL, "   ", NULL},
        {"", "", NULL},
        {NULL, NULL, NULL},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = 12345;
        const char *t = hcs_auth_bearer(cases[i].authorization, cases[i].query, &len);

        print_message("bearer case %zu\n", i);
        if (cases[i].expect == NULL) {
            assert_null(t);
            assert_int_equal(len, 12345); /* untouched */
            continue;
        }
        assert_non_null(t);
        assert_int_equal(len, strlen(cases[i].expect));
        assert_memory_equal(t, cases[i].expect, len);
        /* A view into one of the inputs. */
        if (cases[i].authorization != NULL && t >= cases[i].authorization &&
            t < cases[i].authorization + strlen(cases[i].authorization))
            continue;
        assert_non_null(cases[i].query);
        assert_true(t >= cases[i].query && t < cases[i].query + strlen(cases[i].query));
    }
}

/* ---- HMAC ------------------------------------------------------------------------------ */

static void test_hmac_vectors(void **state)
{
    /* Expected values from `printf %s data | openssl dgst -sha256 -hmac key`. */
    static const struct {
        const char *key;
        const char *data;
        const char *hex;
    } cases[] = {
        {EMU_KEY, "connection-id-1",
         "E9020AD5BB727182A3594827573348A64508E6238D8FC4B738CFB64D7135322B"},
        /* RFC 4231 test case 2. */
        {"Jefe", "what do ya want for nothing?",
         "5BDCC146BF60754E6A042426089575C75A003F089D2739839DEC58B964EC3843"},
        {EMU_KEY, "", "776C194B00AE25FF9DF768922E0F50BAF12C7D3A50DFC71F17E25C5589A59B1F"},
    };
    char out[65];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(out, 'x', sizeof(out));
        assert_int_equal(
            hcs_auth_hmac_sha256_hex(cases[i].key, cases[i].data, strlen(cases[i].data), out), 0);
        assert_string_equal(out, cases[i].hex);
    }
    assert_int_equal(hcs_auth_hmac_sha256_hex(EMU_KEY, NULL, 0, out), 0);
    assert_string_equal(out, cases[2].hex);
    assert_int_equal(hcs_auth_hmac_sha256_hex(NULL, "x", 1, out), -1);
    assert_int_equal(hcs_auth_hmac_sha256_hex(EMU_KEY, NULL, 1, out), -1);
}

/* ---- allocation failure ------------------------------------------------------------------ */

static void test_verify_oom(void **state)
{
    char tok[TOKBUF];
    size_t len = sign_token(tok, H256, P_OK, "SHA256", EMU_KEY);
    long n;

    (void)state;
    for (n = 1; n < 1000; n++) {
        struct hcs_principal p = {0};
        const char *reason = NULL;
        int rc;

        alloc_count = 0;
        alloc_fail_at = n;
        rc = hcs_auth_verify(&emu_keys, &default_opt, tok, len, NOW, &p, &reason);
        alloc_fail_at = 0;
        if (rc == 0) {
            assert_string_equal(p.user_id, "alice");
            hcs_principal_cleanup(&p);
            break;
        }
        assert_int_equal(rc, -1);
        assert_non_null(reason);
        assert_null(p.claims);
    }
    assert_true(n > 1 && n < 1000);
}

static void test_issue_oom(void **state)
{
    char *tok = NULL;
    long n;

    (void)state;
    for (n = 1; n < 100; n++) {
        int rc;

        alloc_count = 0;
        alloc_fail_at = n;
        rc = hcs_auth_issue(EMU_KEY, "aud", "bob", NOW, 60, &tok);
        alloc_fail_at = 0;
        if (rc == 0)
            break;
        assert_null(tok);
    }
    assert_non_null(tok);
    assert_true(n > 1);
    hcp_free(tok);
}

/* ---- verdict cache ----------------------------------------------------------------------- */

static void test_cache_hits_and_lifetime(void **state)
{
    char tok[TOKBUF];
    /* nbf NOW, exp NOW + 100. */
    size_t len = sign_token(tok, H256, "{\"nbf\":1700000000,\"exp\":1700000100}", "SHA256",
                            EMU_KEY);
    struct hcs_auth_options opt = {true, 10, NULL};
    struct hcs_auth_cache *c = hcs_auth_cache_new(8);
    struct hcs_auth_cache_stats st;
    const char *reason = NULL;

    (void)state;
    assert_non_null(c);
    assert_int_equal(hcs_auth_check(c, &emu_keys, &opt, tok, len, NOW, &reason), 0);
    assert_int_equal(hcs_auth_check(c, &emu_keys, &opt, tok, len, NOW + 1, &reason), 0);
    assert_int_equal(hcs_auth_check(c, &emu_keys, &opt, tok, len, NOW + 110, &reason), 0);
    hcs_auth_cache_stats(c, &st);
    assert_int_equal(st.misses, 1);
    assert_int_equal(st.hits, 2);
    assert_int_equal(st.entries, 1);

    /* Before nbf - skew: refused from the cache, and kept. */
    assert_int_equal(hcs_auth_check(c, &emu_keys, &opt, tok, len, NOW - 11, &reason), -1);
    assert_string_equal(reason, "token not yet valid");
    hcs_auth_cache_stats(c, &st);
    assert_int_equal(st.entries, 1);

    /* Past exp + skew: refused from the cache (no new signature check), and
     * dropped; a later check refuses it again the full way. */
    assert_int_equal(hcs_auth_check(c, &emu_keys, &opt, tok, len, NOW + 111, &reason), -1);
    assert_string_equal(reason, "token expired");
    hcs_auth_cache_stats(c, &st);
    assert_int_equal(st.hits, 4);
    assert_int_equal(st.entries, 0);
    assert_int_equal(hcs_auth_check(c, &emu_keys, &opt, tok, len, NOW + 111, &reason), -1);
    assert_string_equal(reason, "token expired");

    /* Lifetime checks off for this call: the expired token is fine again. */
    opt.check_lifetime = false;
    assert_int_equal(hcs_auth_check(c, &emu_keys, &opt, tok, len, NOW + 1000, &reason), 0);
    assert_int_equal(hcs_auth_check(c, &emu_keys, &opt, tok, len, NOW + 1000, &reason), 0);
    hcs_auth_cache_stats(c, &st);
    assert_int_equal(st.entries, 1);
    hcs_auth_cache_free(c);
}

static void test_cache_exact_bytes(void **state)
{
    char tok[TOKBUF], bad[TOKBUF];
    size_t len = sign_token(tok, H256, P_OK, "SHA256", EMU_KEY);
    struct hcs_auth_cache *c = hcs_auth_cache_new(4);
    struct hcs_auth_cache_stats st;
    const char *reason = NULL;

    (void)state;
    assert_int_equal(hcs_auth_check(c, &emu_keys, &default_opt, tok, len, NOW, &reason), 0);
    /* Every single-byte change of a cached token is checked in full. */
    for (size_t i = 0; i < len; i++) {
        memcpy(bad, tok, len);
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        reason = NULL;
        assert_int_equal(hcs_auth_check(c, &emu_keys, &default_opt, bad, len, NOW, &reason), -1);
        assert_non_null(reason);
    }
    /* A prefix and an extension of it too. */
    assert_int_equal(hcs_auth_check(c, &emu_keys, &default_opt, tok, len - 1, NOW, &reason), -1);
    memcpy(bad, tok, len);
    bad[len] = 'A';
    assert_int_equal(hcs_auth_check(c, &emu_keys, &default_opt, bad, len + 1, NOW, &reason), -1);
    /* Failures are not remembered; the original still hits. */
    assert_int_equal(hcs_auth_check(c, &emu_keys, &default_opt, tok, len, NOW, &reason), 0);
    hcs_auth_cache_stats(c, &st);
    assert_int_equal(st.entries, 1);
    assert_true(st.hits >= 1);
    hcs_auth_cache_free(c);
}

static void test_cache_keys_and_audience(void **state)
{
    char tok[TOKBUF];
    /* aud is a /client/ URL. */
    size_t len = sign_token(tok, H256, P_OK, "SHA256", EMU_KEY);
    struct hcs_auth_options loose = {true, 300, NULL};
    struct hcs_auth_options strict = {true, 300, "/api/"};
    struct hcs_auth_cache *c = hcs_auth_cache_new(4);
    struct hcs_auth_cache_stats st;
    const char *reason = NULL;

    (void)state;
    assert_int_equal(hcs_auth_check(c, &emu_keys, &loose, tok, len, NOW, &reason), 0);
    /* A verdict reached without the audience check is not one with it. */
    assert_int_equal(hcs_auth_check(c, &emu_keys, &strict, tok, len, NOW, &reason), -1);
    assert_string_equal(reason, "audience mismatch");
    /* Another key list empties the cache: the token fails its signature. */
    assert_int_equal(hcs_auth_check(c, &other_keys, &loose, tok, len, NOW, &reason), -1);
    assert_string_equal(reason, "bad signature");
    hcs_auth_cache_stats(c, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(hcs_auth_check(c, &rotated_keys, &loose, tok, len, NOW, &reason), 0);
    hcs_auth_cache_free(c);
}

static void test_cache_bounded(void **state)
{
    char tok[TOKBUF];
    char payload[128];
    struct hcs_auth_cache *c = hcs_auth_cache_new(4);
    struct hcs_auth_cache *off = hcs_auth_cache_new(0);
    struct hcs_auth_cache_stats st;
    const char *reason = NULL;

    (void)state;
    for (int i = 0; i < 100; i++) {
        snprintf(payload, sizeof payload, "{\"exp\":1700003600,\"sub\":\"u%d\"}", i);
        size_t len = sign_token(tok, H256, payload, "SHA256", EMU_KEY);
        assert_int_equal(hcs_auth_check(c, &emu_keys, &default_opt, tok, len, NOW, &reason), 0);
        assert_int_equal(hcs_auth_check(off, &emu_keys, &default_opt, tok, len, NOW, &reason), 0);
        assert_int_equal(hcs_auth_check(NULL, &emu_keys, &default_opt, tok, len, NOW, &reason), 0);
    }
    hcs_auth_cache_stats(c, &st);
    assert_true(st.entries <= 4);
    hcs_auth_cache_stats(off, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.hits, 0);
    /* No token, garbage and oversized tokens: plain refusals. */
    assert_int_equal(hcs_auth_check(c, &emu_keys, &default_opt, NULL, 0, NOW, &reason), -1);
    assert_int_equal(hcs_auth_check(c, &emu_keys, &default_opt, "x", 1, NOW, &reason), -1);
    assert_string_equal(reason, "malformed token");
    hcs_auth_cache_free(c);
    hcs_auth_cache_free(off);
    hcs_auth_cache_free(NULL);
}

static void test_cache_oom(void **state)
{
    char tok[TOKBUF];
    size_t len = sign_token(tok, H256, P_OK, "SHA256", EMU_KEY);
    long n;

    (void)state;
    /* Fail allocation n of (create, check, check); stop at the first n that
     * is past every allocation. No leak, no crash, no wrong verdict. */
    for (n = 1; n < 1000; n++) {
        const char *reason = NULL;
        struct hcs_auth_cache *c;
        int rc1 = -1, rc2 = -1;

        alloc_count = 0;
        alloc_fail_at = n;
        c = hcs_auth_cache_new(2);
        if (c != NULL) {
            rc1 = hcs_auth_check(c, &emu_keys, &default_opt, tok, len, NOW, &reason);
            rc2 = hcs_auth_check(c, &emu_keys, &default_opt, tok, len, NOW, &reason);
        }
        alloc_fail_at = 0;
        if (c != NULL && (rc1 != 0 || rc2 != 0))
            assert_non_null(reason);
        hcs_auth_cache_free(c);
        if (alloc_count < n) {
            assert_int_equal(rc1, 0);
            assert_int_equal(rc2, 0);
            break;
        }
    }
    assert_true(n > 2 && n < 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verify_algorithms),
        cmocka_unit_test(test_verify_lifetime),
        cmocka_unit_test(test_verify_claims),
        cmocka_unit_test(test_verify_audience),
        cmocka_unit_test(test_verify_malformed_segments),
        cmocka_unit_test(test_verify_malformed_raw),
        cmocka_unit_test(test_verify_length_limits),
        cmocka_unit_test(test_verify_honours_len),
        cmocka_unit_test(test_verify_tampered),
        cmocka_unit_test(test_verify_claims_object),
        cmocka_unit_test(test_verify_key_list_edge),
        cmocka_unit_test(test_verify_too_deep),
        cmocka_unit_test(test_verify_garbage),
        cmocka_unit_test(test_verify_signature_exact),
        cmocka_unit_test(test_issue_roundtrip),
        cmocka_unit_test(test_bearer),
        cmocka_unit_test(test_hmac_vectors),
        cmocka_unit_test(test_verify_oom),
        cmocka_unit_test(test_issue_oom),
        cmocka_unit_test(test_cache_hits_and_lifetime),
        cmocka_unit_test(test_cache_exact_bytes),
        cmocka_unit_test(test_cache_keys_and_audience),
        cmocka_unit_test(test_cache_bounded),
        cmocka_unit_test(test_cache_oom),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
