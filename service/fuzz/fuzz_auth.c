/*
 * Fuzz target: JWT verification (service/src/edge/auth.h hcs_auth_verify).
 * The first byte picks the mode: the rest is either a whole token, or a
 * "header.payload" that this target signs with the configured key so that
 * the claim checks (exp, nbf, aud, user id, transports) are reached too.
 */
#include <string.h>

#include <openssl/evp.h>

#include "auth.h"
#include "fuzz.h"

static const char KEY[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH";

static size_t b64url(const unsigned char *in, size_t len, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[n++] = a[(acc >> bits) & 63];
        }
    }
    if (bits > 0)
        out[n++] = a[(acc << (6 - bits)) & 63];
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const keys_list[] = {KEY, "second-key"};
    static const char *const digests[] = {"SHA256", "SHA384", "SHA512"};
    const struct hcs_auth_keys keys = {keys_list, 2};
    char tok[HCS_AUTH_MAX_TOKEN + 200];
    size_t len;

    if (size < 1 || size > HCS_AUTH_MAX_TOKEN + 100)
        return 0;
    unsigned mode = data[0];
    if ((mode & 1) == 0) {
        len = size - 1;
        memcpy(tok, data + 1, len);
    } else {
        /* Sign data[1..] with HS256/384/512 as if it were header.payload. */
        unsigned char mac[64];
        size_t mac_len = 0;
        len = size - 1;
        if (len + 1 + 88 > sizeof tok)
            return 0;
        memcpy(tok, data + 1, len);
        if (EVP_Q_mac(NULL, "HMAC", NULL, digests[(mode >> 1) % 3], NULL, KEY, strlen(KEY),
                      data + 1, len, mac, sizeof mac, &mac_len) == NULL)
            return 0;
        tok[len++] = '.';
        len += b64url(mac, mac_len, tok + len);
    }

    struct hcs_auth_options opt = {(mode & 8) != 0, (mode & 16) ? 300 : 0,
                                   (mode & 32) ? "/client/" : NULL};
    struct hcs_principal p;
    const char *reason = NULL;
    if (hcs_auth_verify(&keys, &opt, tok, len, 1700000000, &p, &reason) == 0) {
        if (p.claims == NULL || p.transports < 1 || p.transports > 7)
            __builtin_trap();
        hcs_principal_cleanup(&p);
    } else if (reason == NULL) {
        __builtin_trap();
    }

    /* The bearer extractor sees the same bytes as a header value. */
    tok[len < sizeof tok ? len : sizeof tok - 1] = '\0';
    size_t blen = 0;
    const char *b = hcs_auth_bearer(tok, NULL, &blen);
    if (b != NULL && (b < tok || b + blen > tok + len))
        __builtin_trap();
    return 0;
}
