/*
 * libhubcast edge: the hc_client object, its driving loop and the three
 * transports. The only SDK code that touches libwebsockets, libcurl, the
 * clock and threads. Decisions live in the pure state machine (core/sm.c);
 * this file turns socket callbacks into events and performs the actions.
 *
 * Invariants
 * - One driving thread (inside hc_client_service() or the client's thread)
 *   owns the lws context, the curl multi handle and the state machine.
 * - `lock` guards what other threads touch: the outbound queue, handlers,
 *   pending calls, commands and the published state. User callbacks are never
 *   called with it held.
 * - Transport callbacks only append bytes and queue events; records are split
 *   and dispatched from pump(), outside lws/curl callbacks, so handlers may
 *   call any API and events keep their order (signalr-protocol.md §3: the
 *   handshake reply comes first, hub messages may follow in the same frame).
 * - Stale transports (an abandoned attempt) are recognised by pointer
 *   (wsi != c->wsi, req != c->sse …) and ignored.
 * - Hub protocol: JSON or MessagePack (signalr-protocol.md sections 5, 6).
 *   The handshake is JSON either way; afterwards MessagePack records are
 *   VarInt-framed, go in binary WebSocket frames and octet-stream bodies. The
 *   public API stays JSON text: arguments are converted with hcproto's
 *   JSON <-> MessagePack converters on the way out and decoded into the same
 *   cJSON trees as JSON on the way in.
 * - Stateful reconnect (section 9): once a version-2 handshake is sent, every
 *   trackable message queued goes through `seq` (numbered, kept until the
 *   server's Ack) under `lock`; while a dropped WebSocket is being resumed
 *   (`resuming`) such messages wait in `seq` only and are written after the
 *   Sequence record on the new socket.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hcp/client.h"
#include "hcp/common.h"
#include "hcp/json.h"
#include "hcp/msgpack.h"
#include "hcp/negotiate.h"
#include "hcp/text.h"

#include "../core/calls.h"
#include "../core/seq.h"
#include "../core/sm.h"
#include "hubcast.h"

#define MAX_HEADERS 32
#define MAX_EVENTS 64
#define USER_AGENT "libhubcast/1.1.0 (SignalR client)"

enum req_kind { REQ_NEGOTIATE, REQ_SSE, REQ_POLL, REQ_POST, REQ_DETACHED };

struct req {
    enum req_kind kind;
    struct hc_client *c;
    CURL *easy;
    struct curl_slist *hdrs;
    struct hcp_buf body;  /* response body (negotiate, poll) */
    struct hcp_buf data;  /* request body (POST) */
    long status;
    bool is_open;         /* SSE: 200 and headers done */
    bool is_first_poll;
    struct req *next;     /* list of all live requests */
};

struct queued_ev {
    enum hc__ev_type type; /* or EV_DATA */
    bool is_data;
    char error[HC__ERR_TEXT_MAX];
    bool has_error;
    bool allow_reconnect;
    unsigned transports[3];
    size_t n_transports;
    bool stateful; /* NEGOTIATED */
    bool is_drop;  /* TRANSPORT_CLOSED */
};

struct header {
    char *name;
    char *value;
};

struct hc_client {
    /* configuration: written only while Disconnected and not driven */
    char *base_url;
    char *static_token;
    hc_token_fn token_fn;
    void *token_user;
    struct header headers[MAX_HEADERS];
    size_t n_headers;
    unsigned transports;
    bool skip_negotiate;
    char *ca_file;
    bool tls_verify;
    uint32_t handshake_ms, server_timeout_ms, keepalive_ms, http_timeout_ms;
    struct hc__delays delays;
    hc_retry_fn retry_fn;
    void *retry_user;
    size_t max_message;
    hc_log_fn log_fn;
    void *log_user;
    enum hc_log_level log_level;
    hc_state_fn state_fn;
    void *state_user;
    enum hc_protocol protocol;
    bool stateful;         /* ask for stateful reconnect */
    size_t stateful_buffer;

    /* shared with other threads, under lock */
    pthread_mutex_t lock;
    enum hc_state pub_state;
    unsigned pub_transport;
    char conn_id[128];
    struct hcp_buf outq;
    struct hc__handlers handlers;
    struct hc__calls calls;
    bool cmd_start, cmd_stop;
    bool thread_running, thread_quit;
    pthread_t thread;
    struct hc__seq seq;    /* stateful reconnect bookkeeping */
    bool tracking;         /* the connection uses stateful reconnect */
    bool resuming;         /* the WebSocket is being reopened: sends wait in seq */

    /* driving thread only */
    struct hc__sm sm;
    struct lws_context *lws;
    struct lws *wsi;
    bool ws_connecting, ws_sync_failed;
    bool ws_close_req;
    bool ws_peer_close;  /* the server sent a Close frame */
    int ws_close_code;
    char ws_close_reason[128];
    struct hcp_buf ws_tx;
    lws_sorted_usec_list_t sul;
    CURLM *multi;
    struct req *reqs;    /* every live curl request */
    struct req *neg, *sse, *poll, *post;
    struct hcp_sse sse_parser;
    char *cur_url;
    char *cur_token;
    bool redirected;     /* cur_token came from a redirect */
    char *conn_token;
    unsigned transport;  /* transport of the current attempt */
    bool transport_up;
    bool handshake_done;
    bool input_closed;   /* a Close record arrived: ignore the rest */
    struct hcp_buf inbuf;
    struct queued_ev events[MAX_EVENTS];
    size_t ev_head, n_events;
    bool pumping;
    bool freeing;
};

/* ---- small helpers ----------------------------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void logf_(struct hc_client *c, enum hc_log_level level, const char *fmt, ...)
    HCP_PRINTF(3, 4);
static void logf_(struct hc_client *c, enum hc_log_level level, const char *fmt, ...)
{
    if (c->log_fn == NULL || level > c->log_level)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    c->log_fn(c->log_user, level, line);
}

static void replace_str(char **slot, const char *value)
{
    hcp_free(*slot);
    *slot = value ? hcp_strdup(value) : NULL;
}

static void wake(struct hc_client *c)
{
    if (c->lws)
        lws_cancel_service(c->lws);
    if (c->multi)
        curl_multi_wakeup(c->multi);
}

static void queue_event(struct hc_client *c, const struct queued_ev *ev)
{
    if (c->n_events == MAX_EVENTS) {
        logf_(c, HC_LOG_ERR, "event queue full; dropping event %d", (int)ev->type);
        return;
    }
    c->events[(c->ev_head + c->n_events) % MAX_EVENTS] = *ev;
    c->n_events++;
}

static void raise_ev(struct hc_client *c, enum hc__ev_type type, const char *error)
{
    struct queued_ev ev;
    memset(&ev, 0, sizeof ev);
    ev.type = type;
    if (error) {
        ev.has_error = true;
        snprintf(ev.error, sizeof ev.error, "%s", error);
    }
    queue_event(c, &ev);
}

static void raise_closed(struct hc_client *c, const char *error, bool is_drop)
{
    struct queued_ev ev;
    memset(&ev, 0, sizeof ev);
    ev.type = HC__EV_TRANSPORT_CLOSED;
    ev.is_drop = is_drop;
    if (error) {
        ev.has_error = true;
        snprintf(ev.error, sizeof ev.error, "%s", error);
    }
    queue_event(c, &ev);
}

static bool is_mp(const struct hc_client *c)
{
    return c->protocol == HC_PROTOCOL_MESSAGEPACK;
}

static void raise_data(struct hc_client *c)
{
    /* One marker is enough while one is queued and not yet handled. */
    for (size_t i = 0; i < c->n_events; i++)
        if (c->events[(c->ev_head + i) % MAX_EVENTS].is_data)
            return;
    struct queued_ev ev;
    memset(&ev, 0, sizeof ev);
    ev.is_data = true;
    queue_event(c, &ev);
}

static void set_pub_state(struct hc_client *c, enum hc_state s)
{
    pthread_mutex_lock(&c->lock);
    c->pub_state = s;
    c->pub_transport = s == HC_STATE_CONNECTED ? c->transport : 0;
    pthread_mutex_unlock(&c->lock);
}

static const char *app_token(struct hc_client *c)
{
    if (c->token_fn)
        return c->token_fn(c->token_user, c);
    return c->static_token;
}

/* Refresh the token before a negotiate/connect unless a redirect fixed it. */
static void refresh_token(struct hc_client *c)
{
    if (!c->redirected)
        replace_str(&c->cur_token, app_token(c));
}

/* ---- curl requests ----------------------------------------------------------------------- */

static void req_free(struct hc_client *c, struct req *r)
{
    if (r == NULL)
        return;
    for (struct req **pp = &c->reqs; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    if (c->neg == r)
        c->neg = NULL;
    if (c->sse == r)
        c->sse = NULL;
    if (c->poll == r)
        c->poll = NULL;
    if (c->post == r)
        c->post = NULL;
    if (r->easy) {
        curl_multi_remove_handle(c->multi, r->easy);
        curl_easy_cleanup(r->easy);
    }
    curl_slist_free_all(r->hdrs);
    hcp_buf_cleanup(&r->body);
    hcp_buf_cleanup(&r->data);
    hcp_free(r);
}

static size_t on_body(char *ptr, size_t size, size_t n, void *user)
{
    struct req *r = user;
    struct hc_client *c = r->c;
    size_t len = size * n;
    if (r->kind == REQ_SSE) {
        if (c->sse != r)
            return 0;
        if (hcp_sse_feed(&c->sse_parser, ptr, len, &c->inbuf) != HCP_OK) {
            logf_(c, HC_LOG_WARN, "sse: event too large or out of memory");
            return 0;
        }
        raise_data(c);
        return len;
    }
    if (hcp_buf_append(&r->body, ptr, len) != HCP_OK)
        return 0;
    return len;
}

static size_t on_header(char *ptr, size_t size, size_t n, void *user)
{
    struct req *r = user;
    size_t len = size * n;
    if (r->kind == REQ_SSE && (len == 2 && ptr[0] == '\r')) {
        long status = 0;
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
        if (status == 200 && !r->is_open && r->c->sse == r) {
            r->is_open = true;
            raise_ev(r->c, HC__EV_TRANSPORT_OPEN, NULL);
        }
    }
    return len;
}

static int add_header(struct curl_slist **list, const char *name, const char *value)
{
    char line[8192];
    int n = snprintf(line, sizeof line, "%s: %s", name, value);
    if (n < 0 || (size_t)n >= sizeof line)
        return HC_ERR_TOO_LARGE;
    struct curl_slist *l = curl_slist_append(*list, line);
    if (l == NULL)
        return HC_ERR_NOMEM;
    *list = l;
    return HC_OK;
}

/* A new request for url with the common headers; not yet added to the multi. */
static struct req *req_new(struct hc_client *c, enum req_kind kind, const char *url,
                           bool with_token)
{
    struct req *r = hcp_calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->kind = kind;
    r->c = c;
    hcp_buf_init(&r->body, c->max_message * 4 + 4096);
    hcp_buf_init(&r->data, 0);
    r->easy = curl_easy_init();
    if (r->easy == NULL)
        goto fail;
    int rc = add_header(&r->hdrs, "X-Requested-With", "XMLHttpRequest");
    if (rc == HC_OK && with_token && c->cur_token && *c->cur_token) {
        char auth[8200];
        snprintf(auth, sizeof auth, "Bearer %s", c->cur_token);
        rc = add_header(&r->hdrs, "Authorization", auth);
    }
    for (size_t i = 0; rc == HC_OK && i < c->n_headers; i++)
        rc = add_header(&r->hdrs, c->headers[i].name, c->headers[i].value);
    if (rc != HC_OK)
        goto fail;
    CURL *e = r->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_USERAGENT, USER_AGENT);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->http_timeout_ms);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (c->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
    if (!c->tls_verify) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    r->next = c->reqs;
    c->reqs = r;
    return r;
fail:
    if (r->easy)
        curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->hdrs);
    hcp_buf_cleanup(&r->body);
    hcp_free(r);
    return NULL;
}

static bool req_start(struct hc_client *c, struct req *r)
{
    curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->hdrs);
    if (curl_multi_add_handle(c->multi, r->easy) != CURLM_OK) {
        req_free(c, r);
        return false;
    }
    return true;
}

/* Build the transport URL: current URL + id=<token> (and extra param). */
static int transport_url(struct hc_client *c, struct hcp_buf *out, const char *extra_key,
                         const char *extra_value)
{
    struct hcp_buf tmp;
    hcp_buf_init(&tmp, 0);
    int rc = HCP_OK;
    const char *url = c->cur_url;
    if (c->conn_token) {
        rc = hcp_client_url_add_param(&tmp, url, "id", c->conn_token);
        url = hcp_buf_cstr(&tmp);
    }
    if (rc == HCP_OK && extra_key)
        rc = hcp_client_url_add_param(out, url, extra_key, extra_value);
    else if (rc == HCP_OK)
        rc = hcp_buf_append_str(out, url);
    hcp_buf_cleanup(&tmp);
    return rc;
}

/* ---- negotiate --------------------------------------------------------------------------- */

static void start_negotiate(struct hc_client *c)
{
    refresh_token(c);
    struct hcp_buf url;
    hcp_buf_init(&url, 0);
    if (hcp_client_negotiate_url(&url, c->cur_url, c->stateful) != HCP_OK) {
        hcp_buf_cleanup(&url);
        raise_ev(c, HC__EV_NEGOTIATE_FAILED, "Failed to build the negotiate URL.");
        return;
    }
    logf_(c, HC_LOG_DEBUG, "negotiate: POST %s", hcp_buf_cstr(&url));
    struct req *r = req_new(c, REQ_NEGOTIATE, hcp_buf_cstr(&url), true);
    hcp_buf_cleanup(&url);
    if (r == NULL || add_header(&r->hdrs, "Content-Type", "") != HC_OK) {
        req_free(c, r);
        raise_ev(c, HC__EV_NEGOTIATE_FAILED, "Out of memory.");
        return;
    }
    curl_easy_setopt(r->easy, CURLOPT_POST, 1L);
    curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE, 0L);
    curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, (long)c->http_timeout_ms);
    if (!req_start(c, r)) {
        raise_ev(c, HC__EV_NEGOTIATE_FAILED, "Failed to start the negotiate request.");
        return;
    }
    c->neg = r;
}

static void negotiate_done(struct hc_client *c, struct req *r, CURLcode res)
{
    char msg[HC__ERR_TEXT_MAX];
    if (res != CURLE_OK) {
        snprintf(msg, sizeof msg, "Failed to complete negotiation with the server: %s",
                 curl_easy_strerror(res));
        raise_ev(c, HC__EV_NEGOTIATE_FAILED, msg);
        return;
    }
    if (r->status != 200) {
        snprintf(msg, sizeof msg,
                 "Failed to complete negotiation with the server: Status code '%ld'", r->status);
        raise_ev(c, HC__EV_NEGOTIATE_FAILED, msg);
        return;
    }
    struct hcp_negotiate_result nr;
    const char *reason = NULL;
    int rc = hcp_client_negotiate_decode((const char *)r->body.data, r->body.len, &nr, &reason);
    if (rc != HCP_OK) {
        snprintf(msg, sizeof msg, "Failed to complete negotiation with the server: %s", reason);
        raise_ev(c, HC__EV_NEGOTIATE_FAILED, msg);
        return;
    }
    switch (nr.kind) {
    case HCP_NEGOTIATE_ERROR:
        raise_ev(c, HC__EV_NEGOTIATE_FAILED, nr.error);
        break;
    case HCP_NEGOTIATE_REDIRECT:
        logf_(c, HC_LOG_INFO, "negotiate: redirected to %s", nr.url);
        replace_str(&c->cur_url, nr.url);
        if (nr.access_token) {
            replace_str(&c->cur_token, nr.access_token);
            c->redirected = true;
        }
        raise_ev(c, c->cur_url ? HC__EV_REDIRECT : HC__EV_NEGOTIATE_FAILED,
                 c->cur_url ? NULL : "Out of memory.");
        break;
    case HCP_NEGOTIATE_OK: {
        replace_str(&c->conn_token, nr.connection_token);
        pthread_mutex_lock(&c->lock);
        snprintf(c->conn_id, sizeof c->conn_id, "%s", nr.connection_id ? nr.connection_id : "");
        pthread_mutex_unlock(&c->lock);
        struct queued_ev ev;
        memset(&ev, 0, sizeof ev);
        ev.type = HC__EV_NEGOTIATED;
        ev.n_transports = nr.n_transports;
        memcpy(ev.transports, nr.transports, sizeof ev.transports);
        ev.stateful = nr.stateful_reconnect;
        logf_(c, HC_LOG_INFO, "negotiate: connection %s, %zu transport(s)%s",
              nr.connection_id ? nr.connection_id : "?", nr.n_transports,
              nr.stateful_reconnect ? ", stateful reconnect" : "");
        queue_event(c, &ev);
        break;
    }
    }
    hcp_client_negotiate_cleanup(&nr);
}

/* ---- WebSockets (libwebsockets client) -------------------------------------------------- */

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len);

static const struct lws_protocols ws_protocols[] = {
    {"hubcast-client", ws_callback, 0, 65536, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void ws_write(struct hc_client *c, struct lws *wsi, int *out_rc)
{
    *out_rc = 0;
    pthread_mutex_lock(&c->lock);
    size_t n = c->outq.len;
    hcp_buf_reset(&c->ws_tx);
    int rc = n ? hcp_buf_append_zeros(&c->ws_tx, LWS_PRE) : HCP_OK;
    if (rc == HCP_OK && n)
        rc = hcp_buf_append(&c->ws_tx, c->outq.data, n);
    if (rc == HCP_OK)
        hcp_buf_reset(&c->outq);
    pthread_mutex_unlock(&c->lock);
    if (rc != HCP_OK) {
        *out_rc = -1;
        return;
    }
    if (n) {
        /* MessagePack records go in binary frames; the JSON handshake in a text one (§3). */
        bool text = !is_mp(c) || !c->handshake_done;
        int w = lws_write(wsi, c->ws_tx.data + LWS_PRE, n, text ? LWS_WRITE_TEXT : LWS_WRITE_BINARY);
        if (w < (int)n) {
            *out_rc = -1;
            return;
        }
        raise_ev(c, HC__EV_SENT, NULL);
        pthread_mutex_lock(&c->lock);
        bool more = c->outq.len > 0;
        pthread_mutex_unlock(&c->lock);
        if (more || c->ws_close_req)
            lws_callback_on_writable(wsi);
        return;
    }
    if (c->ws_close_req) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
        *out_rc = -1;
    }
}

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len)
{
    (void)user;
    struct hc_client *c = lws_context_user(lws_get_context(wsi));
    if (c == NULL)
        return 0;
    bool current = !c->freeing && (wsi == c->wsi || (c->ws_connecting && c->wsi == NULL));
    switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (c->wsi && !c->freeing) {
            pthread_mutex_lock(&c->lock);
            bool more = c->outq.len > 0;
            pthread_mutex_unlock(&c->lock);
            if ((more && c->transport_up) || c->ws_close_req)
                lws_callback_on_writable(c->wsi);
        }
        return 0;
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
        if (!current)
            return 0;
        unsigned char **p = in, *end = *p + len;
        if (c->cur_token && *c->cur_token) {
            char auth[8200];
            int n = snprintf(auth, sizeof auth, "Bearer %s", c->cur_token);
            if (lws_add_http_header_by_name(wsi, (const unsigned char *)"authorization:",
                                            (const unsigned char *)auth, n, p, end))
                return -1;
        }
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)"x-requested-with:",
                                        (const unsigned char *)"XMLHttpRequest", 14, p, end))
            return -1;
        for (size_t i = 0; i < c->n_headers; i++) {
            char name[256];
            snprintf(name, sizeof name, "%s:", c->headers[i].name);
            if (lws_add_http_header_by_name(wsi, (const unsigned char *)name,
                                            (const unsigned char *)c->headers[i].value,
                                            (int)strlen(c->headers[i].value), p, end))
                return -1;
        }
        return 0;
    }
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (current) {
            char msg[HC__ERR_TEXT_MAX];
            snprintf(msg, sizeof msg, "WebSocket failed to connect: %s",
                     in ? (const char *)in : "unknown error");
            c->wsi = NULL;
            if (c->ws_connecting)
                c->ws_sync_failed = true;
            raise_ev(c, HC__EV_TRANSPORT_FAILED, msg);
        }
        return 0;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        if (current) {
            c->ws_close_code = 0;
            c->ws_close_reason[0] = '\0';
            c->ws_peer_close = false;
            raise_ev(c, HC__EV_TRANSPORT_OPEN, NULL);
        }
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (!current)
            return -1;
        /* Fragments and batched records alike: the input is a stream split on 0x1E. */
        if (hcp_buf_append(&c->inbuf, in, len) != HCP_OK) {
            c->wsi = NULL;
            raise_ev(c, HC__EV_TRANSPORT_CLOSED, "The server sent a message larger than the limit.");
            return -1;
        }
        raise_data(c);
        return 0;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (current)
            c->ws_peer_close = true;
        if (current && len >= 2) {
            const unsigned char *b = in;
            c->ws_close_code = (b[0] << 8) | b[1];
            snprintf(c->ws_close_reason, sizeof c->ws_close_reason, "%.*s",
                     (int)(len - 2 < 120 ? len - 2 : 120), (const char *)b + 2);
        }
        return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE: {
        if (!current)
            return -1;
        int rc;
        ws_write(c, wsi, &rc);
        return rc;
    }
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (current) {
            char msg[HC__ERR_TEXT_MAX] = "";
            if (c->ws_close_code != 0 && c->ws_close_code != 1000 && c->ws_close_code != 1005)
                snprintf(msg, sizeof msg, "WebSocket closed with status code: %d (%s).",
                         c->ws_close_code, c->ws_close_reason);
            c->wsi = NULL;
            /* Ended without a Close frame either way: a drop, resumable (§9.5). */
            bool is_drop = !c->ws_peer_close && !c->ws_close_req;
            if (is_drop && !*msg)
                snprintf(msg, sizeof msg, "WebSocket closed without a Close frame.");
            raise_closed(c, *msg ? msg : NULL, is_drop);
        }
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        if (!c->freeing && wsi == c->wsi) {
            /* lws destroyed our connection without a close or error callback
             * we act on (some lws 4.1 paths during the client handshake, e.g.
             * a peer that accepts and closes at once). Never keep the dangling
             * pointer, and report the loss so the state machine moves on. */
            c->wsi = NULL;
            if (c->transport_up)
                raise_closed(c, "WebSocket connection lost.", true);
            else
                raise_ev(c, HC__EV_TRANSPORT_FAILED, "WebSocket failed to connect.");
        }
        return 0;
    default:
        return 0;
    }
}

static void open_ws(struct hc_client *c)
{
    struct hcp_buf url, ws;
    hcp_buf_init(&url, 0);
    hcp_buf_init(&ws, 0);
    struct hcp_url u;
    int rc = transport_url(c, &url, NULL, NULL);
    if (rc == HCP_OK)
        rc = hcp_client_ws_url(&ws, hcp_buf_cstr(&url));
    if (rc == HCP_OK)
        rc = hcp_client_url_parse(hcp_buf_cstr(&ws), &u);
    if (rc != HCP_OK) {
        hcp_buf_cleanup(&url);
        hcp_buf_cleanup(&ws);
        raise_ev(c, HC__EV_TRANSPORT_FAILED, "Invalid WebSocket URL.");
        return;
    }
    logf_(c, HC_LOG_DEBUG, "websockets: connecting to %s:%d", u.host, u.port);
    char path[4096], host[300];
    snprintf(path, sizeof path, "%.*s", (int)u.path.len, u.path.ptr);
    bool v6 = strchr(u.host, ':') != NULL;
    bool default_port = u.port == (u.is_tls ? 443 : 80);
    if (default_port)
        snprintf(host, sizeof host, "%s%s%s", v6 ? "[" : "", u.host, v6 ? "]" : "");
    else
        snprintf(host, sizeof host, "%s%s%s:%d", v6 ? "[" : "", u.host, v6 ? "]" : "", u.port);
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof ci);
    ci.context = c->lws;
    ci.address = u.host;
    ci.port = u.port;
    ci.path = path;
    ci.host = host;
    ci.origin = host;
    ci.protocol = NULL; /* no subprotocol (spec 4.2) */
    ci.local_protocol_name = ws_protocols[0].name;
    if (u.is_tls) {
        ci.ssl_connection = LCCSCF_USE_SSL;
        if (!c->tls_verify)
            ci.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
                                 LCCSCF_ALLOW_EXPIRED | LCCSCF_ALLOW_INSECURE;
    }
    c->ws_close_req = false;
    c->ws_peer_close = false;
    hcp_buf_reset(&c->inbuf);
    /* May call CLIENT_CONNECTION_ERROR synchronously (ws_sync_failed). */
    c->wsi = NULL;
    c->ws_connecting = true;
    c->ws_sync_failed = false;
    struct lws *w = lws_client_connect_via_info(&ci);
    c->ws_connecting = false;
    hcp_buf_cleanup(&url);
    hcp_buf_cleanup(&ws);
    if (c->ws_sync_failed) {
        c->wsi = NULL;
    } else if (w == NULL) {
        c->wsi = NULL;
        raise_ev(c, HC__EV_TRANSPORT_FAILED, "WebSocket failed to connect.");
    } else {
        c->wsi = w;
    }
}

static void close_ws(struct hc_client *c, bool graceful)
{
    if (c->wsi == NULL)
        return;
    if (graceful) {
        c->ws_close_req = true;
        lws_callback_on_writable(c->wsi);
    } else {
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
        c->wsi = NULL;
    }
}

/* ---- Server-Sent Events and long polling (libcurl) -------------------------------------- */

static void open_sse(struct hc_client *c)
{
    struct hcp_buf url;
    hcp_buf_init(&url, 0);
    int rc = transport_url(c, &url, c->cur_token && *c->cur_token ? "access_token" : NULL,
                           c->cur_token);
    struct req *r = rc == HCP_OK ? req_new(c, REQ_SSE, hcp_buf_cstr(&url), true) : NULL;
    hcp_buf_cleanup(&url);
    if (r == NULL || add_header(&r->hdrs, "Accept", "text/event-stream") != HC_OK ||
        add_header(&r->hdrs, "Cache-Control", "no-cache") != HC_OK) {
        req_free(c, r);
        raise_ev(c, HC__EV_TRANSPORT_FAILED, "Out of memory.");
        return;
    }
    hcp_sse_cleanup(&c->sse_parser);
    hcp_sse_init(&c->sse_parser, c->max_message + 1024);
    hcp_buf_reset(&c->inbuf);
    if (!req_start(c, r)) {
        raise_ev(c, HC__EV_TRANSPORT_FAILED, "Failed to start the SSE request.");
        return;
    }
    c->sse = r;
}

static void start_poll(struct hc_client *c, bool first)
{
    char stamp[32];
    snprintf(stamp, sizeof stamp, "%" PRId64, now_ms());
    struct hcp_buf url;
    hcp_buf_init(&url, 0);
    int rc = transport_url(c, &url, "_", stamp);
    struct req *r = rc == HCP_OK ? req_new(c, REQ_POLL, hcp_buf_cstr(&url), true) : NULL;
    hcp_buf_cleanup(&url);
    if (r == NULL) {
        raise_ev(c, first ? HC__EV_TRANSPORT_FAILED : HC__EV_TRANSPORT_CLOSED, "Out of memory.");
        return;
    }
    r->is_first_poll = first;
    /* The JS client's fixed 100 s request timeout; servers hold polls for <= 90 s. */
    curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, 100000L);
    if (!req_start(c, r)) {
        raise_ev(c, first ? HC__EV_TRANSPORT_FAILED : HC__EV_TRANSPORT_CLOSED,
                 "Failed to start the poll request.");
        return;
    }
    c->poll = r;
}

static void open_longpolling(struct hc_client *c)
{
    hcp_buf_reset(&c->inbuf);
    start_poll(c, true);
}

/* POST queued records (SSE and long polling, spec 4.3). */
static void kick_post(struct hc_client *c)
{
    if (c->post || !c->transport_up || (c->transport != HC_TRANSPORT_SSE &&
                                         c->transport != HC_TRANSPORT_LONGPOLLING))
        return;
    pthread_mutex_lock(&c->lock);
    bool empty = c->outq.len == 0;
    pthread_mutex_unlock(&c->lock);
    if (empty)
        return;
    struct hcp_buf url;
    hcp_buf_init(&url, 0);
    int rc = transport_url(c, &url, NULL, NULL);
    struct req *r = rc == HCP_OK ? req_new(c, REQ_POST, hcp_buf_cstr(&url), true) : NULL;
    hcp_buf_cleanup(&url);
    const char *ctype = is_mp(c) ? "application/octet-stream" : "text/plain;charset=UTF-8";
    if (r == NULL || add_header(&r->hdrs, "Content-Type", ctype) != HC_OK) {
        req_free(c, r);
        raise_ev(c, HC__EV_TRANSPORT_CLOSED, "Out of memory.");
        return;
    }
    pthread_mutex_lock(&c->lock);
    hcp_buf_cleanup(&r->data);
    r->data = c->outq;
    hcp_buf_init(&c->outq, r->data.max);
    pthread_mutex_unlock(&c->lock);
    curl_easy_setopt(r->easy, CURLOPT_POST, 1L);
    curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->data.data);
    curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE, (long)r->data.len);
    curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, (long)c->http_timeout_ms);
    if (!req_start(c, r)) {
        raise_ev(c, HC__EV_TRANSPORT_CLOSED, "Failed to start the POST request.");
        return;
    }
    c->post = r;
}

/* Fire-and-forget request (goodbye Close POST, long-polling DELETE). */
static void detached(struct hc_client *c, const char *method, const void *body, size_t len)
{
    struct hcp_buf url;
    hcp_buf_init(&url, 0);
    int rc = transport_url(c, &url, NULL, NULL);
    struct req *r = rc == HCP_OK ? req_new(c, REQ_DETACHED, hcp_buf_cstr(&url), true) : NULL;
    hcp_buf_cleanup(&url);
    if (r == NULL)
        return;
    if (body) {
        if (hcp_buf_append(&r->data, body, len) != HCP_OK ||
            add_header(&r->hdrs, "Content-Type", "text/plain;charset=UTF-8") != HC_OK) {
            req_free(c, r);
            return;
        }
        curl_easy_setopt(r->easy, CURLOPT_POST, 1L);
        curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->data.data);
        curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE, (long)r->data.len);
    } else {
        curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(r->easy, CURLOPT_NOBODY, 0L);
    }
    curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, 5000L);
    req_start(c, r);
}

static void close_http_transport(struct hc_client *c, bool graceful)
{
    if (graceful && c->transport_up && c->conn_token) {
        pthread_mutex_lock(&c->lock);
        struct hcp_buf q = c->outq;
        hcp_buf_init(&c->outq, q.max);
        pthread_mutex_unlock(&c->lock);
        if (q.len)
            detached(c, "POST", q.data, q.len);
        hcp_buf_cleanup(&q);
        if (c->transport == HC_TRANSPORT_LONGPOLLING)
            detached(c, "DELETE", NULL, 0);
    }
    req_free(c, c->sse);
    req_free(c, c->poll);
    req_free(c, c->post);
    if (graceful)
        raise_ev(c, HC__EV_TRANSPORT_CLOSED, NULL);
}

static void request_done(struct hc_client *c, struct req *r, CURLcode res)
{
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
    char msg[HC__ERR_TEXT_MAX];
    switch (r->kind) {
    case REQ_NEGOTIATE:
        if (c->neg == r) {
            c->neg = NULL;
            negotiate_done(c, r, res);
        }
        break;
    case REQ_SSE:
        if (c->sse != r)
            break;
        c->sse = NULL;
        if (!r->is_open) {
            snprintf(msg, sizeof msg, "%s",
                     res != CURLE_OK ? curl_easy_strerror(res) : "unexpected status");
            if (res == CURLE_OK)
                snprintf(msg, sizeof msg, "Server-Sent Events request failed: status %ld",
                         r->status);
            raise_ev(c, HC__EV_TRANSPORT_FAILED, msg);
        } else {
            snprintf(msg, sizeof msg, "Server-Sent Events stream ended%s%s.",
                     res != CURLE_OK ? ": " : "", res != CURLE_OK ? curl_easy_strerror(res) : "");
            raise_ev(c, HC__EV_TRANSPORT_CLOSED, msg);
        }
        break;
    case REQ_POLL:
        if (c->poll != r)
            break;
        c->poll = NULL;
        if (r->is_first_poll) {
            if (res == CURLE_OK && r->status == 200) {
                raise_ev(c, HC__EV_TRANSPORT_OPEN, NULL);
                start_poll(c, false);
            } else {
                snprintf(msg, sizeof msg, "Long polling failed: %s",
                         res != CURLE_OK ? curl_easy_strerror(res) : "unexpected status");
                if (res == CURLE_OK)
                    snprintf(msg, sizeof msg, "Long polling failed: status %ld", r->status);
                raise_ev(c, HC__EV_TRANSPORT_FAILED, msg);
            }
        } else if (res == CURLE_OPERATION_TIMEDOUT || (res == CURLE_OK && r->status == 200)) {
            if (r->body.len) {
                if (hcp_buf_append(&c->inbuf, r->body.data, r->body.len) != HCP_OK) {
                    raise_ev(c, HC__EV_TRANSPORT_CLOSED, "Poll response too large.");
                    break;
                }
                raise_data(c);
            }
            start_poll(c, false);
        } else if (res == CURLE_OK && r->status == 204) {
            raise_ev(c, HC__EV_TRANSPORT_CLOSED, NULL);
        } else {
            if (res != CURLE_OK)
                snprintf(msg, sizeof msg, "Long polling failed: %s", curl_easy_strerror(res));
            else
                snprintf(msg, sizeof msg, "Unexpected response code: %ld.", r->status);
            raise_ev(c, HC__EV_TRANSPORT_CLOSED, msg);
        }
        break;
    case REQ_POST:
        if (c->post != r)
            break;
        c->post = NULL;
        if (res == CURLE_OK && r->status == 200) {
            raise_ev(c, HC__EV_SENT, NULL);
        } else {
            if (res != CURLE_OK)
                snprintf(msg, sizeof msg, "Failed to send data: %s", curl_easy_strerror(res));
            else
                snprintf(msg, sizeof msg, "Failed to send data: status %ld", r->status);
            raise_ev(c, HC__EV_TRANSPORT_CLOSED, msg);
        }
        break;
    case REQ_DETACHED:
        break;
    }
    req_free(c, r);
}

static void curl_drain(struct hc_client *c)
{
    int running = 0;
    curl_multi_perform(c->multi, &running);
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(c->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct req *r = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        CURLcode res = m->data.result;
        if (r)
            request_done(c, r, res);
    }
}

/* ---- actions and input ------------------------------------------------------------------- */

static void fail_calls(struct hc_client *c, const char *error)
{
    pthread_mutex_lock(&c->lock);
    struct hc__call *all = hc__calls_take_all(&c->calls);
    pthread_mutex_unlock(&c->lock);
    for (struct hc__call *k = all; k; k = k->next)
        if (k->done)
            k->done(k->user, c, NULL, error);
    hc__calls_free_list(all);
}

static int map_buf_err(int rc)
{
    if (rc == HCP_ERR_TOO_LARGE)
        return HC_ERR_TOO_LARGE;
    if (rc == HCP_ERR_MALFORMED || rc == HCP_ERR_INVALID)
        return HC_ERR_INVALID;
    return HC_ERR_NOMEM;
}

/* Encoders of the client's hub protocol; each appends one framed record to b. */
static int enc_invocation(const struct hc_client *c, struct hcp_buf *b, const char *id,
                          const char *method, const char *args)
{
    size_t ml = strlen(method), al = strlen(args);
    return is_mp(c) ? hcp_msgpack_encode_invocation(b, id, method, ml, args, al)
                    : hcp_json_encode_invocation(b, id, method, ml, args, al);
}

static int enc_stream_invocation(const struct hc_client *c, struct hcp_buf *b, const char *id,
                                 const char *method, const char *args)
{
    return is_mp(c) ? hcp_msgpack_encode_stream_invocation(b, id, method, strlen(method), args,
                                                           strlen(args))
                    : hcp_client_encode_stream_invocation(b, id, method, args, strlen(args));
}

static int enc_cancel(const struct hc_client *c, struct hcp_buf *b, const char *id)
{
    return is_mp(c) ? hcp_msgpack_encode_cancel(b, id) : hcp_client_encode_cancel(b, id);
}

static int enc_completion(const struct hc_client *c, struct hcp_buf *b, const char *id,
                          const char *result, const char *error)
{
    size_t rl = result ? strlen(result) : 0;
    return is_mp(c) ? hcp_msgpack_encode_completion(b, id, result, rl, error)
                    : hcp_json_encode_completion(b, id, result, rl, error);
}

/*
 * Queue one encoded hub message (lock held). A trackable message of a
 * stateful connection is numbered and kept for replay first (seq.h); while
 * the WebSocket is being resumed it waits there only. HC_ERR_TOO_LARGE when
 * the send queue or the replay buffer is full; nothing is queued then.
 */
static int queue_locked(struct hc_client *c, const struct hcp_buf *rec, bool trackable)
{
    if (c->tracking && trackable) {
        int rc = hc__seq_push(&c->seq, rec->data, rec->len);
        if (rc != HC_OK || c->resuming)
            return rc;
        rc = hcp_buf_append(&c->outq, rec->data, rec->len);
        if (rc != HCP_OK) {
            hc__seq_unpush(&c->seq);
            return map_buf_err(rc);
        }
        return HC_OK;
    }
    if (c->resuming)
        return HC_OK; /* control records for a socket that is gone */
    int rc = hcp_buf_append(&c->outq, rec->data, rec->len);
    return rc == HCP_OK ? HC_OK : map_buf_err(rc);
}

enum control { CTL_PING, CTL_CLOSE, CTL_HANDSHAKE_V1, CTL_HANDSHAKE_V2 };

static void enqueue_control(struct hc_client *c, enum control kind)
{
    bool mp = is_mp(c);
    const char *proto = mp ? "messagepack" : "json";
    pthread_mutex_lock(&c->lock);
    int rc = HCP_OK;
    if (!c->resuming) {
        switch (kind) {
        case CTL_PING:
            rc = mp ? hcp_msgpack_encode_ping(&c->outq) : hcp_json_encode_ping(&c->outq);
            break;
        case CTL_CLOSE:
            rc = mp ? hcp_msgpack_encode_close(&c->outq, NULL, false)
                    : hcp_json_encode_close(&c->outq, NULL, false);
            break;
        case CTL_HANDSHAKE_V1:
        case CTL_HANDSHAKE_V2:
            /* Always JSON, whatever the hub protocol (§3). */
            rc = hcp_client_encode_handshake(&c->outq, proto, kind == CTL_HANDSHAKE_V2 ? 2 : 1);
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
    if (rc != HCP_OK)
        logf_(c, HC_LOG_WARN, "send queue full; dropping a control record");
    wake(c);
}

/* Resumed WebSocket (§9.7): our Sequence first, then every unacknowledged message in
 * order; what the app sent meanwhile is among them. Replaces whatever was queued. */
static void send_sequence(struct hc_client *c)
{
    pthread_mutex_lock(&c->lock);
    hcp_buf_reset(&c->outq);
    uint64_t from = hc__seq_resume_from(&c->seq);
    int rc = is_mp(c) ? hcp_msgpack_encode_sequence(&c->outq, from)
                      : hcp_json_encode_sequence(&c->outq, from);
    size_t n = 0;
    for (const struct hc__seq_msg *m = hc__seq_replay_head(&c->seq); m && rc == HCP_OK;
         m = m->next, n++)
        rc = hcp_buf_append(&c->outq, m->data, m->len);
    c->resuming = false;
    pthread_mutex_unlock(&c->lock);
    if (rc != HCP_OK) {
        raise_closed(c, "Could not queue the stateful reconnect replay.", false);
        return;
    }
    logf_(c, HC_LOG_NOTICE, "websockets: resumed; sequence %" PRIu64 ", %zu message(s) replayed",
          from, n);
    wake(c);
}

/* Acknowledge what was processed since the last Ack (§9.4). */
static void send_ack(struct hc_client *c)
{
    pthread_mutex_lock(&c->lock);
    uint64_t id;
    if (c->tracking && !c->resuming && hc__seq_ack_due(&c->seq, &id)) {
        int rc = is_mp(c) ? hcp_msgpack_encode_ack(&c->outq, id)
                          : hcp_json_encode_ack(&c->outq, id);
        if (rc == HCP_OK)
            hc__seq_rx_acked(&c->seq, id);
    }
    pthread_mutex_unlock(&c->lock);
    wake(c);
}

static void close_transport(struct hc_client *c, bool graceful)
{
    if (c->transport == HC_TRANSPORT_WEBSOCKETS)
        close_ws(c, graceful);
    else if (c->transport)
        close_http_transport(c, graceful);
    if (!graceful) {
        c->transport_up = false;
        hcp_buf_reset(&c->inbuf);
    }
}

static void perform(struct hc_client *c, const struct hc__out *out)
{
    unsigned a = out->actions;
    if (a & HC__ACT_CLOSE_TRANSPORT) {
        /* Graceful (flush the Close record, then close) only when no new attempt follows. */
        bool graceful = c->sm.phase == HC__PHASE_STOPPING || c->sm.phase == HC__PHASE_IDLE;
        if (!graceful || !(a & HC__ACT_SEND_CLOSE)) {
            /* Only a graceful stop flushes what the app queued before it. */
            pthread_mutex_lock(&c->lock);
            hcp_buf_reset(&c->outq);
            pthread_mutex_unlock(&c->lock);
        }
        if (a & HC__ACT_SEND_CLOSE)
            enqueue_control(c, CTL_CLOSE);
        close_transport(c, graceful);
        c->transport_up = false;
        c->input_closed = true;
    } else if (a & HC__ACT_SEND_CLOSE) {
        enqueue_control(c, CTL_CLOSE);
    }
    if (a & HC__ACT_FAIL_PENDING)
        fail_calls(c, out->fail_error);
    if (a & HC__ACT_STATE) {
        set_pub_state(c, out->state);
        logf_(c, out->error ? HC_LOG_WARN : HC_LOG_NOTICE, "state %s -> %s%s%s",
              hc_state_name(out->old_state), hc_state_name(out->state),
              out->error ? ": " : "", out->error ? out->error : "");
        if (out->state == HC_STATE_DISCONNECTED) {
            pthread_mutex_lock(&c->lock);
            c->conn_id[0] = '\0';
            pthread_mutex_unlock(&c->lock);
        }
        if (c->state_fn)
            c->state_fn(c->state_user, c, out->old_state, out->state, out->error);
    }
    if (a & HC__ACT_RESET_URL) {
        req_free(c, c->neg);
        replace_str(&c->cur_url, c->base_url);
        c->redirected = false;
        replace_str(&c->conn_token, NULL);
        pthread_mutex_lock(&c->lock);
        c->conn_id[0] = '\0';
        hcp_buf_reset(&c->outq);
        c->tracking = false;
        c->resuming = false;
        hc__seq_reset(&c->seq);
        pthread_mutex_unlock(&c->lock);
    }
    if (a & HC__ACT_NEGOTIATE)
        start_negotiate(c);
    if (a & HC__ACT_OPEN) {
        refresh_token(c);
        c->transport = out->transport;
        c->transport_up = false;
        c->handshake_done = false;
        c->input_closed = false;
        logf_(c, HC_LOG_INFO, "opening %s", hcp_client_transport_name(out->transport));
        if (out->transport == HC_TRANSPORT_WEBSOCKETS)
            open_ws(c);
        else if (out->transport == HC_TRANSPORT_SSE)
            open_sse(c);
        else
            open_longpolling(c);
    }
    if (a & HC__ACT_SEND_HANDSHAKE) {
        c->transport_up = true;
        bool v2 = out->handshake_version == 2;
        pthread_mutex_lock(&c->lock);
        c->tracking = v2;
        c->resuming = false;
        hc__seq_reset(&c->seq);
        pthread_mutex_unlock(&c->lock);
        enqueue_control(c, v2 ? CTL_HANDSHAKE_V2 : CTL_HANDSHAKE_V1);
    }
    if (a & HC__ACT_SEND_PING)
        enqueue_control(c, CTL_PING);
    if (a & HC__ACT_RESUME) {
        logf_(c, HC_LOG_NOTICE, "websockets: connection dropped; resuming (stateful reconnect)");
        pthread_mutex_lock(&c->lock);
        c->resuming = true;
        hc__seq_rx_resumed(&c->seq);
        pthread_mutex_unlock(&c->lock);
        refresh_token(c);
        c->transport_up = false;
        c->input_closed = false;
        open_ws(c);
    }
    if (a & HC__ACT_SEND_SEQUENCE) {
        c->transport_up = true;
        send_sequence(c);
    }
    if (a & HC__ACT_SEND_ACK)
        send_ack(c);
}

static void feed(struct hc_client *c, const struct hc__ev *ev)
{
    struct hc__out out;
    hc__sm_event(&c->sm, ev, now_ms(), &out);
    if (out.actions)
        perform(c, &out);
}

static void feed_ev(struct hc_client *c, enum hc__ev_type type, const char *error)
{
    struct hc__ev ev;
    memset(&ev, 0, sizeof ev);
    ev.type = type;
    ev.error = error;
    feed(c, &ev);
}

static void send_completion(struct hc_client *c, const char *id, const char *result,
                            const char *error)
{
    struct hcp_buf rec;
    hcp_buf_init(&rec, 0);
    int rc = enc_completion(c, &rec, id, result, error);
    if (rc == HCP_OK) {
        pthread_mutex_lock(&c->lock);
        rc = queue_locked(c, &rec, true);
        pthread_mutex_unlock(&c->lock);
    }
    hcp_buf_cleanup(&rec);
    if (rc != HCP_OK)
        logf_(c, HC_LOG_WARN, "could not queue the completion for invocation %s", id);
    wake(c);
}

static void dispatch_invocation(struct hc_client *c, const struct hcp_msg *m)
{
    struct hc__handler_ref refs[HC__MAX_HANDLERS_PER_CALL];
    pthread_mutex_lock(&c->lock);
    size_t n = hc__handlers_find(&c->handlers, m->target, refs, HC__MAX_HANDLERS_PER_CALL);
    pthread_mutex_unlock(&c->lock);
    bool expects = m->invocation_id != NULL && *m->invocation_id;
    if (n == 0) {
        logf_(c, HC_LOG_WARN, "no client method with the name '%s' found", m->target);
        if (expects)
            send_completion(c, m->invocation_id, NULL, HC__ERR_NO_RESULT);
        return;
    }
    struct hc_invocation inv;
    if (hc__invocation_init(&inv, m->target, m->arguments, expects) != HC_OK) {
        logf_(c, HC_LOG_ERR, "out of memory dispatching '%s'", m->target);
        if (expects)
            send_completion(c, m->invocation_id, NULL, "Out of memory.");
        return;
    }
    for (size_t i = 0; i < n; i++)
        refs[i].fn(refs[i].user, c, &inv);
    if (expects) {
        if (inv.result_json)
            send_completion(c, m->invocation_id, inv.result_json, NULL);
        else
            send_completion(c, m->invocation_id, NULL, inv.error ? inv.error : HC__ERR_NO_RESULT);
    }
    hc__invocation_cleanup(&inv);
}

static void dispatch_stream_item(struct hc_client *c, const struct hcp_msg *m)
{
    pthread_mutex_lock(&c->lock);
    struct hc__call *k = hc__calls_find(&c->calls, m->invocation_id);
    hc_item_fn fn = k && k->kind == HC__CALL_STREAM ? k->item : NULL;
    void *user = k ? k->user : NULL;
    pthread_mutex_unlock(&c->lock);
    if (fn == NULL)
        return;
    char *item = cJSON_PrintUnformatted(m->item);
    if (item) {
        fn(user, c, item);
        cJSON_free(item);
    }
}

static void dispatch_completion(struct hc_client *c, const struct hcp_msg *m)
{
    pthread_mutex_lock(&c->lock);
    struct hc__call *k = hc__calls_take(&c->calls, m->invocation_id);
    pthread_mutex_unlock(&c->lock);
    if (k == NULL)
        return;
    if (k->done) {
        if (m->error) {
            k->done(k->user, c, NULL, m->error);
        } else {
            char *res = m->result ? cJSON_PrintUnformatted(m->result) : NULL;
            k->done(k->user, c, res ? res : "null", NULL);
            if (res)
                cJSON_free(res);
        }
    }
    hc__calls_free_list(k);
}

/*
 * Stateful reconnect on receive (§9.8): honour the server's Ack and Sequence,
 * drop what a resumed socket sends before its Sequence and replayed
 * duplicates. Returns true when m should be dispatched; *out_tracked tells
 * whether it was a numbered message (an Ack becomes due).
 */
static bool sequencing(struct hc_client *c, const struct hcp_msg *m, bool *out_tracked)
{
    *out_tracked = false;
    if (!c->tracking)
        return true;
    bool bad = false, dispatch = false;
    pthread_mutex_lock(&c->lock);
    if (m->type == HCP_MSG_SEQUENCE) {
        bad = !m->has_sequence_id || m->sequence_id < 1 ||
              hc__seq_rx_sequence(&c->seq, (uint64_t)m->sequence_id) != HC_OK;
    } else if (m->type == HCP_MSG_ACK) {
        if (m->has_sequence_id && m->sequence_id > 0)
            hc__seq_on_ack(&c->seq, (uint64_t)m->sequence_id);
    } else {
        dispatch = hc__seq_rx_message(&c->seq, m->type) == HC__SEQ_PROCESS;
        *out_tracked = dispatch && hc__seq_is_trackable(m->type);
    }
    pthread_mutex_unlock(&c->lock);
    if (bad) {
        /* The JS client's text; the connection ends (ordinary reconnect may follow). */
        hcp_buf_reset(&c->inbuf);
        c->input_closed = true;
        feed_ev(c, HC__EV_TRANSPORT_CLOSED,
                "Sequence ID greater than amount of messages we've received.");
    }
    return dispatch;
}

static void process_input(struct hc_client *c)
{
    while (!c->input_closed && c->inbuf.len > 0) {
        size_t rec_len = 0, off = 0;
        int n;
        /* The handshake reply is a JSON record even with MessagePack (§3); then VarInt
         * framing (§6). */
        bool mp = is_mp(c) && c->handshake_done;
        if (mp)
            n = hcp_msgpack_record_next(c->inbuf.data, c->inbuf.len, c->max_message, &off,
                                        &rec_len);
        else
            n = hcp_json_record_next(c->inbuf.data, c->inbuf.len, c->max_message, &rec_len);
        if (n == HCP_ERR_INCOMPLETE)
            return;
        if (n < 0) {
            hcp_buf_reset(&c->inbuf);
            feed_ev(c, HC__EV_TRANSPORT_CLOSED,
                    n == HCP_ERR_TOO_LARGE ? "The server sent a message larger than the limit."
                                           : "Invalid message from the server: bad length prefix");
            return;
        }
        const uint8_t *rec = c->inbuf.data + off;
        if (!c->handshake_done) {
            char err[HC__ERR_TEXT_MAX];
            int rc = hcp_client_handshake_decode((const char *)rec, rec_len, err, sizeof err);
            hcp_buf_consume(&c->inbuf, (size_t)n);
            if (c->sm.phase != HC__PHASE_HANDSHAKING)
                continue;
            if (rc == HCP_OK) {
                c->handshake_done = true;
                logf_(c, HC_LOG_INFO, "handshake complete on %s (%s%s)",
                      hcp_client_transport_name(c->transport), is_mp(c) ? "messagepack" : "json",
                      c->tracking ? ", stateful reconnect" : "");
                feed_ev(c, HC__EV_HANDSHAKE_OK, NULL);
            } else {
                char msg[HC__ERR_TEXT_MAX + 64];
                snprintf(msg, sizeof msg, "Server returned handshake error: %s", err);
                feed_ev(c, HC__EV_HANDSHAKE_FAILED, msg);
            }
            continue;
        }
        struct hcp_msg m;
        const char *reason = NULL;
        int rc = mp ? hcp_msgpack_msg_decode(rec, rec_len, &m, &reason)
                    : hcp_json_msg_decode((const char *)rec, rec_len, &m, &reason);
        hcp_buf_consume(&c->inbuf, (size_t)n);
        if (rc != HCP_OK) {
            char msg[HC__ERR_TEXT_MAX];
            snprintf(msg, sizeof msg, "Invalid message from the server: %s", reason);
            hcp_buf_reset(&c->inbuf);
            feed_ev(c, HC__EV_TRANSPORT_CLOSED, msg);
            return;
        }
        bool tracked = false;
        bool dispatch = sequencing(c, &m, &tracked);
        struct hc__ev rx;
        memset(&rx, 0, sizeof rx);
        rx.type = HC__EV_RECEIVED;
        rx.is_trackable = tracked;
        feed(c, &rx);
        bool control = m.type == HCP_MSG_SEQUENCE || m.type == HCP_MSG_ACK;
        logf_(c, HC_LOG_DEBUG, "received %s%s", hcp_msg_type_name(m.type),
              dispatch || control ? "" : " (dropped)");
        if (!dispatch || c->input_closed) {
            hcp_msg_cleanup(&m);
            continue;
        }
        switch (m.type) {
        case HCP_MSG_INVOCATION:
            dispatch_invocation(c, &m);
            break;
        case HCP_MSG_STREAM_ITEM:
            dispatch_stream_item(c, &m);
            break;
        case HCP_MSG_COMPLETION:
            dispatch_completion(c, &m);
            break;
        case HCP_MSG_CLOSE: {
            c->input_closed = true;
            struct hc__ev ev;
            memset(&ev, 0, sizeof ev);
            ev.type = HC__EV_CLOSE_MESSAGE;
            ev.error = m.error;
            ev.allow_reconnect = m.allow_reconnect;
            feed(c, &ev);
            break;
        }
        default:
            break; /* Ping, Ack, Sequence and unknown types */
        }
        hcp_msg_cleanup(&m);
    }
}

/* Handle commands from other threads, then every queued event, in order. */
static void pump(struct hc_client *c)
{
    if (c->pumping)
        return;
    c->pumping = true;
    for (;;) {
        pthread_mutex_lock(&c->lock);
        bool start = c->cmd_start, stop = c->cmd_stop;
        c->cmd_start = c->cmd_stop = false;
        pthread_mutex_unlock(&c->lock);
        if (start)
            feed_ev(c, HC__EV_START, NULL);
        if (stop)
            feed_ev(c, HC__EV_STOP, NULL);
        if (c->n_events == 0) {
            if (hc__sm_next_deadline(&c->sm) <= now_ms()) {
                feed_ev(c, HC__EV_TICK, NULL);
                if (c->n_events == 0 && hc__sm_next_deadline(&c->sm) <= now_ms())
                    break;
                continue;
            }
            break;
        }
        struct queued_ev q = c->events[c->ev_head];
        c->ev_head = (c->ev_head + 1) % MAX_EVENTS;
        c->n_events--;
        if (q.is_data) {
            process_input(c);
            continue;
        }
        struct hc__ev ev;
        memset(&ev, 0, sizeof ev);
        ev.type = q.type;
        ev.error = q.has_error ? q.error : NULL;
        ev.allow_reconnect = q.allow_reconnect;
        ev.transports = q.transports;
        ev.n_transports = q.n_transports;
        ev.stateful = q.stateful;
        ev.is_drop = q.is_drop;
        feed(c, &ev);
    }
    kick_post(c);
    if (c->wsi && c->transport_up) {
        pthread_mutex_lock(&c->lock);
        bool more = c->outq.len > 0;
        pthread_mutex_unlock(&c->lock);
        if (more)
            lws_callback_on_writable(c->wsi);
    }
    c->pumping = false;
}

/* ---- the loop ---------------------------------------------------------------------------- */

static void sul_wake(lws_sorted_usec_list_t *sul)
{
    (void)sul; /* only ends lws_service()'s wait */
}

static bool curl_busy(struct hc_client *c)
{
    return c->reqs != NULL;
}

static void service_once(struct hc_client *c, int timeout_ms)
{
    pump(c);
    int64_t now = now_ms();
    int64_t wait = timeout_ms < 0 ? 0 : timeout_ms;
    int64_t dl = hc__sm_next_deadline(&c->sm);
    if (dl != INT64_MAX)
        wait = dl - now < wait ? (dl - now < 0 ? 0 : dl - now) : wait;
    if (c->n_events > 0)
        wait = 0;
    bool busy_http = curl_busy(c);
    bool busy_ws = c->wsi != NULL;
    if (busy_http) {
        if (busy_ws && wait > 5)
            wait = 5;
        int numfds = 0;
        curl_multi_poll(c->multi, NULL, 0, (int)wait, &numfds);
        curl_drain(c);
        if (c->lws)
            lws_service(c->lws, -1);
    } else if (c->lws == NULL) {
        int numfds = 0;
        curl_multi_poll(c->multi, NULL, 0, (int)wait, &numfds);
    } else {
        lws_sul_schedule(c->lws, 0, &c->sul, sul_wake, (lws_usec_t)wait * 1000);
        lws_service(c->lws, wait == 0 ? -1 : 0);
        lws_sul_cancel(&c->sul);
        if (c->reqs)
            curl_drain(c);
    }
    pump(c);
}

int hc_client_service(hc_client *c, int timeout_ms)
{
    if (c == NULL)
        return HC_ERR_INVALID;
    pthread_mutex_lock(&c->lock);
    bool threaded = c->thread_running;
    pthread_mutex_unlock(&c->lock);
    if (threaded && !pthread_equal(pthread_self(), c->thread))
        return HC_ERR_STATE;
    service_once(c, timeout_ms);
    return HC_OK;
}

static void *thread_main(void *arg)
{
    struct hc_client *c = arg;
    int64_t quit_deadline = INT64_MAX;
    for (;;) {
        service_once(c, 1000);
        pthread_mutex_lock(&c->lock);
        bool quit = c->thread_quit;
        enum hc_state st = c->pub_state;
        pthread_mutex_unlock(&c->lock);
        if (quit) {
            if (quit_deadline == INT64_MAX)
                quit_deadline = now_ms() + 1000;
            if (st == HC_STATE_DISCONNECTED || now_ms() >= quit_deadline)
                break;
        }
    }
    return NULL;
}

int hc_client_start_thread(hc_client *c)
{
    if (c == NULL)
        return HC_ERR_INVALID;
    pthread_mutex_lock(&c->lock);
    if (c->thread_running) {
        pthread_mutex_unlock(&c->lock);
        return HC_ERR_STATE;
    }
    c->thread_quit = false;
    c->thread_running = true;
    int rc = pthread_create(&c->thread, NULL, thread_main, c);
    if (rc != 0)
        c->thread_running = false;
    pthread_mutex_unlock(&c->lock);
    return rc == 0 ? HC_OK : HC_ERR_THREAD;
}

int hc_client_stop_thread(hc_client *c)
{
    if (c == NULL)
        return HC_ERR_INVALID;
    pthread_mutex_lock(&c->lock);
    if (!c->thread_running) {
        pthread_mutex_unlock(&c->lock);
        return HC_ERR_STATE;
    }
    if (c->pub_state != HC_STATE_DISCONNECTED)
        c->cmd_stop = true;
    c->thread_quit = true;
    pthread_mutex_unlock(&c->lock);
    wake(c);
    pthread_join(c->thread, NULL);
    pthread_mutex_lock(&c->lock);
    c->thread_running = false;
    pthread_mutex_unlock(&c->lock);
    return HC_OK;
}

/* ---- lifetime ---------------------------------------------------------------------------- */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    /* libwebsockets logs to stderr by default; the SDK never prints (process-wide). */
    lws_set_log_level(0, NULL);
}

unsigned hc_version(void)
{
    return HC_VERSION;
}

const char *hc_version_string(void)
{
    return "1.1.0";
}

const char *hc_strerror(int err)
{
    switch (err) {
    case HC_OK:
        return "success";
#define HC_ERR_STR_(name, value, desc)                                                             \
    case value:                                                                                    \
        return desc;
        HC_ERR_MAP(HC_ERR_STR_)
#undef HC_ERR_STR_
    default:
        return "unknown error";
    }
}

const char *hc_state_name(enum hc_state s)
{
    switch (s) {
    case HC_STATE_DISCONNECTED:
        return "Disconnected";
    case HC_STATE_CONNECTING:
        return "Connecting";
    case HC_STATE_CONNECTED:
        return "Connected";
    case HC_STATE_RECONNECTING:
        return "Reconnecting";
    case HC_STATE_DISCONNECTING:
        return "Disconnecting";
    }
    return "Unknown";
}

static int create_lws(struct hc_client *c)
{
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = ws_protocols;
    info.gid = -1;
    info.uid = -1;
    info.user = c;
    info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.client_ssl_ca_filepath = c->ca_file;
    info.fd_limit_per_thread = 64;
    c->lws = lws_create_context(&info);
    return c->lws ? HC_OK : HC_ERR_INTERNAL;
}

hc_client *hc_client_new(const char *url)
{
    pthread_once(&global_once, global_init);
    struct hcp_url u;
    if (url == NULL || hcp_client_url_parse(url, &u) != HCP_OK)
        return NULL;
    struct hc_client *c = hcp_calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    if (pthread_mutex_init(&c->lock, NULL) != 0) {
        hcp_free(c);
        return NULL;
    }
    c->base_url = hcp_strdup(url);
    if (c->base_url == NULL)
        goto fail;
    c->transports = HC_TRANSPORT_ALL;
    c->tls_verify = true;
    c->handshake_ms = 15000;
    c->server_timeout_ms = 30000;
    c->keepalive_ms = 15000;
    c->http_timeout_ms = 100000;
    c->delays.n = 4;
    c->delays.ms[0] = 0;
    c->delays.ms[1] = 2000;
    c->delays.ms[2] = 10000;
    c->delays.ms[3] = 30000;
    c->max_message = 1024 * 1024;
    c->log_level = HC_LOG_NOTICE;
    hcp_buf_init(&c->outq, c->max_message);
    hcp_buf_init(&c->inbuf, c->max_message * 2 + 16);
    hcp_buf_init(&c->ws_tx, 0);
    hcp_sse_init(&c->sse_parser, c->max_message + 1024);
    c->stateful_buffer = HC__SEQ_DEFAULT_BUFFER;
    hc__seq_init(&c->seq, c->stateful_buffer);
    c->multi = curl_multi_init();
    if (c->multi == NULL)
        goto fail;
    return c;
fail:
    hcp_free(c->base_url);
    pthread_mutex_destroy(&c->lock);
    hcp_free(c);
    return NULL;
}

static void init_sm(struct hc_client *c)
{
    struct hc__sm_config cfg = {
        .transports = c->transports,
        .skip_negotiate = c->skip_negotiate,
        .handshake_timeout_ms = c->handshake_ms,
        .server_timeout_ms = c->server_timeout_ms,
        .keepalive_ms = c->keepalive_ms,
        .stop_timeout_ms = 1000,
        .retry = c->retry_fn ? c->retry_fn : hc__retry_delays,
        .retry_user = c->retry_fn ? c->retry_user : &c->delays,
        .binary = is_mp(c),
        .stateful = c->stateful,
    };
    if (!c->retry_fn && c->delays.n == 0)
        cfg.retry = NULL;
    hc__sm_init(&c->sm, &cfg);
}

void hc_client_free(hc_client *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    bool threaded = c->thread_running;
    pthread_mutex_unlock(&c->lock);
    if (threaded)
        hc_client_stop_thread(c);
    if (c->lws && c->sm.phase != HC__PHASE_IDLE) {
        hc_client_stop(c);
        int64_t until = now_ms() + 1000;
        while (c->sm.phase != HC__PHASE_IDLE && now_ms() < until)
            service_once(c, 50);
    }
    /* Let fire-and-forget requests (goodbye POST, DELETE) finish, briefly. */
    int64_t until = now_ms() + 2000;
    while (c->reqs && now_ms() < until)
        service_once(c, 50);
    fail_calls(c, HC__ERR_STOPPED);
    c->freeing = true;
    while (c->reqs)
        req_free(c, c->reqs);
    if (c->lws)
        lws_context_destroy(c->lws);
    curl_multi_cleanup(c->multi);
    hc__handlers_clear(&c->handlers);
    for (size_t i = 0; i < c->n_headers; i++) {
        hcp_free(c->headers[i].name);
        hcp_free(c->headers[i].value);
    }
    hcp_free(c->base_url);
    hcp_free(c->static_token);
    hcp_free(c->ca_file);
    hcp_free(c->cur_url);
    hcp_free(c->cur_token);
    hcp_free(c->conn_token);
    hcp_buf_cleanup(&c->outq);
    hcp_buf_cleanup(&c->inbuf);
    hcp_buf_cleanup(&c->ws_tx);
    hcp_sse_cleanup(&c->sse_parser);
    hc__seq_cleanup(&c->seq);
    pthread_mutex_destroy(&c->lock);
    hcp_free(c);
}

/* ---- configuration ----------------------------------------------------------------------- */

/* Setters run only while Disconnected and not driven by a thread. */
static int config_check(struct hc_client *c)
{
    if (c == NULL)
        return HC_ERR_INVALID;
    pthread_mutex_lock(&c->lock);
    bool ok = c->pub_state == HC_STATE_DISCONNECTED && !c->cmd_start && !c->thread_running &&
              c->sm.phase == HC__PHASE_IDLE;
    pthread_mutex_unlock(&c->lock);
    return ok ? HC_OK : HC_ERR_STATE;
}

static int set_string(struct hc_client *c, char **slot, const char *value)
{
    int rc = config_check(c);
    if (rc != HC_OK)
        return rc;
    char *copy = NULL;
    if (value && (copy = hcp_strdup(value)) == NULL)
        return HC_ERR_NOMEM;
    hcp_free(*slot);
    *slot = copy;
    return HC_OK;
}

int hc_client_set_access_token(hc_client *c, const char *token)
{
    return c ? set_string(c, &c->static_token, token) : HC_ERR_INVALID;
}

int hc_client_set_token_fn(hc_client *c, hc_token_fn fn, void *user)
{
    int rc = config_check(c);
    if (rc == HC_OK) {
        c->token_fn = fn;
        c->token_user = user;
    }
    return rc;
}

static bool header_text_ok(const char *s, bool is_name)
{
    if (s == NULL || (is_name && *s == '\0'))
        return false;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '\r' || ch == '\n' || (is_name && (ch == ':' || ch <= ' ')))
            return false;
    }
    return true;
}

int hc_client_add_header(hc_client *c, const char *name, const char *value)
{
    int rc = config_check(c);
    if (rc != HC_OK)
        return rc;
    if (!header_text_ok(name, true) || !header_text_ok(value, false) ||
        strlen(name) > 200 || strlen(value) > 4096)
        return HC_ERR_INVALID;
    if (c->n_headers == MAX_HEADERS)
        return HC_ERR_TOO_LARGE;
    char *n = hcp_strdup(name), *v = hcp_strdup(value);
    if (!n || !v) {
        hcp_free(n);
        hcp_free(v);
        return HC_ERR_NOMEM;
    }
    c->headers[c->n_headers].name = n;
    c->headers[c->n_headers].value = v;
    c->n_headers++;
    return HC_OK;
}

int hc_client_set_transports(hc_client *c, unsigned mask)
{
    int rc = config_check(c);
    if (rc != HC_OK)
        return rc;
    if (mask == 0 || (mask & ~HC_TRANSPORT_ALL))
        return HC_ERR_INVALID;
    c->transports = mask;
    return HC_OK;
}

int hc_client_set_skip_negotiate(hc_client *c, bool skip)
{
    int rc = config_check(c);
    if (rc == HC_OK)
        c->skip_negotiate = skip;
    return rc;
}

int hc_client_set_ca_file(hc_client *c, const char *path)
{
    if (c == NULL)
        return HC_ERR_INVALID;
    int rc = set_string(c, &c->ca_file, path);
    if (rc == HC_OK && c->lws) {
        /* The lws client TLS context is built at context creation: rebuild it. */
        lws_context_destroy(c->lws);
        c->lws = NULL;
    }
    return rc;
}

int hc_client_set_tls_verify(hc_client *c, bool verify)
{
    int rc = config_check(c);
    if (rc == HC_OK)
        c->tls_verify = verify;
    return rc;
}

static bool below(uint32_t v, uint32_t min)
{
    return v < min;
}

#define TIMEOUT_SETTER(fn, field, min)                                                             \
    int fn(hc_client *c, uint32_t ms)                                                              \
    {                                                                                              \
        int rc = config_check(c);                                                                  \
        if (rc != HC_OK)                                                                           \
            return rc;                                                                             \
        if (below(ms, (min)))                                                                      \
            return HC_ERR_INVALID;                                                                 \
        c->field = ms;                                                                             \
        return HC_OK;                                                                              \
    }
TIMEOUT_SETTER(hc_client_set_handshake_timeout, handshake_ms, 1)
TIMEOUT_SETTER(hc_client_set_server_timeout, server_timeout_ms, 0)
TIMEOUT_SETTER(hc_client_set_keepalive_interval, keepalive_ms, 0)
TIMEOUT_SETTER(hc_client_set_http_timeout, http_timeout_ms, 1)

int hc_client_set_reconnect_delays(hc_client *c, const uint32_t *delays_ms, size_t n)
{
    int rc = config_check(c);
    if (rc != HC_OK)
        return rc;
    if (n > HC__MAX_DELAYS || (n > 0 && delays_ms == NULL))
        return HC_ERR_INVALID;
    for (size_t i = 0; i < n; i++)
        c->delays.ms[i] = delays_ms[i];
    c->delays.n = n;
    return HC_OK;
}

int hc_client_set_reconnect_policy(hc_client *c, hc_retry_fn fn, void *user)
{
    int rc = config_check(c);
    if (rc == HC_OK) {
        c->retry_fn = fn;
        c->retry_user = user;
    }
    return rc;
}

int hc_client_set_max_message_size(hc_client *c, size_t bytes)
{
    int rc = config_check(c);
    if (rc != HC_OK)
        return rc;
    if (bytes < 1024 || bytes > (size_t)1 << 30)
        return HC_ERR_INVALID;
    c->max_message = bytes;
    c->outq.max = bytes;
    c->inbuf.max = bytes * 2 + 16;
    return HC_OK;
}

int hc_client_set_log_fn(hc_client *c, hc_log_fn fn, void *user, enum hc_log_level level)
{
    int rc = config_check(c);
    if (rc == HC_OK) {
        c->log_fn = fn;
        c->log_user = user;
        c->log_level = level;
    }
    return rc;
}

int hc_client_set_protocol(hc_client *c, enum hc_protocol protocol)
{
    int rc = config_check(c);
    if (rc != HC_OK)
        return rc;
    if (protocol != HC_PROTOCOL_JSON && protocol != HC_PROTOCOL_MESSAGEPACK)
        return HC_ERR_INVALID;
    c->protocol = protocol;
    return HC_OK;
}

int hc_client_set_stateful_reconnect(hc_client *c, bool enable)
{
    int rc = config_check(c);
    if (rc == HC_OK)
        c->stateful = enable;
    return rc;
}

int hc_client_set_stateful_reconnect_buffer(hc_client *c, size_t bytes)
{
    int rc = config_check(c);
    if (rc != HC_OK)
        return rc;
    if (bytes < 1024 || bytes > (size_t)1 << 30)
        return HC_ERR_INVALID;
    c->stateful_buffer = bytes;
    return HC_OK;
}

int hc_client_set_state_fn(hc_client *c, hc_state_fn fn, void *user)
{
    int rc = config_check(c);
    if (rc == HC_OK) {
        c->state_fn = fn;
        c->state_user = user;
    }
    return rc;
}

/* ---- connection -------------------------------------------------------------------------- */

int hc_client_start(hc_client *c)
{
    int rc = config_check(c);
    if (rc != HC_OK)
        return rc;
    if (c->skip_negotiate && c->transports != HC_TRANSPORT_WEBSOCKETS)
        return HC_ERR_INVALID;
    /* MessagePack needs a binary transport: Server-Sent Events alone cannot carry it. */
    if (is_mp(c) && (c->transports & ~(unsigned)HC_TRANSPORT_SSE) == 0)
        return HC_ERR_INVALID;
    /* The replay of a resumed socket goes through the send queue too. */
    c->outq.max = c->max_message + (c->stateful ? c->stateful_buffer : 0);
    c->seq.max_bytes = c->stateful_buffer;
    if (c->lws == NULL && (rc = create_lws(c)) != HC_OK)
        return rc;
    init_sm(c);
    pthread_mutex_lock(&c->lock);
    c->cmd_start = true;
    c->pub_state = HC_STATE_CONNECTING;
    pthread_mutex_unlock(&c->lock);
    wake(c);
    return HC_OK;
}

int hc_client_stop(hc_client *c)
{
    if (c == NULL)
        return HC_ERR_INVALID;
    pthread_mutex_lock(&c->lock);
    if (c->cmd_start) {
        /* Never started: cancel. */
        c->cmd_start = false;
        c->pub_state = HC_STATE_DISCONNECTED;
    } else if (c->pub_state != HC_STATE_DISCONNECTED) {
        c->cmd_stop = true;
    }
    pthread_mutex_unlock(&c->lock);
    wake(c);
    return HC_OK;
}

enum hc_state hc_client_state(hc_client *c)
{
    if (c == NULL)
        return HC_STATE_DISCONNECTED;
    pthread_mutex_lock(&c->lock);
    enum hc_state s = c->pub_state;
    pthread_mutex_unlock(&c->lock);
    return s;
}

int hc_client_connection_id(hc_client *c, char *buf, size_t cap)
{
    if (c == NULL || buf == NULL || cap == 0)
        return HC_ERR_INVALID;
    pthread_mutex_lock(&c->lock);
    size_t n = strlen(c->conn_id);
    int rc = n < cap ? HC_OK : HC_ERR_TOO_LARGE;
    if (rc == HC_OK)
        memcpy(buf, c->conn_id, n + 1);
    pthread_mutex_unlock(&c->lock);
    return rc;
}

unsigned hc_client_transport(hc_client *c)
{
    if (c == NULL)
        return 0;
    pthread_mutex_lock(&c->lock);
    unsigned t = c->pub_transport;
    pthread_mutex_unlock(&c->lock);
    return t;
}

/* ---- hub methods ------------------------------------------------------------------------- */

int hc_client_on(hc_client *c, const char *method, hc_handler_fn fn, void *user)
{
    if (c == NULL)
        return HC_ERR_INVALID;
    pthread_mutex_lock(&c->lock);
    int rc = hc__handlers_add(&c->handlers, method, fn, user);
    pthread_mutex_unlock(&c->lock);
    return rc;
}

int hc_client_off(hc_client *c, const char *method, hc_handler_fn fn)
{
    if (c == NULL || method == NULL)
        return HC_ERR_INVALID;
    pthread_mutex_lock(&c->lock);
    size_t n = hc__handlers_remove(&c->handlers, method, fn);
    pthread_mutex_unlock(&c->lock);
    return n ? HC_OK : HC_ERR_NOT_FOUND;
}

static int check_call(const char *method, const char **args)
{
    if (method == NULL || *method == '\0' ||
        !hcp_utf8_valid((const uint8_t *)method, strlen(method)))
        return HC_ERR_INVALID;
    if (*args == NULL)
        *args = "[]";
    if (!hcp_client_args_valid(*args, strlen(*args)))
        return HC_ERR_INVALID;
    return HC_OK;
}

static int call(hc_client *c, enum hc__call_kind kind, bool fire_and_forget, const char *method,
                const char *args, hc_item_fn item, hc_result_fn done, void *user,
                uint64_t *out_id)
{
    if (c == NULL)
        return HC_ERR_INVALID;
    int rc = check_call(method, &args);
    if (rc != HC_OK)
        return rc;
    pthread_mutex_lock(&c->lock);
    if (c->pub_state != HC_STATE_CONNECTED) {
        pthread_mutex_unlock(&c->lock);
        return HC_ERR_NOT_CONNECTED;
    }
    struct hc__call *k = NULL;
    if (!fire_and_forget) {
        k = hc__calls_add(&c->calls, kind, done, item, user);
        if (k == NULL) {
            pthread_mutex_unlock(&c->lock);
            return HC_ERR_NOMEM;
        }
    }
    struct hcp_buf rec;
    hcp_buf_init(&rec, 0);
    if (kind == HC__CALL_STREAM)
        rc = enc_stream_invocation(c, &rec, k->id_str, method, args);
    else
        rc = enc_invocation(c, &rec, k ? k->id_str : NULL, method, args);
    rc = rc == HCP_OK ? queue_locked(c, &rec, true) : map_buf_err(rc);
    hcp_buf_cleanup(&rec);
    if (rc != HC_OK) {
        if (k)
            hc__calls_free_list(hc__calls_take_id(&c->calls, k->id));
        pthread_mutex_unlock(&c->lock);
        return rc;
    }
    if (k && out_id)
        *out_id = k->id;
    pthread_mutex_unlock(&c->lock);
    wake(c);
    return HC_OK;
}

int hc_client_send(hc_client *c, const char *method, const char *args_json)
{
    return call(c, HC__CALL_INVOKE, true, method, args_json, NULL, NULL, NULL, NULL);
}

int hc_client_invoke(hc_client *c, const char *method, const char *args_json, hc_result_fn fn,
                     void *user)
{
    if (fn == NULL)
        return HC_ERR_INVALID;
    return call(c, HC__CALL_INVOKE, false, method, args_json, NULL, fn, user, NULL);
}

int hc_client_stream(hc_client *c, const char *method, const char *args_json, hc_item_fn item_fn,
                     hc_result_fn done_fn, void *user, uint64_t *out_stream_id)
{
    if (item_fn == NULL || done_fn == NULL)
        return HC_ERR_INVALID;
    return call(c, HC__CALL_STREAM, false, method, args_json, item_fn, done_fn, user,
                out_stream_id);
}

int hc_client_stream_cancel(hc_client *c, uint64_t stream_id)
{
    if (c == NULL)
        return HC_ERR_INVALID;
    pthread_mutex_lock(&c->lock);
    struct hc__call *k = hc__calls_take_id(&c->calls, stream_id);
    int rc = HC_ERR_NOT_FOUND;
    if (k) {
        rc = HC_OK;
        if (c->pub_state == HC_STATE_CONNECTED) {
            struct hcp_buf rec;
            hcp_buf_init(&rec, 0);
            if (enc_cancel(c, &rec, k->id_str) != HCP_OK || queue_locked(c, &rec, true) != HC_OK)
                rc = HC_ERR_TOO_LARGE;
            hcp_buf_cleanup(&rec);
        }
        hc__calls_free_list(k);
    }
    pthread_mutex_unlock(&c->lock);
    wake(c);
    return rc;
}
