/*
 * The libwebsockets edge of hubcast-service (see server.h).
 *
 * One thread owns the lws context and the core. Every callback is "parse
 * the request, call the core, write the answer": negotiate and the REST API
 * are plain HTTP transactions, the WebSocket transport feeds received bytes
 * to hcs_core_conn_input() and writes whatever hcs_core_conn_output() hands
 * back (one lws_write per WRITEABLE callback, re-armed while data remains).
 *
 * Wire rules: signalr-protocol.md sections 2, 4, 12; azure-signalr-service.md
 * sections 2-4.
 */
#include "server.h"

#include <ctype.h>
#include <errno.h>
#include <libwebsockets.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/random.h>
#include <time.h>

#include "auth.h"
#include "core/core.h"
#include "core/rest.h"
#include "hcp/hcp.h"
#include "hcp/http.h"
#include "log.h"
#include "upstream.h"
#include "backplane.h"

#define MAX_PARAMS 64
#define MAX_PATH 2048
#define ID_BYTES 16
#define ID_CHARS 23 /* 22 base64url characters + NUL */
#define SHUTDOWN_GRACE_MS 3000
/* Then, at most this long for upstream events still queued or in flight
 * (the `disconnected` of every connection the shutdown closed): together
 * under the 10 s that Docker and systemd wait before SIGKILL. */
#define SHUTDOWN_UPSTREAM_GRACE_MS 5000
#define MAX_DISCARD_BYTES (64u * 1024 * 1024)

struct server {
    const struct hcs_config *cfg;
    struct lws_context *ctx;
    struct hcs_core *core;
    struct hcs_upstream *upstream;
    struct hcs_backplane *backplane; /* NULL: single node */
    struct hcs_auth_keys keys;
    struct hcs_auth_options client_auth;
    struct hcs_auth_options rest_auth;
    struct hcs_auth_cache *rest_tokens; /* verdicts for REST tokens (loop thread only) */
    lws_sorted_usec_list_t sul;
    int port;
    char base_url[600]; /* scheme://host:port used for token audiences */
    struct hcp_buf scratch; /* SSE event / poll body assembly (loop thread only) */
    bool shutting_down;
    int64_t shutdown_deadline;
    bool done;
};

/* One HTTP transaction; allocated when a request starts, freed when it ends. */
struct http_req {
    enum hcp_method method;
    char path[MAX_PATH];
    struct hcs_rest_param params[MAX_PARAMS];
    size_t n_params;
    char *param_store;
    char origin[512];
    bool has_origin;
    char content_type[160];
    char *token; /* bearer token (header or access_token query), NULL if none */
    struct hcp_buf body;
    size_t content_length;
    bool too_large;
    bool is_rest;
    bool chunked;           /* Transfer-Encoding: chunked (decoded here, not by lws) */
    struct hcp_chunked dechunk;
};

/* Per-connection user space: kept small, WebSocket connections keep only
 * the core handle and the token that bound them. */
enum pss_kind {
    PK_HTTP = 0, /* an ordinary request/response */
    PK_SSE,      /* a Server-Sent Events stream bound to pss->conn */
    PK_POLL,     /* a held long poll bound to pss->conn */
};

struct pss {
    enum pss_kind kind;
    bool sse_hello;     /* SSE: the opening ":\r\n" comment is still to be written */
    int poll_final;     /* long poll: answer this status next (204 after DELETE), 0 = none */
    struct http_req *req;
    struct hcp_buf resp; /* LWS_PRE headroom + body waiting for HTTP_WRITEABLE */
    struct hcs_conn *conn;
    /* Close the HTTP connection after this response: lws 4.1 cannot find the
     * end of a chunked or length-less request body, so keep-alive is unsafe. */
    bool close_after;
    /* WebSocket: the peer sent a Close frame (a clean end); without one a
     * stateful connection waits for a resume (signalr-protocol.md 9.5). */
    bool peer_closed;
    bool close_armed; /* the core is closing pss->conn: lws kills it at a deadline */
};

static volatile sig_atomic_t g_stop;
static struct lws_context *g_ctx;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Unix seconds for token exp/nbf checks. Not time(NULL): glibc serves it
 * from the coarse clock, which can still show the previous second when a
 * client (reading the precise clock) already signs nbf = this second; with
 * --token-skew 0 that refused fresh tokens for a few milliseconds. */
static int64_t now_unix(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

/* 16 bytes from the kernel CSPRNG as 22 URL-safe characters. */
static int random_id(char out[ID_CHARS])
{
    uint8_t raw[ID_BYTES];
    size_t got = 0;
    while (got < sizeof raw) {
        ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        got += (size_t)n;
    }
    return hcp_base64url_encode(raw, sizeof raw, out, ID_CHARS) < 0 ? -1 : 0;
}

/* ------------------------------------------------------------------------ */
/* Request parsing                                                           */

static void req_free(struct http_req *r)
{
    if (!r)
        return;
    hcp_free(r->param_store);
    hcp_free(r->token);
    hcp_buf_cleanup(&r->body);
    hcp_free(r);
}

static const char *req_param(const struct http_req *r, const char *key, size_t *out_count)
{
    const char *first = NULL;
    size_t n = 0;
    for (size_t i = 0; i < r->n_params; i++) {
        if (hcp_str_ieq(r->params[i].key, key)) {
            if (!first)
                first = r->params[i].value;
            n++;
        }
    }
    if (out_count)
        *out_count = n;
    return first;
}

static enum hcp_method map_method(int m)
{
    switch (m) {
    case LWSHUMETH_GET: return HCP_METHOD_GET;
    case LWSHUMETH_POST: return HCP_METHOD_POST;
    case LWSHUMETH_OPTIONS: return HCP_METHOD_OPTIONS;
    case LWSHUMETH_PUT: return HCP_METHOD_PUT;
    case LWSHUMETH_PATCH: return HCP_METHOD_PATCH;
    case LWSHUMETH_DELETE: return HCP_METHOD_DELETE;
    case LWSHUMETH_HEAD: return HCP_METHOD_HEAD;
    default: return HCP_METHOD_OTHER;
    }
}

/* Copy a known header into dst; "" when absent or too long. */
static void hdr(struct lws *wsi, enum lws_token_indexes t, char *dst, int cap)
{
    dst[0] = '\0';
    if (lws_hdr_total_length(wsi, t) <= 0 || lws_hdr_total_length(wsi, t) >= cap)
        return;
    if (lws_hdr_copy(wsi, dst, cap, t) < 0)
        dst[0] = '\0';
}

/* Query arguments arrive from lws already split and percent-decoded, one
 * "key=value" fragment each. Store them in one allocation. */
static int parse_params(struct lws *wsi, struct http_req *r)
{
    char frag[4096];
    size_t total = 0;
    int n;
    for (n = 0; n < MAX_PARAMS; n++) {
        int len = lws_hdr_copy_fragment(wsi, frag, sizeof frag, WSI_TOKEN_HTTP_URI_ARGS, n);
        if (len < 0)
            break;
        total += (size_t)len + 2;
    }
    if (n == 0)
        return 0;
    r->param_store = hcp_malloc(total);
    if (!r->param_store)
        return -1;
    char *p = r->param_store;
    for (int i = 0; i < n; i++) {
        int len = lws_hdr_copy_fragment(wsi, frag, sizeof frag, WSI_TOKEN_HTTP_URI_ARGS, i);
        if (len < 0)
            break;
        char *eq = memchr(frag, '=', (size_t)len);
        size_t klen = eq ? (size_t)(eq - frag) : (size_t)len;
        memcpy(p, frag, klen);
        p[klen] = '\0';
        r->params[r->n_params].key = p;
        p += klen + 1;
        size_t vlen = eq ? (size_t)len - klen - 1 : 0;
        if (vlen)
            memcpy(p, eq + 1, vlen);
        p[vlen] = '\0';
        r->params[r->n_params].value = p;
        p += vlen + 1;
        r->n_params++;
    }
    return 0;
}

/* Rebuild a query string (percent-encoded) from the decoded parameters,
 * leaving out the secret-bearing ones. */
static int rebuild_query(const struct http_req *r, struct hcp_buf *out)
{
    for (size_t i = 0; i < r->n_params; i++) {
        const char *k = r->params[i].key;
        if (hcp_str_ieq(k, "access_token") || hcp_str_ieq(k, "id"))
            continue;
        if (out->len && hcp_buf_append_byte(out, '&'))
            return -1;
        if (hcp_url_encode(out, k, strlen(k)) || hcp_buf_append_byte(out, '=') ||
            hcp_url_encode(out, r->params[i].value, strlen(r->params[i].value)))
            return -1;
    }
    return 0;
}

static bool path_is(const char *path, const char *prefix, const char **rest)
{
    size_t n = strlen(prefix);
    if (strncmp(path, prefix, n))
        return false;
    if (path[n] != '\0' && path[n] != '/')
        return false;
    *rest = path + n;
    return true;
}

static struct http_req *req_new(struct lws *wsi)
{
    struct http_req *r = hcp_calloc(1, sizeof *r);
    if (!r)
        return NULL;
    char *uri = NULL;
    int uri_len = 0;
    int m = lws_http_get_uri_and_method(wsi, &uri, &uri_len);
    r->method = map_method(m);
    if (uri && uri_len > 0) {
        size_t n = (size_t)uri_len < sizeof r->path - 1 ? (size_t)uri_len : sizeof r->path - 1;
        memcpy(r->path, uri, n);
        r->path[n] = '\0';
    }
    if (parse_params(wsi, r))
        goto fail;
    hdr(wsi, WSI_TOKEN_ORIGIN, r->origin, sizeof r->origin);
    r->has_origin = r->origin[0] != '\0';
    hdr(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, r->content_type, sizeof r->content_type);
    char cl[32];
    hdr(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, cl, sizeof cl);
    if (cl[0])
        r->content_length = (size_t)strtoull(cl, NULL, 10);

    int alen = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    char *auth = NULL;
    if (alen > 0 && alen <= HCS_AUTH_MAX_TOKEN + 64) {
        auth = hcp_malloc((size_t)alen + 1);
        if (!auth || lws_hdr_copy(wsi, auth, alen + 1, WSI_TOKEN_HTTP_AUTHORIZATION) < 0) {
            hcp_free(auth);
            auth = NULL;
        }
    }
    /* The access_token query is how browsers authenticate WebSocket and SSE
     * requests (they cannot set headers there); elsewhere only the header
     * counts, so tokens do not end up in URLs and access logs. */
    const char *rest_path = NULL;
    bool query_ok = r->method == HCP_METHOD_GET && path_is(r->path, "/client", &rest_path);
    size_t tlen = 0;
    const char *t = hcs_auth_bearer(auth, query_ok ? req_param(r, "access_token", NULL) : NULL,
                                    &tlen);
    if (t) {
        r->token = hcp_strndup(t, tlen);
        if (!r->token) {
            hcp_free(auth);
            goto fail;
        }
    } else if (alen > HCS_AUTH_MAX_TOKEN + 64) {
        /* An oversized Authorization header: remember that a token was sent
         * so that the answer is 401, not "no token". */
        r->token = hcp_strdup("x");
    }
    hcp_free(auth);
    return r;
fail:
    req_free(r);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Responses                                                                 */

struct resp_opts {
    const char *error_code;
    bool www_authenticate;
    const char *cors_origin; /* echo this origin with credentials, NULL = none */
    bool preflight;
    const char *allow_headers; /* preflight: echoed Access-Control-Request-Headers */
    bool no_cache;
    bool expires; /* with no_cache: also an Expires date in the past (long polls) */
};

static const char *cors_origin_for(const struct server *srv, const struct http_req *r)
{
    if (!r || !r->has_origin)
        return NULL;
    const char *list = srv->cfg->cors_origins;
    if (!strcmp(list, "*"))
        return r->origin;
    return hcp_list_contains_ci(list, r->origin, strlen(r->origin)) ? r->origin : NULL;
}

static int add_hdr(struct lws *wsi, const char *name, const char *value, unsigned char **p,
                   unsigned char *end)
{
    return lws_add_http_header_by_name(wsi, (const unsigned char *)name,
                                       (const unsigned char *)value, (int)strlen(value), p, end);
}

/* Write status + headers now; the body (if any) goes out from
 * LWS_CALLBACK_HTTP_WRITEABLE. Returns the value the lws callback must return. */
static int respond(struct lws *wsi, struct pss *pss, int status, const char *ctype,
                   const void *body, size_t len, const struct resp_opts *o)
{
    uint8_t hb[LWS_PRE + 4096];
    uint8_t *start = hb + LWS_PRE, *p = start, *end = hb + sizeof hb - 1;
    bool head = pss->req && pss->req->method == HCP_METHOD_HEAD;
    if (head)
        len = 0;
    if (lws_add_http_common_headers(wsi, (unsigned)status, ctype, len, &p, end))
        return -1;
    if (o && o->error_code && add_hdr(wsi, "x-ms-error-code:", o->error_code, &p, end))
        return -1;
    if (o && o->www_authenticate && add_hdr(wsi, "www-authenticate:", "Bearer", &p, end))
        return -1;
    if (o && o->cors_origin) {
        if (add_hdr(wsi, "access-control-allow-origin:", o->cors_origin, &p, end) ||
            add_hdr(wsi, "access-control-allow-credentials:", "true", &p, end) ||
            add_hdr(wsi, "vary:", "Origin", &p, end))
            return -1;
    }
    if (o && o->preflight) {
        const char *h = o->allow_headers && *o->allow_headers
                            ? o->allow_headers
                            : "authorization, x-requested-with, x-signalr-user-agent, content-type";
        if (add_hdr(wsi, "access-control-allow-methods:", "GET, POST, PUT, DELETE, HEAD, OPTIONS",
                    &p, end) ||
            add_hdr(wsi, "access-control-allow-headers:", h, &p, end) ||
            add_hdr(wsi, "access-control-max-age:", "86400", &p, end))
            return -1;
    }
    if (o && o->no_cache &&
        (add_hdr(wsi, "cache-control:", "no-cache, no-store", &p, end) ||
         add_hdr(wsi, "pragma:", "no-cache", &p, end) ||
         (o->expires && add_hdr(wsi, "expires:", "Thu, 01 Jan 1970 00:00:00 GMT", &p, end))))
        return -1;
    if (pss->close_after && add_hdr(wsi, "connection:", "close", &p, end))
        return -1;
    if (lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    if (len) {
        /* The body follows at once: lws keeps whatever the socket does not
         * take (and transaction_completed waits for it). Deferring it to a
         * WRITEABLE callback stalls lws 4.1 on pipelined POSTs. */
        hcp_buf_reset(&pss->resp);
        if (hcp_buf_append_zeros(&pss->resp, LWS_PRE) || hcp_buf_append(&pss->resp, body, len))
            return -1;
        int w = lws_write(wsi, pss->resp.data + LWS_PRE, len, LWS_WRITE_HTTP_FINAL);
        hcp_buf_cleanup(&pss->resp);
        if (w < 0)
            return -1;
    }
    req_free(pss->req);
    pss->req = NULL;
    if (pss->close_after)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* A plain-text answer (transport errors, as ASP.NET writes them). */
static int respond_text(struct lws *wsi, struct pss *pss, int status, const char *text,
                        const struct resp_opts *o)
{
    return respond(wsi, pss, status, "text/plain", text, text ? strlen(text) : 0, o);
}

/* ErrorDetail JSON answer for the REST and negotiate surfaces. */
static int respond_error(struct lws *wsi, struct pss *pss, int status, const char *code,
                         const char *message, struct resp_opts *o)
{
    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    int rc;
    struct resp_opts local = {0};
    if (!o)
        o = &local;
    o->error_code = code;
    if (hcp_rest_error_encode(&b, code, message))
        rc = respond(wsi, pss, 500, NULL, NULL, 0, o);
    else
        rc = respond(wsi, pss, status, "application/json", b.data, b.len, o);
    hcp_buf_cleanup(&b);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Client endpoints: negotiate and the transport URL                         */

static bool verify_token(struct server *srv, const struct hcs_auth_options *opt,
                         const char *token, struct hcs_principal *out, const char **reason)
{
    if (!token) {
        *reason = "no access token";
        return false;
    }
    return hcs_auth_verify(&srv->keys, opt, token, strlen(token), now_unix(), out, reason) == 0;
}

/*
 * asrs.s.aeo (unix seconds) together with asrs.s.coae=true asks the service to
 * close the connection when that time passes (azure-signalr-service.md
 * section 2.1). The .NET SDK writes claim values as strings. 0 = no deadline.
 */
static int64_t close_at_from_claims(const cJSON *claims)
{
    const cJSON *coae = cJSON_GetObjectItemCaseSensitive(claims, "asrs.s.coae");
    if (!cJSON_IsTrue(coae) &&
        !(cJSON_IsString(coae) && coae->valuestring && !strcasecmp(coae->valuestring, "true")))
        return 0;
    const cJSON *aeo = cJSON_GetObjectItemCaseSensitive(claims, "asrs.s.aeo");
    double at = 0;
    if (cJSON_IsNumber(aeo))
        at = aeo->valuedouble;
    else if (cJSON_IsString(aeo) && aeo->valuestring)
        at = strtod(aeo->valuestring, NULL);
    if (!(at > 0) || at > 1e12)
        return 0;
    int64_t delta_ms = ((int64_t)at - now_unix()) * 1000;
    return now_ms() + (delta_ms > 0 ? delta_ms : 0) + 1;
}

/*
 * Scale-out with --node-url (docs/scale-out.md): a negotiate that came
 * through the load balancer is answered with a redirect to this node's own
 * URL ({"url","accessToken"}, azure-signalr-service.md section 3), so the
 * client's negotiate, connect, SSE stream and polls all reach this node.
 * The redirect URL carries hubcast_node=1, which ends the redirects.
 */
static int negotiate_redirect(struct server *srv, struct lws *wsi, struct pss *pss,
                              const struct http_req *r, struct resp_opts *o)
{
    struct hcp_buf url, b;
    hcp_buf_init(&url, 0);
    hcp_buf_init(&b, 0);
    const char *base = srv->cfg->node_url;
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/')
        bl--;
    int rc = hcp_buf_append(&url, base, bl);
    if (rc == 0)
        rc = hcp_buf_append_str(&url, "/client/?");
    for (size_t i = 0; rc == 0 && i < r->n_params; i++) {
        const char *k = r->params[i].key;
        if (hcp_str_ieq(k, "access_token") || hcp_str_ieq(k, "id") ||
            hcp_str_ieq(k, "negotiateVersion") || hcp_str_ieq(k, "useStatefulReconnect"))
            continue;
        if (hcp_url_encode(&url, k, strlen(k)) || hcp_buf_append_byte(&url, '=') ||
            hcp_url_encode(&url, r->params[i].value, strlen(r->params[i].value)) ||
            hcp_buf_append_byte(&url, '&'))
            rc = -1;
    }
    if (rc == 0)
        rc = hcp_buf_append_str(&url, "hubcast_node=1");
    if (rc == 0)
        rc = hcp_negotiate_encode_redirect(&b, hcp_buf_cstr(&url), r->token);
    hcs_log(HCS_LOG_INFO, "negotiate", "hub=%s redirect to this node", req_param(r, "hub", NULL));
    if (rc)
        rc = respond_error(wsi, pss, 500, "Error.Internal", "Internal error.", o);
    else
        rc = respond(wsi, pss, 200, "application/json", b.data, b.len, o);
    hcp_buf_cleanup(&url);
    hcp_buf_cleanup(&b);
    return rc;
}

static int negotiate(struct server *srv, struct lws *wsi, struct pss *pss, struct http_req *r,
                     const char *origin)
{
    struct resp_opts o = {.cors_origin = origin, .no_cache = true};
    if (r->method != HCP_METHOD_POST)
        return respond_text(wsi, pss, 405, "Method Not Allowed", &o);
    size_t n_hub = 0;
    const char *hub = req_param(r, "hub", &n_hub);
    if (n_hub == 0)
        return respond_error(wsi, pss, 400, "Error.Request.Invalid",
                             "The 'hub' query parameter is required.", &o);
    if (n_hub > 1)
        return respond_error(wsi, pss, 400, "Error.Request.Invalid",
                             "The 'hub' query parameter must be given once.", &o);
    if (!hcp_rest_valid_hub(hub, strlen(hub)))
        return respond_error(wsi, pss, 400, "Error.Request.Invalid", "Invalid hub name.", &o);
    int version = 0;
    if (hcp_negotiate_version(req_param(r, "negotiateVersion", NULL), &version))
        return respond_error(wsi, pss, 400, "Error.Request.Invalid",
                             "Invalid negotiateVersion.", &o);

    struct hcs_principal who;
    const char *reason = NULL;
    if (!verify_token(srv, &srv->client_auth, r->token, &who, &reason)) {
        hcs_log(HCS_LOG_INFO, "negotiate", "hub=%s status=401 reason=\"%s\"", hub, reason);
        o.www_authenticate = true;
        return respond(wsi, pss, 401, NULL, NULL, 0, &o);
    }
    if (*srv->cfg->node_url && !req_param(r, "hubcast_node", NULL)) {
        hcs_principal_cleanup(&who);
        return negotiate_redirect(srv, wsi, pss, r, &o);
    }

    char id[ID_CHARS], token[ID_CHARS];
    struct hcp_buf query;
    hcp_buf_init(&query, 0);
    int rc;
    if (random_id(id) || random_id(token) || rebuild_query(r, &query)) {
        hcs_principal_cleanup(&who);
        hcp_buf_cleanup(&query);
        return respond_error(wsi, pss, 500, "Error.Internal", "Internal error.", &o);
    }
    unsigned transports = srv->cfg->transports & who.transports;
    /* Only when asked and enabled: the JS client fails on an unasked
     * "useStatefulReconnect":true (signalr-protocol.md section 2.3). */
    const char *want_sr = req_param(r, "useStatefulReconnect", NULL);
    bool stateful = srv->cfg->stateful_reconnect && want_sr && !strcasecmp(want_sr, "true") &&
                    (transports & HCS_TRANSPORT_WEBSOCKETS);
    struct hcs_conn_params cp = {
        .hub = hub,
        .id = id,
        .token = version >= 1 ? token : id,
        .user_id = who.user_id,
        .claims = who.claims,
        .query = hcp_buf_cstr(&query),
        .transports = transports,
        .close_at_ms = close_at_from_claims(who.claims),
        .stateful_reconnect = stateful,
    };
    who.claims = NULL; /* adopted by the core */
    struct hcs_conn *conn = NULL;
    int err = hcs_core_conn_new(srv->core, &cp, now_ms(), &conn);
    hcp_buf_cleanup(&query);
    if (err == HCS_ERR_LIMIT) {
        hcs_principal_cleanup(&who);
        hcs_log(HCS_LOG_WARN, "negotiate", "hub=%s status=429 reason=\"connection limit\"", hub);
        return respond_error(wsi, pss, 429, "Error.Connection.TooMany",
                             "The connection limit of this service has been reached.", &o);
    }
    if (err) {
        hcs_principal_cleanup(&who);
        return respond_error(wsi, pss, 500, "Error.Internal", hcs_strerror(err), &o);
    }
    struct hcp_negotiate_response nr = {
        .version = version,
        .connection_id = id,
        .connection_token = token,
        .transports = transports,
        .stateful_reconnect = stateful,
    };
    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    if (transports == 0)
        rc = hcp_negotiate_encode_error(&b, "None of the transports this client may use are "
                                            "enabled on the service.");
    else
        rc = hcp_negotiate_encode(&b, &nr);
    hcs_log(HCS_LOG_INFO, "negotiate", "hub=%s conn=%s user=%s version=%d", hcs_conn_hub(conn),
            id, who.user_id ? who.user_id : "-", version);
    hcs_principal_cleanup(&who);
    if (rc)
        rc = respond_error(wsi, pss, 500, "Error.Internal", "Internal error.", &o);
    else
        rc = respond(wsi, pss, 200, "application/json", b.data, b.len, &o);
    hcp_buf_cleanup(&b);
    return rc;
}

static const char *transport_name(enum hcs_transport t)
{
    switch (t) {
    case HCS_TRANSPORT_WEBSOCKETS: return "WebSockets";
    case HCS_TRANSPORT_SSE: return "ServerSentEvents";
    case HCS_TRANSPORT_LONGPOLLING: return "LongPolling";
    default: return "None";
    }
}

/*
 * May connection `c` start transport `t`? Answers as ASP.NET does
 * (signalr-protocol.md section 4.5) and returns the status to send, 0 if the
 * transport may attach.
 */
static int transport_check(struct server *srv, struct hcs_conn *c, enum hcs_transport t,
                           const char **text)
{
    enum hcs_transport have = hcs_conn_transport(c);
    if (have != HCS_TRANSPORT_NONE && have != t) {
        *text = "Cannot change transports mid-connection";
        return 400;
    }
    if (!(srv->cfg->transports & (unsigned)t) || !(hcs_conn_transports(c) & (unsigned)t)) {
        static char buf[96];
        snprintf(buf, sizeof buf, "%s transport not supported by this end point type",
                 transport_name(t));
        *text = buf;
        return 404;
    }
    return 0;
}

static const char *SSE_HELLO = ":\r\n";

/*
 * A held long poll or an SSE stream needs nothing more from the request
 * headers (pss->req keeps what the answer uses), so give lws's header table
 * back (lws_http_headers_detach, which lws_http_mark_sse also does):
 * otherwise every parked poll pins one of max_http_header_pool tables
 * (max_header_bytes each) and the pool's end stalls every other request.
 * lws 4.1.6 (roles/http/server/server.c, lws_http_action) reads no header
 * after LWS_CALLBACK_HTTP returns, writes responses from wsi->http state
 * only, and reattaches a table on the next input. Only for a request without
 * a body, i.e. when called from LWS_CALLBACK_HTTP itself.
 */
static void park_headers(struct lws *wsi, struct pss *pss)
{
    if (pss->req && !pss->req->chunked && pss->req->content_length == 0)
        lws_http_headers_detach(wsi);
}

/* Server-Sent Events: GET with Accept: text/event-stream (section 4.3). */
static int sse_start(struct server *srv, struct lws *wsi, struct pss *pss, struct hcs_conn *c,
                     struct resp_opts *o)
{
    const char *text = NULL;
    int status = transport_check(srv, c, HCS_TRANSPORT_SSE, &text);
    if (status)
        return respond_text(wsi, pss, status, text, o);
    int err = hcs_core_conn_attach(srv->core, c, HCS_TRANSPORT_SSE, wsi, now_ms());
    if (err == HCS_ERR_BUSY)
        return respond(wsi, pss, 409, NULL, NULL, 0, o);
    if (err)
        return respond_text(wsi, pss, 404, "No Connection with that ID", o);

    uint8_t hb[LWS_PRE + 2048];
    uint8_t *start = hb + LWS_PRE, *p = start, *end = hb + sizeof hb - 1;
    if (lws_add_http_common_headers(wsi, 200, "text/event-stream", LWS_ILLEGAL_HTTP_CONTENT_LEN,
                                    &p, end) ||
        add_hdr(wsi, "cache-control:", "no-cache, no-store", &p, end) ||
        add_hdr(wsi, "pragma:", "no-cache", &p, end) ||
        add_hdr(wsi, "content-encoding:", "identity", &p, end) ||
        add_hdr(wsi, "x-accel-buffering:", "no", &p, end) ||
        (o->cors_origin && (add_hdr(wsi, "access-control-allow-origin:", o->cors_origin, &p, end) ||
                            add_hdr(wsi, "access-control-allow-credentials:", "true", &p, end) ||
                            add_hdr(wsi, "vary:", "Origin", &p, end))) ||
        lws_finalize_write_http_header(wsi, start, &p, end)) {
        hcs_core_conn_detach(srv->core, c, "cannot write SSE headers");
        return -1;
    }
    /* An SSE stream must not hit lws's HTTP timeouts; liveness is the core's
     * pings. (lws_http_mark_sse() is for h2 streams and logs an error on h1.) */
    lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
    park_headers(wsi, pss);
    pss->kind = PK_SSE;
    pss->conn = c;
    pss->sse_hello = true;
    req_free(pss->req);
    pss->req = NULL;
    lws_callback_on_writable(wsi);
    hcs_log(HCS_LOG_INFO, "sse", "hub=%s conn=%s connected", hcs_conn_hub(c), hcs_conn_id(c));
    return 0;
}

/* Wrap whole records as one SSE event: "data: " + payload + CRLF CRLF; a LF
 * inside the payload starts a new data line (a CR before it is dropped). */
static int sse_writeable(struct server *srv, struct lws *wsi, struct pss *pss)
{
    if (!pss->conn)
        return -1;
    if (pss->sse_hello) {
        uint8_t b[LWS_PRE + 8];
        memcpy(b + LWS_PRE, SSE_HELLO, 3);
        pss->sse_hello = false;
        if (lws_write(wsi, b + LWS_PRE, 3, LWS_WRITE_HTTP) < 3)
            return -1;
        lws_callback_on_writable(wsi);
        return 0;
    }
    uint8_t *out = NULL;
    size_t len = 0;
    switch (hcs_core_conn_output(srv->core, pss->conn, &out, &len, now_ms())) {
    case HCS_OUTPUT_NONE:
        return 0;
    case HCS_OUTPUT_DATA: {
        struct hcp_buf *b = &srv->scratch;
        hcp_buf_reset(b);
        int rc = hcp_buf_append_zeros(b, LWS_PRE) || hcp_buf_append_str(b, "data: ");
        /* Copy whole runs between LFs (JSON records have none: one copy). */
        for (size_t i = 0; !rc && i < len;) {
            const uint8_t *lf = memchr(out + i, '\n', len - i);
            size_t run = lf ? (size_t)(lf - (out + i)) : len - i;
            rc = hcp_buf_append(b, out + i, run);
            i += run;
            if (rc || !lf)
                break;
            if (b->len > LWS_PRE + 6 && b->data[b->len - 1] == '\r')
                b->len--;
            rc = hcp_buf_append_str(b, "\r\ndata: ");
            i++;
        }
        if (!rc)
            rc = hcp_buf_append_str(b, "\r\n\r\n");
        hcs_core_conn_output_done(srv->core, pss->conn);
        if (rc)
            return -1;
        size_t n = b->len - LWS_PRE;
        return lws_write(wsi, b->data + LWS_PRE, n, LWS_WRITE_HTTP) < (int)n ? -1 : 0;
    }
    case HCS_OUTPUT_CLOSE:
    default:
        return -1; /* ending the stream is how SSE closes (section 8) */
    }
}

static const struct resp_opts *poll_opts(struct resp_opts *o)
{
    o->no_cache = true;
    o->expires = true;
    return o;
}

static void log_poll_end(struct hcs_conn *c)
{
    const char *why = hcs_conn_close_reason(c);
    hcs_log(HCS_LOG_INFO, "poll", "hub=%s conn=%s disconnected reason=\"%s\"", hcs_conn_hub(c),
            hcs_conn_id(c), why ? why : "-");
}

/* Long polling: GET without upgrade or SSE Accept (section 4.4). */
static int poll_start(struct server *srv, struct lws *wsi, struct pss *pss, struct hcs_conn *c,
                      struct resp_opts *o)
{
    const char *text = NULL;
    int status = transport_check(srv, c, HCS_TRANSPORT_LONGPOLLING, &text);
    if (status)
        return respond_text(wsi, pss, status, text, o);
    if (hcs_conn_transport_handle(c))
        return respond(wsi, pss, 409, NULL, NULL, 0, o); /* a poll is already held */
    bool first = hcs_conn_transport(c) == HCS_TRANSPORT_NONE;
    int err = hcs_core_conn_attach(srv->core, c, HCS_TRANSPORT_LONGPOLLING, wsi, now_ms());
    if (err == HCS_ERR_CLOSED) {
        /* Closed and everything delivered: 204 ends the client's loop. */
        log_poll_end(c);
        hcs_core_conn_detach(srv->core, c, NULL);
        return respond(wsi, pss, 204, NULL, NULL, 0, poll_opts(o));
    }
    if (err)
        return respond_text(wsi, pss, 404, "No Connection with that ID", o);
    if (first) {
        /* The first poll only activates the connection: 200, empty, now. */
        hcs_core_conn_release(srv->core, c, now_ms());
        hcs_log(HCS_LOG_INFO, "poll", "hub=%s conn=%s connected", hcs_conn_hub(c),
                hcs_conn_id(c));
        return respond(wsi, pss, 200, "application/octet-stream", NULL, 0, poll_opts(o));
    }
    pss->kind = PK_POLL;
    pss->conn = c;
    pss->poll_final = 0;
    /* Held until data arrives or the poll timeout: no lws idle timeout. */
    lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
    lws_set_timer_usecs(wsi, (lws_usec_t)srv->cfg->long_poll_timeout_s * LWS_US_PER_SEC);
    park_headers(wsi, pss);
    return 0;
}

/* Answer a held poll: everything queued in one body, 204 when closed. */
static int poll_writeable(struct server *srv, struct lws *wsi, struct pss *pss)
{
    struct resp_opts o = {.cors_origin = cors_origin_for(srv, pss->req)};
    poll_opts(&o);
    if (pss->poll_final) {
        int status = pss->poll_final;
        pss->poll_final = 0;
        pss->kind = PK_HTTP;
        lws_set_timer_usecs(wsi, LWS_SET_TIMER_USEC_CANCEL);
        return respond(wsi, pss, status, NULL, NULL, 0, &o);
    }
    if (!pss->conn)
        return 0;
    struct hcp_buf *b = &srv->scratch;
    hcp_buf_reset(b);
    enum hcs_output st;
    for (;;) {
        uint8_t *out = NULL;
        size_t len = 0;
        st = hcs_core_conn_output(srv->core, pss->conn, &out, &len, now_ms());
        if (st != HCS_OUTPUT_DATA)
            break;
        int rc = hcp_buf_append(b, out, len);
        hcs_core_conn_output_done(srv->core, pss->conn);
        if (rc)
            return -1;
        if (b->len >= srv->cfg->max_queue_bytes)
            break; /* the rest goes with the next poll */
    }
    struct hcs_conn *c = pss->conn;
    if (b->len == 0 && st == HCS_OUTPUT_NONE)
        return 0;
    pss->conn = NULL;
    pss->kind = PK_HTTP;
    lws_set_timer_usecs(wsi, LWS_SET_TIMER_USEC_CANCEL);
    if (b->len == 0) {
        /* Closing with nothing left to deliver (e.g. the client's own Close
         * record arrived by POST while this poll was held). */
        log_poll_end(c);
        hcs_core_conn_detach(srv->core, c, NULL);
        return respond(wsi, pss, 204, NULL, NULL, 0, &o);
    }
    /* Delivered: the connection waits for the next poll. If it is closing,
     * that poll gets 204 (or the reclaim timer disposes of it) — except
     * during shutdown, which must not wait for clients to poll again. */
    if (st == HCS_OUTPUT_CLOSE && srv->shutting_down) {
        log_poll_end(c);
        hcs_core_conn_detach(srv->core, c, NULL);
    } else {
        hcs_core_conn_release(srv->core, c, now_ms());
    }
    return respond(wsi, pss, 200, "application/octet-stream", b->data, b->len, &o);
}

/* The poll timeout passed with nothing to send: 200 empty, client re-polls. */
static int poll_timeout(struct server *srv, struct lws *wsi, struct pss *pss)
{
    if (pss->kind != PK_POLL || !pss->conn)
        return 0;
    struct resp_opts o = {.cors_origin = cors_origin_for(srv, pss->req)};
    hcs_core_conn_release(srv->core, pss->conn, now_ms());
    pss->conn = NULL;
    pss->kind = PK_HTTP;
    return respond(wsi, pss, 200, "application/octet-stream", NULL, 0, poll_opts(&o));
}

/* POST: client->server records for SSE and long polling (section 4.3). */
static int client_post(struct server *srv, struct lws *wsi, struct pss *pss, struct http_req *r,
                       struct hcs_conn *c, struct resp_opts *o)
{
    if (hcs_conn_transport(c) == HCS_TRANSPORT_WEBSOCKETS)
        return respond_text(wsi, pss, 405,
                            "POST requests are not allowed for WebSocket connections.", o);
    if (r->too_large) {
        char msg[96];
        snprintf(msg, sizeof msg, "The request body exceeds the limit of %zu bytes.",
                 srv->cfg->max_body_bytes);
        return respond_text(wsi, pss, 413, msg, o);
    }
    if (r->body.len)
        hcs_core_conn_input(srv->core, c, r->body.data, r->body.len, now_ms());
    return respond(wsi, pss, 200, NULL, NULL, 0, o);
}

/* DELETE: the long-polling client's goodbye (section 4.4). */
static int client_delete(struct server *srv, struct lws *wsi, struct pss *pss, struct hcs_conn *c,
                         struct resp_opts *o)
{
    if (hcs_conn_transport(c) != HCS_TRANSPORT_LONGPOLLING)
        return respond_text(wsi, pss, 400,
                            "Cannot terminate this connection using the DELETE endpoint.", o);
    struct lws *held = hcs_conn_transport_handle(c);
    if (held) {
        struct pss *hp = lws_wsi_user(held);
        if (hp) {
            hp->conn = NULL;
            hp->poll_final = 204;
            lws_callback_on_writable(held);
        }
    }
    hcs_log(HCS_LOG_INFO, "poll", "hub=%s conn=%s disconnected reason=\"DELETE\"",
            hcs_conn_hub(c), hcs_conn_id(c));
    hcs_core_conn_detach(srv->core, c, NULL);
    return respond(wsi, pss, 202, NULL, NULL, 0, o);
}

/* Non-upgrade requests on the transport URL: SSE, long polling, sends, and
 * the long-polling DELETE (signalr-protocol.md section 4). */
static int client_transport_http(struct server *srv, struct lws *wsi, struct pss *pss,
                                 struct http_req *r, const char *origin)
{
    struct resp_opts o = {.cors_origin = origin, .no_cache = true};
    const char *id = req_param(r, "id", NULL);
    if (!id || !*id)
        return respond_text(wsi, pss, 400, "Connection ID required", &o);
    /* Every SSE / long-polling request re-validates its token (401 once it
     * has expired), as the Azure service does. */
    struct hcs_principal who;
    const char *reason = NULL;
    if (!verify_token(srv, &srv->client_auth, r->token, &who, &reason)) {
        hcs_log(HCS_LOG_INFO, "client", "method=%s status=401 reason=\"%s\"",
                hcp_method_name(r->method), reason);
        o.www_authenticate = true;
        return respond(wsi, pss, 401, NULL, NULL, 0, &o);
    }
    hcs_principal_cleanup(&who);
    struct hcs_conn *c = hcs_core_conn_by_token(srv->core, id);
    const char *hub = req_param(r, "hub", NULL);
    if (!c || (hub && strcasecmp(hub, hcs_conn_hub(c))))
        return respond_text(wsi, pss, 404, "No Connection with that ID", &o);
    switch (r->method) {
    case HCP_METHOD_GET: {
        char accept[256];
        hdr(wsi, WSI_TOKEN_HTTP_ACCEPT, accept, sizeof accept);
        for (char *ch = accept; *ch; ch++)
            *ch = (char)tolower((unsigned char)*ch);
        if (strstr(accept, "text/event-stream"))
            return sse_start(srv, wsi, pss, c, &o);
        return poll_start(srv, wsi, pss, c, &o);
    }
    case HCP_METHOD_POST:
        return client_post(srv, wsi, pss, r, c, &o);
    case HCP_METHOD_DELETE:
        return client_delete(srv, wsi, pss, c, &o);
    default:
        return respond_text(wsi, pss, 405, "Method Not Allowed", &o);
    }
}

/* ------------------------------------------------------------------------ */
/* REST                                                                      */

static int issue_token(void *user, const char *hub, const char *user_id, int64_t lifetime_s,
                       char **out_token)
{
    struct server *srv = user;
    struct hcp_buf aud;
    hcp_buf_init(&aud, 0);
    if (hcp_buf_appendf(&aud, "%s/client/?hub=", srv->base_url) ||
        hcp_url_encode(&aud, hub, strlen(hub))) {
        hcp_buf_cleanup(&aud);
        return -1;
    }
    int rc = hcs_auth_issue(srv->keys.keys[0], hcp_buf_cstr(&aud), user_id, now_unix(),
                            lifetime_s, out_token);
    hcp_buf_cleanup(&aud);
    return rc;
}

static int rest(struct server *srv, struct lws *wsi, struct pss *pss, struct http_req *r,
                const char *origin)
{
    struct resp_opts o = {.cors_origin = origin};
    if (r->too_large) {
        char msg[128];
        snprintf(msg, sizeof msg, "The request body exceeds the limit of %zu bytes.",
                 srv->cfg->max_body_bytes);
        return respond_error(wsi, pss, 413, "Error.Request.TooLarge", msg, &o);
    }
    const char *reason = "no access token";
    int auth_status = -1;
    if (r->token)
        auth_status = hcs_auth_check(srv->rest_tokens, &srv->keys, &srv->rest_auth, r->token,
                                     strlen(r->token), now_unix(), &reason);

    struct hcs_rest_request q = {
        .method = r->method,
        .path = r->path,
        .path_len = strlen(r->path),
        .path_decoded = true,
        .params = r->params,
        .n_params = r->n_params,
        .content_type = r->content_type[0] ? r->content_type : NULL,
        .body = r->body.data,
        .body_len = r->body.len,
        .auth_status = auth_status,
        .now_ms = now_ms(),
        .issue_token = issue_token,
        .issue_user = srv,
    };
    struct hcs_rest_response resp;
    hcs_rest_response_init(&resp);
    hcs_rest_handle(srv->core, &q, &resp);
    if (resp.status == 401)
        hcs_log(HCS_LOG_INFO, "rest", "method=%s path=%s status=401 reason=\"%s\"",
                hcp_method_name(r->method), r->path, reason ? reason : "-");
    else
        hcs_log(HCS_LOG_DEBUG, "rest", "method=%s path=%s status=%d", hcp_method_name(r->method),
                r->path, resp.status);
    o.error_code = resp.error_code;
    o.www_authenticate = resp.www_authenticate;
    int rc = respond(wsi, pss, resp.status, resp.content_type, resp.body.data, resp.body.len, &o);
    hcs_rest_response_cleanup(&resp);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* HTTP dispatch                                                             */


/* The whole request (and body) is here: answer it. */
static int handle_request(struct server *srv, struct lws *wsi, struct pss *pss)
{
    struct http_req *r = pss->req;
    const char *origin = cors_origin_for(srv, r);
    const char *rest_path = NULL;

    if (r->method == HCP_METHOD_OPTIONS) {
        /* Preflights carry no token: never require auth (section 12). */
        char reqh[512];
        hdr(wsi, WSI_TOKEN_HTTP_AC_REQUEST_HEADERS, reqh, sizeof reqh);
        struct resp_opts o = {.cors_origin = origin, .preflight = true,
                              .allow_headers = reqh[0] ? reqh : NULL};
        return respond(wsi, pss, 204, NULL, NULL, 0, &o);
    }
    if (r->is_rest)
        return rest(srv, wsi, pss, r, origin);
    if (path_is(r->path, "/client", &rest_path)) {
        if (!strcmp(rest_path, "") || !strcmp(rest_path, "/"))
            return client_transport_http(srv, wsi, pss, r, origin);
        if (!strcmp(rest_path, "/negotiate") || !strcmp(rest_path, "/negotiate/"))
            return negotiate(srv, wsi, pss, r, origin);
    }
    struct resp_opts o = {.cors_origin = origin};
    return respond_error(wsi, pss, 404, "Error.Request.NotFound", "No such endpoint.", &o);
}

static bool header_contains(struct lws *wsi, enum lws_token_indexes t, const char *needle)
{
    char v[256];
    hdr(wsi, t, v, sizeof v);
    for (char *c = v; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    return strstr(v, needle) != NULL;
}

/*
 * True if lws may already hold bytes read past this request's headers (a
 * pipelined request), so it must not be given a request body to read.
 *
 * lws 4.1.6 (lib/roles/http/server/server.c, end of lws_http_action) reads
 * a body by running the wsi's buflist through lws_read_h1 before returning.
 * When these headers were themselves parsed from that buflist (every
 * request after the first of a pipelined batch), the buflist still starts
 * with the headers: they go to us as the body, and once the transaction is
 * completed (LRS_DEFERRING_ACTION) lws_read_h1 consumes nothing and the
 * loop spins forever with the service thread stuck. Closing from inside that
 * loop is no way out either (the outer lws_read_h1 then uses the freed wsi).
 *
 * There is no public per-wsi view of the buflist, but
 * lws_service_adjust_timeout() answers 0 while any wsi of the thread has
 * buffered input it can process now; during LWS_CALLBACK_HTTP this wsi is
 * neither flow-controlled nor deferring, so buffered input of ours always
 * shows. Buffered input of another connection shows too: then we cannot
 * tell and assume the worst (the cost is one closed connection).
 */
static bool rx_pipelined(struct lws *wsi)
{
    return lws_service_adjust_timeout(lws_get_context(wsi), 1, lws_get_tsi(wsi)) == 0;
}

static int on_http(struct server *srv, struct lws *wsi, struct pss *pss)
{
    req_free(pss->req);
    pss->req = req_new(wsi);
    pss->close_after = false;
    pss->kind = PK_HTTP;
    pss->poll_final = 0;
    if (!pss->req)
        return -1;
    struct http_req *r = pss->req;
    const char *rest_path;
    r->is_rest = path_is(r->path, "/api", &rest_path);
    hcp_buf_init(&r->body, srv->cfg->max_body_bytes);
    bool has_cl = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0;
    bool body_method = r->method == HCP_METHOD_POST || r->method == HCP_METHOD_PUT ||
                       r->method == HCP_METHOD_PATCH;
    r->chunked = header_contains(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING, "chunked");
    if ((r->chunked || r->content_length > 0) && rx_pipelined(wsi))
        /* A pipelined request with a body (see rx_pipelined): lws cannot
         * deliver it. Leave it unanswered and close once the earlier
         * responses are flushed, which tells the client to retry it on a
         * new connection (RFC 9112 section 9.3.2). Not even a 413: the
         * unread body would make the close a reset that can lose it. */
        return -1;
    if (r->chunked) {
        /* lws 4.1 passes chunked bodies through undecoded and never sees
         * their end: decode here, answer on the last chunk, then close. */
        hcp_chunked_init(&r->dechunk);
        pss->close_after = true;
        return 0;
    }
    if (body_method && !has_cl) {
        /* No length and no chunking means no body (RFC 9112), but lws 4.1
         * waits for one: answer now and do not reuse the connection. */
        pss->close_after = true;
        return handle_request(srv, wsi, pss);
    }
    if (r->content_length > 0 || (has_cl && r->method == HCP_METHOD_POST)) {
        if (r->content_length > srv->cfg->max_body_bytes) {
            r->too_large = true;
            /* Drain a moderately large body so the client reads our 413;
             * hang up on anything absurd. */
            if (r->content_length > MAX_DISCARD_BYTES)
                return -1;
        }
        return 0; /* lws calls LWS_CALLBACK_HTTP_BODY_COMPLETION (also for POST with an
                     explicit Content-Length: 0) */
    }
    return handle_request(srv, wsi, pss);
}

static int on_http_body(struct server *srv, struct lws *wsi, struct pss *pss, const void *in,
                        size_t len)
{
    struct http_req *r = pss->req;
    if (!r)
        return 0; /* already answered; lws is discarding the rest */
    if (r->chunked) {
        size_t used = 0;
        int rc = hcp_chunked_decode(&r->dechunk, in, len, &r->body, &used);
        if (rc == 1)
            return handle_request(srv, wsi, pss);
        if (rc == HCP_ERR_TOO_LARGE) {
            r->too_large = true;
            return handle_request(srv, wsi, pss);
        }
        if (rc < 0)
            return respond_error(wsi, pss, 400, "Error.Request.Invalid",
                                 "Malformed chunked request body.", NULL);
        return 0;
    }
    if (r->too_large)
        return 0;
    if (hcp_buf_append(&r->body, in, len)) {
        r->too_large = true;
        hcp_buf_cleanup(&r->body);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* WebSocket transport                                                       */

static int reject_upgrade(struct lws *wsi, int status, const char *text, bool www_auth)
{
    uint8_t hb[LWS_PRE + 1024];
    uint8_t *start = hb + LWS_PRE, *p = start, *end = hb + sizeof hb - 1;
    size_t len = text ? strlen(text) : 0;
    if (lws_add_http_common_headers(wsi, (unsigned)status, len ? "text/plain" : NULL, len, &p,
                                    end))
        return -1;
    if (www_auth && add_hdr(wsi, "www-authenticate:", "Bearer", &p, end))
        return -1;
    if (len) {
        if ((size_t)(end - p) < len + 8)
            return -1;
        /* Headers are finalised by hand so the short body can follow in the
         * same write: the connection is closed right after. */
        if (lws_finalize_http_header(wsi, &p, end))
            return -1;
        memcpy(p, text, len);
        p += len;
        if (lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_HEADERS) < 0)
            return -1;
        return 1;
    }
    if (lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    return 1;
}

/*
 * Validate a WebSocket upgrade on /client/ (signalr-protocol.md section 4.2).
 * With `establish` false this runs from LWS_CALLBACK_HTTP_CONFIRM_UPGRADE and
 * may still answer with an HTTP status (lws has no user space yet there).
 * With `establish` true it runs from LWS_CALLBACK_ESTABLISHED (headers still
 * bound), creates the connection in skip-negotiate mode and attaches it.
 */
static int ws_upgrade(struct server *srv, struct lws *wsi, struct pss *pss, bool establish)
{
    struct http_req *r = req_new(wsi);
    if (!r)
        return -1;
    int rc = -1;
    const char *rest_path = NULL;
    if (!path_is(r->path, "/client", &rest_path) ||
        (strcmp(rest_path, "") && strcmp(rest_path, "/"))) {
        rc = establish ? -1 : reject_upgrade(wsi, 404, "Not Found", false);
        goto out;
    }
    const char *hub = req_param(r, "hub", NULL);
    const char *id = req_param(r, "id", NULL);
    struct hcs_principal who;
    const char *reason = NULL;
    if (!verify_token(srv, &srv->client_auth, r->token, &who, &reason)) {
        hcs_log(HCS_LOG_INFO, "ws", "status=401 reason=\"%s\"", reason);
        rc = establish ? -1 : reject_upgrade(wsi, 401, NULL, true);
        goto out;
    }
    struct hcs_conn *c = NULL;
    if (!id || !*id) {
        /* Skip-negotiate mode: the connection is created on the upgrade. */
        if (!hub || !hcp_rest_valid_hub(hub, strlen(hub))) {
            hcs_principal_cleanup(&who);
            rc = establish ? -1 : reject_upgrade(wsi, 400, "Connection ID required", false);
            goto out;
        }
        if (!(srv->cfg->transports & HCS_TRANSPORT_WEBSOCKETS)) {
            hcs_principal_cleanup(&who);
            rc = establish ? -1
                           : reject_upgrade(wsi, 404,
                                            "WebSockets transport not supported by this end "
                                            "point type", false);
            goto out;
        }
        if (!establish) {
            hcs_principal_cleanup(&who);
            rc = 0;
            goto out;
        }
        char cid[ID_CHARS];
        struct hcp_buf query;
        hcp_buf_init(&query, 0);
        if (random_id(cid) || rebuild_query(r, &query)) {
            hcs_principal_cleanup(&who);
            hcp_buf_cleanup(&query);
            goto out;
        }
        struct hcs_conn_params cp = {
            .hub = hub, .id = cid, .token = cid, .user_id = who.user_id, .claims = who.claims,
            .query = hcp_buf_cstr(&query), .transports = HCS_TRANSPORT_WEBSOCKETS,
            .close_at_ms = close_at_from_claims(who.claims),
        };
        who.claims = NULL;
        int err = hcs_core_conn_new(srv->core, &cp, now_ms(), &c);
        hcp_buf_cleanup(&query);
        hcs_principal_cleanup(&who);
        if (err) {
            hcs_log(HCS_LOG_WARN, "ws", "skip-negotiate connection refused: %s",
                    hcs_strerror(err));
            goto out;
        }
    } else {
        hcs_principal_cleanup(&who);
        c = hcs_core_conn_by_token(srv->core, id);
        if (!c || (hub && strcasecmp(hub, hcs_conn_hub(c)))) {
            rc = establish ? -1 : reject_upgrade(wsi, 404, "No Connection with that ID", false);
            goto out;
        }
        const char *text = NULL;
        int status = transport_check(srv, c, HCS_TRANSPORT_WEBSOCKETS, &text);
        if (status) {
            rc = establish ? -1 : reject_upgrade(wsi, status, text, false);
            goto out;
        }
        bool resume = hcs_conn_can_resume(c);
        if (hcs_conn_transport_handle(c) && !resume) {
            rc = establish ? -1 : reject_upgrade(wsi, 409, NULL, false);
            goto out;
        }
        if (!establish) {
            rc = 0;
            goto out;
        }
        if (resume) {
            /* Stateful reconnect: same token, no handshake; the core sends
             * Sequence and replays. A still-open old socket is replaced. */
            void *old = NULL;
            int err = hcs_core_conn_resume(srv->core, c, wsi, now_ms(), &old);
            if (err) {
                hcs_log(HCS_LOG_INFO, "ws", "conn=%s resume refused: %s", hcs_conn_id(c),
                        hcs_strerror(err));
                goto out;
            }
            if (old) {
                struct pss *op = lws_wsi_user(old);
                if (op)
                    op->conn = NULL;
                lws_set_timeout(old, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
            }
            pss->conn = c;
            hcs_log(HCS_LOG_INFO, "ws", "hub=%s conn=%s resumed replaced=%s", hcs_conn_hub(c),
                    hcs_conn_id(c), old ? "yes" : "no");
            rc = 0;
            goto out;
        }
    }
    int err = hcs_core_conn_attach(srv->core, c, HCS_TRANSPORT_WEBSOCKETS, wsi, now_ms());
    if (err) {
        hcs_log(HCS_LOG_INFO, "ws", "conn=%s attach refused: %s", hcs_conn_id(c),
                hcs_strerror(err));
        if (!id || !*id)
            hcs_core_conn_close(srv->core, c, NULL, false);
        goto out;
    }
    pss->conn = c;
    hcs_log(HCS_LOG_INFO, "ws", "hub=%s conn=%s connected", hcs_conn_hub(c), hcs_conn_id(c));
    rc = 0;
out:
    req_free(r);
    return rc;
}

static int on_ws_writeable(struct server *srv, struct lws *wsi, struct pss *pss)
{
    if (!pss->conn)
        return -1;
    uint8_t *out = NULL;
    size_t len = 0;
    switch (hcs_core_conn_output(srv->core, pss->conn, &out, &len, now_ms())) {
    case HCS_OUTPUT_NONE:
        return 0;
    case HCS_OUTPUT_DATA: {
        /* JSON in text frames, MessagePack (handshake answer included) in
         * binary frames (signalr-protocol.md sections 3, 4.2). */
        enum lws_write_protocol op = hcs_conn_protocol(pss->conn) == HCP_PROTOCOL_MSGPACK
                                         ? LWS_WRITE_BINARY
                                         : LWS_WRITE_TEXT;
        int n = lws_write(wsi, out, len, op);
        /* output_done asks the sink for another WRITEABLE if more is queued. */
        hcs_core_conn_output_done(srv->core, pss->conn);
        if (n < (int)len)
            return -1;
        return 0;
    }
    case HCS_OUTPUT_CLOSE:
    default:
        lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, (unsigned char *)"", 0);
        return -1;
    }
}

/* ------------------------------------------------------------------------ */
/* The lws protocol callback                                                 */

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct pss *pss = user;
    struct lws_vhost *vh = lws_get_vhost(wsi);
    struct server *srv = vh ? lws_get_vhost_user(vh) : NULL;
    if (!srv)
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    /* lws has no user space for connections that failed before their headers
     * were complete (oversized or malformed requests) and for the upgrade
     * confirmation: nothing of ours to touch then. */
    if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED) {
        hcs_backplane_poll(srv->backplane, now_ms());
        hcs_upstream_poll(srv->upstream, now_ms());
        return 0;
    }
    if (!pss && reason != LWS_CALLBACK_HTTP_CONFIRM_UPGRADE)
        return lws_callback_http_dummy(wsi, reason, user, in, len);

    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return on_http(srv, wsi, pss);
    case LWS_CALLBACK_HTTP_BODY:
        return on_http_body(srv, wsi, pss, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (!pss->req || pss->req->chunked)
            return 0;
        return handle_request(srv, wsi, pss);
    case LWS_CALLBACK_HTTP_WRITEABLE: {
        if (pss->kind == PK_SSE)
            return sse_writeable(srv, wsi, pss);
        if (pss->kind == PK_POLL)
            return poll_writeable(srv, wsi, pss);
        if (pss->resp.len <= LWS_PRE)
            return 0;
        size_t n = pss->resp.len - LWS_PRE;
        int w = lws_write(wsi, pss->resp.data + LWS_PRE, n, LWS_WRITE_HTTP_FINAL);
        hcp_buf_cleanup(&pss->resp);
        req_free(pss->req);
        pss->req = NULL;
        if (w < (int)n || pss->close_after)
            return -1;
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        if (!in || strcmp((const char *)in, "websocket"))
            return -1;
        return ws_upgrade(srv, wsi, NULL, false);
    case LWS_CALLBACK_TIMER:
        return poll_timeout(srv, wsi, pss);
    case LWS_CALLBACK_CLOSED_HTTP:
        if (pss->conn && pss->kind == PK_SSE) {
            const char *why = hcs_conn_close_reason(pss->conn);
            hcs_log(HCS_LOG_INFO, "sse", "hub=%s conn=%s disconnected reason=\"%s\"",
                    hcs_conn_hub(pss->conn), hcs_conn_id(pss->conn), why ? why : "-");
            hcs_core_conn_detach(srv->core, pss->conn, NULL);
        } else if (pss->conn && pss->kind == PK_POLL) {
            /* The client abandoned its poll: the connection waits for the
             * next one (or is reclaimed). */
            hcs_core_conn_release(srv->core, pss->conn, now_ms());
        }
        pss->conn = NULL;
        pss->kind = PK_HTTP;
        req_free(pss->req);
        pss->req = NULL;
        hcp_buf_cleanup(&pss->resp);
        return 0;
    case LWS_CALLBACK_ESTABLISHED:
        return ws_upgrade(srv, wsi, pss, true);
    case LWS_CALLBACK_RECEIVE:
        if (!pss->conn)
            return -1;
        hcs_core_conn_input(srv->core, pss->conn, in, len, now_ms());
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return on_ws_writeable(srv, wsi, pss);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        pss->peer_closed = true;
        return 0;
    case LWS_CALLBACK_CLOSED:
        if (pss->conn) {
            struct hcs_conn *c = pss->conn;
            pss->conn = NULL;
            if (!pss->peer_closed && hcs_conn_can_resume(c)) {
                /* An unclean drop of a stateful connection: kept for the
                 * reconnect window. */
                hcs_log(HCS_LOG_INFO, "ws", "hub=%s conn=%s dropped, waiting %llds for a resume",
                        hcs_conn_hub(c), hcs_conn_id(c),
                        (long long)srv->cfg->reconnect_window_s);
                (void)hcs_core_conn_drop(srv->core, c, now_ms());
            } else {
                const char *why = hcs_conn_close_reason(c);
                hcs_log(HCS_LOG_INFO, "ws", "hub=%s conn=%s disconnected reason=\"%s\"",
                        hcs_conn_hub(c), hcs_conn_id(c), why ? why : "-");
                hcs_core_conn_detach(srv->core, c, NULL);
            }
        }
        req_free(pss->req);
        pss->req = NULL;
        hcp_buf_cleanup(&pss->resp);
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/*
 * rx_buffer_size is lws's per-WebSocket receive buffer (malloc'd for every
 * connection when it is established): keep it small, the core reassembles
 * records across fragments anyway. 256 bytes: idle connections cost 0.26 KB
 * less than with 512 (docs/performance.md, "Idle footprint"); a larger
 * client message only arrives in more callbacks (lws parses byte by byte
 * either way). But lws 4.1.6 also caps each socket write
 * at tx_packet_size, or rx_buffer_size when that is 0 (core-net/output.c),
 * and buffers the rest for later POLLOUTs: tx_packet_size must cover the
 * core's coalesced write (max_write_bytes, 64 KiB) so it is one send().
 */
#define WS_RX_BUFFER_BYTES 256
#define WS_TX_PACKET_BYTES (64 * 1024)

static const struct lws_protocols PROTOCOLS[] = {
    {"hubcast", callback, sizeof(struct pss), WS_RX_BUFFER_BYTES, 0, NULL, WS_TX_PACKET_BYTES},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* ------------------------------------------------------------------------ */
/* Sink, timers, signals, lifecycle                                          */

/*
 * A connection the core is closing gets --close-timeout to write what is
 * left and its Close message. The close needs a writable socket, and a peer
 * that stopped reading with its socket buffers full never makes it writable
 * again: without a deadline the socket (and lws's buffered output) stayed
 * forever (backpressure.test.mjs, "socket stopped being writable").
 */
static void sink_want_write(void *sink_user, const char *conn_id, void *transport)
{
    struct server *srv = sink_user;
    (void)conn_id;
    if (!transport)
        return;
    struct lws *wsi = transport;
    struct pss *pss = lws_wsi_user(wsi);
    /* WebSockets and SSE streams; a long poll answers at once when its
     * connection closes, and its socket goes on serving the next request. */
    if (pss && pss->conn && pss->kind != PK_POLL && !pss->close_armed &&
        hcs_conn_is_closing(pss->conn)) {
        pss->close_armed = true;
        lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, (int)srv->cfg->close_timeout_s);
    }
    lws_callback_on_writable(wsi);
}

/* Called from the upstream worker thread: lws_cancel_service is the one lws
 * call that is safe from another thread. */
static void wake_loop(void *user)
{
    struct server *srv = user;
    lws_cancel_service(srv->ctx);
}

static void begin_shutdown(struct server *srv)
{
    if (srv->shutting_down)
        return;
    srv->shutting_down = true;
    srv->shutdown_deadline = now_ms() + SHUTDOWN_GRACE_MS;
    hcs_log(HCS_LOG_NOTICE, "server", "shutting down connections=%zu",
            hcs_core_conn_count(srv->core));
    hcs_core_shutdown(srv->core);
}

static void tick(lws_sorted_usec_list_t *sul)
{
    struct server *srv = lws_container_of(sul, struct server, sul);
    hcs_core_tick(srv->core, now_ms());
    hcs_backplane_poll(srv->backplane, now_ms());
    hcs_upstream_poll(srv->upstream, now_ms());
    lws_sul_schedule(srv->ctx, 0, &srv->sul, tick, srv->shutting_down ? 100 * LWS_US_PER_MS
                                                                       : LWS_US_PER_SEC);
}

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
    if (g_ctx)
        lws_cancel_service(g_ctx);
}

static bool is_any_address(const char *h)
{
    return !strcmp(h, "0.0.0.0") || !strcmp(h, "::") || !strcmp(h, "[::]") || !strcmp(h, "*");
}

/* lws binds to an IP literal or an interface name: resolve host names. */
static const char *resolve_host(const char *host, char *buf, size_t cap)
{
    unsigned char tmp[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, host, tmp) == 1 || inet_pton(AF_INET6, host, tmp) == 1)
        return host;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
        return host; /* maybe an interface name such as eth0 */
    const void *addr = res->ai_family == AF_INET6
                           ? (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr
                           : (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr;
    const char *r = inet_ntop(res->ai_family, addr, buf, (socklen_t)cap) ? buf : host;
    freeaddrinfo(res);
    return r;
}

int hcs_server_run(const struct hcs_config *cfg, FILE *out)
{
    struct server srv;
    memset(&srv, 0, sizeof srv);
    srv.cfg = cfg;
    srv.keys.keys = (const char *const *)cfg->access_keys;
    srv.keys.n_keys = cfg->n_access_keys;
    srv.client_auth.check_lifetime = cfg->check_token_lifetime;
    srv.client_auth.skew_s = cfg->token_skew_s;
    srv.client_auth.audience_path = cfg->strict_audience ? "/client/" : NULL;
    srv.rest_auth = srv.client_auth;
    srv.rest_auth.audience_path = cfg->strict_audience ? "/api/" : NULL;

    struct hcs_core_limits lim;
    hcs_core_limits_default(&lim);
    lim.max_message_bytes = cfg->max_message_bytes;
    lim.max_queue_bytes = cfg->max_queue_bytes;
    lim.max_connections = cfg->max_connections;
    lim.handshake_timeout_ms = cfg->handshake_timeout_s * 1000;
    lim.keepalive_ms = cfg->keepalive_s * 1000;
    lim.client_timeout_ms = cfg->client_timeout_s * 1000;
    lim.negotiate_timeout_ms = cfg->negotiate_timeout_s * 1000;
    lim.stateful_buffer_bytes = cfg->stateful_buffer_bytes;
    lim.reconnect_window_ms = cfg->reconnect_window_s * 1000;
    lim.headroom = LWS_PRE;
    struct hcs_sink_ops sink = {.want_write = sink_want_write};
    hcp_buf_init(&srv.scratch, 0);
    srv.core = hcs_core_new(&lim, &sink, &srv);
    if (!srv.core) {
        hcs_log(HCS_LOG_ERR, "server", "out of memory creating the core");
        return 1;
    }
    srv.rest_tokens = hcs_auth_cache_new(cfg->token_cache_slots);
    if (!srv.rest_tokens) {
        hcs_log(HCS_LOG_ERR, "server", "out of memory creating the token cache");
        hcs_core_free(srv.core);
        return 1;
    }

    hcs_log_route_lws();
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
    /* --tls-cert/--tls-key: lws initialises OpenSSL once for the context. */
    if (*cfg->tls_cert)
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.max_http_header_data = (unsigned short)cfg->max_header_bytes;
    info.max_http_header_pool = 256;
    info.timeout_secs = 20;
    srv.ctx = lws_create_context(&info);
    if (!srv.ctx) {
        hcs_log(HCS_LOG_ERR, "server", "cannot create the libwebsockets context");
        hcs_core_free(srv.core);
        hcs_auth_cache_free(srv.rest_tokens);
        return 1;
    }
    g_ctx = srv.ctx;
    srv.upstream = hcs_upstream_new(cfg, srv.core, wake_loop, &srv);
    if (!srv.upstream) {
        lws_context_destroy(srv.ctx);
        hcs_core_free(srv.core);
        hcs_auth_cache_free(srv.rest_tokens);
        return 1;
    }

    /* "localhost" binds the IPv4 and IPv6 loopback addresses (clients may
     * resolve either); an any-address binds everything; anything else is
     * passed to lws as an interface name or address. */
    const char *ifaces[2] = {NULL, NULL};
    char resolved[INET6_ADDRSTRLEN];
    int n_if = 1;
    if (!strcmp(cfg->host, "localhost")) {
        ifaces[0] = "127.0.0.1";
        ifaces[1] = "::1";
        n_if = 2;
    } else if (is_any_address(cfg->host)) {
        ifaces[0] = NULL;
    } else {
        ifaces[0] = resolve_host(cfg->host, resolved, sizeof resolved);
    }
    int port = cfg->port;
    int n_ok = 0;
    for (int i = 0; i < n_if; i++) {
        struct lws_context_creation_info vi;
        memset(&vi, 0, sizeof vi);
        vi.port = port;
        vi.iface = ifaces[i];
        vi.protocols = PROTOCOLS;
        vi.user = &srv;
        vi.vhost_name = i == 0 ? "hubcast" : "hubcast6";
        vi.keepalive_timeout = 30;
        if (cfg->reuse_port) /* SO_REUSEPORT: local nodes share the port */
            vi.options |= LWS_SERVER_OPTION_ALLOW_LISTEN_SHARE;
        if (*cfg->tls_cert) {
            /* lws 4.1 reads this option from the vhost's info as well. */
            vi.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
            vi.ssl_cert_filepath = cfg->tls_cert;
            vi.ssl_private_key_filepath = cfg->tls_key;
        }
        /* An IPv4 address (or 0.0.0.0) must not get lws's dual-stack socket. */
        if ((ifaces[i] && !strchr(ifaces[i], ':')) || !strcmp(cfg->host, "0.0.0.0"))
            vi.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
        struct lws_vhost *vh = lws_create_vhost(srv.ctx, &vi);
        if (!vh) {
            if (i == 0) {
                hcs_log(HCS_LOG_ERR, "server", "cannot listen on %s port %d", cfg->host, port);
                lws_context_destroy(srv.ctx);
                hcs_upstream_free(srv.upstream);
                hcs_core_free(srv.core);
                hcs_auth_cache_free(srv.rest_tokens);
                return 1;
            }
            hcs_log(HCS_LOG_INFO, "server", "IPv6 loopback unavailable; IPv4 only");
            continue;
        }
        if (i == 0) {
            port = lws_get_vhost_listen_port(vh);
            if (port <= 0) {
                /* lws creates a vhost even when the interface does not exist. */
                hcs_log(HCS_LOG_ERR, "server", "cannot listen on %s: no such address",
                        cfg->host);
                lws_context_destroy(srv.ctx);
                hcs_upstream_free(srv.upstream);
                hcs_core_free(srv.core);
                hcs_auth_cache_free(srv.rest_tokens);
                return 1;
            }
        }
        n_ok++;
    }
    srv.port = port;
    if (*cfg->redis_url &&
        !(srv.backplane = hcs_backplane_new(cfg, srv.core, wake_loop, &srv))) {
        lws_context_destroy(srv.ctx);
        hcs_upstream_free(srv.upstream);
        hcs_core_free(srv.core);
        hcs_auth_cache_free(srv.rest_tokens);
        return 1;
    }

    const char *shown_host = is_any_address(cfg->host) ? "localhost" : cfg->host;
    struct hcp_buf cs;
    hcp_buf_init(&cs, 0);
    int fmt_rc;
    if (*cfg->public_url) {
        snprintf(srv.base_url, sizeof srv.base_url, "%s", cfg->public_url);
        size_t bl = strlen(srv.base_url);
        while (bl && srv.base_url[bl - 1] == '/')
            srv.base_url[--bl] = '\0';
        fmt_rc = hcp_buf_appendf(&cs, "Endpoint=%s;AccessKey=%s;Version=1.0;", srv.base_url,
                                 cfg->access_keys[0]);
    } else {
        bool v6 = strchr(shown_host, ':') != NULL;
        snprintf(srv.base_url, sizeof srv.base_url, "%s://%s%s%s:%d",
                 *cfg->tls_cert ? "https" : "http", v6 ? "[" : "",
                 shown_host, v6 ? "]" : "", port);
        char hostpart[300];
        snprintf(hostpart, sizeof hostpart, "%s%s%s", v6 ? "[" : "", shown_host, v6 ? "]" : "");
        fmt_rc = hcp_connstr_format(&cs, *cfg->tls_cert ? "https" : "http", hostpart, port,
                                    cfg->access_keys[0]);
    }
    if (fmt_rc == 0) {
        fprintf(out, "%s\n", hcp_buf_cstr(&cs));
        fflush(out);
    }
    hcp_buf_cleanup(&cs);
    hcs_log(HCS_LOG_NOTICE, "server", "listening host=%s port=%d keys=%zu", cfg->host, port,
            cfg->n_access_keys);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    lws_sul_schedule(srv.ctx, 0, &srv.sul, tick, LWS_US_PER_SEC);
    while (!srv.done) {
        if (lws_service(srv.ctx, 0) < 0)
            break;
        if (g_stop && !srv.shutting_down) {
            begin_shutdown(&srv);
            lws_sul_schedule(srv.ctx, 0, &srv.sul, tick, 100 * LWS_US_PER_MS);
        }
        if (srv.shutting_down) {
            int64_t t = now_ms();
            if (hcs_core_conn_count(srv.core) == 0 || t > srv.shutdown_deadline) {
                size_t pending = hcs_upstream_pending(srv.upstream);
                if (pending == 0) {
                    srv.done = true;
                } else if (t > srv.shutdown_deadline + SHUTDOWN_UPSTREAM_GRACE_MS) {
                    hcs_log(HCS_LOG_WARN, "server",
                            "shutdown: upstream events of %zu connection(s) abandoned", pending);
                    srv.done = true;
                }
            }
        }
    }
    hcs_log(HCS_LOG_NOTICE, "server", "stopped");
    lws_sul_cancel(&srv.sul);
    g_ctx = NULL;
    /* The upstream worker may call wake() (lws_cancel_service) until it is
     * stopped: stop it while the context still exists. It unhooks itself from
     * the core, so the closes during the destroy dispatch nothing. The
     * backplane likewise (it also removes this node's registry). */
    hcs_backplane_free(srv.backplane);
    hcs_upstream_free(srv.upstream);
    lws_context_destroy(srv.ctx);
    hcs_core_free(srv.core);
    hcs_auth_cache_free(srv.rest_tokens);
    hcp_buf_cleanup(&srv.scratch);
    (void)n_ok;
    return 0;
}
