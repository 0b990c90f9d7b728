/*
 * hubcast-loadgen: load generator for the benchmarks in conformance/bench
 * (issue 10). One process, one thread, one epoll loop, raw non-blocking
 * sockets; no libwebsockets, no SDK, so that the generator stays cheap next
 * to the server it measures.
 *
 * Modes:
 *   subs     hold --subs subscribers (WebSockets, SSE or long polling), then
 *            publish through the REST API (broadcast, or group sends to
 *            groups of --group-size) from --pub-conns keep-alive connections
 *            with --pipeline requests in flight each; either at a fixed
 *            --rate (publishes/s) or closed-loop (at most --window messages
 *            per subscriber not yet received). Counts every delivery and its
 *            latency from the timestamp embedded in the message.
 *   connect  negotiate + WebSocket connect + handshake, --concurrency at a
 *            time, for --duration seconds; reports completed handshakes/s.
 *   idle     open --subs WebSocket connections, print "READY live=N" when all
 *            have completed their handshake, hold them for --hold seconds.
 *
 * Output: one line "RESULT key=value ..." on stdout (run.sh parses it).
 * Every run is bounded in time and ends by itself.
 *
 * Message format: arguments = ["<16-digit CLOCK_MONOTONIC ns>","<padding>"],
 * padded so the arguments JSON is --payload bytes. A received record counts
 * as a delivery when it contains "arguments":[" followed by digits.
 * CLOCK_MONOTONIC is system-wide, so publisher and receivers may live in
 * different processes on this machine.
 *
 * Reading: one read() of up to 256 KiB per readable event into a shared
 * buffer, parsed in place (many frames per system call); only an incomplete
 * tail is copied into the connection's own buffer.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include <hcp/common.h>

#define RX_SIZE (256 * 1024)
#define HIST_US 1000000 /* 1 µs buckets up to 1 s; above that: overflow bucket */
#define MAX_TAGS 64     /* pipelined requests per HTTP connection */

enum mode { MODE_SUBS, MODE_CONNECT, MODE_IDLE };
enum transport { TR_WS, TR_SSE, TR_LP };

enum kind {
    K_CTRL,   /* keep-alive HTTP: negotiate, group add, SSE/LP sends */
    K_PUB,    /* keep-alive HTTP: REST publishes */
    K_WS,     /* subscriber WebSocket */
    K_SSE,    /* subscriber SSE stream */
    K_LP,     /* subscriber long-poll connection (one poll at a time) */
    K_CR_NEG, /* connect-rate: negotiate request on its own socket */
    K_CR_WS,  /* connect-rate: WebSocket + handshake */
};

enum tag { TAG_NEGOTIATE, TAG_GROUP_ADD, TAG_SEND, TAG_PUBLISH, TAG_POLL };

struct conn {
    int fd;
    enum kind kind;
    int sub;            /* subscriber / client index, -1 when none */
    bool http_done;     /* WS/SSE: response headers parsed */
    bool want_out;      /* EPOLLOUT armed */
    bool dead;
    char *in;           /* incomplete tail carried between reads */
    size_t in_len, in_cap;
    char *out;          /* pending output */
    size_t out_len, out_off, out_cap;
    uint8_t tags[MAX_TAGS]; /* FIFO of requests awaiting answers */
    int tag_sub[MAX_TAGS];
    unsigned tag_head, n_tags;
};

struct sub {
    struct conn *c;     /* transport connection */
    bool live;          /* handshake answered */
    bool in_group;
    bool closed;
    bool lp_active;     /* long polling: first poll answered */
    char id[64];        /* connection id (negotiate) */
    char token[64];     /* connection token (negotiate) */
    int64_t t_start;    /* connect-rate: when this attempt began */
};

struct opts {
    enum mode mode;
    enum transport tr;
    const char *host;
    int port;
    const char *hub;
    const char *key;
    int n_subs;
    bool skip_negotiate;
    int group_size;
    double rate;
    int window;
    int pub_conns;
    int pipeline;
    int payload;
    double warmup, duration, drain, hold, setup_timeout;
    int concurrency;
    int src_ips;
    int setup_conc;
    int n_ctrl;
    int server_pid; /* read its CPU time at the edges of the window */
};

/* A control request waiting for an idle control connection: hubcast (lws
 * 4.1.6) must not get pipelined requests (see docs/performance.md), so each
 * control connection carries one request at a time. */
struct ctrl_op {
    enum tag t;
    int sub;
};

struct lg {
    struct opts o;
    struct ctrl_op *ops;
    size_t ops_head, n_ops, ops_cap;
    int ep;
    char *rx;
    char *client_token, *rest_token;
    struct sub *subs;
    struct conn **ctrl;
    struct conn **pub;
    int next_ctrl;
    int n_started, n_live, n_grouped, n_closed, n_pending_setup;
    int64_t t_begin, t_meas0, t_meas1;
    /* publishing */
    uint64_t sent, accepted, pub_errors;
    uint64_t delivered, delivered_meas, per_msg;
    uint64_t next_group;
    bool publishing;
    /* connect rate */
    uint64_t cr_done, cr_done_meas, cr_errors;
    uint32_t *hist;
    uint64_t hist_over, hist_n;
    int64_t lat_max;
    char pad[4096];
    int src_next;
    uint64_t errors_http;
    double srv_cpu0, srv_cpu1; /* server CPU seconds at t_meas0 / t_meas1 */
    int srv_sampled;
};

static struct lg G;
static volatile sig_atomic_t g_stop;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q) {
        fprintf(stderr, "loadgen: out of memory\n");
        exit(2);
    }
    return q;
}

static void on_stop(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* ------------------------------------------------------------------------ */
/* latency histogram                                                         */

static void hist_add(int64_t ns)
{
    if (ns < 0)
        ns = 0;
    if (ns > G.lat_max)
        G.lat_max = ns;
    int64_t us = ns / 1000;
    if (us >= HIST_US)
        G.hist_over++;
    else
        G.hist[us]++;
    G.hist_n++;
}

static double hist_pct(double q)
{
    if (!G.hist_n)
        return 0;
    uint64_t want = (uint64_t)(q * (double)G.hist_n);
    if (want >= G.hist_n)
        want = G.hist_n - 1;
    uint64_t acc = 0;
    for (int i = 0; i < HIST_US; i++) {
        acc += G.hist[i];
        if (acc > want)
            return i + 0.5;
    }
    return (double)G.lat_max / 1000.0;
}

/* ------------------------------------------------------------------------ */
/* sockets                                                                   */

static void conn_arm(struct conn *c)
{
    struct epoll_event ev = {.events = EPOLLIN | (c->want_out ? EPOLLOUT : 0u), .data.ptr = c};
    if (epoll_ctl(G.ep, EPOLL_CTL_MOD, c->fd, &ev))
        die("epoll_ctl");
}

static struct conn *conn_open(enum kind kind, int sub)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (G.o.src_ips > 1) {
        /* Above ~28 000 connections one source address runs out of ports. */
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)(G.src_next++ % G.o.src_ips));
        if (bind(fd, (struct sockaddr *)&src, sizeof src))
            die("bind");
    }
    if (kind == K_CR_NEG || kind == K_CR_WS) {
        /* Close with RST: thousands of handshakes/s must not fill TIME_WAIT. */
        struct linger lin = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lin, sizeof lin);
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)G.o.port)};
    if (inet_pton(AF_INET, G.o.host, &sa.sin_addr) != 1) {
        fprintf(stderr, "loadgen: bad host %s\n", G.o.host);
        exit(2);
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) && errno != EINPROGRESS)
        die("connect");
    struct conn *c = calloc(1, sizeof *c);
    if (!c)
        die("calloc");
    c->fd = fd;
    c->kind = kind;
    c->sub = sub;
    c->want_out = true; /* writable = connected; pending output goes then */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(G.ep, EPOLL_CTL_ADD, fd, &ev))
        die("epoll_ctl add");
    return c;
}

/* Closing only marks: the connection is freed after the event batch. */
static struct conn *g_dead[65536];
static int g_n_dead;

static void conn_close(struct conn *c)
{
    if (c->dead)
        return;
    c->dead = true;
    epoll_ctl(G.ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    if (g_n_dead < (int)(sizeof g_dead / sizeof g_dead[0]))
        g_dead[g_n_dead++] = c;
}

static void reap(void)
{
    for (int i = 0; i < g_n_dead; i++) {
        free(g_dead[i]->in);
        free(g_dead[i]->out);
        free(g_dead[i]);
    }
    g_n_dead = 0;
}

static void conn_flush(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == ENOTCONN || errno == EINTR))
            break;
        return; /* error: the read side reports it */
    }
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    bool want = c->out_len > 0;
    if (want != c->want_out) {
        c->want_out = want;
        conn_arm(c);
    }
}

static void conn_put(struct conn *c, const void *p, size_t n)
{
    if (c->out_len + n > c->out_cap) {
        c->out_cap = (c->out_len + n) * 2 + 256;
        c->out = xrealloc(c->out, c->out_cap);
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
}

static void conn_printf(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void conn_printf(struct conn *c, const char *fmt, ...)
{
    char tmp[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        fprintf(stderr, "loadgen: request too long\n");
        exit(2);
    }
    conn_put(c, tmp, (size_t)n);
}

static void tag_push(struct conn *c, enum tag t, int sub)
{
    if (c->n_tags == MAX_TAGS) {
        fprintf(stderr, "loadgen: too many pipelined requests\n");
        exit(2);
    }
    unsigned i = (c->tag_head + c->n_tags++) % MAX_TAGS;
    c->tags[i] = (uint8_t)t;
    c->tag_sub[i] = sub;
}

/* ------------------------------------------------------------------------ */
/* requests                                                                  */

static void http_request(struct conn *c, enum tag t, int sub, const char *method, const char *path,
                         const char *token, const char *body, size_t body_len)
{
    conn_printf(c,
                "%s %s HTTP/1.1\r\nHost: %s:%d\r\nAuthorization: Bearer %s\r\n"
                "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                method, path, G.o.host, G.o.port, token, body_len);
    if (body_len)
        conn_put(c, body, body_len);
    tag_push(c, t, sub);
}

static void ctrl_issue(struct conn *c, enum tag t, int i);

/* Issue on an idle control connection, or queue until one is idle. */
static void ctrl_op(enum tag t, int i)
{
    for (int k = 0; k < G.o.n_ctrl; k++) {
        struct conn *c = G.ctrl[(G.next_ctrl + k) % G.o.n_ctrl];
        if (!c->dead && c->n_tags == 0) {
            G.next_ctrl += k + 1;
            ctrl_issue(c, t, i);
            return;
        }
    }
    if (G.n_ops == G.ops_cap) {
        size_t cap = G.ops_cap ? G.ops_cap * 2 : 1024;
        struct ctrl_op *n = xrealloc(NULL, cap * sizeof *n);
        for (size_t k = 0; k < G.n_ops; k++)
            n[k] = G.ops[(G.ops_head + k) % G.ops_cap];
        free(G.ops);
        G.ops = n;
        G.ops_cap = cap;
        G.ops_head = 0;
    }
    G.ops[(G.ops_head + G.n_ops++) % G.ops_cap] = (struct ctrl_op){t, i};
}

static void ctrl_next(struct conn *c)
{
    if (c->kind != K_CTRL || c->dead || c->n_tags || !G.n_ops)
        return;
    struct ctrl_op op = G.ops[G.ops_head];
    G.ops_head = (G.ops_head + 1) % G.ops_cap;
    G.n_ops--;
    ctrl_issue(c, op.t, op.sub);
}

static void ws_upgrade(struct conn *c, const char *token_id)
{
    char path[256];
    if (token_id)
        snprintf(path, sizeof path, "/client/?hub=%s&id=%s", G.o.hub, token_id);
    else
        snprintf(path, sizeof path, "/client/?hub=%s", G.o.hub);
    conn_printf(c,
                "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                "Authorization: Bearer %s\r\n\r\n",
                path, G.o.host, G.o.port, G.client_token);
}

static const char HANDSHAKE[] = "{\"protocol\":\"json\",\"version\":1}\x1e";

/* A client frame must be masked; a zero mask key leaves the payload as is. */
static void ws_send_text(struct conn *c, const char *p, size_t n)
{
    uint8_t h[8] = {0x81, (uint8_t)(0x80 | n), 0, 0, 0, 0};
    conn_put(c, h, 6);
    conn_put(c, p, n);
}

static void sub_transport_open(int i)
{
    struct sub *s = &G.subs[i];
    char path[256];
    switch (G.o.tr) {
    case TR_WS:
        s->c = conn_open(K_WS, i);
        ws_upgrade(s->c, G.o.skip_negotiate ? NULL : s->token);
        break;
    case TR_SSE:
        s->c = conn_open(K_SSE, i);
        snprintf(path, sizeof path, "/client/?hub=%s&id=%s", G.o.hub, s->token);
        conn_printf(s->c,
                    "GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\n"
                    "Authorization: Bearer %s\r\n\r\n",
                    path, G.o.host, G.o.port, G.client_token);
        break;
    case TR_LP:
        s->c = conn_open(K_LP, i);
        snprintf(path, sizeof path, "/client/?hub=%s&id=%s&_=1", G.o.hub, s->token);
        http_request(s->c, TAG_POLL, i, "GET", path, G.client_token, NULL, 0);
        break;
    }
}

static void sub_start(int i)
{
    G.n_started++;
    G.n_pending_setup++;
    G.subs[i].t_start = now_ns();
    if (G.o.mode == MODE_CONNECT) {
        struct conn *c = conn_open(K_CR_NEG, i);
        char path[256];
        snprintf(path, sizeof path, "/client/negotiate?hub=%s&negotiateVersion=1", G.o.hub);
        http_request(c, TAG_NEGOTIATE, i, "POST", path, G.client_token, NULL, 0);
        return;
    }
    if (G.o.skip_negotiate && G.o.tr == TR_WS) {
        sub_transport_open(i);
        return;
    }
    ctrl_op(TAG_NEGOTIATE, i);
}

static void sub_live(int i)
{
    struct sub *s = &G.subs[i];
    if (s->live)
        return;
    s->live = true;
    G.n_live++;
    G.n_pending_setup--;
    if (G.o.mode == MODE_CONNECT) {
        int64_t t = now_ns();
        G.cr_done++;
        if (t >= G.t_meas0 && t < G.t_meas1) {
            G.cr_done_meas++;
            hist_add(t - s->t_start);
        }
        conn_close(s->c);
        s->c = NULL;
        s->live = false;
        G.n_live--;
        if (!g_stop && t < G.t_meas1)
            sub_start(i);
        return;
    }
    if (G.o.group_size > 0 && G.o.mode == MODE_SUBS) {
        ctrl_op(TAG_GROUP_ADD, i);
    }
}

static void sub_lost(int i)
{
    struct sub *s = &G.subs[i];
    if (G.o.mode == MODE_CONNECT) {
        G.cr_errors++;
        if (s->c)
            conn_close(s->c);
        s->c = NULL;
        if (!s->live)
            G.n_pending_setup--;
        s->live = false;
        if (!g_stop && now_ns() < G.t_meas1)
            sub_start(i);
        return;
    }
    if (!s->closed) {
        s->closed = true;
        G.n_closed++;
        if (!s->live)
            G.n_pending_setup--;
    }
}

static void publish_one(struct conn *c)
{
    char body[4200];
    char path[256];
    int64_t t = now_ns();
    int n = snprintf(body, sizeof body, "{\"target\":\"t\",\"arguments\":[\"%016" PRId64 "\",\"%s\"]}",
                     t, G.pad);
    if (G.o.group_size > 0) {
        int n_groups = (G.o.n_subs + G.o.group_size - 1) / G.o.group_size;
        snprintf(path, sizeof path, "/api/v1/hubs/%s/groups/g%d", G.o.hub,
                 (int)(G.next_group++ % (uint64_t)n_groups));
    } else {
        snprintf(path, sizeof path, "/api/v1/hubs/%s", G.o.hub);
    }
    http_request(c, TAG_PUBLISH, -1, "POST", path, G.rest_token, body, (size_t)n);
    G.sent++;
}

/* ------------------------------------------------------------------------ */
/* parsing                                                                   */

/* Count deliveries in whole records p[0..n). */
static void scan_records(int i, const char *p, size_t n)
{
    static const char key[] = "\"arguments\":[\"";
    const char *end = p + n;
    int64_t t = 0;
    while (p < end) {
        const char *rs = memchr(p, 0x1e, (size_t)(end - p));
        if (!rs)
            break;
        const char *a = memmem(p, (size_t)(rs - p), key, sizeof key - 1);
        if (a) {
            a += sizeof key - 1;
            int64_t ts = 0;
            while (a < rs && *a >= '0' && *a <= '9')
                ts = ts * 10 + (*a++ - '0');
            if (!t)
                t = now_ns();
            G.delivered++;
            if (t >= G.t_meas0 && t < G.t_meas1) {
                G.delivered_meas++;
                hist_add(t - ts);
            }
        } else if (i >= 0 && rs - p >= 2 && !G.subs[i].live) {
            /* "{}" (possibly after SSE/HTTP framing): the handshake answer */
            if (rs[-1] == '}' && rs[-2] == '{')
                sub_live(i);
        }
        p = rs + 1;
    }
}

/* Parse one HTTP response head. Returns the head length (0: incomplete),
 * sets status, body length (-1: none given) and chunked. */
static size_t http_head(const char *p, size_t n, int *status, long *clen, bool *chunked)
{
    const char *e = memmem(p, n, "\r\n\r\n", 4);
    if (!e)
        return 0;
    *status = n > 12 ? atoi(p + 9) : 0;
    *clen = -1;
    *chunked = false;
    for (const char *l = memchr(p, '\n', (size_t)(e - p)); l && l < e;
         l = memchr(l + 1, '\n', (size_t)(e - l))) {
        const char *h = l + 1;
        if (!strncasecmp(h, "content-length:", 15))
            *clen = strtol(h + 15, NULL, 10);
        else if (!strncasecmp(h, "transfer-encoding:", 18) && memmem(h, (size_t)(e - h), "chunked", 7))
            *chunked = true;
    }
    return (size_t)(e - p) + 4;
}

/* Total length of a chunked body at p (0: incomplete). */
static size_t chunked_len(const char *p, size_t n)
{
    size_t off = 0;
    for (;;) {
        const char *nl = memchr(p + off, '\n', n - off);
        if (!nl)
            return 0;
        size_t sz = strtoul(p + off, NULL, 16);
        off = (size_t)(nl - p) + 1;
        if (sz == 0) {
            const char *e = memmem(p + off, n - off, "\r\n", 2);
            return e ? (size_t)(e - p) + 2 : 0;
        }
        if (off + sz + 2 > n)
            return 0;
        off += sz + 2;
    }
}

static bool json_str(const char *body, size_t n, const char *key, char *out, size_t out_size)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *a = memmem(body, n, pat, strlen(pat));
    if (!a)
        return false;
    a += strlen(pat);
    const char *q = memchr(a, '"', n - (size_t)(a - body));
    if (!q || (size_t)(q - a) >= out_size)
        return false;
    memcpy(out, a, (size_t)(q - a));
    out[q - a] = 0;
    return true;
}

static void lp_poll(int i)
{
    struct sub *s = &G.subs[i];
    char path[256];
    snprintf(path, sizeof path, "/client/?hub=%s&id=%s&_=2", G.o.hub, s->token);
    http_request(s->c, TAG_POLL, i, "GET", path, G.client_token, NULL, 0);
    conn_flush(s->c);
}

static void ctrl_issue(struct conn *c, enum tag t, int i)
{
    char path[512];
    switch (t) {
    case TAG_NEGOTIATE:
        snprintf(path, sizeof path, "/client/negotiate?hub=%s&negotiateVersion=1", G.o.hub);
        http_request(c, t, i, "POST", path, G.client_token, NULL, 0);
        break;
    case TAG_GROUP_ADD:
        snprintf(path, sizeof path, "/api/v1/hubs/%s/groups/g%d/connections/%s", G.o.hub,
                 i / G.o.group_size, G.subs[i].id);
        http_request(c, t, i, "PUT", path, G.rest_token, NULL, 0);
        break;
    case TAG_SEND: /* the handshake, for SSE and long polling */
        snprintf(path, sizeof path, "/client/?hub=%s&id=%s", G.o.hub, G.subs[i].token);
        http_request(c, t, i, "POST", path, G.client_token, HANDSHAKE, sizeof HANDSHAKE - 1);
        break;
    default:
        break;
    }
    conn_flush(c);
}

static void on_response(struct conn *c, enum tag t, int i, int status, const char *body, size_t n)
{
    switch (t) {
    case TAG_NEGOTIATE: {
        struct sub *s = &G.subs[i];
        if (status != 200 || !json_str(body, n, "connectionId", s->id, sizeof s->id) ||
            !json_str(body, n, "connectionToken", s->token, sizeof s->token)) {
            G.errors_http++;
            if (G.errors_http < 5)
                fprintf(stderr, "loadgen: negotiate failed: %d %.*s\n", status, (int)n, body);
            sub_lost(i);
            return;
        }
        if (c->kind == K_CR_NEG) {
            conn_close(c);
            s->c = conn_open(K_CR_WS, i);
            ws_upgrade(s->c, s->token);
        } else {
            sub_transport_open(i);
        }
        return;
    }
    case TAG_GROUP_ADD:
        if (status != 200 && status != 202) {
            G.errors_http++;
            fprintf(stderr, "loadgen: group add failed: %d\n", status);
            return;
        }
        G.subs[i].in_group = true;
        G.n_grouped++;
        return;
    case TAG_SEND:
        if (status != 200 && status != 202)
            G.errors_http++;
        return;
    case TAG_PUBLISH:
        if (status == 202 || status == 200) {
            G.accepted++;
        } else {
            G.pub_errors++;
            if (G.pub_errors < 5)
                fprintf(stderr, "loadgen: publish failed: %d %.*s\n", status, (int)n, body);
        }
        return;
    case TAG_POLL: {
        struct sub *s = &G.subs[i];
        if (status == 204) {
            sub_lost(i);
            return;
        }
        if (status != 200) {
            G.errors_http++;
            sub_lost(i);
            return;
        }
        if (!s->lp_active) {
            /* First poll answered: the connection is active; send handshake. */
            s->lp_active = true;
            ctrl_op(TAG_SEND, i);
        } else {
            scan_records(i, body, n);
        }
        if (!g_stop)
            lp_poll(i);
        return;
    }
    }
}

/* Parse as much of p[0..n) as possible; returns bytes consumed. */
static size_t process(struct conn *c, const char *p, size_t n)
{
    size_t used = 0;
    while (used < n && !c->dead) {
        const char *q = p + used;
        size_t left = n - used;
        if (c->kind == K_WS || c->kind == K_CR_WS || c->kind == K_SSE) {
            if (!c->http_done) {
                int status;
                long clen;
                bool chunked;
                size_t h = http_head(q, left, &status, &clen, &chunked);
                if (!h)
                    return used;
                used += h;
                if ((c->kind == K_SSE && status != 200) || (c->kind != K_SSE && status != 101)) {
                    G.errors_http++;
                    if (G.errors_http < 5)
                        fprintf(stderr, "loadgen: upgrade/stream answered %d\n", status);
                    sub_lost(c->sub);
                    conn_close(c);
                    return used;
                }
                c->http_done = true;
                if (c->kind == K_SSE) {
                    ctrl_op(TAG_SEND, c->sub);
                } else {
                    ws_send_text(c, HANDSHAKE, sizeof HANDSHAKE - 1);
                    conn_flush(c);
                }
                continue;
            }
            if (c->kind == K_SSE) {
                /* The stream: whole records up to the last separator. */
                const char *last = memrchr(q, 0x1e, left);
                if (!last)
                    return used;
                scan_records(c->sub, q, (size_t)(last - q) + 1);
                used += (size_t)(last - q) + 1;
                continue;
            }
            /* WebSocket frames from the server (unmasked). */
            if (left < 2)
                return used;
            const uint8_t *b = (const uint8_t *)q;
            uint64_t len = b[1] & 0x7f;
            size_t hl = 2;
            if (len == 126) {
                if (left < 4)
                    return used;
                len = (uint64_t)b[2] << 8 | b[3];
                hl = 4;
            } else if (len == 127) {
                if (left < 10)
                    return used;
                len = 0;
                for (int k = 0; k < 8; k++)
                    len = len << 8 | b[2 + k];
                hl = 10;
            }
            if (left < hl + len)
                return used;
            int op = b[0] & 0x0f;
            if (op == 1 || op == 0 || op == 2) {
                scan_records(c->sub, q + hl, (size_t)len);
            } else if (op == 8) {
                sub_lost(c->sub);
                conn_close(c);
            } else if (op == 9) {
                uint8_t h[6] = {0x8a, (uint8_t)(0x80 | (len & 0x7f)), 0, 0, 0, 0};
                conn_put(c, h, 6);
                conn_put(c, q + hl, (size_t)len);
                conn_flush(c);
            }
            used += hl + (size_t)len;
            continue;
        }
        /* Request/response connections. */
        int status;
        long clen;
        bool chunked;
        size_t h = http_head(q, left, &status, &clen, &chunked);
        if (!h)
            return used;
        size_t blen = 0;
        if (chunked) {
            blen = chunked_len(q + h, left - h);
            if (!blen)
                return used;
        } else if (clen > 0) {
            if (left - h < (size_t)clen)
                return used;
            blen = (size_t)clen;
        }
        used += h + blen;
        if (!c->n_tags) {
            if (G.errors_http++ < 5)
                fprintf(stderr, "loadgen: unexpected response %d\n", status);
            conn_close(c);
            return used;
        }
        enum tag t = c->tags[c->tag_head];
        int i = c->tag_sub[c->tag_head];
        c->tag_head = (c->tag_head + 1) % MAX_TAGS;
        c->n_tags--;
        on_response(c, t, i, status, q + h, blen);
        ctrl_next(c);
    }
    return used;
}

static void on_readable(struct conn *c)
{
    for (int round = 0; round < 4 && !c->dead; round++) {
        ssize_t n = read(c->fd, G.rx, RX_SIZE);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            if (c->sub >= 0 && (c->kind == K_WS || c->kind == K_SSE || c->kind == K_LP ||
                                c->kind == K_CR_WS || c->kind == K_CR_NEG))
                sub_lost(c->sub);
            else if (!g_stop && (c->kind == K_PUB || c->kind == K_CTRL)) {
                fprintf(stderr, "loadgen: %s connection closed by server\n",
                        c->kind == K_PUB ? "publisher" : "control");
                static int n_ctrl_dead;
                if (c->kind == K_CTRL && ++n_ctrl_dead == G.o.n_ctrl)
                    g_stop = 1; /* nothing can be set up any more */
            }
            conn_close(c);
            return;
        }
        if (n < 0)
            return;
        if (!c->in_len) {
            size_t used = process(c, G.rx, (size_t)n);
            if (!c->dead && used < (size_t)n) {
                size_t rest = (size_t)n - used;
                if (rest > c->in_cap)
                    c->in = xrealloc(c->in, c->in_cap = rest * 2);
                memcpy(c->in, G.rx + used, rest);
                c->in_len = rest;
            }
        } else {
            if (c->in_len + (size_t)n > c->in_cap)
                c->in = xrealloc(c->in, c->in_cap = (c->in_len + (size_t)n) * 2);
            memcpy(c->in + c->in_len, G.rx, (size_t)n);
            c->in_len += (size_t)n;
            size_t used = process(c, c->in, c->in_len);
            if (!c->dead) {
                memmove(c->in, c->in + used, c->in_len - used);
                c->in_len -= used;
            }
        }
        if (n < RX_SIZE)
            return;
    }
}

/* ------------------------------------------------------------------------ */
/* main loop                                                                 */

static void pump_publish(int64_t t)
{
    if (!G.publishing)
        return;
    uint64_t allowed;
    if (G.o.rate > 0) {
        allowed = (uint64_t)((double)(t - G.t_begin) / 1e9 * G.o.rate) + 1;
    } else {
        /* Closed loop: keep at most --window messages per subscriber unreceived. */
        uint64_t cap = (uint64_t)G.o.window * (uint64_t)G.o.n_subs;
        uint64_t out = G.sent * G.per_msg;
        out = out > G.delivered ? out - G.delivered : 0;
        allowed = G.sent + (out < cap ? (cap - out + G.per_msg - 1) / G.per_msg : 0);
    }
    for (int k = 0; k < G.o.pub_conns && G.sent < allowed; k++) {
        struct conn *c = G.pub[k];
        if (c->dead)
            continue;
        bool any = false;
        while (G.sent < allowed && (int)c->n_tags < G.o.pipeline) {
            publish_one(c);
            any = true;
        }
        if (any)
            conn_flush(c);
    }
}

/* utime + stime of --server-pid in seconds (-1 if unreadable). */
static double server_cpu(void)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", G.o.server_pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void sample_server(int64_t t)
{
    if (!G.o.server_pid)
        return;
    if (G.srv_sampled == 0 && t >= G.t_meas0) {
        G.srv_cpu0 = server_cpu();
        G.srv_sampled = 1;
    }
    if (G.srv_sampled == 1 && t >= G.t_meas1) {
        G.srv_cpu1 = server_cpu();
        G.srv_sampled = 2;
    }
}

static void print_result(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
                 ru.ru_stime.tv_usec / 1e6;
    double wall = (double)(now_ns() - G.t_begin) / 1e9;
    double meas = (double)(G.t_meas1 - G.t_meas0) / 1e9;
    uint64_t expected = G.accepted * G.per_msg;
    printf("RESULT mode=%s transport=%s subs=%d live=%d closed=%d published=%" PRIu64
           " accepted=%" PRIu64 " pub_errors=%" PRIu64 " http_errors=%" PRIu64
           " delivered=%" PRIu64 " expected=%" PRIu64 " lost=%" PRId64 " meas_s=%.3f"
           " deliveries_per_s=%.0f publishes_per_s=%.0f connects=%" PRIu64
           " connects_per_s=%.0f connect_errors=%" PRIu64
           " p50_us=%.1f p99_us=%.1f max_us=%.1f samples=%" PRIu64
           " lg_cpu_s=%.3f lg_cpu_pct=%.1f lg_maxrss_kb=%ld srv_cpu_s=%.3f\n",
           G.o.mode == MODE_SUBS ? "subs" : G.o.mode == MODE_CONNECT ? "connect" : "idle",
           G.o.tr == TR_WS ? "ws" : G.o.tr == TR_SSE ? "sse" : "lp", G.o.n_subs, G.n_live,
           G.n_closed, G.sent, G.accepted, G.pub_errors, G.errors_http, G.delivered, expected,
           (int64_t)expected - (int64_t)G.delivered, meas,
           meas > 0 ? (double)G.delivered_meas / meas : 0.0,
           meas > 0 && G.per_msg ? (double)G.delivered_meas / meas / (double)G.per_msg : 0.0,
           G.cr_done, meas > 0 ? (double)G.cr_done_meas / meas : 0.0, G.cr_errors,
           hist_pct(0.50), hist_pct(0.99), (double)G.lat_max / 1000.0, G.hist_n, cpu,
           wall > 0 ? 100.0 * cpu / wall : 0.0, ru.ru_maxrss,
           G.srv_sampled == 2 && G.srv_cpu0 >= 0 ? G.srv_cpu1 - G.srv_cpu0 : 0.0);
    fflush(stdout);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: hubcast-loadgen --mode subs|connect|idle --port N [options]\n"
            "  --host A            server address (127.0.0.1)\n"
            "  --hub H             hub name (bench)\n"
            "  --key K             access key used to sign tokens\n"
            "  --transport ws|sse|lp  subscriber transport (ws)\n"
            "  --subs N            subscribers / idle connections (1000)\n"
            "  --skip-negotiate    WebSocket without negotiate (no connection id)\n"
            "  --group-size N      group sends to groups of N (0: broadcast)\n"
            "  --rate R            publishes per second (0: closed loop)\n"
            "  --window W          closed loop: messages per subscriber in flight (32)\n"
            "  --pub-conns N       REST publisher connections (4)\n"
            "  --pipeline N        requests in flight per publisher connection (1)\n"
            "  --payload B         bytes of the arguments JSON (64)\n"
            "  --warmup S --duration S --drain S --hold S --setup-timeout S\n"
            "  --concurrency N     connect mode: parallel clients (32)\n"
            "  --src-ips N         spread sockets over 127.0.0.1..N (1)\n"
            "  --setup-conc N      connections being set up at once (256)\n"
            "  --server-pid P      report the server's CPU seconds in the window\n");
    exit(2);
}

static void parse_args(int argc, char **argv)
{
    struct opts *o = &G.o;
    *o = (struct opts){.mode = MODE_SUBS, .tr = TR_WS, .host = "127.0.0.1", .hub = "bench",
                       .key = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH", .n_subs = 1000,
                       .window = 32, .pub_conns = 4, .pipeline = 1, .payload = 64, .warmup = 1,
                       .duration = 5, .drain = 3, .hold = 5, .setup_timeout = 60,
                       .concurrency = 32, .src_ips = 1, .setup_conc = 256, .n_ctrl = 16};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name) (!strcmp(a, name) && v && (i++, 1))
        if (OPT("--mode")) {
            o->mode = !strcmp(v, "subs") ? MODE_SUBS : !strcmp(v, "connect") ? MODE_CONNECT
                    : !strcmp(v, "idle") ? MODE_IDLE : (usage(), MODE_SUBS);
        } else if (OPT("--transport")) {
            o->tr = !strcmp(v, "ws") ? TR_WS : !strcmp(v, "sse") ? TR_SSE
                  : !strcmp(v, "lp") ? TR_LP : (usage(), TR_WS);
        } else if (OPT("--host")) o->host = v;
        else if (OPT("--port")) o->port = atoi(v);
        else if (OPT("--hub")) o->hub = v;
        else if (OPT("--key")) o->key = v;
        else if (OPT("--subs")) o->n_subs = atoi(v);
        else if (!strcmp(a, "--skip-negotiate")) o->skip_negotiate = true;
        else if (OPT("--group-size")) o->group_size = atoi(v);
        else if (OPT("--rate")) o->rate = atof(v);
        else if (OPT("--window")) o->window = atoi(v);
        else if (OPT("--pub-conns")) o->pub_conns = atoi(v);
        else if (OPT("--pipeline")) o->pipeline = atoi(v);
        else if (OPT("--payload")) o->payload = atoi(v);
        else if (OPT("--warmup")) o->warmup = atof(v);
        else if (OPT("--duration")) o->duration = atof(v);
        else if (OPT("--drain")) o->drain = atof(v);
        else if (OPT("--hold")) o->hold = atof(v);
        else if (OPT("--setup-timeout")) o->setup_timeout = atof(v);
        else if (OPT("--concurrency")) o->concurrency = atoi(v);
        else if (OPT("--src-ips")) o->src_ips = atoi(v);
        else if (OPT("--setup-conc")) o->setup_conc = atoi(v);
        else if (OPT("--server-pid")) o->server_pid = atoi(v);
        else usage();
#undef OPT
    }
    if (o->port <= 0 || o->n_subs <= 0 || o->pub_conns <= 0 || o->pipeline <= 0 ||
        o->pipeline >= MAX_TAGS || o->payload < 24 || o->payload > 4000 || o->window <= 0 ||
        o->src_ips <= 0 || o->src_ips > 250 || o->concurrency <= 0)
        usage();
    if (o->mode == MODE_CONNECT)
        o->n_subs = o->concurrency;
    if (o->tr != TR_WS || o->group_size > 0)
        o->skip_negotiate = false; /* these need the connection token / id */
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_stop);
    signal(SIGINT, on_stop);

    /* Padding so that ["<16 digits>","<pad>"] is --payload bytes. */
    int pad = G.o.payload - 23;
    memset(G.pad, 'x', (size_t)pad);
    G.pad[pad] = 0;

    int64_t now_s = time(NULL);
    char aud[256];
    snprintf(aud, sizeof aud, "http://%s:%d/client/?hub=%s", G.o.host, G.o.port, G.o.hub);
    if (hcs_auth_issue(G.o.key, aud, "bench", now_s, 3600, &G.client_token))
        die("token");
    snprintf(aud, sizeof aud, "http://%s:%d/api/v1/hubs/%s", G.o.host, G.o.port, G.o.hub);
    if (hcs_auth_issue(G.o.key, aud, NULL, now_s, 3600, &G.rest_token))
        die("token");

    G.ep = epoll_create1(EPOLL_CLOEXEC);
    G.rx = malloc(RX_SIZE);
    G.hist = calloc(HIST_US, sizeof *G.hist);
    G.subs = calloc((size_t)G.o.n_subs, sizeof *G.subs);
    if (G.ep < 0 || !G.rx || !G.hist || !G.subs)
        die("init");
    G.per_msg = G.o.group_size > 0 ? (uint64_t)G.o.group_size : (uint64_t)G.o.n_subs;
    G.t_begin = now_ns();
    G.t_meas0 = G.t_meas1 = INT64_MAX;

    bool need_ctrl = G.o.mode != MODE_CONNECT && !(G.o.skip_negotiate && G.o.tr == TR_WS);
    if (need_ctrl) {
        G.ctrl = calloc((size_t)G.o.n_ctrl, sizeof *G.ctrl);
        for (int k = 0; k < G.o.n_ctrl; k++)
            G.ctrl[k] = conn_open(K_CTRL, -1);
    }
    if (G.o.mode == MODE_CONNECT) {
        G.t_meas0 = G.t_begin + (int64_t)(G.o.warmup * 1e9);
        G.t_meas1 = G.t_meas0 + (int64_t)(G.o.duration * 1e9);
    }

    enum { PH_SETUP, PH_RUN, PH_DRAIN, PH_DONE } phase = PH_SETUP;
    int next_sub = 0;
    int64_t t_phase = G.t_begin, setup_deadline = G.t_begin + (int64_t)(G.o.setup_timeout * 1e9);
    struct epoll_event evs[512];
    int rc = 0;

    while (phase != PH_DONE) {
        int64_t t = now_ns();
        sample_server(t);
        /* Start connections, at most --setup-conc being set up at once. */
        while (next_sub < G.o.n_subs && G.n_pending_setup < G.o.setup_conc && !g_stop)
            sub_start(next_sub++);

        if (G.o.mode == MODE_CONNECT) {
            if (t >= G.t_meas1 + (int64_t)1e9 || (t >= G.t_meas1 && G.n_pending_setup == 0) || g_stop)
                phase = PH_DONE;
        } else if (phase == PH_SETUP) {
            bool ready = G.n_live + G.n_closed == G.o.n_subs &&
                         (G.o.group_size == 0 || G.n_grouped + G.n_closed >= G.o.n_subs);
            if (ready || t > setup_deadline || g_stop) {
                if (!ready) {
                    fprintf(stderr, "loadgen: setup incomplete: live=%d of %d\n", G.n_live, G.o.n_subs);
                    rc = 1;
                }
                if (G.o.mode == MODE_IDLE) {
                    printf("READY live=%d\n", G.n_live);
                    fflush(stdout);
                } else {
                    fprintf(stderr, "loadgen: %d live in %.2f s\n", G.n_live, (double)(t - G.t_begin) / 1e9);
                    G.pub = calloc((size_t)G.o.pub_conns, sizeof *G.pub);
                    for (int k = 0; k < G.o.pub_conns; k++)
                        G.pub[k] = conn_open(K_PUB, -1);
                    G.publishing = true;
                }
                G.t_begin = t;
                G.t_meas0 = t + (int64_t)(G.o.warmup * 1e9);
                G.t_meas1 = G.t_meas0 + (int64_t)(G.o.duration * 1e9);
                if (G.o.mode == MODE_IDLE) /* nothing is measured, only held */
                    G.t_meas0 = G.t_meas1 = t + (int64_t)(G.o.hold * 1e9);
                phase = PH_RUN;
                t_phase = t;
            }
        } else if (phase == PH_RUN) {
            if (t >= G.t_meas1 || g_stop) {
                G.publishing = false;
                phase = G.o.mode == MODE_IDLE ? PH_DONE : PH_DRAIN;
                t_phase = t;
            }
        } else if (phase == PH_DRAIN) {
            bool in_flight = G.sent != G.accepted + G.pub_errors;
            if ((!in_flight && G.delivered >= G.accepted * G.per_msg) ||
                t - t_phase > (int64_t)(G.o.drain * 1e9))
                phase = PH_DONE;
        }
        if (phase == PH_DONE)
            break;
        pump_publish(t);

        int timeout = G.publishing && G.o.rate > 0 ? 1 : 20;
        int n = epoll_wait(G.ep, evs, (int)(sizeof evs / sizeof evs[0]), timeout);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        for (int k = 0; k < n; k++) {
            struct conn *c = evs[k].data.ptr;
            if (c->dead)
                continue;
            if (evs[k].events & EPOLLOUT)
                conn_flush(c);
            if (evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                on_readable(c);
        }
        reap();
    }
    print_result();
    if (G.o.mode == MODE_SUBS && (G.n_live == 0 || (G.sent > 0 && G.delivered == 0)))
        rc = 1;
    hcp_free(G.client_token);
    hcp_free(G.rest_token);
    return rc;
}
