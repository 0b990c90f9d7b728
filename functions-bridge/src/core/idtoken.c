/* hcb_idtoken: see idtoken.h. */
#include "idtoken.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

static int b64url_val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-' || c == '+')
        return 62;
    if (c == '_' || c == '/')
        return 63;
    return -1;
}

/* Decode base64url (padding optional) into b. */
static int b64url_decode(const char *in, size_t len, struct hcp_buf *b)
{
    while (len && in[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return HCP_ERR_MALFORMED;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64url_val(in[i]);
        if (v < 0)
            return HCP_ERR_MALFORMED;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            int rc = hcp_buf_append_byte(b, (uint8_t)(acc >> bits));
            if (rc)
                return rc;
        }
    }
    return HCP_OK;
}

int hcb_idtoken_claim(const char *token, size_t len, const char *claim, char *out, size_t cap)
{
    const char *dot1 = memchr(token, '.', len);
    if (!dot1)
        return HCP_ERR_MALFORMED;
    const char *p = dot1 + 1;
    const char *dot2 = memchr(p, '.', len - (size_t)(p - token));
    if (!dot2)
        return HCP_ERR_MALFORMED;
    struct hcp_buf json;
    hcp_buf_init(&json, 64 * 1024);
    int rc = b64url_decode(p, (size_t)(dot2 - p), &json);
    if (rc) {
        hcp_buf_cleanup(&json);
        return rc == HCP_ERR_TOO_LARGE ? HCP_ERR_MALFORMED : rc;
    }
    cJSON *root = cJSON_ParseWithLength((const char *)json.data, json.len);
    hcp_buf_cleanup(&json);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return HCP_ERR_MALFORMED;
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, claim);
    char num[32];
    const char *s = NULL;
    if (cJSON_IsString(v) && v->valuestring)
        s = v->valuestring;
    else if (cJSON_IsNumber(v)) {
        snprintf(num, sizeof num, "%.17g", v->valuedouble);
        s = num;
    }
    if (!s) {
        cJSON_Delete(root);
        return HCP_ERR_NOT_FOUND;
    }
    size_t n = strlen(s);
    if (n >= cap) {
        cJSON_Delete(root);
        return HCP_ERR_TOO_LARGE;
    }
    memcpy(out, s, n + 1);
    cJSON_Delete(root);
    return HCP_OK;
}
