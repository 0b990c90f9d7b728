/*
 * Client-side SignalR codecs (see hcp/client.h). Pure functions over bytes;
 * peer input never asserts. URL helpers work on the text of absolute URLs
 * only: a fragment is dropped, the query is kept byte for byte.
 */
#include "hcp/client.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "hcp/json.h"
#include "hcp/jsonscan.h"
#include "hcp/negotiate.h"
#include "hcp/text.h"
#include "internal.h"

/* ---- negotiate --------------------------------------------------------------------------- */

static const cJSON *member(const cJSON *obj, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

static const char *string_member(const cJSON *obj, const char *key)
{
    const cJSON *it = member(obj, key);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

static unsigned transport_bit(const char *name)
{
    if (strcmp(name, "WebSockets") == 0)
        return HCP_TRANSPORT_WEBSOCKETS;
    if (strcmp(name, "ServerSentEvents") == 0)
        return HCP_TRANSPORT_SSE;
    if (strcmp(name, "LongPolling") == 0)
        return HCP_TRANSPORT_LONGPOLLING;
    return 0;
}

const char *hcp_client_transport_name(unsigned transport)
{
    switch (transport) {
    case HCP_TRANSPORT_WEBSOCKETS:
        return "WebSockets";
    case HCP_TRANSPORT_SSE:
        return "ServerSentEvents";
    case HCP_TRANSPORT_LONGPOLLING:
        return "LongPolling";
    default:
        return "Unknown";
    }
}

static bool lists_text(const cJSON *formats)
{
    const cJSON *f;
    if (!cJSON_IsArray(formats))
        return false;
    cJSON_ArrayForEach(f, formats)
    {
        if (cJSON_IsString(f) && strcmp(f->valuestring, "Text") == 0)
            return true;
    }
    return false;
}

static int decode_ok(const cJSON *root, struct hcp_negotiate_result *r, const char **reason)
{
    const cJSON *v = member(root, "negotiateVersion");
    int64_t version = 0;
    if (v != NULL && !hcp__json_int(v, 0, INT_MAX, &version)) {
        *reason = "Invalid negotiateVersion in the negotiate response.";
        return HCP_ERR_MALFORMED;
    }
    r->version = (int)version;
    r->connection_id = string_member(root, "connectionId");
    r->connection_token = version >= 1 ? string_member(root, "connectionToken") : NULL;
    if (r->connection_token == NULL)
        r->connection_token = r->connection_id;
    if (r->connection_token == NULL || r->connection_token[0] == '\0') {
        *reason = "The negotiate response has no connection id.";
        return HCP_ERR_MALFORMED;
    }
    const cJSON *list = member(root, "availableTransports");
    if (!cJSON_IsArray(list)) {
        *reason = "The negotiate response has no availableTransports.";
        return HCP_ERR_MALFORMED;
    }
    const cJSON *t;
    cJSON_ArrayForEach(t, list)
    {
        const char *name = string_member(t, "transport");
        unsigned bit = name ? transport_bit(name) : 0;
        if (bit == 0 || !lists_text(member(t, "transferFormats")))
            continue;
        bool dup = false;
        for (size_t i = 0; i < r->n_transports; i++)
            dup |= r->transports[i] == bit;
        if (!dup && r->n_transports < 3)
            r->transports[r->n_transports++] = bit;
    }
    r->stateful_reconnect = cJSON_IsTrue(member(root, "useStatefulReconnect"));
    return HCP_OK;
}

int hcp_client_negotiate_decode(const char *body, size_t len, struct hcp_negotiate_result *out,
                                const char **out_reason)
{
    cJSON *root = NULL;
    const char *reason = NULL;
    int rc = hcp__parse_object(body, len, &root, &reason);
    if (rc != HCP_OK) {
        *out_reason = rc == HCP_ERR_NOMEM ? "Out of memory." : "Invalid negotiate response.";
        return rc;
    }
    struct hcp_negotiate_result r;
    memset(&r, 0, sizeof r);
    r.root = root;
    const cJSON *err = member(root, "error");
    if (err != NULL) {
        if (!cJSON_IsString(err)) {
            reason = "Invalid error in the negotiate response.";
            rc = HCP_ERR_MALFORMED;
            goto fail;
        }
        r.kind = HCP_NEGOTIATE_ERROR;
        r.error = err->valuestring;
        *out = r;
        return HCP_OK;
    }
    if (member(root, "ProtocolVersion") != NULL) {
        reason = HCP_CLIENT_ERR_OLD_SIGNALR;
        rc = HCP_ERR_UNSUPPORTED;
        goto fail;
    }
    const cJSON *url = member(root, "url");
    if (url != NULL) {
        if (!cJSON_IsString(url) || url->valuestring[0] == '\0') {
            reason = "Invalid url in the negotiate redirect.";
            rc = HCP_ERR_MALFORMED;
            goto fail;
        }
        const cJSON *tok = member(root, "accessToken");
        if (tok != NULL && !cJSON_IsString(tok) && !cJSON_IsNull(tok)) {
            reason = "Invalid accessToken in the negotiate redirect.";
            rc = HCP_ERR_MALFORMED;
            goto fail;
        }
        r.kind = HCP_NEGOTIATE_REDIRECT;
        r.url = url->valuestring;
        r.access_token = cJSON_IsString(tok) ? tok->valuestring : NULL;
        *out = r;
        return HCP_OK;
    }
    r.kind = HCP_NEGOTIATE_OK;
    rc = decode_ok(root, &r, &reason);
    if (rc != HCP_OK)
        goto fail;
    *out = r;
    return HCP_OK;
fail:
    cJSON_Delete(root);
    *out_reason = reason;
    return rc;
}

void hcp_client_negotiate_cleanup(struct hcp_negotiate_result *r)
{
    if (r == NULL)
        return;
    cJSON_Delete(r->root);
    memset(r, 0, sizeof *r);
}

/* ---- URLs -------------------------------------------------------------------------------- */

/* Split url into [0, q) base, [q, f) query incl. '?', f = fragment start or end. */
static void split_url(const char *url, size_t *out_q, size_t *out_f)
{
    size_t f = strcspn(url, "#");
    size_t q = strcspn(url, "?#");
    *out_q = q;
    *out_f = f;
}

int hcp_client_negotiate_url(struct hcp_buf *b, const char *url, bool stateful)
{
    size_t q, f;
    split_url(url, &q, &f);
    size_t start = b->len;
    int rc = hcp_buf_append(b, url, q);
    if (rc == HCP_OK && (q == 0 || url[q - 1] != '/'))
        rc = hcp_buf_append_byte(b, '/');
    if (rc == HCP_OK)
        rc = hcp_buf_append_str(b, "negotiate");
    bool has_query = q < f && f - q > 1;
    bool has_version = false, has_stateful = false;
    if (has_query) {
        const char *qs = url + q + 1;
        size_t qlen = f - q - 1;
        char tmp[8];
        has_version = hcp_query_get(qs, qlen, "negotiateVersion", 0, tmp, sizeof tmp) != 0;
        has_stateful = hcp_query_get(qs, qlen, "useStatefulReconnect", 0, tmp, sizeof tmp) != 0;
        if (rc == HCP_OK)
            rc = hcp_buf_append(b, url + q, f - q);
    }
    char sep = has_query ? '&' : '?';
    if (rc == HCP_OK && !has_version) {
        rc = hcp_buf_appendf(b, "%cnegotiateVersion=1", sep);
        sep = '&';
    }
    if (rc == HCP_OK && stateful && !has_stateful)
        rc = hcp_buf_appendf(b, "%cuseStatefulReconnect=true", sep);
    if (rc != HCP_OK)
        b->len = start;
    return rc;
}

int hcp_client_url_add_param(struct hcp_buf *b, const char *url, const char *key,
                             const char *value)
{
    size_t q, f;
    split_url(url, &q, &f);
    size_t start = b->len;
    bool has_query = q < f && f - q > 1;
    int rc = hcp_buf_append(b, url, has_query ? f : q);
    if (rc == HCP_OK)
        rc = hcp_buf_append_byte(b, has_query ? '&' : '?');
    if (rc == HCP_OK)
        rc = hcp_buf_append_str(b, key);
    if (rc == HCP_OK)
        rc = hcp_buf_append_byte(b, '=');
    if (rc == HCP_OK)
        rc = hcp_url_encode(b, value, strlen(value));
    if (rc != HCP_OK)
        b->len = start;
    return rc;
}

static size_t scheme_len(const char *url)
{
    const char *colon = strstr(url, "://");
    return colon ? (size_t)(colon - url) : 0;
}

int hcp_client_ws_url(struct hcp_buf *b, const char *url)
{
    size_t n = scheme_len(url);
    const char *scheme;
    if (hcp_strn_ieq(url, n, "http") || hcp_strn_ieq(url, n, "ws"))
        scheme = "ws";
    else if (hcp_strn_ieq(url, n, "https") || hcp_strn_ieq(url, n, "wss"))
        scheme = "wss";
    else
        return HCP_ERR_INVALID;
    size_t q, f;
    split_url(url, &q, &f);
    size_t start = b->len;
    int rc = hcp_buf_append_str(b, scheme);
    if (rc == HCP_OK)
        rc = hcp_buf_append(b, url + n, f - n);
    if (rc != HCP_OK)
        b->len = start;
    return rc;
}

int hcp_client_url_parse(const char *url, struct hcp_url *out)
{
    struct hcp_url u;
    memset(&u, 0, sizeof u);
    size_t n = scheme_len(url);
    if (n == 0 || n >= sizeof u.scheme)
        return HCP_ERR_INVALID;
    for (size_t i = 0; i < n; i++) {
        char ch = url[i];
        u.scheme[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
    }
    if (!strcmp(u.scheme, "https") || !strcmp(u.scheme, "wss"))
        u.is_tls = true;
    else if (strcmp(u.scheme, "http") != 0 && strcmp(u.scheme, "ws") != 0)
        return HCP_ERR_INVALID;
    const char *auth = url + n + 3;
    size_t alen = strcspn(auth, "/?#");
    if (alen == 0 || memchr(auth, '@', alen) != NULL)
        return HCP_ERR_INVALID;
    const char *host = auth, *port = NULL;
    size_t hlen;
    if (auth[0] == '[') {
        const char *close = memchr(auth, ']', alen);
        if (close == NULL)
            return HCP_ERR_INVALID;
        host = auth + 1;
        hlen = (size_t)(close - host);
        if (close + 1 < auth + alen) {
            if (close[1] != ':')
                return HCP_ERR_INVALID;
            port = close + 2;
        }
    } else {
        const char *colon = memchr(auth, ':', alen);
        hlen = colon ? (size_t)(colon - auth) : alen;
        if (colon)
            port = colon + 1;
    }
    if (hlen == 0 || hlen >= sizeof u.host)
        return HCP_ERR_INVALID;
    memcpy(u.host, host, hlen);
    u.port = u.is_tls ? 443 : 80;
    if (port != NULL) {
        size_t plen = (size_t)(auth + alen - port);
        int p = 0;
        if (plen == 0 || plen > 5)
            return HCP_ERR_INVALID;
        for (size_t i = 0; i < plen; i++) {
            if (port[i] < '0' || port[i] > '9')
                return HCP_ERR_INVALID;
            p = p * 10 + (port[i] - '0');
        }
        if (p < 1 || p > 65535)
            return HCP_ERR_INVALID;
        u.port = p;
    }
    const char *rest = auth + alen;
    size_t rlen = strcspn(rest, "#");
    if (rlen == 0 || rest[0] != '/') {
        /* "http://h?x" has a query but no path: the path is "/". Keep it simple and
         * refuse that shape unless it is empty. */
        if (rlen != 0)
            return HCP_ERR_INVALID;
        u.path.ptr = "/";
        u.path.len = 1;
    } else {
        u.path.ptr = rest;
        u.path.len = rlen;
    }
    *out = u;
    return HCP_OK;
}

/* ---- handshake and messages -------------------------------------------------------------- */

int hcp_client_encode_handshake(struct hcp_buf *b, const char *protocol, int version)
{
    size_t start = b->len;
    int rc = hcp_buf_append_str(b, "{\"protocol\":");
    if (rc == HCP_OK)
        rc = hcp_json_append_string(b, protocol, strlen(protocol));
    if (rc == HCP_OK)
        rc = hcp_buf_appendf(b, ",\"version\":%d}%c", version, HCP_RS);
    if (rc != HCP_OK)
        b->len = start;
    return rc;
}

static void copy_err(char *err, size_t cap, const char *text)
{
    if (cap > 0)
        snprintf(err, cap, "%s", text);
}

int hcp_client_handshake_decode(const char *rec, size_t len, char *err, size_t err_cap)
{
    cJSON *root = NULL;
    const char *reason = NULL;
    int rc = hcp__parse_object(rec, len, &root, &reason);
    if (rc != HCP_OK) {
        copy_err(err, err_cap, "Invalid handshake response from the server.");
        return rc == HCP_ERR_NOMEM ? rc : HCP_ERR_MALFORMED;
    }
    rc = HCP_OK;
    const cJSON *e = member(root, "error");
    if (member(root, "type") != NULL) {
        copy_err(err, err_cap, "Expected a handshake response from the server.");
        rc = HCP_ERR_MALFORMED;
    } else if (e != NULL) {
        copy_err(err, err_cap,
                 cJSON_IsString(e) ? e->valuestring : "Invalid handshake response from the server.");
        rc = cJSON_IsString(e) ? HCP_ERR_UNSUPPORTED : HCP_ERR_MALFORMED;
    } else {
        copy_err(err, err_cap, "");
    }
    cJSON_Delete(root);
    return rc;
}

int hcp_client_encode_stream_invocation(struct hcp_buf *b, const char *invocation_id,
                                        const char *target, const char *args_json,
                                        size_t args_len)
{
    size_t start = b->len;
    int rc = hcp_buf_append_str(b, "{\"type\":4,\"invocationId\":");
    if (rc == HCP_OK)
        rc = hcp_json_append_string(b, invocation_id, strlen(invocation_id));
    if (rc == HCP_OK)
        rc = hcp_buf_append_str(b, ",\"target\":");
    if (rc == HCP_OK)
        rc = hcp_json_append_string(b, target, strlen(target));
    if (rc == HCP_OK)
        rc = hcp_buf_append_str(b, ",\"arguments\":");
    if (rc == HCP_OK)
        rc = hcp_buf_append(b, args_json, args_len);
    if (rc == HCP_OK)
        rc = hcp_buf_appendf(b, "}%c", HCP_RS);
    if (rc != HCP_OK)
        b->len = start;
    return rc;
}

int hcp_client_encode_cancel(struct hcp_buf *b, const char *invocation_id)
{
    size_t start = b->len;
    int rc = hcp_buf_append_str(b, "{\"type\":5,\"invocationId\":");
    if (rc == HCP_OK)
        rc = hcp_json_append_string(b, invocation_id, strlen(invocation_id));
    if (rc == HCP_OK)
        rc = hcp_buf_appendf(b, "}%c", HCP_RS);
    if (rc != HCP_OK)
        b->len = start;
    return rc;
}

bool hcp_client_args_valid(const char *json, size_t len)
{
    if (json == NULL || hcp_json_validate(json, len) != HCP_OK)
        return false;
    size_t i = 0;
    while (i < len && (json[i] == ' ' || json[i] == '\t' || json[i] == '\r' || json[i] == '\n'))
        i++;
    return i < len && json[i] == '[';
}

/* ---- Server-Sent Events ------------------------------------------------------------------ */

void hcp_sse_init(struct hcp_sse *p, size_t max)
{
    memset(p, 0, sizeof *p);
    hcp_buf_init(&p->line, max);
    hcp_buf_init(&p->data, max);
}

void hcp_sse_cleanup(struct hcp_sse *p)
{
    if (p == NULL)
        return;
    hcp_buf_cleanup(&p->line);
    hcp_buf_cleanup(&p->data);
}

/* One complete line (without its terminator). */
static int sse_line(struct hcp_sse *p, const char *line, size_t len, struct hcp_buf *out)
{
    if (len == 0) {
        int rc = HCP_OK;
        if (p->has_data && p->data.len > 0)
            rc = hcp_buf_append(out, p->data.data, p->data.len);
        hcp_buf_reset(&p->data);
        p->has_data = false;
        return rc;
    }
    if (line[0] == ':')
        return HCP_OK;
    const char *colon = memchr(line, ':', len);
    size_t nlen = colon ? (size_t)(colon - line) : len;
    if (nlen != 4 || memcmp(line, "data", 4) != 0)
        return HCP_OK; /* event, id, retry and unknown fields do not matter here */
    const char *val = colon ? colon + 1 : line + len;
    size_t vlen = (size_t)(line + len - val);
    if (vlen > 0 && val[0] == ' ') {
        val++;
        vlen--;
    }
    int rc = HCP_OK;
    if (p->has_data)
        rc = hcp_buf_append_byte(&p->data, '\n');
    if (rc == HCP_OK)
        rc = hcp_buf_append(&p->data, val, vlen);
    p->has_data = true;
    return rc;
}

int hcp_sse_feed(struct hcp_sse *p, const char *in, size_t len, struct hcp_buf *out)
{
    size_t i = 0;
    if (p->skip_lf && len > 0) {
        p->skip_lf = false;
        if (in[0] == '\n')
            i = 1;
    }
    while (i < len) {
        size_t rest = len - i;
        size_t n = 0;
        while (n < rest && in[i + n] != '\r' && in[i + n] != '\n')
            n++;
        if (n == rest) {
            return hcp_buf_append(&p->line, in + i, n);
        }
        int rc;
        if (p->line.len > 0) {
            rc = hcp_buf_append(&p->line, in + i, n);
            if (rc == HCP_OK)
                rc = sse_line(p, (const char *)p->line.data, p->line.len, out);
            hcp_buf_reset(&p->line);
        } else {
            if (p->line.max != 0 && n > p->line.max)
                return HCP_ERR_TOO_LARGE;
            rc = sse_line(p, in + i, n, out);
        }
        if (rc != HCP_OK)
            return rc;
        i += n;
        if (in[i] == '\r') {
            i++;
            if (i == len)
                p->skip_lf = true;
            else if (in[i] == '\n')
                i++;
        } else {
            i++;
        }
    }
    return HCP_OK;
}
