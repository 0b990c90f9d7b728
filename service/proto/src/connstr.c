/*
 * Azure SignalR connection string codec (azure-signalr-service.md section 1),
 * following the .NET SDK: ';'-separated key=value pairs, case-insensitive
 * keys, a repeated key is an error, unknown keys are ignored.
 * Never echoes values in reasons: they may hold the AccessKey.
 */
#include "hcp/connstr.h"

#include <stdio.h>
#include <string.h>

#include "hcp/text.h"

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static struct hcp_str trim(const char *p, size_t len)
{
    while (len > 0 && is_space(p[0])) {
        p++;
        len--;
    }
    while (len > 0 && is_space(p[len - 1]))
        len--;
    struct hcp_str s = {p, len};
    return s;
}

struct piece {
    struct hcp_str key;
    struct hcp_str value;
};

/* Split the piece at s[*pos..) ending at ';' or len into key and value.
 * Returns false for an empty piece or one without '=' (both ignored). */
static bool next_piece(const char *s, size_t len, size_t *pos, struct piece *out)
{
    const char *semi = memchr(s + *pos, ';', len - *pos);
    size_t end = semi != NULL ? (size_t)(semi - s) : len;
    struct hcp_str raw = trim(s + *pos, end - *pos);
    *pos = end + 1;
    if (raw.len == 0)
        return false;
    const char *eq = memchr(raw.ptr, '=', raw.len);
    if (eq == NULL)
        return false;
    out->key = trim(raw.ptr, (size_t)(eq - raw.ptr));
    out->value = trim(eq + 1, raw.len - (size_t)(eq - raw.ptr) - 1);
    return true;
}

static bool key_eq(struct hcp_str a, struct hcp_str b)
{
    if (a.len != b.len)
        return false;
    for (size_t i = 0; i < a.len; i++) {
        char x = a.ptr[i], y = b.ptr[i];
        if (x >= 'A' && x <= 'Z')
            x = (char)(x + 32);
        if (y >= 'A' && y <= 'Z')
            y = (char)(y + 32);
        if (x != y)
            return false;
    }
    return true;
}

static bool copy_field(char *dst, size_t cap, struct hcp_str v)
{
    if (v.len >= cap)
        return false;
    memcpy(dst, v.ptr, v.len);
    dst[v.len] = '\0';
    return true;
}

/* Parse a decimal port 1..65535. */
static bool parse_port(const char *p, size_t len, int *out)
{
    if (len == 0 || len > 5)
        return false;
    int v = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (p[i] - '0');
    }
    if (v < 1 || v > 65535)
        return false;
    *out = v;
    return true;
}

/* Split an absolute http(s) URL. path excludes trailing '/'. */
static bool parse_url(struct hcp_str u, char *scheme, size_t scheme_cap, struct hcp_str *host,
                      int *port, bool *has_port, struct hcp_str *path)
{
    size_t skip;
    if (u.len >= 7 && hcp_strn_ieq(u.ptr, 7, "http://")) {
        snprintf(scheme, scheme_cap, "http");
        skip = 7;
        *port = 80;
    } else if (u.len >= 8 && hcp_strn_ieq(u.ptr, 8, "https://")) {
        snprintf(scheme, scheme_cap, "https");
        skip = 8;
        *port = 443;
    } else {
        return false;
    }
    const char *a = u.ptr + skip;
    size_t alen = u.len - skip;
    size_t auth_end = 0;
    while (auth_end < alen && a[auth_end] != '/' && a[auth_end] != '?' && a[auth_end] != '#')
        auth_end++;
    for (size_t i = 0; i < auth_end; i++) {
        if (is_space(a[i]) || a[i] == '@' || (unsigned char)a[i] < 0x20)
            return false;
    }
    *has_port = false;
    size_t host_end;
    if (auth_end > 0 && a[0] == '[') {
        const char *close = memchr(a, ']', auth_end);
        if (close == NULL || close == a + 1)
            return false;
        host->ptr = a + 1;
        host->len = (size_t)(close - a) - 1;
        host_end = (size_t)(close - a) + 1;
        if (host_end < auth_end && a[host_end] != ':')
            return false;
    } else {
        const char *colon = memchr(a, ':', auth_end);
        host_end = colon != NULL ? (size_t)(colon - a) : auth_end;
        host->ptr = a;
        host->len = host_end;
        if (host->len == 0 || memchr(a, '[', host_end) != NULL || memchr(a, ']', host_end) != NULL)
            return false;
    }
    if (host_end < auth_end) {
        /* ":port" */
        if (!parse_port(a + host_end + 1, auth_end - host_end - 1, port))
            return false;
        *has_port = true;
    }
    path->ptr = a + auth_end;
    path->len = alen - auth_end;
    while (path->len > 0 && path->ptr[path->len - 1] == '/')
        path->len--;
    return true;
}

static int fail(const char **out_reason, const char *reason, int rc)
{
    if (out_reason != NULL)
        *out_reason = reason;
    return rc;
}

enum key_id { K_ENDPOINT, K_ACCESSKEY, K_VERSION, K_PORT, K_CLIENT, K_SERVER, K_AUTH, K_COUNT };

int hcp_connstr_parse(const char *s, size_t len, struct hcp_connstr *out, const char **out_reason)
{
    static const char *const names[K_COUNT] = {
        "endpoint", "accesskey", "version", "port", "clientendpoint", "serverendpoint", "authtype"};
    struct hcp_str vals[K_COUNT];
    memset(vals, 0, sizeof(vals));
    if (s == NULL)
        return fail(out_reason, "Connection string is empty.", HCP_ERR_MALFORMED);

    size_t pos = 0;
    while (pos < len) {
        struct piece pc;
        size_t here = pos;
        if (!next_piece(s, len, &pos, &pc))
            continue;
        /* A repeated key (in any case) is an error, known or not. */
        size_t p2 = 0;
        while (p2 < here) {
            struct piece prev;
            if (next_piece(s, here, &p2, &prev) && key_eq(prev.key, pc.key))
                return fail(out_reason, "Duplicate key in connection string.", HCP_ERR_MALFORMED);
        }
        for (int k = 0; k < K_COUNT; k++) {
            if (hcp_strn_ieq(pc.key.ptr, pc.key.len, names[k]))
                vals[k] = pc.value;
        }
    }

    struct hcp_connstr c;
    memset(&c, 0, sizeof(c));
    if (vals[K_ENDPOINT].ptr == NULL || vals[K_ENDPOINT].len == 0)
        return fail(out_reason, "Endpoint is required.", HCP_ERR_MALFORMED);
    struct hcp_str host, path;
    bool has_port;
    if (!parse_url(vals[K_ENDPOINT], c.scheme, sizeof(c.scheme), &host, &c.port, &has_port, &path))
        return fail(out_reason, "Endpoint must be an absolute http or https URL.",
                    HCP_ERR_MALFORMED);
    if (vals[K_PORT].ptr != NULL) {
        if (!parse_port(vals[K_PORT].ptr, vals[K_PORT].len, &c.port))
            return fail(out_reason, "Port must be an integer between 1 and 65535.",
                        HCP_ERR_MALFORMED);
        has_port = true;
    }
    if (vals[K_VERSION].ptr != NULL) {
        struct hcp_str v = vals[K_VERSION];
        if (v.len < 3 || v.ptr[0] != '1' || v.ptr[1] != '.' || v.ptr[2] < '0' || v.ptr[2] > '9')
            return fail(out_reason, "Version is not supported; expected 1.x.", HCP_ERR_MALFORMED);
        if (!copy_field(c.version, sizeof(c.version), v))
            return fail(out_reason, "Version is too long.", HCP_ERR_TOO_LARGE);
    }
    if (vals[K_AUTH].ptr != NULL && !copy_field(c.auth_type, sizeof(c.auth_type), vals[K_AUTH]))
        return fail(out_reason, "AuthType is too long.", HCP_ERR_TOO_LARGE);
    if (vals[K_AUTH].ptr == NULL && (vals[K_ACCESSKEY].ptr == NULL || vals[K_ACCESSKEY].len == 0))
        return fail(out_reason, "AccessKey is required.", HCP_ERR_MALFORMED);
    if (vals[K_ACCESSKEY].ptr != NULL &&
        !copy_field(c.access_key, sizeof(c.access_key), vals[K_ACCESSKEY]))
        return fail(out_reason, "AccessKey is too long.", HCP_ERR_TOO_LARGE);
    if (vals[K_CLIENT].ptr != NULL &&
        !copy_field(c.client_endpoint, sizeof(c.client_endpoint), vals[K_CLIENT]))
        return fail(out_reason, "ClientEndpoint is too long.", HCP_ERR_TOO_LARGE);
    if (vals[K_SERVER].ptr != NULL &&
        !copy_field(c.server_endpoint, sizeof(c.server_endpoint), vals[K_SERVER]))
        return fail(out_reason, "ServerEndpoint is too long.", HCP_ERR_TOO_LARGE);
    if (!copy_field(c.host, sizeof(c.host), host))
        return fail(out_reason, "Endpoint host is too long.", HCP_ERR_TOO_LARGE);

    /* Rebuild the endpoint with the effective port; default ports are left
     * out, as System.Uri prints them. */
    bool is_v6 = memchr(host.ptr, ':', host.len) != NULL;
    bool default_port =
        (c.port == 80 && c.scheme[4] == '\0') || (c.port == 443 && c.scheme[4] == 's');
    char portbuf[8] = "";
    if (has_port && !default_port)
        snprintf(portbuf, sizeof(portbuf), ":%d", c.port);
    int n =
        snprintf(c.endpoint, sizeof(c.endpoint), "%s://%s%.*s%s%s%.*s", c.scheme, is_v6 ? "[" : "",
                 (int)host.len, host.ptr, is_v6 ? "]" : "", portbuf, (int)path.len, path.ptr);
    if (n < 0 || (size_t)n >= sizeof(c.endpoint) || path.len > sizeof(c.endpoint))
        return fail(out_reason, "Endpoint is too long.", HCP_ERR_TOO_LARGE);
    *out = c;
    return HCP_OK;
}

int hcp_connstr_format(struct hcp_buf *b, const char *scheme, const char *host, int port,
                       const char *access_key)
{
    if (scheme == NULL || host == NULL || access_key == NULL || port < 1 || port > 65535)
        return HCP_ERR_INVALID;
    bool is_v6 = strchr(host, ':') != NULL && host[0] != '[';
    return hcp_buf_appendf(b, "Endpoint=%s://%s%s%s;Port=%d;AccessKey=%s;Version=1.0;", scheme,
                           is_v6 ? "[" : "", host, is_v6 ? "]" : "", port, access_key);
}
