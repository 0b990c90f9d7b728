/*
 * Upstream webhooks: the dispatch implementation that forwards connected /
 * disconnected events and client invocations to the app over HTTP
 * (azure-signalr-service.md section 5). See upstream.h.
 *
 * Invariants:
 * - Loop thread: the dispatch callbacks, hcs_upstream_poll() and everything
 *   that touches the core, the rules, the per-connection queues and the
 *   counters. Worker thread: curl multi only. They share two job lists (inbox,
 *   done) and a stop flag under `mu`; the worker never logs and never touches
 *   the core.
 * - Per connection, at most one request is in flight and jobs leave its FIFO
 *   in order, so the upstream sees connected first, then messages in arrival
 *   order, then disconnected. Different connections run in parallel up to
 *   --upstream-concurrency.
 * - Client messages waiting for the upstream are capped in bytes per
 *   connection and in total; connection events are tiny and always admitted
 *   so that connected/disconnected are never lost to a full queue.
 * - An invocation with an id is completed exactly once: by the upstream's
 *   answer, or at once with an error (no rule, queue full, request failure).
 * - Nothing here logs tokens, keys or URL queries (Functions URLs may carry
 *   a `code=` key).
 */
#include "upstream.h"

#include <curl/curl.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>

#include "core/map.h"
#include "hcp/json.h"
#include "hcp/settings.h"
#include "log.h"
#include "upstream_req.h"

#define RELOAD_CHECK_MS 1000
#define WORKER_POLL_MS 1000

enum job_kind { JOB_CONNECTED, JOB_DISCONNECTED, JOB_MESSAGE };

static const char *const KIND_EVENT[] = {"connected", "disconnected", NULL};

struct cq;

/* One upstream request. Owned by exactly one list at a time: its connection
 * queue (loop), the inbox or the worker's active list (worker), the done list. */
struct job {
    struct job *next;
    struct cq *cq;
    enum job_kind kind;
    char *url;
    char *event; /* target for messages, for logs */
    struct curl_slist *headers;
    char *body;
    size_t body_len;
    char *invocation_id; /* NULL: the answer is only logged */
    size_t cost;         /* bytes counted against the queue caps */
    /* Worker side. */
    CURL *easy;
    struct hcp_buf resp;
    bool too_large;
    CURLcode cc;
    long status;
};

/* The FIFO of one connection's jobs (loop thread). */
struct cq {
    char *key; /* hub '\n' conn id: map key */
    char *hub;
    char *conn_id;
    struct job *head, *tail;
    bool busy;        /* a job of this connection is in flight */
    bool listed;      /* in the ready list */
    struct cq *ready_next;
    size_t bytes;     /* cost of queued + in-flight jobs */
};

/* An invocation completed without a request (no rule, queue full). */
struct deferred {
    struct deferred *next;
    char *hub, *conn_id, *invocation_id, *error;
};

struct hcs_upstream {
    const struct hcs_config *cfg;
    struct hcs_core *core;
    void (*wake)(void *user);
    void *wake_user;

    /* Loop thread. */
    struct hcp_upstream_settings settings;
    bool has_settings; /* a settings file was loaded (possibly with zero rules) */
    char path[1100];
    bool has_stat;
    struct stat st; /* of the file last read (or last failed to parse) */
    int64_t next_check_ms;
    struct hcs_map cqs;
    struct cq *ready_head, *ready_tail;
    size_t n_inflight;
    size_t total_bytes;
    struct deferred *deferred_head, *deferred_tail;

    /* Shared with the worker under mu. */
    pthread_mutex_t mu;
    struct job *inbox_head, *inbox_tail;
    struct job *done_head, *done_tail;
    bool stop;

    /* Worker thread. */
    CURLM *multi;
    struct job *active;
    pthread_t thread;
    bool has_thread;
    bool has_curl;
};

/* ---- small helpers ---- */

static void job_free(struct job *j)
{
    if (!j)
        return;
    if (j->easy)
        curl_easy_cleanup(j->easy);
    curl_slist_free_all(j->headers);
    hcp_free(j->url);
    hcp_free(j->event);
    hcp_free(j->body);
    hcp_free(j->invocation_id);
    hcp_buf_cleanup(&j->resp);
    hcp_free(j);
}

static void job_list_free(struct job *j)
{
    while (j) {
        struct job *n = j->next;
        job_free(j);
        j = n;
    }
}

static void list_push(struct job **head, struct job **tail, struct job *j)
{
    j->next = NULL;
    if (*tail)
        (*tail)->next = j;
    else
        *head = j;
    *tail = j;
}

static void cq_free(struct cq *q)
{
    if (!q)
        return;
    job_list_free(q->head);
    hcp_free(q->key);
    hcp_free(q->hub);
    hcp_free(q->conn_id);
    hcp_free(q);
}

static void deferred_free(struct deferred *d)
{
    hcp_free(d->hub);
    hcp_free(d->conn_id);
    hcp_free(d->invocation_id);
    hcp_free(d->error);
    hcp_free(d);
}

/* The URL without its query and fragment, for log lines. */
static int url_for_log(const char *url)
{
    return (int)strcspn(url, "?#");
}

/* ---- worker thread ---- */

static size_t on_body(char *data, size_t size, size_t n, void *user)
{
    struct job *j = user;
    size_t len = size * n;
    if (!j->invocation_id)
        return len; /* only the status matters */
    if (hcp_buf_append(&j->resp, data, len) != HCP_OK) {
        j->too_large = true;
        return 0; /* CURLE_WRITE_ERROR */
    }
    return len;
}

static int job_start(struct hcs_upstream *u, struct job *j)
{
    CURL *e = curl_easy_init();
    if (!e)
        return -1;
    j->easy = e;
    hcp_buf_init(&j->resp, HCP_UPSTREAM_MAX_RESPONSE);
    if (curl_easy_setopt(e, CURLOPT_URL, j->url) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_POST, 1L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->body) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)j->body_len) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, j->headers) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_USERAGENT, "hubcast-service") != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_WRITEDATA, j) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(u->cfg->upstream_timeout_s * 1000)) !=
            CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_PRIVATE, j) != CURLE_OK)
        return -1;
    if (curl_multi_add_handle(u->multi, e) != CURLM_OK)
        return -1;
    return 0;
}

static void worker_finish(struct hcs_upstream *u, struct job *j, struct job **done_head,
                          struct job **done_tail)
{
    if (j->easy) {
        curl_multi_remove_handle(u->multi, j->easy);
        curl_easy_cleanup(j->easy);
        j->easy = NULL;
    }
    list_push(done_head, done_tail, j);
}

static void active_remove(struct hcs_upstream *u, struct job *j)
{
    for (struct job **p = &u->active; *p; p = &(*p)->next) {
        if (*p == j) {
            *p = j->next;
            return;
        }
    }
}

static void *worker_main(void *arg)
{
    struct hcs_upstream *u = arg;
    for (;;) {
        pthread_mutex_lock(&u->mu);
        bool stop = u->stop;
        struct job *in = u->inbox_head;
        u->inbox_head = u->inbox_tail = NULL;
        pthread_mutex_unlock(&u->mu);
        if (stop) {
            /* Leave everything to hcs_upstream_free(). */
            while (in) {
                struct job *n = in->next;
                in->next = u->active;
                u->active = in;
                in = n;
            }
            break;
        }

        struct job *done_head = NULL, *done_tail = NULL;
        while (in) {
            struct job *n = in->next;
            if (job_start(u, in) != 0) {
                in->cc = CURLE_OUT_OF_MEMORY;
                worker_finish(u, in, &done_head, &done_tail);
            } else {
                in->next = u->active;
                u->active = in;
            }
            in = n;
        }

        int running = 0;
        (void)curl_multi_perform(u->multi, &running);
        CURLMsg *m;
        int left = 0;
        while ((m = curl_multi_info_read(u->multi, &left)) != NULL) {
            if (m->msg != CURLMSG_DONE)
                continue;
            char *priv = NULL;
            (void)curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
            struct job *j = (struct job *)(void *)priv;
            if (!j)
                continue;
            j->cc = m->data.result;
            (void)curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &j->status);
            active_remove(u, j);
            worker_finish(u, j, &done_head, &done_tail);
        }
        if (done_head) {
            pthread_mutex_lock(&u->mu);
            if (u->done_tail)
                u->done_tail->next = done_head;
            else
                u->done_head = done_head;
            u->done_tail = done_tail;
            bool wake = !u->stop;
            pthread_mutex_unlock(&u->mu);
            if (wake)
                u->wake(u->wake_user);
        }
        (void)curl_multi_poll(u->multi, NULL, 0, WORKER_POLL_MS, NULL);
    }
    /* Detach what is still in flight; hcs_upstream_free() frees the jobs. */
    for (struct job *j = u->active; j; j = j->next) {
        if (j->easy) {
            curl_multi_remove_handle(u->multi, j->easy);
            curl_easy_cleanup(j->easy);
            j->easy = NULL;
        }
    }
    return NULL;
}

/* ---- loop thread: queues ---- */

/* Hand ready connections' next jobs to the worker, up to the concurrency cap. */
static void pump(struct hcs_upstream *u)
{
    struct job *head = NULL, *tail = NULL;
    while (u->n_inflight < u->cfg->upstream_concurrency && u->ready_head) {
        struct cq *q = u->ready_head;
        u->ready_head = q->ready_next;
        if (!u->ready_head)
            u->ready_tail = NULL;
        q->listed = false;
        q->ready_next = NULL;
        struct job *j = q->head;
        if (!j || q->busy)
            continue;
        q->head = j->next;
        if (!q->head)
            q->tail = NULL;
        q->busy = true;
        u->n_inflight++;
        list_push(&head, &tail, j);
    }
    if (!head)
        return;
    pthread_mutex_lock(&u->mu);
    if (u->inbox_tail)
        u->inbox_tail->next = head;
    else
        u->inbox_head = head;
    u->inbox_tail = tail;
    pthread_mutex_unlock(&u->mu);
    curl_multi_wakeup(u->multi);
}

static void make_ready(struct hcs_upstream *u, struct cq *q)
{
    if (q->listed || q->busy || !q->head)
        return;
    q->listed = true;
    q->ready_next = NULL;
    if (u->ready_tail)
        u->ready_tail->ready_next = q;
    else
        u->ready_head = q;
    u->ready_tail = q;
}

static struct cq *cq_get(struct hcs_upstream *u, const char *hub, const char *conn_id)
{
    struct hcp_buf k;
    hcp_buf_init(&k, 0);
    if (hcp_buf_append_str(&k, hub) || hcp_buf_append_byte(&k, '\n') ||
        hcp_buf_append_str(&k, conn_id)) {
        hcp_buf_cleanup(&k);
        return NULL;
    }
    struct cq *q = hcs_map_get(&u->cqs, hcp_buf_cstr(&k));
    if (q) {
        hcp_buf_cleanup(&k);
        return q;
    }
    q = hcp_calloc(1, sizeof(*q));
    if (!q) {
        hcp_buf_cleanup(&k);
        return NULL;
    }
    (void)hcp_buf_cstr(&k);
    q->key = (char *)hcp_buf_take(&k, NULL);
    q->hub = hcp_strdup(hub);
    q->conn_id = hcp_strdup(conn_id);
    if (!q->key || !q->hub || !q->conn_id || hcs_map_put(&u->cqs, q->key, q) != 0) {
        cq_free(q);
        return NULL;
    }
    return q;
}

static void cq_maybe_drop(struct hcs_upstream *u, struct cq *q)
{
    if (q->busy || q->head || q->listed)
        return;
    (void)hcs_map_del(&u->cqs, q->key);
    cq_free(q);
}

static void defer_error(struct hcs_upstream *u, const char *hub, const char *conn_id,
                        const char *invocation_id, const char *error)
{
    struct deferred *d = hcp_calloc(1, sizeof(*d));
    if (d) {
        d->hub = hcp_strdup(hub);
        d->conn_id = hcp_strdup(conn_id);
        d->invocation_id = hcp_strdup(invocation_id);
        d->error = hcp_strdup(error);
    }
    if (!d || !d->hub || !d->conn_id || !d->invocation_id || !d->error) {
        if (d)
            deferred_free(d);
        hcs_log(HCS_LOG_ERR, "upstream", "out of memory hub=%s conn=%s: invocation left open",
                hub, conn_id);
        return;
    }
    if (u->deferred_tail)
        u->deferred_tail->next = d;
    else
        u->deferred_head = d;
    u->deferred_tail = d;
    /* Completed from hcs_upstream_poll(), outside the core's call chain. */
    u->wake(u->wake_user);
}

/*
 * Build and queue one request. `body` is copied. For messages over the
 * queue caps returns -2 (nothing queued); -1 on allocation failure.
 */
static int enqueue(struct hcs_upstream *u, const struct hcs_conn_info *c, enum job_kind kind,
                   const char *event, const struct hcp_upstream_rule *rule, const char *body,
                   size_t body_len, const char *invocation_id)
{
    const char *category = kind == JOB_MESSAGE ? "messages" : "connections";
    struct cq *q = cq_get(u, c->hub, c->id);
    if (!q)
        return -1;
    size_t cost = kind == JOB_MESSAGE ? body_len : 0;
    if (cost && ((q->bytes && q->bytes + cost > u->cfg->upstream_queue_bytes) ||
                 u->total_bytes + cost > u->cfg->upstream_total_bytes)) {
        cq_maybe_drop(u, q);
        return -2;
    }

    struct job *j = hcp_calloc(1, sizeof(*j));
    if (!j) {
        cq_maybe_drop(u, q);
        return -1;
    }
    j->kind = kind;
    j->cq = q;
    j->cost = cost;
    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    int rc = -1;
    if (hcp_upstream_url_expand(&b, rule->url_template, c->hub, category, event))
        goto fail;
    (void)hcp_buf_cstr(&b);
    j->url = (char *)hcp_buf_take(&b, NULL);
    j->event = hcp_strdup(event);
    j->body = hcp_malloc(body_len + 1);
    if (!j->url || !j->event || !j->body)
        goto fail;
    memcpy(j->body, body, body_len);
    j->body[body_len] = '\0';
    j->body_len = body_len;
    if (invocation_id && !(j->invocation_id = hcp_strdup(invocation_id)))
        goto fail;

    /* The core keeps claims as text; the header needs them parsed. */
    cJSON *claims = c->claims_json ? cJSON_Parse(c->claims_json) : NULL;
    if (c->claims_json && !claims)
        goto fail;
    struct hcs_upstream_event ev = {
        .hub = c->hub,
        .conn_id = c->id,
        .user_id = c->user_id,
        .claims = claims,
        .query = c->query,
        .category = category,
        .event = event,
    };
    const char *ctype = c->protocol == HCP_PROTOCOL_JSON || kind != JOB_MESSAGE
                            ? "application/json"
                            : "application/x-msgpack";
    int hrc = hcs_upstream_req_headers(&b, &ev, (const char *const *)u->cfg->access_keys,
                                       u->cfg->n_access_keys, ctype);
    cJSON_Delete(claims);
    if (hrc != 0)
        goto fail;
    /* curl would add "Expect: 100-continue" to large bodies: one round
     * trip more and a stall with servers that ignore it. */
    const char *expect = "Expect:";
    for (size_t off = 0; off <= b.len; off += strlen((char *)b.data + off) + 1) {
        const char *line = off < b.len ? (const char *)b.data + off : expect;
        struct curl_slist *n = curl_slist_append(j->headers, line);
        if (!n)
            goto fail;
        j->headers = n;
        if (off >= b.len)
            break;
    }
    hcp_buf_cleanup(&b);

    j->next = NULL;
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
    q->bytes += cost;
    u->total_bytes += cost;
    make_ready(u, q);
    pump(u);
    return 0;
fail:
    hcp_buf_cleanup(&b);
    job_free(j);
    cq_maybe_drop(u, q);
    return rc;
}

static const struct hcp_upstream_rule *route(struct hcs_upstream *u, const char *hub,
                                             const char *category, const char *event)
{
    long i = hcp_upstream_settings_match(&u->settings, hub, category, event);
    return i < 0 ? NULL : &u->settings.rules[i];
}

/* ---- dispatch callbacks (loop thread, inside the core's call chain) ---- */

static void conn_event(struct hcs_upstream *u, const struct hcs_conn_info *c, enum job_kind kind,
                       const char *body, size_t len)
{
    const char *event = KIND_EVENT[kind];
    const struct hcp_upstream_rule *r = route(u, c->hub, "connections", event);
    if (!r) {
        hcs_log(HCS_LOG_DEBUG, "upstream", "no rule hub=%s conn=%s event=%s", c->hub, c->id,
                event);
        return;
    }
    if (enqueue(u, c, kind, event, r, body, len, NULL) != 0)
        hcs_log(HCS_LOG_ERR, "upstream", "out of memory hub=%s conn=%s event=%s: event dropped",
                c->hub, c->id, event);
}

static void on_connected(void *user, const struct hcs_conn_info *c)
{
    static const char body[] = "{\"type\":10}";
    conn_event(user, c, JOB_CONNECTED, body, sizeof(body) - 1);
}

static void on_disconnected(void *user, const struct hcs_conn_info *c, const char *error)
{
    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    int rc = hcp_buf_append_str(&b, "{\"type\":11");
    if (!rc && error && *error)
        rc = hcp_buf_append_str(&b, ",\"error\":") ||
             hcp_json_append_string(&b, error, strlen(error));
    if (!rc)
        rc = hcp_buf_append_byte(&b, '}');
    if (rc)
        hcs_log(HCS_LOG_ERR, "upstream", "out of memory hub=%s conn=%s event=disconnected",
                c->hub, c->id);
    else
        conn_event(user, c, JOB_DISCONNECTED, (const char *)b.data, b.len);
    hcp_buf_cleanup(&b);
}

static int on_invocation(void *user, const struct hcs_conn_info *c, const struct hcp_msg *msg,
                         const char *raw, size_t raw_len)
{
    struct hcs_upstream *u = user;
    char text[512];
    if (!u->has_settings)
        return -1; /* the core answers "No upstream is configured ..." */
    const struct hcp_upstream_rule *r = route(u, c->hub, "messages", msg->target);
    if (!r) {
        hcs_log(HCS_LOG_INFO, "upstream", "no rule hub=%s conn=%s category=messages event=%s",
                c->hub, c->id, msg->target);
        if (msg->invocation_id) {
            snprintf(text, sizeof(text),
                     "No upstream rule matches hub '%s', category 'messages', event '%.200s'.",
                     c->hub, msg->target);
            defer_error(u, c->hub, c->id, msg->invocation_id, text);
        }
        return 0;
    }
    int rc = enqueue(u, c, JOB_MESSAGE, msg->target, r, raw, raw_len, msg->invocation_id);
    if (rc == 0)
        return 0;
    const char *why = rc == -2 ? "too many messages are waiting for the upstream" : "out of memory";
    hcs_log(HCS_LOG_WARN, "upstream", "message dropped hub=%s conn=%s event=%s reason=\"%s\"",
            c->hub, c->id, msg->target, why);
    if (msg->invocation_id) {
        snprintf(text, sizeof(text), "Invocation failed, %s.", why);
        defer_error(u, c->hub, c->id, msg->invocation_id, text);
    }
    return 0;
}

/* ---- loop thread: results ---- */

static void complete_record(struct hcs_upstream *u, const struct cq *q, const struct job *j,
                            const struct hcp_buf *rec)
{
    int rc = hcs_core_complete_raw(u->core, q->hub, q->conn_id, rec->data, rec->len);
    if (rc != HCS_OK)
        hcs_log(HCS_LOG_DEBUG, "upstream", "completion not delivered hub=%s conn=%s event=%s "
                "error=\"%s\"", q->hub, q->conn_id, j->event, hcs_strerror(rc));
}

static void finish_job(struct hcs_upstream *u, struct job *j)
{
    struct cq *q = j->cq;
    const char *what = j->kind == JOB_MESSAGE ? "messages" : "connections";
    char text[512];
    const char *error = NULL;
    if (j->cc != CURLE_OK) {
        if (j->too_large)
            error = "Invocation failed, response too large.";
        else if (j->cc == CURLE_OPERATION_TIMEDOUT) {
            snprintf(text, sizeof(text),
                     "Invocation failed, the upstream did not answer within %lld seconds.",
                     (long long)u->cfg->upstream_timeout_s);
            error = text;
        } else {
            snprintf(text, sizeof(text), "Invocation failed, upstream request error: %s.",
                     curl_easy_strerror(j->cc));
            error = text;
        }
        if (!j->too_large)
            hcs_log(HCS_LOG_WARN, "upstream",
                    "request failed hub=%s conn=%s category=%s event=%s url=%.*s error=\"%s\"",
                    q->hub, q->conn_id, what, j->event, url_for_log(j->url), j->url,
                    curl_easy_strerror(j->cc));
    } else if (j->status < 200 || j->status > 299) {
        hcs_log(HCS_LOG_WARN, "upstream",
                "request failed hub=%s conn=%s category=%s event=%s url=%.*s status=%ld", q->hub,
                q->conn_id, what, j->event, url_for_log(j->url), j->url, j->status);
    } else {
        hcs_log(HCS_LOG_DEBUG, "upstream", "delivered hub=%s conn=%s category=%s event=%s "
                "status=%ld", q->hub, q->conn_id, what, j->event, j->status);
    }
    if (j->too_large)
        hcs_log(HCS_LOG_WARN, "upstream",
                "response too large hub=%s conn=%s event=%s url=%.*s limit=%u", q->hub,
                q->conn_id, j->event, url_for_log(j->url), j->url, HCP_UPSTREAM_MAX_RESPONSE);
    if (!j->invocation_id)
        return;

    struct hcp_buf rec;
    hcp_buf_init(&rec, 0);
    int rc;
    enum hcp_upstream_result kind = HCP_UPSTREAM_EMPTY;
    if (error && !j->too_large)
        rc = hcp_json_encode_completion(&rec, j->invocation_id, NULL, 0, error);
    else
        rc = hcp_upstream_invocation_result(&rec, j->invocation_id, j->status, j->resp.data,
                                            j->resp.len, j->too_large, &kind);
    if (rc == HCP_OK) {
        if (kind == HCP_UPSTREAM_INVALID)
            hcs_log(HCS_LOG_WARN, "upstream",
                    "invalid response hub=%s conn=%s event=%s url=%.*s status=%ld bytes=%zu",
                    q->hub, q->conn_id, j->event, url_for_log(j->url), j->url, j->status,
                    j->resp.len);
        complete_record(u, q, j, &rec);
    } else {
        hcs_log(HCS_LOG_ERR, "upstream", "out of memory hub=%s conn=%s event=%s", q->hub,
                q->conn_id, j->event);
    }
    hcp_buf_cleanup(&rec);
}

static void settings_swap(struct hcs_upstream *u, struct hcp_upstream_settings *s,
                          const struct stat *st, const char *verb)
{
    hcp_upstream_settings_cleanup(&u->settings);
    u->settings = *s;
    u->has_settings = true;
    u->st = *st;
    u->has_stat = true;
    hcs_log(HCS_LOG_NOTICE, "upstream", "settings %s path=%s rules=%zu", verb, u->path,
            u->settings.n_rules);
    for (size_t i = 0; i < u->settings.n_rules; i++) {
        const struct hcp_upstream_rule *r = &u->settings.rules[i];
        hcs_log(HCS_LOG_INFO, "upstream", "rule=%zu url=%.*s hub=\"%s\" category=\"%s\" "
                "event=\"%s\"", i, url_for_log(r->url_template), r->url_template, r->hub_pattern,
                r->category_pattern, r->event_pattern);
    }
    if (u->settings.has_auth)
        hcs_log(HCS_LOG_WARN, "upstream", "auth settings are ignored path=%s", u->path);
}

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Hot reload: re-read the file when it changed; keep the rules on errors. */
static void check_reload(struct hcs_upstream *u)
{
    struct stat st;
    if (stat(u->path, &st) != 0)
        return; /* removed or being replaced: keep what we have */
    if (u->has_stat && same_file(&st, &u->st))
        return;
    struct hcp_upstream_settings s;
    struct stat read_st;
    bool missing = false;
    char err[512];
    if (hcs_upstream_settings_read(u->path, &s, &read_st, &missing, err, sizeof(err)) != 0) {
        if (missing)
            return;
        u->st = st; /* report this version once */
        u->has_stat = true;
        hcs_log(HCS_LOG_WARN, "upstream", "settings reload failed, keeping %zu rules: %s",
                u->settings.n_rules, err);
        return;
    }
    settings_swap(u, &s, &read_st, u->has_settings ? "reloaded" : "loaded");
}

size_t hcs_upstream_pending(const struct hcs_upstream *u)
{
    /* A connection's queue exists while it has jobs queued or in flight. */
    return u ? hcs_map_count(&u->cqs) : 0;
}

void hcs_upstream_poll(struct hcs_upstream *u, int64_t now_ms)
{
    if (!u)
        return;
    pthread_mutex_lock(&u->mu);
    struct job *done = u->done_head;
    u->done_head = u->done_tail = NULL;
    pthread_mutex_unlock(&u->mu);

    while (done) {
        struct job *j = done;
        done = j->next;
        struct cq *q = j->cq;
        u->n_inflight--;
        q->busy = false;
        q->bytes -= j->cost;
        u->total_bytes -= j->cost;
        finish_job(u, j);
        job_free(j);
        make_ready(u, q);
        cq_maybe_drop(u, q);
    }

    struct deferred *d = u->deferred_head;
    u->deferred_head = u->deferred_tail = NULL;
    while (d) {
        struct deferred *n = d->next;
        int rc = hcs_core_complete(u->core, d->hub, d->conn_id, d->invocation_id, NULL, d->error);
        if (rc != HCS_OK)
            hcs_log(HCS_LOG_DEBUG, "upstream", "completion not delivered hub=%s conn=%s "
                    "error=\"%s\"", d->hub, d->conn_id, hcs_strerror(rc));
        deferred_free(d);
        d = n;
    }

    pump(u);

    if (now_ms >= u->next_check_ms) {
        u->next_check_ms = now_ms + RELOAD_CHECK_MS;
        check_reload(u);
    }
}

/* ---- lifecycle ---- */

struct hcs_upstream *hcs_upstream_new(const struct hcs_config *cfg, struct hcs_core *core,
                                      void (*wake)(void *user), void *wake_user)
{
    struct hcs_upstream *u = hcp_calloc(1, sizeof(*u));
    if (!u) {
        hcs_log(HCS_LOG_ERR, "upstream", "out of memory");
        return NULL;
    }
    u->cfg = cfg;
    u->core = core;
    u->wake = wake;
    u->wake_user = wake_user;
    hcs_map_init(&u->cqs);
    if (pthread_mutex_init(&u->mu, NULL) != 0) {
        hcp_free(u);
        return NULL;
    }
    if (hcs_upstream_settings_path(cfg->config_path, u->path, sizeof(u->path)) != 0) {
        hcs_log(HCS_LOG_ERR, "upstream", "settings path too long");
        goto fail;
    }
    struct hcp_upstream_settings s;
    struct stat st;
    bool missing = false;
    char err[512];
    if (hcs_upstream_settings_read(u->path, &s, &st, &missing, err, sizeof(err)) == 0) {
        settings_swap(u, &s, &st, "loaded");
    } else if (missing && !*cfg->config_path) {
        hcs_log(HCS_LOG_NOTICE, "upstream", "no settings file path=%s: invocations fail until "
                "one is created (hubcast-service upstream init)", u->path);
    } else {
        hcs_log(HCS_LOG_ERR, "upstream", "cannot load upstream settings: %s", err);
        goto fail;
    }

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        hcs_log(HCS_LOG_ERR, "upstream", "curl_global_init failed");
        goto fail;
    }
    u->has_curl = true;
    u->multi = curl_multi_init();
    if (!u->multi) {
        hcs_log(HCS_LOG_ERR, "upstream", "curl_multi_init failed");
        goto fail;
    }
    if (pthread_create(&u->thread, NULL, worker_main, u) != 0) {
        hcs_log(HCS_LOG_ERR, "upstream", "cannot start the upstream thread");
        goto fail;
    }
    u->has_thread = true;

    struct hcs_dispatch_ops ops = {
        .connected = on_connected,
        .disconnected = on_disconnected,
        .invocation = on_invocation,
    };
    hcs_core_set_dispatch(core, &ops, u);
    return u;
fail:
    hcs_upstream_free(u);
    return NULL;
}

static void free_cq(void *val, void *ctx)
{
    (void)ctx;
    cq_free(val);
}

static bool match_all(void *val, void *ctx)
{
    (void)val;
    (void)ctx;
    return true;
}

void hcs_upstream_free(struct hcs_upstream *u)
{
    if (!u)
        return;
    /* From here on the core no longer calls us (connections that detach
     * later are not reported upstream). */
    if (u->has_thread)
        hcs_core_set_dispatch(u->core, NULL, NULL);
    if (u->has_thread) {
        pthread_mutex_lock(&u->mu);
        u->stop = true;
        pthread_mutex_unlock(&u->mu);
        curl_multi_wakeup(u->multi);
        pthread_join(u->thread, NULL);
    }
    /* Abandon what is pending: in flight, queued for the worker, finished
     * but not yet applied, and waiting per connection. */
    job_list_free(u->active);
    job_list_free(u->inbox_head);
    job_list_free(u->done_head);
    (void)hcs_map_remove_if(&u->cqs, match_all, free_cq, NULL);
    hcs_map_cleanup(&u->cqs);
    while (u->deferred_head) {
        struct deferred *n = u->deferred_head->next;
        deferred_free(u->deferred_head);
        u->deferred_head = n;
    }
    hcp_upstream_settings_cleanup(&u->settings);
    if (u->multi)
        curl_multi_cleanup(u->multi);
    if (u->has_curl)
        curl_global_cleanup();
    pthread_mutex_destroy(&u->mu);
    hcp_free(u);
}
