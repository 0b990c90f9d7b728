/*
 * libhubcast integration test against the real hubcast-service.
 *
 *   test_sdk_integration SERVICE_BIN CLI_BIN VARIANT
 *
 * VARIANT is ws, sse or longpolling (JSON hub protocol), msgpack-ws or
 * msgpack-longpolling (the same scenarios with the MessagePack hub protocol,
 * plus a value round trip: REST JSON bodies arrive with their values
 * intact), or stateful / stateful-msgpack (stateful reconnect over
 * WebSockets through an in-process TCP proxy that cuts the connection while
 * REST broadcasts are being sent: every message arrives exactly once, in
 * order, under the same connection id; a failed resume falls back to the
 * ordinary automatic reconnect).
 *
 * Spawns hubcast-service on 127.0.0.1 with --port 0 (reads the port from the
 * connection string it prints), then over the chosen transport: connect and
 * receive REST broadcasts (case-insensitive handler), send, invoke (the
 * service has no upstream and completes with an error text), a stream
 * invocation (completed with an error), a negotiate redirect through a tiny
 * in-process "functions app", the background-thread mode, hubcast-cli listen
 * and invoke, reconnect after the service is restarted on the same port, and
 * a clean stop/free (run under ASan for leaks). Every wait is bounded and
 * event-driven (the client is serviced until a condition holds).
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <jwt.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hubcast.h"

#define KEY "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH"
#define WAIT_MS 10000

static const char *g_service_bin, *g_cli_bin, *g_variant;
static unsigned g_transport;
static bool g_mp; /* MessagePack hub protocol */
static pid_t g_service = -1;
static int g_port;
static const char *g_hub = "chat";

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
            cleanup_and_exit(1);                                                                   \
        }                                                                                          \
    } while (0)

static void cleanup_and_exit(int code)
{
    if (g_service > 0) {
        kill(g_service, SIGKILL);
        waitpid(g_service, NULL, 0);
    }
    exit(code);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the service ------------------------------------------------------------------------- */

static int start_service(int port)
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    char port_s[16];
    snprintf(port_s, sizeof port_s, "%d", port);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl(g_service_bin, g_service_bin, "--host", "127.0.0.1", "--port", port_s,
              "--transports", "WebSockets,ServerSentEvents,LongPolling", "--log-level",
              getenv("HC_TEST_DEBUG") ? "info" : "warn",
              (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char line[1024];
    size_t len = 0;
    int64_t until = now_ms() + WAIT_MS;
    while (len < sizeof line - 1 && now_ms() < until) {
        struct pollfd p = {fds[0], POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = read(fds[0], line + len, 1);
        if (n <= 0)
            break;
        len++;
        if (line[len - 1] == '\n')
            break;
    }
    line[len] = '\0';
    close(fds[0]);
    const char *p = strstr(line, "Port=");
    if (p == NULL) {
        fprintf(stderr, "service did not print a connection string: '%s'\n", line);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    g_service = pid;
    return atoi(p + 5);
}

static void stop_service(void)
{
    if (g_service <= 0)
        return;
    kill(g_service, SIGTERM);
    int64_t until = now_ms() + WAIT_MS;
    while (now_ms() < until) {
        if (waitpid(g_service, NULL, WNOHANG) == g_service) {
            g_service = -1;
            return;
        }
        usleep(10000);
    }
    kill(g_service, SIGKILL);
    waitpid(g_service, NULL, 0);
    g_service = -1;
}

static char *token(const char *aud)
{
    jwt_t *j = NULL;
    CHECK(jwt_new(&j) == 0);
    CHECK(jwt_set_alg(j, JWT_ALG_HS256, (const unsigned char *)KEY, strlen(KEY)) == 0);
    CHECK(jwt_add_grant(j, "aud", aud) == 0);
    CHECK(jwt_add_grant_int(j, "exp", time(NULL) + 3600) == 0);
    CHECK(jwt_add_grant(j, "asrs.s.uid", "sdk-user") == 0);
    char *s = jwt_encode_str(j);
    jwt_free(j);
    CHECK(s != NULL);
    return s;
}

static void hub_url(char *buf, size_t cap)
{
    snprintf(buf, cap, "http://127.0.0.1:%d/client/?hub=%s", g_port, g_hub);
}

static char *client_token(void)
{
    char aud[256];
    hub_url(aud, sizeof aud);
    return token(aud);
}

static long broadcast(const char *body)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/hubs/%s", g_port, g_hub);
    char *tok = token(url);
    char auth[2048];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
    free(tok);
    CURL *e = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, auth);
    h = curl_slist_append(h, "Content-Type: application/json");
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 10L);
    long status = 0;
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    return status;
}

/* ---- client helpers ---------------------------------------------------------------------- */

struct seen {
    atomic_int n_msgs;
    char last_target[64];
    char last_args[256];
    int n_results;
    char result[512];
    char error[512];
    int n_states;
    enum hc_state states[64];
};

static void on_msg(void *user, hc_client *c, hc_invocation *inv)
{
    (void)c;
    struct seen *s = user;
    snprintf(s->last_target, sizeof s->last_target, "%s", hc_invocation_target(inv));
    snprintf(s->last_args, sizeof s->last_args, "%s", hc_invocation_args_json(inv));
    atomic_fetch_add(&s->n_msgs, 1);
}

static void on_result(void *user, hc_client *c, const char *result, const char *error)
{
    (void)c;
    struct seen *s = user;
    s->n_results++;
    snprintf(s->result, sizeof s->result, "%s", result ? result : "");
    snprintf(s->error, sizeof s->error, "%s", error ? error : "");
}

static void on_item(void *user, hc_client *c, const char *item)
{
    (void)user, (void)c, (void)item;
}

static void on_state(void *user, hc_client *c, enum hc_state o, enum hc_state n, const char *err)
{
    (void)c;
    struct seen *s = user;
    if (s->n_states < 64)
        s->states[s->n_states++] = n;
    if (getenv("HC_TEST_DEBUG"))
        fprintf(stderr, "state %s -> %s (%s)\n", hc_state_name(o), hc_state_name(n),
                err ? err : "");
}

static void on_log(void *user, enum hc_log_level level, const char *line)
{
    (void)user;
    fprintf(stderr, "[sdk %d] %s\n", (int)level, line);
}

static bool drive_until(hc_client *c, bool (*pred)(hc_client *, void *), void *arg, int ms)
{
    int64_t until = now_ms() + ms;
    while (now_ms() < until) {
        if (pred(c, arg))
            return true;
        CHECK(hc_client_service(c, 50) == HC_OK);
    }
    return pred(c, arg);
}

static bool is_state(hc_client *c, void *arg)
{
    return hc_client_state(c) == *(enum hc_state *)arg;
}

static bool n_msgs_at_least(hc_client *c, void *arg)
{
    struct seen *s = (struct seen *)((void **)arg)[0];
    int want = *(int *)((void **)arg)[1];
    (void)c;
    return atomic_load(&s->n_msgs) >= want;
}

static bool has_result(hc_client *c, void *arg)
{
    (void)c;
    return ((struct seen *)arg)->n_results > 0;
}

static bool wait_state(hc_client *c, enum hc_state st, int ms)
{
    return drive_until(c, is_state, &st, ms);
}

static bool wait_msgs(hc_client *c, struct seen *s, int want, int ms)
{
    void *arg[2] = {s, &want};
    return drive_until(c, n_msgs_at_least, arg, ms);
}

static hc_client *new_client(const char *url, struct seen *s)
{
    hc_client *c = hc_client_new(url);
    CHECK(c != NULL);
    char *tok = client_token();
    CHECK(hc_client_set_access_token(c, tok) == HC_OK);
    free(tok);
    CHECK(hc_client_set_transports(c, g_transport) == HC_OK);
    CHECK(hc_client_set_state_fn(c, on_state, s) == HC_OK);
    if (g_mp)
        CHECK(hc_client_set_protocol(c, HC_PROTOCOL_MESSAGEPACK) == HC_OK);
    if (getenv("HC_TEST_DEBUG"))
        CHECK(hc_client_set_log_fn(c, on_log, NULL, HC_LOG_DEBUG) == HC_OK);
    return c;
}

/* ---- scenarios --------------------------------------------------------------------------- */

static void test_messaging(void)
{
    struct seen s;
    memset(&s, 0, sizeof s);
    char url[256];
    hub_url(url, sizeof url);
    hc_client *c = new_client(url, &s);
    CHECK(hc_client_on(c, "NEWMESSAGE", on_msg, &s) == HC_OK);
    CHECK(hc_client_send(c, "x", "[]") == HC_ERR_NOT_CONNECTED);
    CHECK(hc_client_start(c) == HC_OK);
    CHECK(hc_client_start(c) == HC_ERR_STATE);
    CHECK(hc_client_set_transports(c, HC_TRANSPORT_ALL) == HC_ERR_STATE);
    CHECK(wait_state(c, HC_STATE_CONNECTED, WAIT_MS));
    CHECK(hc_client_transport(c) == g_transport);
    char id[128];
    CHECK(hc_client_connection_id(c, id, sizeof id) == HC_OK && strlen(id) > 0);
    CHECK(s.n_states >= 2 && s.states[0] == HC_STATE_CONNECTING &&
          s.states[1] == HC_STATE_CONNECTED);

    /* REST broadcast reaches the handler (method matched case-insensitively). */
    CHECK(broadcast("{\"target\":\"newMessage\",\"arguments\":[\"hi\",1,{\"a\":[true]}]}") == 202);
    CHECK(wait_msgs(c, &s, 1, WAIT_MS));
    CHECK(strcmp(s.last_target, "newMessage") == 0);
    CHECK(strcmp(s.last_args, "[\"hi\",1,{\"a\":[true]}]") == 0);

    /* invoke: no upstream is configured, the service completes with an error. */
    CHECK(hc_client_invoke(c, "Echo", "[1,\"two\"]", on_result, &s) == HC_OK);
    CHECK(drive_until(c, has_result, &s, WAIT_MS));
    CHECK(strstr(s.error, "No upstream is configured") != NULL);
    CHECK(strstr(s.error, "Echo") != NULL);

    /* send is fire-and-forget; the connection stays up and keeps working. */
    CHECK(hc_client_send(c, "Echo", "[1]") == HC_OK);
    CHECK(hc_client_send(c, "Echo", "{not an array}") == HC_ERR_INVALID);
    CHECK(hc_client_send(c, "", "[]") == HC_ERR_INVALID);

    /* a stream invocation is completed (with an error in serverless mode). */
    memset(s.error, 0, sizeof s.error);
    s.n_results = 0;
    uint64_t sid = 99;
    CHECK(hc_client_stream(c, "Counter", "[3]", on_item, on_result, &s, &sid) == HC_OK);
    CHECK(sid != 99);
    CHECK(drive_until(c, has_result, &s, WAIT_MS));
    CHECK(s.error[0] != '\0');
    CHECK(hc_client_stream_cancel(c, sid) == HC_ERR_NOT_FOUND);

    /* off: no more deliveries to that handler */
    CHECK(hc_client_off(c, "newmessage", on_msg) == HC_OK);
    CHECK(hc_client_off(c, "newmessage", NULL) == HC_ERR_NOT_FOUND);
    CHECK(hc_client_on(c, "second", on_msg, &s) == HC_OK);
    CHECK(broadcast("{\"target\":\"newMessage\",\"arguments\":[]}") == 202);
    CHECK(broadcast("{\"target\":\"Second\",\"arguments\":[2]}") == 202);
    CHECK(wait_msgs(c, &s, 2, WAIT_MS));
    CHECK(strcmp(s.last_target, "Second") == 0);

    /* pending invocations fail when the client stops */
    s.n_results = 0;
    CHECK(hc_client_stop(c) == HC_OK);
    CHECK(wait_state(c, HC_STATE_DISCONNECTED, WAIT_MS));
    CHECK(s.states[s.n_states - 1] == HC_STATE_DISCONNECTED);
    /* restart the same client */
    CHECK(hc_client_start(c) == HC_OK);
    CHECK(wait_state(c, HC_STATE_CONNECTED, WAIT_MS));
    hc_client_free(c); /* stops gracefully */
    fprintf(stderr, "ok messaging (%s)\n", g_variant);
}

/* A one-shot "functions app" negotiate endpoint that answers with a redirect. */
struct redirector {
    int fd;
    int port;
    char redirect[4096];
    char request_line[512];
    atomic_int hits;
};

static void *redirector_main(void *arg)
{
    struct redirector *r = arg;
    for (;;) {
        int cfd = accept(r->fd, NULL, NULL);
        if (cfd < 0)
            return NULL;
        char req[8192];
        size_t len = 0;
        while (len < sizeof req - 1) {
            ssize_t n = read(cfd, req + len, sizeof req - 1 - len);
            if (n <= 0)
                break;
            len += (size_t)n;
            req[len] = '\0';
            if (strstr(req, "\r\n\r\n"))
                break;
        }
        req[len] = '\0';
        if (atomic_load(&r->hits) == 0)
            snprintf(r->request_line, sizeof r->request_line, "%.*s", (int)strcspn(req, "\r"),
                     req);
        atomic_fetch_add(&r->hits, 1);
        char resp[5000];
        int n = snprintf(resp, sizeof resp,
                         "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                         strlen(r->redirect), r->redirect);
        if (write(cfd, resp, (size_t)n) < 0) {
            /* the client went away: nothing to do */
        }
        close(cfd);
    }
}

static void test_redirect(void)
{
    struct redirector r;
    memset(&r, 0, sizeof r);
    r.fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(r.fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(r.fd, 8) == 0);
    socklen_t alen = sizeof a;
    getsockname(r.fd, (struct sockaddr *)&a, &alen);
    r.port = ntohs(a.sin_port);
    char url[256];
    hub_url(url, sizeof url);
    char *tok = client_token();
    snprintf(r.redirect, sizeof r.redirect, "{\"url\":\"%s\",\"accessToken\":\"%s\"}", url, tok);
    free(tok);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, redirector_main, &r) == 0);

    struct seen s;
    memset(&s, 0, sizeof s);
    char base[128];
    snprintf(base, sizeof base, "http://127.0.0.1:%d/api", r.port);
    hc_client *c = hc_client_new(base); /* no token: the redirect brings one */
    CHECK(c != NULL);
    CHECK(hc_client_set_transports(c, g_transport) == HC_OK);
    if (g_mp)
        CHECK(hc_client_set_protocol(c, HC_PROTOCOL_MESSAGEPACK) == HC_OK);
    CHECK(hc_client_on(c, "fromApp", on_msg, &s) == HC_OK);
    CHECK(hc_client_start(c) == HC_OK);
    CHECK(wait_state(c, HC_STATE_CONNECTED, WAIT_MS));
    CHECK(strcmp(r.request_line, "POST /api/negotiate?negotiateVersion=1 HTTP/1.1") == 0);
    CHECK(broadcast("{\"target\":\"fromApp\",\"arguments\":[42]}") == 202);
    CHECK(wait_msgs(c, &s, 1, WAIT_MS));
    CHECK(strcmp(s.last_args, "[42]") == 0);
    hc_client_free(c);
    shutdown(r.fd, SHUT_RDWR);
    close(r.fd);
    pthread_join(th, NULL);
    fprintf(stderr, "ok redirect (%s)\n", g_variant);
}

static void test_thread_mode(void)
{
    struct seen s;
    memset(&s, 0, sizeof s);
    char url[256];
    hub_url(url, sizeof url);
    hc_client *c = new_client(url, &s);
    CHECK(hc_client_on(c, "tick", on_msg, &s) == HC_OK);
    CHECK(hc_client_start(c) == HC_OK);
    CHECK(hc_client_start_thread(c) == HC_OK);
    CHECK(hc_client_service(c, 0) == HC_ERR_STATE);
    int64_t until = now_ms() + WAIT_MS;
    while (hc_client_state(c) != HC_STATE_CONNECTED && now_ms() < until)
        usleep(10000);
    CHECK(hc_client_state(c) == HC_STATE_CONNECTED);
    /* send from this (non-driving) thread */
    CHECK(hc_client_send(c, "Echo", "[\"from another thread\"]") == HC_OK);
    CHECK(broadcast("{\"target\":\"tick\",\"arguments\":[1]}") == 202);
    until = now_ms() + WAIT_MS;
    while (atomic_load(&s.n_msgs) < 1 && now_ms() < until)
        usleep(10000);
    CHECK(atomic_load(&s.n_msgs) == 1);
    CHECK(hc_client_stop_thread(c) == HC_OK);
    CHECK(hc_client_state(c) == HC_STATE_DISCONNECTED);
    hc_client_free(c);
    fprintf(stderr, "ok thread mode (%s)\n", g_variant);
}

/* Run the CLI; capture stdout/stderr into buffers. Calls during() while it runs. */
static int run_cli(char *const argv[], char *out, size_t out_cap, char *err, size_t err_cap,
                   void (*during)(void))
{
    int o[2], e[2];
    CHECK(pipe(o) == 0 && pipe(e) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(o[1], 1);
        dup2(e[1], 2);
        close(o[0]);
        close(e[0]);
        execv(g_cli_bin, argv);
        _exit(127);
    }
    close(o[1]);
    close(e[1]);
    size_t olen = 0, elen = 0;
    bool o_open = true, e_open = true, called = false;
    int64_t until = now_ms() + 3 * WAIT_MS;
    while ((o_open || e_open) && now_ms() < until) {
        struct pollfd p[2] = {{o_open ? o[0] : -1, POLLIN, 0}, {e_open ? e[0] : -1, POLLIN, 0}};
        poll(p, 2, 100);
        if (!called && during && (olen > 0 || elen > 0 || now_ms() > until - 2 * WAIT_MS)) {
            /* wait for the "connected" line on stderr (-v) before acting */
            if (strstr(err, "hubcast-cli: connected\n")) {
                called = true;
                during();
            }
        }
        if (p[0].revents) {
            ssize_t n = read(o[0], out + olen, out_cap - 1 - olen);
            if (n <= 0)
                o_open = false;
            else
                olen += (size_t)n;
            out[olen] = '\0';
        }
        if (p[1].revents) {
            ssize_t n = read(e[0], err + elen, err_cap - 1 - elen);
            if (n <= 0)
                e_open = false;
            else
                elen += (size_t)n;
            err[elen] = '\0';
        }
    }
    close(o[0]);
    close(e[0]);
    int status = 0;
    if (o_open || e_open)
        kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void cli_broadcast(void)
{
    CHECK(broadcast("{\"target\":\"cliMsg\",\"arguments\":[\"a\\\"b\",{\"k\":null}]}") == 202);
    CHECK(broadcast("{\"target\":\"ignored\",\"arguments\":[]}") == 202);
    CHECK(broadcast("{\"target\":\"CLIMSG\",\"arguments\":[2]}") == 202);
}

static void test_cli(void)
{
    char url[256], out[8192] = "", err[8192] = "";
    hub_url(url, sizeof url);
    char *tok = client_token();
    const char *tr = g_transport == HC_TRANSPORT_WEBSOCKETS ? "websockets"
                     : g_transport == HC_TRANSPORT_SSE       ? "sse"
                                                             : "longpolling";
    /* With MessagePack: --protocol messagepack (the NULL slot before the end). */
    char *proto = g_mp ? "--protocol" : NULL, *proto_v = g_mp ? "messagepack" : NULL;
    char *inv[] = {"hubcast-cli", "invoke", url, "Echo", "[1]", "--access-token", tok,
                   "--transport", (char *)tr, "--timeout", "20", proto, proto_v, NULL};
    int rc = run_cli(inv, out, sizeof out, err, sizeof err, NULL);
    if (rc != 1 || !strstr(err, "No upstream is configured"))
        fprintf(stderr, "cli invoke: rc=%d out='%s' err='%s'\n", rc, out, err);
    CHECK(rc == 1);
    CHECK(strstr(err, "No upstream is configured") != NULL);

    out[0] = err[0] = '\0';
    char *lis[] = {"hubcast-cli", "listen", url, "--access-token", tok, "--transport",
                   (char *)tr, "--method", "climsg", "--count", "2", "--timeout", "20", "-v",
                   proto, proto_v, NULL};
    rc = run_cli(lis, out, sizeof out, err, sizeof err, cli_broadcast);
    if (rc != 0)
        fprintf(stderr, "cli listen: rc=%d out='%s' err='%s'\n", rc, out, err);
    CHECK(rc == 0);
    CHECK(strcmp(out, "{\"target\":\"cliMsg\",\"arguments\":[\"a\\\"b\",{\"k\":null}]}\n"
                      "{\"target\":\"CLIMSG\",\"arguments\":[2]}\n") == 0);

    out[0] = err[0] = '\0';
    char *snd[] = {"hubcast-cli", "send", url, "Echo", "[1]", "--access-token", tok,
                   "--transport", (char *)tr, proto, proto_v, NULL};
    rc = run_cli(snd, out, sizeof out, err, sizeof err, NULL);
    CHECK(rc == 0);
    char *bad[] = {"hubcast-cli", "send", url, "Echo", "{}", NULL};
    rc = run_cli(bad, out, sizeof out, err, sizeof err, NULL);
    CHECK(rc == 2);
    free(tok);
    fprintf(stderr, "ok cli (%s)\n", g_variant);
}

static int64_t fast_retry(void *user, const struct hc_retry_info *info)
{
    (void)user;
    return info->previous_attempts < 100 ? 200 : -1;
}

static void test_reconnect_after_restart(void)
{
    struct seen s;
    memset(&s, 0, sizeof s);
    char url[256];
    hub_url(url, sizeof url);
    hc_client *c = new_client(url, &s);
    CHECK(hc_client_set_reconnect_policy(c, fast_retry, NULL) == HC_OK);
    CHECK(hc_client_on(c, "again", on_msg, &s) == HC_OK);
    CHECK(hc_client_start(c) == HC_OK);
    CHECK(wait_state(c, HC_STATE_CONNECTED, WAIT_MS));
    char id1[128], id2[128];
    CHECK(hc_client_connection_id(c, id1, sizeof id1) == HC_OK);

    int port = g_port;
    stop_service();
    CHECK(wait_state(c, HC_STATE_RECONNECTING, WAIT_MS));
    /* let a few attempts fail against the closed port */
    int64_t until = now_ms() + 500;
    while (now_ms() < until)
        hc_client_service(c, 50);
    CHECK(hc_client_state(c) == HC_STATE_RECONNECTING);
    CHECK(start_service(port) == port);
    CHECK(wait_state(c, HC_STATE_CONNECTED, WAIT_MS));
    CHECK(hc_client_connection_id(c, id2, sizeof id2) == HC_OK);
    CHECK(strcmp(id1, id2) != 0); /* a full new connection */
    CHECK(broadcast("{\"target\":\"again\",\"arguments\":[\"back\"]}") == 202);
    CHECK(wait_msgs(c, &s, 1, WAIT_MS));
    CHECK(hc_client_stop(c) == HC_OK);
    CHECK(wait_state(c, HC_STATE_DISCONNECTED, WAIT_MS));
    hc_client_free(c);
    fprintf(stderr, "ok reconnect after restart (%s)\n", g_variant);
}

/* MessagePack: values of a REST JSON body survive JSON → MessagePack → JSON intact. */
static void test_values(void)
{
    struct seen s;
    memset(&s, 0, sizeof s);
    char url[256];
    hub_url(url, sizeof url);
    hc_client *c = new_client(url, &s);
    CHECK(hc_client_on(c, "vals", on_msg, &s) == HC_OK);
    CHECK(hc_client_start(c) == HC_OK);
    CHECK(wait_state(c, HC_STATE_CONNECTED, WAIT_MS));
    static const char body[] =
        "{\"target\":\"vals\",\"arguments\":[\"h\\u00e9llo \\u2713\",-42,4294967296,"
        "3.25,-0.5,1e300,true,false,null,{\"a\":[1,{\"b\":\"c\"}],\"e\":{}},[],\"\","
        "\"tab\\tquote\\\"\"]}";
    CHECK(broadcast(body) == 202);
    CHECK(wait_msgs(c, &s, 1, WAIT_MS));
    static const char want[] = "[\"h\xc3\xa9llo \xe2\x9c\x93\",-42,4294967296,3.25,-0.5,"
                               "1e+300,true,false,null,{\"a\":[1,{\"b\":\"c\"}],\"e\":{}},[],\"\","
                               "\"tab\\tquote\\\"\"]";
    if (strcmp(s.last_args, want) != 0)
        fprintf(stderr, "got  %s\nwant %s\n", s.last_args, want);
    CHECK(strcmp(s.last_args, want) == 0);
    hc_client_free(c);
    fprintf(stderr, "ok values (%s)\n", g_variant);
}

/* ---- stateful reconnect through a TCP proxy ---------------------------------------------- */

#define PROXY_MAX 32

/* 127.0.0.1 TCP proxy in front of the service. A cut ends every relayed connection
 * without a WebSocket Close frame (an unclean drop); hold mode leaves new connections
 * in the listen backlog; refuse mode closes them at once. */
struct proxy {
    int lfd;
    int port;
    int pairs[PROXY_MAX][2]; /* client fd, service fd; -1 when free */
    atomic_int cut_req;
    atomic_int refuse;
    atomic_int hold;
    atomic_int quit;
    atomic_int n_cuts;
    pthread_t th;
};

static void proxy_close_pair(struct proxy *p, int i)
{
    close(p->pairs[i][0]);
    close(p->pairs[i][1]);
    p->pairs[i][0] = p->pairs[i][1] = -1;
}

static void *proxy_main(void *arg)
{
    struct proxy *p = arg;
    while (!atomic_load(&p->quit)) {
        if (atomic_exchange(&p->cut_req, 0)) {
            for (int i = 0; i < PROXY_MAX; i++)
                if (p->pairs[i][0] >= 0)
                    proxy_close_pair(p, i);
            atomic_fetch_add(&p->n_cuts, 1);
        }
        struct pollfd fds[1 + 2 * PROXY_MAX];
        int map[1 + 2 * PROXY_MAX];
        int n = 0;
        fds[n] = (struct pollfd){atomic_load(&p->hold) ? -1 : p->lfd, POLLIN, 0};
        map[n++] = -1;
        for (int i = 0; i < PROXY_MAX; i++) {
            if (p->pairs[i][0] < 0)
                continue;
            fds[n] = (struct pollfd){p->pairs[i][0], POLLIN, 0};
            map[n++] = i * 2;
            fds[n] = (struct pollfd){p->pairs[i][1], POLLIN, 0};
            map[n++] = i * 2 + 1;
        }
        if (poll(fds, (nfds_t)n, 20) <= 0)
            continue;
        if (fds[0].revents & POLLIN) {
            int cfd = accept(p->lfd, NULL, NULL);
            if (cfd >= 0 && atomic_load(&p->refuse)) {
                close(cfd);
            } else if (cfd >= 0) {
                int sfd = socket(AF_INET, SOCK_STREAM, 0);
                struct sockaddr_in a = {0};
                a.sin_family = AF_INET;
                a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                a.sin_port = htons((uint16_t)g_port);
                int slot = -1;
                for (int i = 0; i < PROXY_MAX && slot < 0; i++)
                    if (p->pairs[i][0] < 0)
                        slot = i;
                if (slot < 0 || connect(sfd, (struct sockaddr *)&a, sizeof a) != 0) {
                    close(cfd);
                    close(sfd);
                } else {
                    p->pairs[slot][0] = cfd;
                    p->pairs[slot][1] = sfd;
                }
            }
        }
        for (int k = 1; k < n; k++) {
            if (!fds[k].revents)
                continue;
            int i = map[k] / 2, side = map[k] % 2;
            if (p->pairs[i][0] < 0)
                continue;
            char buf[16384];
            ssize_t got = read(p->pairs[i][side], buf, sizeof buf);
            if (got <= 0 || write(p->pairs[i][!side], buf, (size_t)got) != got)
                proxy_close_pair(p, i);
        }
    }
    for (int i = 0; i < PROXY_MAX; i++)
        if (p->pairs[i][0] >= 0)
            proxy_close_pair(p, i);
    return NULL;
}

static void proxy_start(struct proxy *p)
{
    memset(p, 0, sizeof *p);
    for (int i = 0; i < PROXY_MAX; i++)
        p->pairs[i][0] = p->pairs[i][1] = -1;
    p->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(p->lfd, (struct sockaddr *)&a, sizeof a) == 0 && listen(p->lfd, 16) == 0);
    socklen_t alen = sizeof a;
    CHECK(getsockname(p->lfd, (struct sockaddr *)&a, &alen) == 0);
    p->port = ntohs(a.sin_port);
    CHECK(pthread_create(&p->th, NULL, proxy_main, p) == 0);
}

static void proxy_stop(struct proxy *p)
{
    atomic_store(&p->quit, 1);
    pthread_join(p->th, NULL);
    close(p->lfd);
}

#define N_SEQ 60

struct seq_seen {
    atomic_int n;
    int values[4 * N_SEQ];
};

static void on_seq(void *user, hc_client *c, hc_invocation *inv)
{
    (void)c;
    struct seq_seen *q = user;
    double v = -1;
    if (hc_invocation_arg_number(inv, 0, &v) != HC_OK)
        v = -1;
    int i = atomic_load(&q->n);
    if (i < 4 * N_SEQ)
        q->values[i] = (int)v;
    atomic_store(&q->n, i + 1);
}

/* Posts broadcasts 1..N_SEQ, at most WINDOW ahead of what the client received, so a
 * cut always finds messages in flight. */
#define WINDOW 8

struct sender {
    atomic_int sent;
    struct seq_seen *q;
    pthread_t th;
};

static void *sender_main(void *arg)
{
    struct sender *snd = arg;
    for (int i = 1; i <= N_SEQ; i++) {
        int64_t until = now_ms() + 3 * WAIT_MS;
        while (atomic_load(&snd->q->n) < i - WINDOW && now_ms() < until)
            usleep(1000);
        char body[128];
        snprintf(body, sizeof body, "{\"target\":\"seq\",\"arguments\":[%d]}", i);
        if (broadcast(body) != 202)
            fprintf(stderr, "broadcast %d failed\n", i);
        atomic_store(&snd->sent, i);
    }
    return NULL;
}

static bool seq_n_at_least(hc_client *c, void *arg)
{
    (void)c;
    struct seq_seen *q = ((void **)arg)[0];
    return atomic_load(&q->n) >= *(int *)((void **)arg)[1];
}

static bool sent_at_least(hc_client *c, void *arg)
{
    (void)c;
    struct sender *snd = ((void **)arg)[0];
    return atomic_load(&snd->sent) >= *(int *)((void **)arg)[1];
}

static hc_client *stateful_client(struct proxy *p, struct seen *s)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/client/?hub=%s", p->port, g_hub);
    hc_client *c = new_client(url, s);
    CHECK(hc_client_set_stateful_reconnect(c, true) == HC_OK);
    CHECK(hc_client_set_reconnect_policy(c, fast_retry, NULL) == HC_OK);
    return c;
}

static void test_stateful_resume(void)
{
    struct proxy p;
    proxy_start(&p);
    struct seen s;
    memset(&s, 0, sizeof s);
    struct seq_seen q;
    memset(&q, 0, sizeof q);
    hc_client *c = stateful_client(&p, &s);
    CHECK(hc_client_on(c, "seq", on_seq, &q) == HC_OK);
    CHECK(hc_client_start(c) == HC_OK);
    CHECK(wait_state(c, HC_STATE_CONNECTED, WAIT_MS));
    char id1[128], id2[128];
    CHECK(hc_client_connection_id(c, id1, sizeof id1) == HC_OK && *id1);

    struct sender snd;
    memset(&snd, 0, sizeof snd);
    snd.q = &q;
    CHECK(pthread_create(&snd.th, NULL, sender_main, &snd) == 0);
    /* Cut twice while the broadcasts flow: after a third and after two thirds. */
    for (int k = 1; k <= 2; k++) {
        int want = k * N_SEQ / 3;
        void *arg[2] = {&snd, &want};
        CHECK(drive_until(c, sent_at_least, arg, WAIT_MS));
        /* Keep the resume waiting (hold) until the sender has used up its window: those
         * broadcasts are posted while the connection is cut. */
        atomic_store(&p.hold, 1);
        atomic_store(&p.cut_req, 1);
        while (atomic_load(&p.n_cuts) < k)
            CHECK(hc_client_service(c, 5) == HC_OK);
        if (k == 1) {
            /* Client → server during the resume: queued, replayed after the Sequence,
             * completed exactly once. */
            CHECK(hc_client_invoke(c, "Echo", "[7]", on_result, &s) == HC_OK);
        }
        int frozen = atomic_load(&q.n) + WINDOW;
        void *full[2] = {&snd, &frozen};
        CHECK(drive_until(c, sent_at_least, full, WAIT_MS));
        atomic_store(&p.hold, 0);
        int at_cut = atomic_load(&snd.sent);
        void *got[2] = {&q, &at_cut};
        CHECK(drive_until(c, seq_n_at_least, got, 2 * WAIT_MS));
    }
    int all = N_SEQ;
    void *done[2] = {&snd, &all};
    CHECK(drive_until(c, sent_at_least, done, 3 * WAIT_MS));
    pthread_join(snd.th, NULL);
    int want = N_SEQ;
    void *arg[2] = {&q, &want};
    CHECK(drive_until(c, seq_n_at_least, arg, 3 * WAIT_MS));
    CHECK(drive_until(c, has_result, &s, WAIT_MS));
    /* let late duplicates (if any) arrive before counting */
    int64_t until = now_ms() + 300;
    while (now_ms() < until)
        CHECK(hc_client_service(c, 20) == HC_OK);
    if (atomic_load(&q.n) != N_SEQ)
        fprintf(stderr, "received %d messages, want %d\n", atomic_load(&q.n), N_SEQ);
    CHECK(atomic_load(&q.n) == N_SEQ);
    for (int i = 0; i < N_SEQ; i++) {
        if (q.values[i] != i + 1)
            fprintf(stderr, "message %d is %d\n", i, q.values[i]);
        CHECK(q.values[i] == i + 1);
    }
    if (s.n_results != 1 || !strstr(s.error, "No upstream is configured"))
        fprintf(stderr, "invoke: %d result(s), error '%s'\n", s.n_results, s.error);
    CHECK(s.n_results == 1);
    CHECK(strstr(s.error, "No upstream is configured") != NULL);
    CHECK(hc_client_connection_id(c, id2, sizeof id2) == HC_OK);
    CHECK(strcmp(id1, id2) == 0); /* the same connection */
    /* never left Connected */
    for (int i = 0; i < s.n_states; i++)
        CHECK(s.states[i] == HC_STATE_CONNECTING || s.states[i] == HC_STATE_CONNECTED);
    CHECK(hc_client_state(c) == HC_STATE_CONNECTED);
    CHECK(hc_client_stop(c) == HC_OK);
    CHECK(wait_state(c, HC_STATE_DISCONNECTED, WAIT_MS));
    hc_client_free(c);
    proxy_stop(&p);
    fprintf(stderr, "ok stateful resume (%s)\n", g_variant);
}

/* The resume is refused: ordinary automatic reconnect takes over (a new connection). */
static void test_stateful_fallback(void)
{
    struct proxy p;
    proxy_start(&p);
    struct seen s;
    memset(&s, 0, sizeof s);
    hc_client *c = stateful_client(&p, &s);
    CHECK(hc_client_on(c, "after", on_msg, &s) == HC_OK);
    CHECK(hc_client_start(c) == HC_OK);
    CHECK(wait_state(c, HC_STATE_CONNECTED, WAIT_MS));
    char id1[128], id2[128];
    CHECK(hc_client_connection_id(c, id1, sizeof id1) == HC_OK && *id1);
    atomic_store(&p.refuse, 1);
    atomic_store(&p.cut_req, 1);
    /* The resume may only give up at its deadline (the handshake timeout,
     * 15 s) when the refusal is slow to show, e.g. under sanitizers. */
    CHECK(wait_state(c, HC_STATE_RECONNECTING, 3 * WAIT_MS));
    atomic_store(&p.refuse, 0);
    CHECK(wait_state(c, HC_STATE_CONNECTED, WAIT_MS));
    CHECK(hc_client_connection_id(c, id2, sizeof id2) == HC_OK);
    CHECK(strcmp(id1, id2) != 0);
    CHECK(broadcast("{\"target\":\"after\",\"arguments\":[1]}") == 202);
    CHECK(wait_msgs(c, &s, 1, WAIT_MS));
    hc_client_free(c);
    proxy_stop(&p);
    fprintf(stderr, "ok stateful fallback (%s)\n", g_variant);
}

static void test_connect_failure(void)
{
    /* Nothing listens on port 1: start fails, no automatic reconnect on the first start. */
    struct seen s;
    memset(&s, 0, sizeof s);
    hc_client *c = hc_client_new("http://127.0.0.1:1/client/?hub=chat");
    CHECK(c != NULL);
    CHECK(hc_client_set_state_fn(c, on_state, &s) == HC_OK);
    CHECK(hc_client_start(c) == HC_OK);
    int64_t until = now_ms() + WAIT_MS;
    while (s.n_states < 2 && now_ms() < until)
        hc_client_service(c, 50);
    CHECK(s.n_states == 2 && s.states[1] == HC_STATE_DISCONNECTED);
    hc_client_free(c);
    fprintf(stderr, "ok connect failure (%s)\n", g_variant);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr,
                "usage: %s SERVICE_BIN CLI_BIN ws|sse|longpolling|msgpack-ws|"
                "msgpack-longpolling|stateful|stateful-msgpack\n",
                argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    g_service_bin = argv[1];
    g_cli_bin = argv[2];
    g_variant = argv[3];
    bool stateful = strncmp(g_variant, "stateful", 8) == 0;
    g_mp = strstr(g_variant, "msgpack") != NULL;
    if (strcmp(g_variant, "ws") == 0 || strcmp(g_variant, "msgpack-ws") == 0 || stateful)
        g_transport = HC_TRANSPORT_WEBSOCKETS;
    else if (strcmp(g_variant, "sse") == 0)
        g_transport = HC_TRANSPORT_SSE;
    else
        g_transport = HC_TRANSPORT_LONGPOLLING;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    g_port = start_service(0);
    CHECK(g_port > 0);
    if (stateful) {
        test_stateful_resume();
        test_stateful_fallback();
        stop_service();
        curl_global_cleanup();
        fprintf(stderr, "all integration tests passed (%s)\n", g_variant);
        return 0;
    }
    if (g_mp)
        test_values();
    test_connect_failure();
    test_messaging();
    test_redirect();
    test_thread_mode();
    test_cli();
    test_reconnect_after_restart();
    stop_service();
    curl_global_cleanup();
    fprintf(stderr, "all integration tests passed (%s)\n", g_variant);
    return 0;
}
