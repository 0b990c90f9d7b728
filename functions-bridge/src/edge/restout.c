/* hcb_restout: see restout.h. STYLE.md section 6: curl multi on its own
 * thread, fed through a locked queue and woken with curl_multi_wakeup. */
#include "restout.h"

#include <curl/curl.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "log.h"

#define TOKEN_CACHE 64
#define TOKEN_LIFETIME_S 3600
#define TOKEN_RENEW_S 300

struct item {
    struct item *next;
    struct hcb_rest_call call;
    int attempts;
};

struct token {
    char *aud;
    char *token;
    int64_t exp;
};

struct hcb_restout {
    char *base;
    const char *key;
    size_t max_queue;
    int max_retries;
    pthread_t thread;
    pthread_mutex_t mu;
    struct item *head, *tail;
    size_t n;
    bool stop;
    int64_t drain_deadline_ms;
    CURLM *multi;
    struct hcb_restout_stats st;
    struct token tokens[TOKEN_CACHE];
    size_t next_token;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void item_free(struct item *it)
{
    hcb_rest_call_cleanup(&it->call);
    hcp_free(it);
}

/* Called on the REST thread only. */
static const char *token_for(struct hcb_restout *r, const char *aud)
{
    int64_t now = (int64_t)time(NULL);
    for (size_t i = 0; i < TOKEN_CACHE; i++) {
        struct token *t = &r->tokens[i];
        if (t->aud && !strcmp(t->aud, aud) && t->exp - TOKEN_RENEW_S > now)
            return t->token;
    }
    char *tok = NULL;
    if (hcs_auth_issue(r->key, aud, NULL, now, TOKEN_LIFETIME_S, &tok))
        return NULL;
    struct token *t = &r->tokens[r->next_token++ % TOKEN_CACHE];
    for (size_t i = 0; i < TOKEN_CACHE; i++)
        if (r->tokens[i].aud && !strcmp(r->tokens[i].aud, aud))
            t = &r->tokens[i];
    hcp_free(t->aud);
    hcp_free(t->token);
    t->aud = hcp_strdup(aud);
    t->token = tok;
    t->exp = now + TOKEN_LIFETIME_S;
    return tok;
}

static size_t discard(char *p, size_t s, size_t n, void *u)
{
    (void)p;
    (void)u;
    return s * n;
}

static const char *method_name(enum hcp_method m)
{
    return hcp_method_name(m);
}

static CURL *start(struct hcb_restout *r, CURL *easy, struct item *it, struct curl_slist **hdrs)
{
    char url[4096], auth[9000];
    snprintf(url, sizeof url, "%s%s", r->base, it->call.path);
    const char *tok = token_for(r, url);
    if (!tok)
        return NULL;
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
    strncat(url, "?api-version=2022-06-01", sizeof url - strlen(url) - 1);
    curl_slist_free_all(*hdrs);
    *hdrs = curl_slist_append(NULL, auth);
    if (*hdrs && it->call.body)
        *hdrs = curl_slist_append(*hdrs, "Content-Type: application/json");
    if (!*hdrs)
        return NULL;
    curl_easy_reset(easy);
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method_name(it->call.method));
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, *hdrs);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard);
    if (it->call.body) {
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, it->call.body);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long)it->call.body_len);
    } else if (it->call.method == HCP_METHOD_PUT || it->call.method == HCP_METHOD_POST) {
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, 0L);
    }
    return easy;
}

static void *run(void *arg)
{
    struct hcb_restout *r = arg;
    CURL *easy = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    struct item *cur = NULL; /* the call in flight or waiting for its retry */
    bool in_flight = false;
    int64_t retry_at = 0;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        bool stop = r->stop;
        int64_t deadline = r->drain_deadline_ms;
        if (!cur && r->head) {
            cur = r->head;
            r->head = cur->next;
            if (!r->head)
                r->tail = NULL;
        }
        pthread_mutex_unlock(&r->mu);
        int64_t now = now_ms();
        if (stop && (!cur || now >= deadline))
            break;
        if (cur && !in_flight && now >= retry_at) {
            if (easy && start(r, easy, cur, &hdrs)) {
                curl_multi_add_handle(r->multi, easy);
                in_flight = true;
            } else {
                hcb_log(HCB_LOG_ERR, "rest", "cannot prepare request path=%s", cur->call.path);
                pthread_mutex_lock(&r->mu);
                r->st.failed++;
                r->n--;
                pthread_mutex_unlock(&r->mu);
                item_free(cur);
                cur = NULL;
                continue;
            }
        }
        int wait = 1000;
        if (cur && !in_flight)
            wait = (int)(retry_at - now > 0 ? retry_at - now : 0);
        if (stop && deadline - now < wait)
            wait = (int)(deadline - now > 0 ? deadline - now : 0);
        curl_multi_poll(r->multi, NULL, 0, wait, NULL);
        int running = 0;
        curl_multi_perform(r->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(r->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            long status = 0;
            curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
            CURLcode res = m->data.result;
            curl_multi_remove_handle(r->multi, m->easy_handle);
            in_flight = false;
            bool ok = res == CURLE_OK && status >= 200 && status < 300;
            bool transient = res != CURLE_OK || status >= 500;
            if (!ok && transient && cur->attempts < r->max_retries) {
                int64_t backoff = 100LL << (cur->attempts < 6 ? cur->attempts : 6);
                if (backoff > 5000)
                    backoff = 5000;
                cur->attempts++;
                retry_at = now_ms() + backoff;
                hcb_log(HCB_LOG_WARN, "rest",
                        "retrying method=%s path=%s status=%ld error=\"%s\" attempt=%d",
                        method_name(cur->call.method), cur->call.path, status,
                        curl_easy_strerror(res), cur->attempts);
                pthread_mutex_lock(&r->mu);
                r->st.retried++;
                pthread_mutex_unlock(&r->mu);
                continue;
            }
            if (!ok)
                hcb_log(HCB_LOG_WARN, "rest", "failed method=%s path=%s status=%ld error=\"%s\"",
                        method_name(cur->call.method), cur->call.path, status,
                        curl_easy_strerror(res));
            else
                hcb_log(HCB_LOG_DEBUG, "rest", "sent method=%s path=%s status=%ld",
                        method_name(cur->call.method), cur->call.path, status);
            pthread_mutex_lock(&r->mu);
            if (ok)
                r->st.sent++;
            else
                r->st.failed++;
            r->n--;
            pthread_mutex_unlock(&r->mu);
            item_free(cur);
            cur = NULL;
            retry_at = 0;
        }
    }
    if (in_flight)
        curl_multi_remove_handle(r->multi, easy);
    if (cur) {
        pthread_mutex_lock(&r->mu);
        r->st.dropped++;
        r->n--;
        pthread_mutex_unlock(&r->mu);
        item_free(cur);
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(easy);
    return NULL;
}

struct hcb_restout *hcb_restout_new(const char *base_url, const char *key, size_t max_queue,
                                    int max_retries)
{
    struct hcb_restout *r = hcp_calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->base = hcp_strdup(base_url);
    r->key = key;
    r->max_queue = max_queue;
    r->max_retries = max_retries;
    pthread_mutex_init(&r->mu, NULL);
    r->multi = curl_multi_init();
    if (!r->base || !r->multi)
        goto fail;
    curl_multi_setopt(r->multi, CURLMOPT_MAXCONNECTS, 4L);
    if (pthread_create(&r->thread, NULL, run, r))
        goto fail;
    return r;
fail:
    if (r->multi)
        curl_multi_cleanup(r->multi);
    pthread_mutex_destroy(&r->mu);
    hcp_free(r->base);
    hcp_free(r);
    return NULL;
}

int hcb_restout_enqueue(struct hcb_restout *r, struct hcb_rest_call *call)
{
    struct item *it = hcp_calloc(1, sizeof *it);
    pthread_mutex_lock(&r->mu);
    if (!it || r->n >= r->max_queue || r->stop) {
        r->st.dropped++;
        pthread_mutex_unlock(&r->mu);
        hcp_free(it);
        hcb_rest_call_cleanup(call);
        return -1;
    }
    it->call = *call;
    memset(call, 0, sizeof *call);
    if (r->tail)
        r->tail->next = it;
    else
        r->head = it;
    r->tail = it;
    r->n++;
    r->st.queued++;
    pthread_mutex_unlock(&r->mu);
    curl_multi_wakeup(r->multi);
    return 0;
}

void hcb_restout_stats(struct hcb_restout *r, struct hcb_restout_stats *out)
{
    pthread_mutex_lock(&r->mu);
    *out = r->st;
    out->pending = r->n;
    pthread_mutex_unlock(&r->mu);
}

void hcb_restout_free(struct hcb_restout *r, int drain_ms)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    r->drain_deadline_ms = now_ms() + drain_ms;
    pthread_mutex_unlock(&r->mu);
    curl_multi_wakeup(r->multi);
    pthread_join(r->thread, NULL);
    for (struct item *it = r->head, *nx; it; it = nx) {
        nx = it->next;
        item_free(it);
    }
    for (size_t i = 0; i < TOKEN_CACHE; i++) {
        hcp_free(r->tokens[i].aud);
        hcp_free(r->tokens[i].token);
    }
    curl_multi_cleanup(r->multi);
    pthread_mutex_destroy(&r->mu);
    hcp_free(r->base);
    hcp_free(r);
}
