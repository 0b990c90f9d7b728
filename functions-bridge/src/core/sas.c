/* hcb_sas: see sas.h. */
#include "sas.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "b64.h"
#include "hcp/text.h"
#include "json.h"

#define PREFIX "SharedAccessSignature "

int hcb_sas_parse(const char *text, size_t len, struct hcb_sas_token *out,
                  const char **out_reason)
{
    size_t pl = strlen(PREFIX);
    if (len < pl || strncmp(text, PREFIX, pl)) {
        *out_reason = "not a SharedAccessSignature";
        return HCP_ERR_MALFORMED;
    }
    struct hcb_sas_token t;
    memset(&t, 0, sizeof t);
    bool has_se = false;
    const char *p = text + pl, *end = text + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        if (eq) {
            size_t kl = (size_t)(eq - p);
            struct hcp_str v = {eq + 1, (size_t)(pe - eq - 1)};
            if (kl == 2 && !strncmp(p, "sr", 2))
                t.sr = v;
            else if (kl == 3 && !strncmp(p, "sig", 3))
                t.sig = v;
            else if (kl == 3 && !strncmp(p, "skn", 3))
                t.skn = v;
            else if (kl == 2 && !strncmp(p, "se", 2)) {
                char num[24];
                if (v.len == 0 || v.len >= sizeof num) {
                    *out_reason = "bad se";
                    return HCP_ERR_MALFORMED;
                }
                memcpy(num, v.ptr, v.len);
                num[v.len] = '\0';
                char *e;
                long long x = strtoll(num, &e, 10);
                if (*e || x <= 0) {
                    *out_reason = "bad se";
                    return HCP_ERR_MALFORMED;
                }
                t.se = x;
                has_se = true;
            }
        }
        p = amp ? amp + 1 : end;
    }
    if (!t.sr.ptr || !t.sig.ptr || !has_se || !t.sr.len || !t.sig.len) {
        *out_reason = "token needs sr, sig and se";
        return HCP_ERR_MALFORMED;
    }
    *out = t;
    return HCP_OK;
}

/* base64(HMAC-SHA256(b64decode(key), sr + "\n" + se)) into b. */
static int sign(struct hcp_buf *b, const char *sr, size_t sr_len, int64_t se, const char *key_b64)
{
    struct hcp_buf key, msg;
    hcp_buf_init(&key, 1024);
    hcp_buf_init(&msg, 0);
    int rc = hcb_b64_decode(&key, key_b64, strlen(key_b64));
    if (!rc)
        rc = hcp_buf_append(&msg, sr, sr_len);
    if (!rc)
        rc = hcp_buf_appendf(&msg, "\n%lld", (long long)se);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (!rc && !HMAC(EVP_sha256(), key.data ? key.data : (const uint8_t *)"", (int)key.len,
                     msg.data, msg.len, mac, &mac_len))
        rc = HCP_ERR_INVALID;
    if (!rc)
        rc = hcb_b64_encode(b, mac, mac_len);
    hcp_buf_cleanup(&key);
    hcp_buf_cleanup(&msg);
    return rc;
}

int hcb_sas_verify(const struct hcb_sas_token *t, const char *key_b64, const char *device_id,
                   const char *module_id, const char *host, int64_t now_s,
                   const char **out_reason)
{
    if (!key_b64 || !*key_b64) {
        *out_reason = "no key for this device";
        return HCP_ERR_INVALID;
    }
    char sig[256];
    size_t sig_len = 0;
    if (hcp_url_decode(t->sig.ptr, t->sig.len, false, sig, sizeof sig, &sig_len)) {
        *out_reason = "malformed signature";
        return HCP_ERR_INVALID;
    }
    struct hcp_buf want;
    hcp_buf_init(&want, 0);
    if (sign(&want, t->sr.ptr, t->sr.len, t->se, key_b64)) {
        hcp_buf_cleanup(&want);
        *out_reason = "bad device key";
        return HCP_ERR_INVALID;
    }
    bool ok = want.len == sig_len && CRYPTO_memcmp(want.data, sig, sig_len) == 0;
    hcp_buf_cleanup(&want);
    if (!ok) {
        *out_reason = "signature mismatch";
        return HCP_ERR_INVALID;
    }
    if (t->se < now_s) {
        *out_reason = "token expired";
        return HCP_ERR_INVALID;
    }
    char sr[1024];
    size_t sr_len = 0;
    if (hcp_url_decode(t->sr.ptr, t->sr.len, false, sr, sizeof sr, &sr_len)) {
        *out_reason = "malformed sr";
        return HCP_ERR_INVALID;
    }
    const char *slash = memchr(sr, '/', sr_len);
    if (!slash) {
        *out_reason = "sr does not name a device";
        return HCP_ERR_INVALID;
    }
    size_t hl = (size_t)(slash - sr);
    if (host && (strlen(host) != hl || strncasecmp(host, sr, hl))) {
        *out_reason = "sr names another hub";
        return HCP_ERR_INVALID;
    }
    char expect[600];
    if (module_id && *module_id)
        snprintf(expect, sizeof expect, "devices/%s/modules/%s", device_id, module_id);
    else
        snprintf(expect, sizeof expect, "devices/%s", device_id);
    /* A device key signs "<host>/devices/<id>"; a module key the module path.
     * Trailing "/" is tolerated. */
    const char *path = slash + 1;
    size_t plen = sr_len - hl - 1;
    while (plen && path[plen - 1] == '/')
        plen--;
    if (plen != strlen(expect) || strncmp(path, expect, plen)) {
        *out_reason = "sr scope does not match this device";
        return HCP_ERR_INVALID;
    }
    return HCP_OK;
}

int hcb_sas_build(struct hcp_buf *b, const char *resource, const char *key_b64, int64_t expiry)
{
    struct hcp_buf sr, sig;
    hcp_buf_init(&sr, 0);
    hcp_buf_init(&sig, 0);
    int rc = hcp_url_encode(&sr, resource, strlen(resource));
    if (!rc)
        rc = sign(&sig, (const char *)sr.data, sr.len, expiry, key_b64);
    if (!rc)
        rc = hcp_buf_append_str(b, PREFIX "sr=");
    if (!rc)
        rc = hcp_buf_append(b, sr.data, sr.len);
    if (!rc)
        rc = hcp_buf_append_str(b, "&sig=");
    if (!rc)
        rc = hcp_url_encode(b, (const char *)sig.data, sig.len);
    if (!rc)
        rc = hcp_buf_appendf(b, "&se=%lld", (long long)expiry);
    hcp_buf_cleanup(&sr);
    hcp_buf_cleanup(&sig);
    return rc;
}

struct hcb_registry {
    cJSON *root;
};

int hcb_registry_parse(const char *json, size_t len, struct hcb_registry **out,
                       const char **out_reason)
{
    cJSON *root = hcb_json_parse(json, len);
    const cJSON *devs = cJSON_GetObjectItemCaseSensitive(root, "devices");
    if (!cJSON_IsArray(devs)) {
        cJSON_Delete(root);
        *out_reason = "registry must be {\"devices\": [...]}";
        return HCP_ERR_MALFORMED;
    }
    const cJSON *d;
    cJSON_ArrayForEach(d, devs)
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(d, "deviceId");
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(d, "primaryKey");
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(d, "moduleId");
        const cJSON *k2 = cJSON_GetObjectItemCaseSensitive(d, "secondaryKey");
        if (!cJSON_IsString(id) || !cJSON_IsString(k) || (m && !cJSON_IsString(m)) ||
            (k2 && !cJSON_IsString(k2))) {
            cJSON_Delete(root);
            *out_reason = "each registry entry needs string deviceId and primaryKey";
            return HCP_ERR_MALFORMED;
        }
    }
    struct hcb_registry *r = hcp_malloc(sizeof *r);
    if (!r) {
        cJSON_Delete(root);
        *out_reason = "out of memory";
        return HCP_ERR_NOMEM;
    }
    r->root = root;
    *out = r;
    return HCP_OK;
}

void hcb_registry_free(struct hcb_registry *r)
{
    if (!r)
        return;
    cJSON_Delete(r->root);
    hcp_free(r);
}

const char *hcb_registry_key(const struct hcb_registry *r, const char *device_id,
                             const char *module_id, int index)
{
    if (!r)
        return NULL;
    const cJSON *d;
    cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(r->root, "devices"))
    {
        const char *id = cJSON_GetObjectItemCaseSensitive(d, "deviceId")->valuestring;
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(d, "moduleId");
        const char *mid = cJSON_IsString(m) ? m->valuestring : "";
        if (strcmp(id, device_id) || strcmp(mid, module_id ? module_id : ""))
            continue;
        const cJSON *k =
            cJSON_GetObjectItemCaseSensitive(d, index == 0 ? "primaryKey" : "secondaryKey");
        return cJSON_IsString(k) ? k->valuestring : NULL;
    }
    return NULL;
}
