/*
 * hcb_server: see server.h.
 *
 * Routes (iot-bridge-and-client.md sections 2.1, 3 and 7):
 *   GET|HEAD /api/health             200 when ready (MQTT subscribed if configured)
 *   GET      /api/stats              counters
 *   GET|POST /api/negotiate          {url, accessToken} for SignalR clients
 *   POST     /api/events             canonical / batch / Event Grid events
 *   POST     /devices/{id}[/modules/{m}]/messages/events   IoT Hub device HTTPS API
 *   GET      /devices/{id}/messages/deviceBound            204 (no cloud-to-device)
 *   OPTIONS  *                       CORS preflight
 *   GET|HEAD anything else           --static files
 *
 * lws 4.1 cannot list unknown request headers (the device API's
 * `iothub-app-*` properties), so the listener is an lws raw-socket vhost and
 * requests are parsed by hcb_http_parse_head; bodies are framed by
 * Content-Length or decoded with hcp_chunked_decode. Requests on one
 * connection are answered in order; every answer is built whole and written
 * from LWS_CALLBACK_RAW_WRITEABLE, one lws_write per callback.
 */
#include "server.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libwebsockets.h>
#include <signal.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "action.h"
#include "auth.h"
#include "event.h"
#include "hcp/connstr.h"
#include "hcp/http.h"
#include "hcp/rest.h"
#include "hcp/text.h"
#include "httpreq.h"
#include "idtoken.h"
#include "iothub.h"
#include "log.h"
#include "mqtt.h"
#include "plugin.h"
#include "restout.h"
#include "rules.h"
#include "sas.h"
#include "seq.h"

#define MAX_HEAD 16384
#define MAX_STATIC_FILE (16u << 20)
#define WRITE_CHUNK 16384
#define MAX_PARTITIONS 100000
#define IDLE_TIMEOUT_S 60

struct bridge {
    const struct hcb_config *cfg;
    struct hcp_connstr cs;
    char client_base[HCP_CONNSTR_FIELD_MAX];
    char rest_base[HCP_CONNSTR_FIELD_MAX];
    struct lws_context *ctx;
    struct hcb_restout *out;
    struct hcb_mqtt *mqtt;
    struct hcb_plugin *plugin;
    struct hcb_rules *rules;
    struct hcb_registry *registry;
    struct hcb_seq *seq;
    struct hcb_limits lim;
    size_t max_body;
    /* Counters (loop thread only). */
    uint64_t received, rejected, transform_failed, actions, action_errors, mqtt_bad;
};

struct conn {
    struct hcp_buf in;
    struct hcp_buf out;
    size_t out_off;
    bool in_body;
    char *head_copy;
    struct hcb_http_head head;
    bool chunked;
    struct hcp_chunked dech;
    size_t need;
    struct hcp_buf body;
    bool close_after;
    bool keep_alive;
};

static volatile sig_atomic_t g_stop;
static struct lws_context *g_ctx;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
    if (g_ctx)
        lws_cancel_service(g_ctx);
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool str_is(struct hcp_str s, const char *lit)
{
    return s.ptr && s.len == strlen(lit) && !memcmp(s.ptr, lit, s.len);
}

static void conn_reset_request(struct conn *c)
{
    hcp_free(c->head_copy);
    c->head_copy = NULL;
    hcp_buf_cleanup(&c->body);
    c->in_body = false;
    c->chunked = false;
    c->need = 0;
}

/* ------------------------------------------------------------------------ */
/* Responses                                                                 */

static const char *reason_phrase(int s)
{
    switch (s) {
    case 100: return "Continue";
    case 200: return "OK";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
    }
}

static bool origin_allowed(const struct bridge *b, struct hcp_str origin)
{
    const char *list = b->cfg->cors_origins;
    if (!origin.ptr || !origin.len)
        return false;
    if (!strcmp(list, "*"))
        return true;
    return hcp_list_contains_ci(list, origin.ptr, origin.len);
}

/* Queue a whole response. `extra` holds ready "Name: value\r\n" lines. */
static void respond(struct bridge *b, struct conn *c, int status, const char *ctype,
                    const void *body, size_t len, const char *extra)
{
    const struct hcb_http_head *h = &c->head;
    bool head_only = str_is(h->method, "HEAD");
    struct hcp_buf *o = &c->out;
    int rc = hcp_buf_appendf(o, "HTTP/1.1 %d %s\r\n", status, reason_phrase(status));
    const struct hcp_str *origin = hcb_http_header(h, "origin");
    if (!rc && origin && origin_allowed(b, *origin))
        rc = hcp_buf_append_str(o, "Access-Control-Allow-Origin: ") ||
             hcp_buf_append(o, origin->ptr, origin->len) ||
             hcp_buf_append_str(o, "\r\nAccess-Control-Allow-Credentials: true\r\n"
                                   "Vary: Origin\r\n");
    if (!rc && ctype && len)
        rc = hcp_buf_appendf(o, "Content-Type: %s\r\n", ctype);
    if (!rc && extra)
        rc = hcp_buf_append_str(o, extra);
    if (!rc)
        rc = hcp_buf_appendf(o, "Content-Length: %zu\r\nConnection: %s\r\n\r\n", len,
                             c->keep_alive ? "keep-alive" : "close");
    if (!rc && len && !head_only)
        rc = hcp_buf_append(o, body, len);
    if (rc) {
        hcb_log(HCB_LOG_ERR, "http", "cannot build a response (out of memory)");
        c->close_after = true;
    }
    if (!c->keep_alive)
        c->close_after = true;
}

static void respond_json(struct bridge *b, struct conn *c, int status, const cJSON *j)
{
    char *txt = cJSON_PrintUnformatted(j);
    if (!txt) {
        respond(b, c, 500, NULL, NULL, 0, NULL);
        return;
    }
    respond(b, c, status, "application/json", txt, strlen(txt), NULL);
    cJSON_free(txt);
}

static void respond_error(struct bridge *b, struct conn *c, int status, const char *msg)
{
    struct hcp_buf j;
    hcp_buf_init(&j, 0);
    if (hcp_buf_append_str(&j, "{\"error\":") || hcp_json_append_string(&j, msg, strlen(msg)) ||
        hcp_buf_append_byte(&j, '}')) {
        hcp_buf_cleanup(&j);
        respond(b, c, 500, NULL, NULL, 0, NULL);
        return;
    }
    respond(b, c, status, "application/json", j.data, j.len, NULL);
    hcp_buf_cleanup(&j);
}

/* ------------------------------------------------------------------------ */
/* Transform and output                                                      */

static void dispatch(struct bridge *b, cJSON *actions)
{
    const cJSON *a;
    cJSON_ArrayForEach(a, actions)
    {
        struct hcb_rest_call call;
        const char *why = NULL;
        if (hcb_action_to_rest(a, b->cfg->hub, &call, &why)) {
            b->action_errors++;
            hcb_log(HCB_LOG_WARN, "transform", "invalid action dropped reason=\"%s\"", why);
            continue;
        }
        b->actions++;
        if (hcb_restout_enqueue(b->out, &call))
            hcb_log(HCB_LOG_WARN, "rest", "output queue full; action dropped");
    }
}

static void transform(struct bridge *b, cJSON *const *evs, size_t n)
{
    cJSON *actions = cJSON_CreateArray();
    if (!actions) {
        b->transform_failed++;
        return;
    }
    if (b->plugin) {
        if (hcb_plugin_run(b->plugin, evs, n, actions)) {
            b->transform_failed++;
            cJSON_Delete(actions);
            return;
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            if (b->rules) {
                if (hcb_rules_apply(b->rules, evs[i], actions) < 0)
                    b->transform_failed++;
            } else {
                cJSON *a = hcb_event_default_action(evs[i]);
                if (a)
                    cJSON_AddItemToArray(actions, a);
                else
                    b->transform_failed++;
            }
        }
    }
    dispatch(b, actions);
    cJSON_Delete(actions);
}

/* Stamp every event of `batch` (taken), then run the transform over it in
 * slices of --max-batch-events. Returns 0, or -1 when stamping failed (too
 * many devices / memory): nothing is sent then. */
static int ingest(struct bridge *b, cJSON *batch, const char *auth_type)
{
    int64_t now = wall_ms();
    size_t n = (size_t)cJSON_GetArraySize(batch);
    cJSON **evs = hcp_calloc(n ? n : 1, sizeof *evs);
    if (!evs) {
        cJSON_Delete(batch);
        return -1;
    }
    size_t i = 0;
    cJSON *ev;
    cJSON_ArrayForEach(ev, batch)
    {
        int64_t seq = 0, off = 0;
        if (hcb_seq_next(b->seq, hcb_event_device_id(ev), &seq, &off) ||
            hcb_event_stamp(ev, now, seq, off, auth_type)) {
            hcb_log(HCB_LOG_ERR, "ingest", "cannot stamp an event (device table full or OOM)");
            hcp_free(evs);
            cJSON_Delete(batch);
            return -1;
        }
        evs[i++] = ev;
    }
    b->received += n;
    size_t step = (size_t)b->cfg->max_batch_events;
    for (size_t s = 0; s < n; s += step)
        transform(b, evs + s, n - s < step ? n - s : step);
    hcp_free(evs);
    cJSON_Delete(batch);
    return 0;
}

static void drain_mqtt(struct bridge *b)
{
    if (!b->mqtt)
        return;
    struct hcb_mqtt_msg *m = hcb_mqtt_take(b->mqtt, NULL);
    cJSON *batch = NULL;
    while (m) {
        struct hcb_mqtt_msg *next = m->next;
        cJSON *props = NULL, *sys = NULL, *ev = NULL;
        const char *why = NULL;
        int rc = hcb_iothub_parse_topic(m->topic, strlen(m->topic), &props, &sys, &why);
        if (!rc)
            rc = hcb_event_from_device(m->payload, m->len, props, sys, &b->lim, &ev, &why);
        if (rc) {
            b->mqtt_bad++;
            hcb_log(HCB_LOG_WARN, "mqtt", "message refused reason=\"%s\" bytes=%zu", why, m->len);
        } else {
            if (!batch)
                batch = cJSON_CreateArray();
            if (batch)
                cJSON_AddItemToArray(batch, ev);
            else
                cJSON_Delete(ev);
        }
        hcb_mqtt_msg_free(m);
        m = next;
    }
    if (batch && ingest(b, batch, "broker"))
        b->rejected++;
}

/* ------------------------------------------------------------------------ */
/* Handlers                                                                  */

static void h_preflight(struct bridge *b, struct conn *c)
{
    char extra[1024];
    const struct hcp_str *rh = hcb_http_header(&c->head, "access-control-request-headers");
    int n = 0;
    if (rh && rh->len < 600)
        n = snprintf(extra, sizeof extra, "Access-Control-Allow-Headers: %.*s\r\n", (int)rh->len,
                     rh->ptr);
    else
        n = snprintf(extra, sizeof extra,
                     "Access-Control-Allow-Headers: x-requested-with, x-signalr-user-agent, "
                     "authorization, content-type, x-ms-signalr-userid\r\n");
    snprintf(extra + n, sizeof extra - (size_t)n,
             "Access-Control-Allow-Methods: GET, POST, OPTIONS\r\n"
             "Access-Control-Max-Age: 86400\r\n");
    respond(b, c, 204, NULL, NULL, 0, extra);
}

static bool ready(struct bridge *b)
{
    return !b->mqtt || hcb_mqtt_ready(b->mqtt);
}

static void h_health(struct bridge *b, struct conn *c)
{
    bool ok = ready(b);
    const char *body = ok ? "{\"status\":\"ok\"}" : "{\"status\":\"starting\",\"mqtt\":\"connecting\"}";
    respond(b, c, ok ? 200 : 503, "application/json", body, strlen(body), NULL);
}

static void h_stats(struct bridge *b, struct conn *c)
{
    struct hcb_restout_stats st;
    hcb_restout_stats(b->out, &st);
    char body[768];
    int n = snprintf(body, sizeof body,
                     "{\"received\":%llu,\"rejected\":%llu,\"transformFailed\":%llu,"
                     "\"actions\":%llu,\"invalidActions\":%llu,\"mqttRefused\":%llu,"
                     "\"rest\":{\"queued\":%llu,\"sent\":%llu,\"failed\":%llu,\"dropped\":%llu,"
                     "\"retried\":%llu,\"pending\":%zu}}",
                     (unsigned long long)b->received, (unsigned long long)b->rejected,
                     (unsigned long long)b->transform_failed, (unsigned long long)b->actions,
                     (unsigned long long)b->action_errors, (unsigned long long)b->mqtt_bad,
                     (unsigned long long)st.queued, (unsigned long long)st.sent,
                     (unsigned long long)st.failed, (unsigned long long)st.dropped,
                     (unsigned long long)st.retried, st.pending);
    respond(b, c, 200, "application/json", body, (size_t)n, "Cache-Control: no-store\r\n");
}

/* First identity source that is present (spec section 7): App Service
 * principal headers, the configured header, the configured ID-token claim,
 * then the userId query value. */
static int user_id_of(struct bridge *b, struct conn *c, char *out, size_t cap)
{
    const char *hdrs[] = {"x-ms-client-principal-id", "x-ms-client-principal-name",
                          b->cfg->user_header};
    out[0] = '\0';
    for (size_t i = 0; i < 3; i++) {
        const struct hcp_str *v = *hdrs[i] ? hcb_http_header(&c->head, hdrs[i]) : NULL;
        if (v && v->len) {
            if (v->len >= cap)
                return -1;
            memcpy(out, v->ptr, v->len);
            out[v->len] = '\0';
            return 0;
        }
    }
    /* A configured claim of the bearer ID token (the Functions binding's
     * {claims.x} / ClaimTypeList pattern). */
    const struct hcp_str *authz = *b->cfg->user_claim ? hcb_http_header(&c->head, "authorization")
                                                      : NULL;
    if (authz && authz->len > 7 && !strncasecmp(authz->ptr, "Bearer ", 7)) {
        int rc = hcb_idtoken_claim(authz->ptr + 7, authz->len - 7, b->cfg->user_claim, out, cap);
        if (rc == HCP_OK)
            return 0;
        if (rc != HCP_ERR_NOT_FOUND)
            return -1;
    }
    const struct hcp_str *q = &c->head.query;
    if (q->ptr) {
        int n = hcp_query_get(q->ptr, q->len, "userId", 0, out, cap);
        if (n < 0)
            return -1;
    }
    return 0;
}

static void h_negotiate(struct bridge *b, struct conn *c)
{
    char user[1025];
    if (user_id_of(b, c, user, sizeof user) ||
        (user[0] && !hcp_rest_valid_id(user, strlen(user)))) {
        respond_error(b, c, 401, "invalid user id");
        return;
    }
    char url[HCP_CONNSTR_FIELD_MAX + 300];
    int n = snprintf(url, sizeof url, "%s/client/?hub=", b->client_base);
    for (const char *h = b->cfg->hub; *h && (size_t)n + 1 < sizeof url; h++)
        url[n++] = (char)tolower((unsigned char)*h);
    url[n] = '\0';
    char *tok = NULL;
    if (hcs_auth_issue(b->cs.access_key, url, user[0] ? user : NULL, wall_ms() / 1000,
                       b->cfg->token_lifetime_s, &tok)) {
        respond_error(b, c, 500, "cannot issue a token");
        return;
    }
    cJSON *j = cJSON_CreateObject();
    if (j && cJSON_AddStringToObject(j, "url", url) &&
        cJSON_AddStringToObject(j, "accessToken", tok))
        respond_json(b, c, 200, j);
    else
        respond(b, c, 500, NULL, NULL, 0, NULL);
    cJSON_Delete(j);
    hcp_free(tok);
    hcb_log(HCB_LOG_INFO, "negotiate", "hub=%s user=%s", b->cfg->hub, user[0] ? user : "-");
}

static int status_of(int rc)
{
    return rc == HCP_ERR_TOO_LARGE ? 413 : rc == HCP_ERR_NOMEM ? 503 : 400;
}

static void h_events(struct bridge *b, struct conn *c)
{
    cJSON *batch = NULL;
    const char *why = NULL;
    int rc = hcb_event_parse_request(c->body.data ? (const char *)c->body.data : "", c->body.len,
                                     &b->lim, &batch, &why);
    if (rc) {
        b->rejected++;
        hcb_log(HCB_LOG_INFO, "events", "refused status=%d reason=\"%s\"", status_of(rc), why);
        respond_error(b, c, status_of(rc), why);
        return;
    }
    int n = cJSON_GetArraySize(batch);
    if (ingest(b, batch, "none")) {
        respond_error(b, c, 503, "cannot accept events now");
        return;
    }
    char body[64];
    int len = snprintf(body, sizeof body, "{\"accepted\":%d}", n);
    respond(b, c, 202, "application/json", body, (size_t)len, NULL);
}

static void iothub_error(struct bridge *b, struct conn *c, int status, const char *code,
                         const char *msg)
{
    char body[512];
    int n = snprintf(body, sizeof body, "{\"Message\":\"ErrorCode:%s;%s\"}", code, msg);
    b->rejected++;
    respond(b, c, status, "application/json", body, (size_t)n, NULL);
}

/* SAS check (section 5). 401 for everything: missing, malformed, expired,
 * wrong signature, unknown device or wrong scope. */
static int check_sas(struct bridge *b, struct conn *c, const char *dev, const char *mod,
                     const char **why)
{
    if (b->cfg->allow_any_device)
        return 0;
    const struct hcp_str *a = hcb_http_header(&c->head, "authorization");
    struct hcb_sas_token t;
    if (!a) {
        *why = "missing Authorization";
        return -1;
    }
    if (hcb_sas_parse(a->ptr, a->len, &t, why))
        return -1;
    const char *host = b->cfg->iothub_host[0] ? b->cfg->iothub_host : NULL;
    const char *keys[3] = {hcb_registry_key(b->registry, dev, mod, 0),
                           hcb_registry_key(b->registry, dev, mod, 1),
                           b->cfg->device_key[0] ? b->cfg->device_key : NULL};
    *why = "device not registered";
    for (size_t i = 0; i < 3; i++)
        if (keys[i] && hcb_sas_verify(&t, keys[i], dev, mod, host, wall_ms() / 1000, why) == 0)
            return 0;
    return -1;
}

static void h_device(struct bridge *b, struct conn *c, const char *dev, const char *mod)
{
    const char *why = NULL;
    if (check_sas(b, c, dev, mod, &why)) {
        hcb_log(HCB_LOG_INFO, "device", "unauthorized device=%s reason=\"%s\"", dev, why);
        iothub_error(b, c, 401, "IotHubUnauthorizedAccess", "Unauthorized");
        return;
    }
    cJSON *props = cJSON_CreateObject();
    cJSON *sys = cJSON_CreateObject();
    int rc = HCP_ERR_NOMEM;
    why = "out of memory";
    if (!props || !sys || !cJSON_AddStringToObject(sys, "iothub-connection-device-id", dev) ||
        !(mod[0] ? cJSON_AddStringToObject(sys, "iothub-connection-module-id", mod)
                 : cJSON_AddNullToObject(sys, "iothub-connection-module-id")))
        goto fail;
    for (size_t i = 0; i < c->head.n_headers; i++) {
        const struct hcb_http_header *h = &c->head.headers[i];
        rc = hcb_iothub_map_header(h->name.ptr, h->name.len, h->value.ptr, h->value.len, props,
                                   sys, &why);
        if (rc)
            goto fail;
    }
    const struct hcp_str *ct = hcb_http_header(&c->head, "content-type");
    cJSON *batch = NULL;
    const char *body = c->body.data ? (const char *)c->body.data : "";
    if (ct && ct->len >= 35 && !strncasecmp(ct->ptr, "application/vnd.microsoft.iothub.json", 35)) {
        cJSON_Delete(props);
        props = NULL;
        rc = hcb_iothub_parse_batch(body, c->body.len, sys, &b->lim, &batch, &why);
        cJSON_Delete(sys);
        sys = NULL;
        if (rc)
            goto fail;
    } else {
        cJSON *ev = NULL;
        rc = hcb_event_from_device((const uint8_t *)body, c->body.len, props, sys, &b->lim, &ev,
                                   &why);
        props = sys = NULL;
        if (rc)
            goto fail;
        batch = cJSON_CreateArray();
        if (!batch) {
            cJSON_Delete(ev);
            rc = HCP_ERR_NOMEM;
            goto fail;
        }
        cJSON_AddItemToArray(batch, ev);
    }
    if (ingest(b, batch, b->cfg->allow_any_device ? "none" : "sas")) {
        iothub_error(b, c, 503, "ServiceUnavailable", "cannot accept messages now");
        return;
    }
    respond(b, c, 204, NULL, NULL, 0, NULL);
    return;
fail:
    cJSON_Delete(props);
    cJSON_Delete(sys);
    hcb_log(HCB_LOG_INFO, "device", "refused device=%s status=%d reason=\"%s\"", dev,
            status_of(rc), why);
    iothub_error(b, c, status_of(rc),
                 rc == HCP_ERR_TOO_LARGE ? "MessageTooLarge" : "ArgumentInvalid", why);
}

static const char *mime_of(const char *path)
{
    static const struct {
        const char *ext, *mime;
    } M[] = {{".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
             {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
             {".json", "application/json"}, {".svg", "image/svg+xml"}, {".png", "image/png"},
             {".ico", "image/x-icon"}, {".txt", "text/plain; charset=utf-8"},
             {".map", "application/json"}};
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof M / sizeof *M; i++)
        if (!strcasecmp(dot, M[i].ext))
            return M[i].mime;
    return "application/octet-stream";
}

static void h_static(struct bridge *b, struct conn *c)
{
    char rel[1024];
    size_t rl = 0;
    if (hcp_url_decode(c->head.path.ptr, c->head.path.len, false, rel, sizeof rel, &rl) ||
        memchr(rel, '\0', rl) || strstr(rel, "/..") || strstr(rel, "\\")) {
        respond_error(b, c, 400, "bad path");
        return;
    }
    char full[2200];
    snprintf(full, sizeof full, "%s%s%s", b->cfg->static_dir, rel,
             rel[rl - 1] == '/' ? "index.html" : "");
    int fd = open(full, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode) || (size_t)st.st_size > MAX_STATIC_FILE) {
        if (fd >= 0)
            close(fd);
        respond_error(b, c, 404, "not found");
        return;
    }
    uint8_t *data = hcp_malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (data && got < (size_t)st.st_size) {
        ssize_t r = read(fd, data + got, (size_t)st.st_size - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (!data || got != (size_t)st.st_size) {
        hcp_free(data);
        respond(b, c, 500, NULL, NULL, 0, NULL);
        return;
    }
    respond(b, c, 200, mime_of(full), data, got, "Cache-Control: no-cache\r\n");
    hcp_free(data);
}

static void handle(struct bridge *b, struct conn *c)
{
    const struct hcb_http_head *h = &c->head;
    struct hcp_str p = h->path;
    bool get = str_is(h->method, "GET") || str_is(h->method, "HEAD");
    bool post = str_is(h->method, "POST");
    if (str_is(h->method, "OPTIONS")) {
        h_preflight(b, c);
        return;
    }
    if (str_is(p, "/api/health") || str_is(p, "/api/health/")) {
        if (get)
            h_health(b, c);
        else
            respond_error(b, c, 405, "method not allowed");
        return;
    }
    if (str_is(p, "/api/stats")) {
        get ? h_stats(b, c) : respond_error(b, c, 405, "method not allowed");
        return;
    }
    if (str_is(p, "/api/negotiate") || str_is(p, "/api/negotiate/")) {
        (get || post) ? h_negotiate(b, c) : respond_error(b, c, 405, "method not allowed");
        return;
    }
    if (str_is(p, "/api/events") || str_is(p, "/api/events/")) {
        post ? h_events(b, c) : respond_error(b, c, 405, "method not allowed");
        return;
    }
    char dev[HCB_ID_MAX], mod[HCB_ID_MAX];
    int rc = hcb_iothub_match_path(p.ptr, p.len, dev, mod);
    if (rc == HCP_OK) {
        post ? h_device(b, c, dev, mod) : respond_error(b, c, 405, "method not allowed");
        return;
    }
    if (rc == HCP_ERR_MALFORMED) {
        iothub_error(b, c, 400, "ArgumentInvalid", "invalid device or module id");
        return;
    }
    static const char C2D[] = "/messages/deviceBound";
    if (p.len > 9 + sizeof C2D && !strncmp(p.ptr, "/devices/", 9) && get &&
        !memcmp(p.ptr + p.len - (sizeof C2D - 1), C2D, sizeof C2D - 1)) {
        /* Cloud-to-device messages do not exist here: "nothing pending". */
        respond(b, c, 204, NULL, NULL, 0, NULL);
        return;
    }
    if (get && b->cfg->static_dir[0]) {
        h_static(b, c);
        return;
    }
    respond_error(b, c, 404, "not found");
}

/* ------------------------------------------------------------------------ */
/* Connection input                                                          */

static bool header_has(const struct hcb_http_head *h, const char *name, const char *token)
{
    const struct hcp_str *v = hcb_http_header(h, name);
    if (!v)
        return false;
    size_t tl = strlen(token);
    for (size_t i = 0; i + tl <= v->len; i++)
        if (!strncasecmp(v->ptr + i, token, tl))
            return true;
    return false;
}

/* Returns false when the connection must be answered and closed. */
static bool start_request(struct bridge *b, struct conn *c, size_t head_len)
{
    c->head_copy = hcp_malloc(head_len + 1);
    if (!c->head_copy ||
        hcb_http_parse_head((const char *)memcpy(c->head_copy, c->in.data, head_len), head_len,
                            MAX_HEAD, &c->head) != (int)head_len) {
        c->close_after = true;
        return false;
    }
    hcp_buf_consume(&c->in, head_len);
    const struct hcb_http_head *h = &c->head;
    c->keep_alive = h->minor_version == 1 ? !header_has(h, "connection", "close")
                                          : header_has(h, "connection", "keep-alive");
    hcp_buf_init(&c->body, b->max_body);
    c->in_body = true;
    const struct hcp_str *te = hcb_http_header(h, "transfer-encoding");
    const struct hcp_str *cl = hcb_http_header(h, "content-length");
    if (te) {
        if (!header_has(h, "transfer-encoding", "chunked") || cl) {
            c->keep_alive = false;
            respond_error(b, c, 400, "unsupported Transfer-Encoding");
            return false;
        }
        c->chunked = true;
        hcp_chunked_init(&c->dech);
    } else if (cl) {
        char num[24];
        char *end;
        if (cl->len == 0 || cl->len >= sizeof num) {
            c->keep_alive = false;
            respond_error(b, c, 400, "bad Content-Length");
            return false;
        }
        memcpy(num, cl->ptr, cl->len);
        num[cl->len] = '\0';
        unsigned long long n = strtoull(num, &end, 10);
        if (*end || num[0] == '-') {
            c->keep_alive = false;
            respond_error(b, c, 400, "bad Content-Length");
            return false;
        }
        if (n > b->max_body) {
            c->keep_alive = false;
            b->rejected++;
            respond_error(b, c, 413, "request body exceeds the size limit");
            return false;
        }
        c->need = (size_t)n;
    }
    if (header_has(h, "expect", "100-continue") && (c->chunked || c->need) &&
        hcp_buf_append_str(&c->out, "HTTP/1.1 100 Continue\r\n\r\n")) {
        c->close_after = true;
        return false;
    }
    return true;
}

static void process(struct bridge *b, struct conn *c)
{
    while (!c->close_after) {
        if (!c->in_body) {
            if (c->in.len == 0)
                return;
            struct hcb_http_head probe;
            int n = hcb_http_parse_head((const char *)c->in.data, c->in.len, MAX_HEAD, &probe);
            if (n == HCP_ERR_INCOMPLETE)
                return;
            if (n < 0) {
                memset(&c->head, 0, sizeof c->head);
                c->keep_alive = false;
                respond_error(b, c, n == HCP_ERR_TOO_LARGE ? 431 : 400,
                              n == HCP_ERR_TOO_LARGE ? "request head too large"
                                                     : "malformed request");
                return;
            }
            if (!start_request(b, c, (size_t)n))
                return;
        }
        bool complete = false;
        if (c->chunked) {
            size_t used = 0;
            int rc = hcp_chunked_decode(&c->dech, c->in.data, c->in.len, &c->body, &used);
            hcp_buf_consume(&c->in, rc == 1 ? used : c->in.len);
            if (rc == HCP_ERR_TOO_LARGE || rc == HCP_ERR_MALFORMED) {
                c->keep_alive = false;
                b->rejected++;
                respond_error(b, c, rc == HCP_ERR_TOO_LARGE ? 413 : 400,
                              rc == HCP_ERR_TOO_LARGE ? "request body exceeds the size limit"
                                                      : "malformed chunked body");
                return;
            }
            if (rc == 1)
                complete = true;
            else
                return;
        } else {
            size_t take = c->need - c->body.len;
            if (take > c->in.len)
                take = c->in.len;
            if (take && hcp_buf_append(&c->body, c->in.data, take)) {
                c->close_after = true;
                return;
            }
            hcp_buf_consume(&c->in, take);
            complete = c->body.len == c->need;
            if (!complete)
                return;
        }
        if (complete) {
            handle(b, c);
            conn_reset_request(c);
        }
    }
}

static int write_some(struct lws *wsi, struct conn *c)
{
    size_t left = c->out.len - c->out_off;
    if (left) {
        uint8_t buf[LWS_PRE + WRITE_CHUNK];
        size_t n = left < WRITE_CHUNK ? left : WRITE_CHUNK;
        memcpy(buf + LWS_PRE, c->out.data + c->out_off, n);
        if (lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_RAW) < (int)n)
            return -1;
        c->out_off += n;
        if (c->out_off < c->out.len) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    }
    hcp_buf_reset(&c->out);
    c->out_off = 0;
    return c->close_after ? -1 : 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct lws_vhost *vh = lws_get_vhost(wsi);
    struct bridge *b = vh ? lws_get_vhost_user(vh) : NULL;
    struct conn *c = user;
    if (!b)
        return 0;
    switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        drain_mqtt(b);
        return 0;
    case LWS_CALLBACK_RAW_ADOPT:
        memset(c, 0, sizeof *c);
        hcp_buf_init(&c->in, MAX_HEAD + 2 * WRITE_CHUNK + 65536);
        hcp_buf_init(&c->out, 0);
        lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, IDLE_TIMEOUT_S);
        return 0;
    case LWS_CALLBACK_RAW_RX:
        lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, IDLE_TIMEOUT_S);
        if (c->close_after)
            return 0; /* answered already; ignore the rest */
        if (hcp_buf_append(&c->in, in, len))
            return -1; /* a client that floods faster than it frames */
        process(b, c);
        if (c->out.len > c->out_off)
            lws_callback_on_writable(wsi);
        return 0;
    case LWS_CALLBACK_RAW_WRITEABLE:
        return write_some(wsi, c);
    case LWS_CALLBACK_RAW_CLOSE:
        conn_reset_request(c);
        hcp_buf_cleanup(&c->in);
        hcp_buf_cleanup(&c->out);
        return 0;
    default:
        return 0;
    }
}

static const struct lws_protocols PROTOCOLS[] = {
    {"hcb-http", callback, sizeof(struct conn), 4096, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void wake(void *user)
{
    lws_cancel_service(((struct bridge *)user)->ctx);
}

static void lws_log_emit(int level, const char *line)
{
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    hcb_log(level == LLL_ERR ? HCB_LOG_ERR : HCB_LOG_WARN, "lws", "%.*s", (int)n, line);
}

static char *read_file(const char *path, size_t max, size_t *out_len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *data = hcp_malloc(max + 1);
    size_t n = data ? fread(data, 1, max + 1, f) : 0;
    fclose(f);
    if (!data || n > max) {
        hcp_free(data);
        return NULL;
    }
    data[n] = '\0';
    *out_len = n;
    return data;
}

static int load_transform(struct bridge *b)
{
    const char *t = b->cfg->transform;
    if (!*t) {
        hcb_log(HCB_LOG_NOTICE, "transform", "default: broadcast target=telemetry");
        return 0;
    }
    size_t tl = strlen(t);
    if (tl > 5 && !strcmp(t + tl - 5, ".json")) {
        size_t len = 0;
        char *txt = read_file(t, 4u << 20, &len);
        const char *why = "cannot read the file";
        if (!txt || hcb_rules_parse(txt, len, &b->rules, &why)) {
            hcb_log(HCB_LOG_ERR, "transform", "rules file %s: %s", t, why);
            hcp_free(txt);
            return -1;
        }
        hcp_free(txt);
        hcb_log(HCB_LOG_NOTICE, "transform", "rules file=%s", t);
        return 0;
    }
    b->plugin = hcb_plugin_load(t, b->cfg->transform_config[0] ? b->cfg->transform_config : NULL);
    return b->plugin ? 0 : -1;
}

static int load_registry(struct bridge *b)
{
    const char *path = b->cfg->device_registry;
    if (b->cfg->allow_any_device)
        hcb_log(HCB_LOG_WARN, "device",
                "--allow-any-device: device API SAS tokens are NOT checked (development only)");
    if (!*path)
        return 0;
    size_t len = 0;
    char *txt = read_file(path, 16u << 20, &len);
    const char *why = "cannot read the file";
    if (!txt || hcb_registry_parse(txt, len, &b->registry, &why)) {
        hcb_log(HCB_LOG_ERR, "device", "registry %s: %s", path, why);
        hcp_free(txt);
        return -1;
    }
    hcp_free(txt);
    return 0;
}

int hcb_server_run(const struct hcb_config *cfg, FILE *out)
{
    struct bridge b;
    memset(&b, 0, sizeof b);
    b.cfg = cfg;
    int exit_code = 1;
    const char *why = NULL;
    if (hcp_connstr_parse(cfg->connection_string, strlen(cfg->connection_string), &b.cs, &why)) {
        hcb_log(HCB_LOG_ERR, "main", "bad connection string: %s", why);
        return 2;
    }
    if (!b.cs.access_key[0]) {
        hcb_log(HCB_LOG_ERR, "main", "the connection string needs an AccessKey");
        return 2;
    }
    if (!hcp_rest_valid_hub(cfg->hub, strlen(cfg->hub))) {
        hcb_log(HCB_LOG_ERR, "main", "invalid --hub name");
        return 2;
    }
    snprintf(b.client_base, sizeof b.client_base, "%s",
             b.cs.client_endpoint[0] ? b.cs.client_endpoint : b.cs.endpoint);
    snprintf(b.rest_base, sizeof b.rest_base, "%s",
             b.cs.server_endpoint[0] ? b.cs.server_endpoint : b.cs.endpoint);
    for (char *base = b.client_base; base; base = base == b.client_base ? b.rest_base : NULL) {
        size_t l = strlen(base);
        while (l && base[l - 1] == '/')
            base[--l] = '\0';
    }
    hcb_limits_default(&b.lim);
    b.lim.max_message_bytes = (size_t)cfg->max_message_bytes;
    b.lim.max_batch_bytes = (size_t)cfg->max_batch_bytes;
    b.max_body = b.lim.max_batch_bytes > b.lim.max_message_bytes ? b.lim.max_batch_bytes
                                                                  : b.lim.max_message_bytes;
    b.seq = hcb_seq_new(MAX_PARTITIONS);
    if (!b.seq || load_registry(&b) || load_transform(&b))
        goto done;
    b.out = hcb_restout_new(b.rest_base, b.cs.access_key, (size_t)cfg->max_queue,
                            cfg->max_retries);
    if (!b.out)
        goto done;

    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
    b.ctx = lws_create_context(&info);
    if (!b.ctx) {
        hcb_log(HCB_LOG_ERR, "main", "cannot create the libwebsockets context");
        goto done;
    }
    g_ctx = b.ctx;
    struct lws_context_creation_info vi;
    memset(&vi, 0, sizeof vi);
    vi.port = cfg->port;
    vi.iface = cfg->host;
    vi.protocols = PROTOCOLS;
    vi.vhost_name = "hubcast-bridge";
    vi.user = &b;
    vi.options = LWS_SERVER_OPTION_ADOPT_APPLY_LISTEN_ACCEPT_CONFIG;
    if (!strchr(cfg->host, ':'))
        vi.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    vi.listen_accept_role = "raw-skt";
    vi.listen_accept_protocol = "hcb-http";
    struct lws_vhost *vh = lws_create_vhost(b.ctx, &vi);
    int port = vh ? lws_get_vhost_listen_port(vh) : -1;
    if (!vh || port <= 0) {
        hcb_log(HCB_LOG_ERR, "main", "cannot listen on %s port %d", cfg->host, cfg->port);
        goto done;
    }
    if (cfg->mqtt_url[0]) {
        b.mqtt = hcb_mqtt_new(cfg->mqtt_url, cfg->mqtt_ca, 100000, wake, &b);
        if (!b.mqtt)
            goto done;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    fprintf(out, "hubcast-bridge listening on http://%s:%d/api hub=%s service=%s\n", cfg->host,
            port, cfg->hub, b.rest_base);
    fflush(out);
    hcb_log(HCB_LOG_NOTICE, "main", "listening host=%s port=%d hub=%s service=%s", cfg->host,
            port, cfg->hub, b.rest_base);
    while (!g_stop)
        if (lws_service(b.ctx, 0) < 0)
            break;
    hcb_log(HCB_LOG_NOTICE, "main", "stopping");
    exit_code = 0;
done:
    if (b.mqtt) {
        hcb_mqtt_free(b.mqtt); /* no more input ... */
        b.mqtt = NULL;
    }
    hcb_restout_free(b.out, 2000); /* ... then flush what is queued */
    g_ctx = NULL;
    if (b.ctx)
        lws_context_destroy(b.ctx);
    hcb_plugin_free(b.plugin);
    hcb_rules_free(b.rules);
    hcb_registry_free(b.registry);
    hcb_seq_free(b.seq);
    return exit_code;
}
