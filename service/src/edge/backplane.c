/*
 * The Redis backplane (backplane.h, docs/scale-out.md).
 *
 * Redis layout (P = --redis-prefix, N = a node id, F = "hub" 0x1F "name"):
 *   P:ops            pub/sub channel: one core/bpmsg.h record per operation
 *   P:nodes          set of node ids that registered
 *   P:node:N         liveness key, PX 15 s, refreshed every 5 s
 *   P:n:N:c          hash  F(conn)            -> user id   (live connections)
 *   P:n:N:u          hash  F(user)            -> count     (their live connections)
 *   P:n:N:g          hash  F(group)           -> count     (live members)
 *   P:n:N:ug         hash  F(user 0x1F group) -> count     (user's members)
 *   P:ug:F(user)     hash  group -> expiry (unix ms, -1 = none): user-groups
 *   P:ugk            set of F(user) that have a P:ug hash
 *   P:epoch          random; changes when Redis lost its data (restart)
 * A node's P:n:N:* hashes expire with it (PEXPIRE with the heartbeat), so a
 * crashed node's registry disappears within 15 s; queries also skip and
 * forget nodes whose liveness key is gone.
 *
 * Invariants:
 * - Loop thread: core, callbacks, poll, the query connection, `accepting`
 *   and `gen`. Worker: the command and subscriber connections, `up`. Shared
 *   under `mu`: outbox, inbox, their byte counts, `stop`.
 * - Commands are tagged with the generation the loop saw in the last UP
 *   event; the worker drops commands of an older generation, because every
 *   reconnect is followed by a full re-registration (RESET + snapshot).
 * - Records published through this node leave in outbox order on one
 *   connection, so every subscriber sees them in that order.
 */
#define _GNU_SOURCE
#include "backplane.h"

#include <errno.h>
#include <stdarg.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/bpmsg.h"
#include "log.h"

#define SEP "\x1f"
#define NODE_TTL_MS 15000
#define HEARTBEAT_MS 5000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
#define CONNECT_TIMEOUT_MS 1000
#define CMD_TIMEOUT_MS 2000
#define QUERY_TIMEOUT_MS 250
#define QUERY_RETRY_MS 1000
#define QUEUE_MAX_BYTES (64u << 20) /* outbox and inbox caps */
#define MAX_ARGS 8

/* Decrement a hash counter and delete the field at zero. */
static const char DECR_LUA[] =
    "local v=redis.call('HINCRBY',KEYS[1],ARGV[1],-1) "
    "if v<=0 then redis.call('HDEL',KEYS[1],ARGV[1]) end return v";
/* Is field ARGV[3] in hash kind ARGV[2] of any live node other than ARGV[4]? */
static const char QUERY_LUA[] =
    "local p=ARGV[1] for _,n in ipairs(redis.call('SMEMBERS',p..':nodes')) do "
    "if redis.call('EXISTS',p..':node:'..n)==0 then redis.call('SREM',p..':nodes',n) "
    "elseif n~=ARGV[4] and redis.call('HEXISTS',p..':n:'..n..':'..ARGV[2],ARGV[3])==1 "
    "then return 1 end end return 0";

enum cmd_kind { K_CMD, K_LOAD_UGROUPS };

/* One Redis command (loop -> worker); argv points into data. */
struct cmd {
    struct cmd *next;
    enum cmd_kind kind;
    unsigned gen;
    int argc;
    const char *argv[MAX_ARGS];
    size_t argvlen[MAX_ARGS];
    size_t size;
    char data[];
};

enum ev_kind { EV_MSG, EV_UP, EV_DOWN, EV_UGROUP };

/* One event (worker -> loop). */
struct ev {
    struct ev *next;
    enum ev_kind kind;
    unsigned gen;
    bool push;      /* EV_UP: Redis lost its data: re-publish our user-groups */
    int64_t num;    /* EV_UGROUP: remaining ms (-1 none) */
    size_t len;
    uint8_t data[]; /* EV_MSG record; EV_DOWN reason; EV_UGROUP hub\0user\0group\0 */
};

struct hcs_backplane {
    const struct hcs_config *cfg;
    struct hcs_core *core;
    struct hcs_redis_url url;
    char node_id[33];
    char prefix[128];
    char k_c[256], k_u[256], k_g[256], k_ug[256], k_node[256], k_nodes[200], k_ops[200],
        k_ugk[200], k_epoch[200];
    void (*wake)(void *user);
    void *wake_user;
    pthread_t thread;
    bool thread_started;
    int efd;
    /* Shared under mu. */
    pthread_mutex_t mu;
    struct cmd *out_head, *out_tail;
    size_t out_bytes;
    struct ev *in_head, *in_tail;
    size_t in_bytes;
    bool stop;
    /* Loop thread. */
    bool accepting; /* Redis reachable: publish and register */
    unsigned gen;
    bool warned_drop; /* "operation applied locally only" logged this outage */
    bool warned_full;
    redisContext *q; /* query connection */
    int64_t q_retry_ms;
    /* Worker thread. */
    redisContext *cmdc, *subc;
    bool up;
    unsigned wgen;
    char last_epoch[64];
};

/* ---- time, ids ---- */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void random_hex(char *out, size_t n_bytes)
{
    unsigned char b[32];
    if (n_bytes > sizeof b)
        n_bytes = sizeof b;
    if (getrandom(b, n_bytes, 0) != (ssize_t)n_bytes) {
        uint64_t x = (uint64_t)wall_ms() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)mono_ms();
        for (size_t i = 0; i < n_bytes; i++, x = x * 6364136223846793005ULL + 1)
            b[i] = (unsigned char)(x >> 56);
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n_bytes; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[2 * n_bytes] = '\0';
}

/* ---- URL ---- */

/* Copy s[0..n) percent-decoded (credentials may hold '@' or ':'). */
static int pct_copy(char *dst, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return -1;
            char h[3] = {s[i + 1], s[i + 2], 0};
            char *end;
            long v = strtol(h, &end, 16);
            if (*end || v <= 0)
                return -1;
            c = (char)v;
            i += 2;
        }
        if (o + 1 >= cap)
            return -1;
        dst[o++] = c;
    }
    dst[o] = '\0';
    return 0;
}

int hcs_redis_url_parse(const char *url, struct hcs_redis_url *out, const char **reason)
{
    struct hcs_redis_url u;
    memset(&u, 0, sizeof u);
    u.port = 6379;
    const char *p = url;
    if (!p || !*p) {
        *reason = "empty Redis URL";
        return -1;
    }
    if (!strncmp(p, "redis://", 8))
        p += 8;
    else if (strstr(p, "://")) {
        *reason = "only redis:// URLs are supported (no TLS)";
        return -1;
    }
    const char *at = strrchr(p, '@');
    const char *slash = strchr(p, '/');
    if (at && (!slash || at < slash)) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (!colon) {
            *reason = "credentials must be :password@ or user:password@";
            return -1;
        }
        if (pct_copy(u.user, sizeof u.user, p, (size_t)(colon - p)) ||
            pct_copy(u.password, sizeof u.password, colon + 1, (size_t)(at - colon - 1))) {
            *reason = "bad credentials in the Redis URL";
            return -1;
        }
        p = at + 1;
        slash = strchr(p, '/');
    }
    size_t hlen = slash ? (size_t)(slash - p) : strlen(p);
    const char *hp_end = p + hlen;
    const char *port = NULL;
    const char *host = p;
    size_t host_len = hlen;
    if (*p == '[') {
        const char *rb = memchr(p, ']', hlen);
        if (!rb) {
            *reason = "unterminated [IPv6] host";
            return -1;
        }
        host = p + 1;
        host_len = (size_t)(rb - p - 1);
        if (rb + 1 < hp_end) {
            if (rb[1] != ':') {
                *reason = "bad host:port";
                return -1;
            }
            port = rb + 2;
        }
    } else {
        const char *colon = memchr(p, ':', hlen);
        if (colon) {
            host_len = (size_t)(colon - p);
            port = colon + 1;
        }
    }
    if (host_len == 0 || host_len >= sizeof u.host) {
        *reason = "no host in the Redis URL";
        return -1;
    }
    memcpy(u.host, host, host_len);
    u.host[host_len] = '\0';
    if (port) {
        char *end;
        long v = strtol(port, &end, 10);
        if (end != hp_end || port == hp_end || v < 1 || v > 65535) {
            *reason = "bad port in the Redis URL";
            return -1;
        }
        u.port = (int)v;
    }
    if (slash && slash[1]) {
        char *end;
        long v = strtol(slash + 1, &end, 10);
        if (*end || v < 0 || v > 1000000) {
            *reason = "bad database number in the Redis URL";
            return -1;
        }
        u.db = (int)v;
    }
    *out = u;
    return 0;
}

/* ---- queues ---- */

static void ev_push(struct hcs_backplane *bp, struct ev *e)
{
    pthread_mutex_lock(&bp->mu);
    if (e->kind == EV_MSG && bp->in_bytes + e->len > QUEUE_MAX_BYTES) {
        pthread_mutex_unlock(&bp->mu);
        free(e); /* the loop is far behind: drop (pub/sub is at-most-once anyway) */
        return;
    }
    bp->in_bytes += e->len;
    if (bp->in_tail)
        bp->in_tail->next = e;
    else
        bp->in_head = e;
    bp->in_tail = e;
    pthread_mutex_unlock(&bp->mu);
    bp->wake(bp->wake_user);
}

static struct ev *ev_new(enum ev_kind kind, const void *data, size_t len)
{
    struct ev *e = calloc(1, sizeof(*e) + len + 1);
    if (!e)
        return NULL;
    e->kind = kind;
    e->len = len;
    if (len)
        memcpy(e->data, data, len);
    return e;
}

static void post(struct hcs_backplane *bp, enum ev_kind kind, const void *data, size_t len)
{
    struct ev *e = ev_new(kind, data, len);
    if (e)
        ev_push(bp, e);
}

static void kick(struct hcs_backplane *bp)
{
    uint64_t one = 1;
    ssize_t n = write(bp->efd, &one, sizeof one);
    (void)n;
}

/* Queue a command (loop thread). Arguments are copied. */
static void cmd_queue(struct hcs_backplane *bp, enum cmd_kind kind, int argc, const char **argv,
                      const size_t *argvlen)
{
    if (!bp->accepting)
        return;
    size_t total = 0;
    for (int i = 0; i < argc; i++)
        total += argvlen[i];
    struct cmd *c = malloc(sizeof(*c) + total + 1);
    if (!c)
        return;
    memset(c, 0, sizeof(*c));
    c->kind = kind;
    c->gen = bp->gen;
    c->argc = argc;
    c->size = total;
    char *p = c->data;
    for (int i = 0; i < argc; i++) {
        if (argvlen[i])
            memcpy(p, argv[i], argvlen[i]);
        c->argv[i] = p;
        c->argvlen[i] = argvlen[i];
        p += argvlen[i];
    }
    pthread_mutex_lock(&bp->mu);
    if (bp->out_bytes + total > QUEUE_MAX_BYTES) {
        pthread_mutex_unlock(&bp->mu);
        free(c);
        if (!bp->warned_full) {
            bp->warned_full = true;
            hcs_log(HCS_LOG_ERR, "backplane",
                    "outbox full (%u bytes): Redis is too slow; operations apply locally only",
                    QUEUE_MAX_BYTES);
        }
        return;
    }
    bp->warned_full = false;
    bp->out_bytes += total;
    if (bp->out_tail)
        bp->out_tail->next = c;
    else
        bp->out_head = c;
    bp->out_tail = c;
    pthread_mutex_unlock(&bp->mu);
    kick(bp);
}

/* Convenience: up to MAX_ARGS NUL-terminated strings. */
static void cmdv(struct hcs_backplane *bp, int argc, ...)
{
    const char *argv[MAX_ARGS];
    size_t lens[MAX_ARGS];
    va_list ap;
    va_start(ap, argc);
    for (int i = 0; i < argc && i < MAX_ARGS; i++) {
        argv[i] = va_arg(ap, const char *);
        lens[i] = strlen(argv[i]);
    }
    va_end(ap);
    cmd_queue(bp, K_CMD, argc < MAX_ARGS ? argc : MAX_ARGS, argv, lens);
}

/* "a" SEP "b" [SEP "c"] into buf; false when it does not fit. */
static bool field(char *buf, size_t cap, const char *a, const char *b, const char *c)
{
    int n = c ? snprintf(buf, cap, "%s" SEP "%s" SEP "%s", a, b, c)
              : snprintf(buf, cap, "%s" SEP "%s", a, b);
    return n > 0 && (size_t)n < cap;
}

/* ---- core callbacks (loop thread) ---- */

static void ugroup_store(struct hcs_backplane *bp, const char *hub, const char *user,
                         const char *group, int64_t remaining_ms)
{
    char f[1024], key[1300], exp[32];
    if (!field(f, sizeof f, hub, user, NULL))
        return;
    snprintf(key, sizeof key, "%s:ug:%s", bp->prefix, f);
    snprintf(exp, sizeof exp, "%lld",
             remaining_ms < 0 ? -1LL : (long long)(wall_ms() + remaining_ms));
    cmdv(bp, 4, "HSET", key, group, exp);
    cmdv(bp, 3, "SADD", bp->k_ugk, f);
}

static void cb_publish(void *user, const uint8_t *rec, size_t len)
{
    struct hcs_backplane *bp = user;
    if (!bp->accepting) {
        if (!bp->warned_drop) {
            bp->warned_drop = true;
            hcs_log(HCS_LOG_WARN, "backplane",
                    "Redis unreachable: REST operations reach this node's clients only");
        }
        return;
    }
    /* User-group memberships are also stored, for nodes that start or
     * resynchronise later. */
    struct hcs_bpmsg m;
    const char *why = NULL;
    bool is_ugroup = len > 4 && (rec[4] == HCS_BPMSG_USER_ADD_GROUP ||
                                 rec[4] == HCS_BPMSG_USER_REMOVE_GROUP ||
                                 rec[4] == HCS_BPMSG_USER_REMOVE_ALL_GROUPS);
    if (is_ugroup && hcs_bpmsg_decode(rec, len, &m, &why) == 0) {
        char f[1024], key[1300];
        if (m.a && field(f, sizeof f, m.hub, m.a, NULL)) {
            snprintf(key, sizeof key, "%s:ug:%s", bp->prefix, f);
            if (m.op == HCS_BPMSG_USER_ADD_GROUP && m.b) {
                if (m.ttl_s == 0)
                    cmdv(bp, 3, "HDEL", key, m.b);
                else
                    ugroup_store(bp, m.hub, m.a, m.b,
                                 m.ttl_s < 0 || m.ttl_s > INT64_MAX / 2000 ? -1 : m.ttl_s * 1000);
            } else if (m.op == HCS_BPMSG_USER_REMOVE_GROUP && m.b) {
                cmdv(bp, 3, "HDEL", key, m.b);
            } else if (m.op == HCS_BPMSG_USER_REMOVE_ALL_GROUPS) {
                cmdv(bp, 2, "DEL", key);
                cmdv(bp, 3, "SREM", bp->k_ugk, f);
            }
        }
        hcs_bpmsg_cleanup(&m);
    }
    const char *argv[3] = {"PUBLISH", bp->k_ops, (const char *)rec};
    size_t lens[3] = {7, strlen(bp->k_ops), len};
    cmd_queue(bp, K_CMD, 3, argv, lens);
}

static void hincr(struct hcs_backplane *bp, const char *key, const char *f, bool on)
{
    if (on)
        cmdv(bp, 4, "HINCRBY", key, f, "1");
    else
        cmdv(bp, 5, "EVAL", DECR_LUA, "1", key, f);
}

static void cb_conn_live(void *user, const char *hub, const char *conn_id, const char *user_id,
                         bool on)
{
    struct hcs_backplane *bp = user;
    if (!bp->accepting)
        return;
    char f[1024];
    if (field(f, sizeof f, hub, conn_id, NULL)) {
        if (on)
            cmdv(bp, 4, "HSET", bp->k_c, f, user_id ? user_id : "");
        else
            cmdv(bp, 3, "HDEL", bp->k_c, f);
    }
    if (user_id && field(f, sizeof f, hub, user_id, NULL))
        hincr(bp, bp->k_u, f, on);
}

static void cb_group_member(void *user, const char *hub, const char *group, const char *conn_id,
                            const char *user_id, bool on)
{
    struct hcs_backplane *bp = user;
    (void)conn_id;
    if (!bp->accepting)
        return;
    char f[1024];
    if (field(f, sizeof f, hub, group, NULL))
        hincr(bp, bp->k_g, f, on);
    if (user_id && field(f, sizeof f, hub, user_id, group))
        hincr(bp, bp->k_ug, f, on);
}

/* ---- Redis connections ---- */

static redisContext *rconnect(const struct hcs_redis_url *u, int timeout_ms, const char **err,
                              char *errbuf, size_t errcap)
{
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(u->host, u->port, tv);
    if (!c) {
        *err = "out of memory";
        return NULL;
    }
    if (c->err)
        goto fail;
    if (redisSetTimeout(c, tv) != REDIS_OK)
        goto fail;
    redisReply *r;
    if (*u->password) {
        r = *u->user ? redisCommand(c, "AUTH %s %s", u->user, u->password)
                     : redisCommand(c, "AUTH %s", u->password);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            snprintf(errbuf, errcap, "AUTH failed: %s",
                     r ? r->str : (c->errstr[0] ? c->errstr : "no reply"));
            *err = errbuf;
            if (r)
                freeReplyObject(r);
            redisFree(c);
            return NULL;
        }
        freeReplyObject(r);
    }
    if (u->db) {
        r = redisCommand(c, "SELECT %d", u->db);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            snprintf(errbuf, errcap, "SELECT %d failed", u->db);
            *err = errbuf;
            if (r)
                freeReplyObject(r);
            redisFree(c);
            return NULL;
        }
        freeReplyObject(r);
    }
    return c;
fail:
    snprintf(errbuf, errcap, "%s", c->errstr[0] ? c->errstr : "connection failed");
    *err = errbuf;
    redisFree(c);
    return NULL;
}

/* ---- worker ---- */

static void w_drop(struct hcs_backplane *bp, const char *why_in)
{
    char why[160]; /* why_in may be a context's errstr, freed below */
    snprintf(why, sizeof why, "%s", why_in);
    if (bp->cmdc)
        redisFree(bp->cmdc);
    if (bp->subc)
        redisFree(bp->subc);
    bp->cmdc = bp->subc = NULL;
    if (bp->up) {
        bp->up = false;
        post(bp, EV_DOWN, why, strlen(why));
    }
}

/* Run one command on the command connection; NULL after an I/O error. */
static redisReply *w_cmd(struct hcs_backplane *bp, int argc, const char **argv, const size_t *lens)
{
    return redisCommandArgv(bp->cmdc, argc, argv, lens);
}

static bool w_simple(struct hcs_backplane *bp, int argc, ...)
{
    const char *argv[MAX_ARGS];
    size_t lens[MAX_ARGS];
    va_list ap;
    va_start(ap, argc);
    for (int i = 0; i < argc; i++) {
        argv[i] = va_arg(ap, const char *);
        lens[i] = strlen(argv[i]);
    }
    va_end(ap);
    redisReply *r = w_cmd(bp, argc, argv, lens);
    if (!r)
        return false;
    freeReplyObject(r);
    return true;
}

static bool w_heartbeat(struct hcs_backplane *bp)
{
    char ttl[16];
    snprintf(ttl, sizeof ttl, "%d", NODE_TTL_MS);
    return w_simple(bp, 5, "SET", bp->k_node, "1", "PX", ttl) &&
           w_simple(bp, 3, "SADD", bp->k_nodes, bp->node_id) &&
           w_simple(bp, 3, "PEXPIRE", bp->k_c, ttl) && w_simple(bp, 3, "PEXPIRE", bp->k_u, ttl) &&
           w_simple(bp, 3, "PEXPIRE", bp->k_g, ttl) && w_simple(bp, 3, "PEXPIRE", bp->k_ug, ttl);
}

/* Connect both connections, subscribe, read the epoch. */
static int w_connect(struct hcs_backplane *bp, char *errbuf, size_t cap, bool *out_push)
{
    const char *err = NULL;
    bp->cmdc = rconnect(&bp->url, CONNECT_TIMEOUT_MS, &err, errbuf, cap);
    if (!bp->cmdc)
        goto fail;
    struct timeval tv = {CMD_TIMEOUT_MS / 1000, (CMD_TIMEOUT_MS % 1000) * 1000};
    (void)redisSetTimeout(bp->cmdc, tv);
    bp->subc = rconnect(&bp->url, CONNECT_TIMEOUT_MS, &err, errbuf, cap);
    if (!bp->subc)
        goto fail;
    redisReply *r = redisCommand(bp->subc, "SUBSCRIBE %s", bp->k_ops);
    if (!r) {
        err = "SUBSCRIBE failed";
        goto fail;
    }
    freeReplyObject(r);
    /* Epoch: unchanged means Redis kept its data while we were away. */
    char fresh[40];
    random_hex(fresh, 16);
    r = redisCommand(bp->cmdc, "SET %s %s NX", bp->k_epoch, fresh);
    if (r)
        freeReplyObject(r);
    r = redisCommand(bp->cmdc, "GET %s", bp->k_epoch);
    if (!r || r->type != REDIS_REPLY_STRING) {
        if (r)
            freeReplyObject(r);
        err = "cannot read the epoch key";
        goto fail;
    }
    *out_push = strcmp(r->str, bp->last_epoch) != 0;
    snprintf(bp->last_epoch, sizeof bp->last_epoch, "%s", r->str);
    freeReplyObject(r);
    if (!w_heartbeat(bp)) {
        err = "heartbeat failed";
        goto fail;
    }
    return 0;
fail:
    if (err != errbuf)
        snprintf(errbuf, cap, "%s", err ? err : "connection failed");
    if (bp->cmdc)
        redisFree(bp->cmdc);
    if (bp->subc)
        redisFree(bp->subc);
    bp->cmdc = bp->subc = NULL;
    return -1;
}

/* Read the stored user-group memberships and hand them to the loop. */
static bool w_load_ugroups(struct hcs_backplane *bp)
{
    redisReply *keys = redisCommand(bp->cmdc, "SMEMBERS %s", bp->k_ugk);
    if (!keys)
        return false;
    int64_t now = wall_ms();
    bool ok = true;
    for (size_t i = 0; ok && keys->type == REDIS_REPLY_ARRAY && i < keys->elements; i++) {
        const redisReply *k = keys->element[i];
        if (k->type != REDIS_REPLY_STRING)
            continue;
        const char *sep = memchr(k->str, SEP[0], k->len);
        if (!sep)
            continue;
        redisReply *h = redisCommand(bp->cmdc, "HGETALL %s:ug:%b", bp->prefix, k->str, k->len);
        if (!h) {
            ok = false;
            break;
        }
        if (h->type == REDIS_REPLY_ARRAY && h->elements == 0) {
            redisReply *x = redisCommand(bp->cmdc, "SREM %s %b", bp->k_ugk, k->str, k->len);
            if (x)
                freeReplyObject(x);
        }
        for (size_t j = 0; h->type == REDIS_REPLY_ARRAY && j + 1 < h->elements; j += 2) {
            const redisReply *g = h->element[j], *v = h->element[j + 1];
            if (g->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
                continue;
            long long exp = strtoll(v->str, NULL, 10);
            if (exp >= 0 && exp <= now) {
                redisReply *x = redisCommand(bp->cmdc, "HDEL %s:ug:%b %b", bp->prefix, k->str,
                                             k->len, g->str, g->len);
                if (x)
                    freeReplyObject(x);
                continue;
            }
            /* hub \0 user \0 group \0 */
            size_t hub_len = (size_t)(sep - k->str), user_len = k->len - hub_len - 1;
            size_t len = hub_len + 1 + user_len + 1 + g->len + 1;
            struct ev *e = ev_new(EV_UGROUP, NULL, 0);
            struct ev *e2 = e ? realloc(e, sizeof(*e) + len + 1) : NULL;
            if (!e2) {
                free(e);
                continue;
            }
            e = e2;
            memcpy(e->data, k->str, hub_len);
            e->data[hub_len] = 0;
            memcpy(e->data + hub_len + 1, sep + 1, user_len);
            e->data[hub_len + 1 + user_len] = 0;
            memcpy(e->data + hub_len + 2 + user_len, g->str, g->len);
            e->data[len - 1] = 0;
            e->len = len;
            e->num = exp < 0 ? -1 : exp - now;
            ev_push(bp, e);
        }
        freeReplyObject(h);
    }
    freeReplyObject(keys);
    return ok;
}

/* Run the queued commands of the current generation, pipelined. */
static bool w_flush(struct hcs_backplane *bp, struct cmd *list)
{
    bool ok = true;
    while (list) {
        /* Pipeline a run of plain commands. */
        size_t n = 0;
        struct cmd *c = list;
        for (; c && c->kind == K_CMD; c = c->next) {
            if (c->gen != bp->wgen)
                continue;
            if (redisAppendCommandArgv(bp->cmdc, c->argc, c->argv, c->argvlen) != REDIS_OK) {
                ok = false;
                break;
            }
            n++;
        }
        for (size_t i = 0; ok && i < n; i++) {
            void *reply = NULL;
            if (redisGetReply(bp->cmdc, &reply) != REDIS_OK) {
                ok = false;
                break;
            }
            freeReplyObject(reply);
        }
        if (ok && c && c->kind == K_LOAD_UGROUPS) {
            if (c->gen == bp->wgen)
                ok = w_load_ugroups(bp);
            c = c->next;
        }
        while (list != c) {
            struct cmd *next = list->next;
            free(list);
            list = next;
        }
        if (!ok)
            break;
    }
    while (list) {
        struct cmd *next = list->next;
        free(list);
        list = next;
    }
    return ok;
}

/* Hand over every complete reply hiredis has buffered. */
static bool w_drain_sub(struct hcs_backplane *bp)
{
    for (;;) {
        void *v = NULL;
        if (redisGetReplyFromReader(bp->subc, &v) != REDIS_OK)
            return false;
        if (!v)
            return true;
        redisReply *r = v;
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
            r->element[0]->type == REDIS_REPLY_STRING && !strcmp(r->element[0]->str, "message") &&
            r->element[2]->type == REDIS_REPLY_STRING)
            post(bp, EV_MSG, r->element[2]->str, r->element[2]->len);
        freeReplyObject(r);
    }
}

/* Read everything the subscription has for us. */
static bool w_read_sub(struct hcs_backplane *bp)
{
    return redisBufferRead(bp->subc) == REDIS_OK && w_drain_sub(bp);
}

static void w_unregister(struct hcs_backplane *bp)
{
    if (!bp->cmdc)
        return;
    (void)(w_simple(bp, 2, "DEL", bp->k_node) && w_simple(bp, 3, "SREM", bp->k_nodes, bp->node_id) &&
           w_simple(bp, 5, "DEL", bp->k_c, bp->k_u, bp->k_g, bp->k_ug));
}

static void *worker(void *arg)
{
    struct hcs_backplane *bp = arg;
    int64_t next_try = 0, backoff = BACKOFF_MIN_MS, next_beat = 0;
    bool announced_down = false;
    char errbuf[256];
    for (;;) {
        pthread_mutex_lock(&bp->mu);
        bool stop = bp->stop;
        struct cmd *list = bp->out_head;
        bp->out_head = bp->out_tail = NULL;
        bp->out_bytes = 0;
        pthread_mutex_unlock(&bp->mu);
        if (stop) {
            while (list) {
                struct cmd *next = list->next;
                free(list);
                list = next;
            }
            break;
        }
        int64_t now = mono_ms();
        if (!bp->up) {
            while (list) { /* of an older generation: a resync follows */
                struct cmd *next = list->next;
                free(list);
                list = next;
            }
            if (now >= next_try) {
                bool push = false;
                if (w_connect(bp, errbuf, sizeof errbuf, &push) == 0) {
                    bp->up = true;
                    announced_down = false;
                    backoff = BACKOFF_MIN_MS;
                    bp->wgen++;
                    (void)w_drain_sub(bp); /* anything that came with SUBSCRIBE's answer */
                    next_beat = now + HEARTBEAT_MS;
                    struct ev *e = ev_new(EV_UP, NULL, 0);
                    if (e) {
                        e->gen = bp->wgen;
                        e->push = push;
                        ev_push(bp, e);
                    }
                    continue;
                }
                if (!announced_down) {
                    announced_down = true;
                    post(bp, EV_DOWN, errbuf, strlen(errbuf));
                }
                next_try = now + backoff;
                backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
            }
            struct pollfd pf = {bp->efd, POLLIN, 0};
            int wait = (int)(next_try - mono_ms());
            (void)poll(&pf, 1, wait < 0 ? 0 : wait);
            uint64_t x;
            if (pf.revents & POLLIN)
                (void)!read(bp->efd, &x, sizeof x);
            continue;
        }
        if (list && !w_flush(bp, list)) {
            w_drop(bp, bp->cmdc && bp->cmdc->errstr[0] ? bp->cmdc->errstr : "command failed");
            announced_down = true;
            next_try = mono_ms() + backoff;
            continue;
        }
        now = mono_ms();
        if (now >= next_beat) {
            if (!w_heartbeat(bp)) {
                w_drop(bp, "heartbeat failed");
                announced_down = true;
                next_try = now + backoff;
                continue;
            }
            next_beat = now + HEARTBEAT_MS;
        }
        struct pollfd pf[2] = {{bp->efd, POLLIN, 0}, {bp->subc->fd, POLLIN, 0}};
        int wait = (int)(next_beat - now);
        int n = poll(pf, 2, wait < 0 ? 0 : wait);
        if (n < 0 && errno != EINTR) {
            w_drop(bp, "poll failed");
            announced_down = true;
            next_try = mono_ms() + backoff;
            continue;
        }
        if (pf[0].revents & POLLIN) {
            uint64_t x;
            (void)!read(bp->efd, &x, sizeof x);
        }
        if (pf[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            if (!w_read_sub(bp)) {
                w_drop(bp, bp->subc->errstr[0] ? bp->subc->errstr : "subscription lost");
                announced_down = true;
                next_try = mono_ms() + backoff;
            }
        }
    }
    if (bp->up)
        w_unregister(bp);
    if (bp->cmdc)
        redisFree(bp->cmdc);
    if (bp->subc)
        redisFree(bp->subc);
    bp->cmdc = bp->subc = NULL;
    return NULL;
}

/* ---- loop side ---- */

static void q_close(struct hcs_backplane *bp)
{
    if (bp->q)
        redisFree(bp->q);
    bp->q = NULL;
}

static int cb_query(void *user, enum hcs_bp_query q, const char *hub, const char *a,
                    const char *b)
{
    struct hcs_backplane *bp = user;
    static const char *const KIND[] = {"c", "u", "g", "ug"};
    if (!bp->accepting || (unsigned)q > HCS_BP_Q_USER_IN_GROUP || !a)
        return -1;
    char f[1024];
    if (!field(f, sizeof f, hub, a, q == HCS_BP_Q_USER_IN_GROUP ? (b ? b : "") : NULL))
        return -1;
    for (int attempt = 0; attempt < 2; attempt++) {
        int64_t now = mono_ms();
        if (!bp->q) {
            if (now < bp->q_retry_ms)
                return -1;
            const char *err = NULL;
            char errbuf[256];
            bp->q = rconnect(&bp->url, QUERY_TIMEOUT_MS, &err, errbuf, sizeof errbuf);
            if (!bp->q) {
                bp->q_retry_ms = now + QUERY_RETRY_MS;
                hcs_log(HCS_LOG_WARN, "backplane", "query connection failed: %s", err);
                return -1;
            }
        }
        const char *argv[7] = {"EVAL", QUERY_LUA, "0", bp->prefix, KIND[q], f, bp->node_id};
        size_t lens[7];
        for (int i = 0; i < 7; i++)
            lens[i] = strlen(argv[i]);
        redisReply *r = redisCommandArgv(bp->q, 7, argv, lens);
        if (r && r->type == REDIS_REPLY_INTEGER) {
            int v = r->integer == 1;
            freeReplyObject(r);
            return v;
        }
        if (r) {
            hcs_log(HCS_LOG_WARN, "backplane", "query failed: %s",
                    r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
            freeReplyObject(r);
            return -1;
        }
        q_close(bp); /* stale connection (Redis restarted): reconnect once */
    }
    return -1;
}

static void push_ugroup(void *ctx, const char *hub, const char *user, const char *group,
                        int64_t remaining_ms)
{
    ugroup_store(ctx, hub, user, group, remaining_ms);
}

static void on_up(struct hcs_backplane *bp, const struct ev *e, int64_t now_ms)
{
    bp->accepting = true;
    bp->gen = e->gen;
    bp->warned_drop = false;
    q_close(bp);
    hcs_log(HCS_LOG_NOTICE, "backplane",
            "connected to Redis host=%s port=%d node=%s; resynchronising connections=%zu%s",
            bp->url.host, bp->url.port, bp->node_id, hcs_core_conn_count(bp->core),
            e->push ? " (Redis has no state of ours: re-publishing user groups)" : "");
    cmdv(bp, 5, "DEL", bp->k_c, bp->k_u, bp->k_g, bp->k_ug);
    hcs_core_backplane_snapshot(bp->core);
    if (e->push)
        hcs_core_user_groups_foreach(bp->core, now_ms, push_ugroup, bp);
    cmd_queue(bp, K_LOAD_UGROUPS, 0, NULL, NULL);
}

static void on_down(struct hcs_backplane *bp, const struct ev *e)
{
    bool was = bp->accepting;
    bp->accepting = false;
    q_close(bp);
    hcs_log(HCS_LOG_ERR, "backplane",
            "%s Redis host=%s port=%d: %.*s; serving local clients only, reconnecting with "
            "backoff",
            was ? "lost" : "cannot reach", bp->url.host, bp->url.port, (int)e->len,
            (const char *)e->data);
}

void hcs_backplane_poll(struct hcs_backplane *bp, int64_t now_ms)
{
    if (!bp)
        return;
    pthread_mutex_lock(&bp->mu);
    struct ev *list = bp->in_head;
    bp->in_head = bp->in_tail = NULL;
    bp->in_bytes = 0;
    pthread_mutex_unlock(&bp->mu);
    while (list) {
        struct ev *e = list;
        list = e->next;
        switch (e->kind) {
        case EV_MSG: {
            const char *why = NULL;
            int rc = hcs_bpmsg_apply(bp->core, e->data, e->len, now_ms, &why);
            if (rc == HCS_ERR_INVALID)
                hcs_log(HCS_LOG_WARN, "backplane", "ignored a record: %s", why ? why : "?");
            else if (rc != HCS_OK)
                hcs_log(HCS_LOG_ERR, "backplane", "could not apply a record: %s",
                        hcs_strerror(rc));
            break;
        }
        case EV_UP:
            on_up(bp, e, now_ms);
            break;
        case EV_DOWN:
            on_down(bp, e);
            break;
        case EV_UGROUP: {
            const char *hub = (const char *)e->data;
            const char *user = hub + strlen(hub) + 1;
            const char *group = user + strlen(user) + 1;
            int64_t ttl_s = e->num < 0 ? -1 : (e->num + 999) / 1000;
            if (ttl_s != 0 && hcs_core_user_add_group(bp->core, hub, user, group, ttl_s,
                                                      now_ms) == HCS_ERR_NOMEM)
                hcs_log(HCS_LOG_ERR, "backplane", "out of memory loading user groups");
            break;
        }
        }
        free(e);
    }
}

const char *hcs_backplane_node_id(const struct hcs_backplane *bp)
{
    return bp->node_id;
}

struct hcs_backplane *hcs_backplane_new(const struct hcs_config *cfg, struct hcs_core *core,
                                        void (*wake)(void *user), void *wake_user)
{
    const char *reason = NULL;
    struct hcs_redis_url url;
    if (hcs_redis_url_parse(cfg->redis_url, &url, &reason) != 0) {
        hcs_log(HCS_LOG_ERR, "backplane", "bad --redis: %s", reason);
        return NULL;
    }
    if (!*cfg->redis_prefix || strlen(cfg->redis_prefix) > 100) {
        hcs_log(HCS_LOG_ERR, "backplane", "bad --redis-prefix: 1 to 100 characters");
        return NULL;
    }
    struct hcs_backplane *bp = calloc(1, sizeof(*bp));
    if (!bp)
        return NULL;
    bp->cfg = cfg;
    bp->core = core;
    bp->url = url;
    bp->wake = wake;
    bp->wake_user = wake_user;
    bp->efd = -1;
    pthread_mutex_init(&bp->mu, NULL);
    random_hex(bp->node_id, 8);
    snprintf(bp->prefix, sizeof bp->prefix, "%s", cfg->redis_prefix);
    const char *p = bp->prefix, *n = bp->node_id;
    snprintf(bp->k_c, sizeof bp->k_c, "%s:n:%s:c", p, n);
    snprintf(bp->k_u, sizeof bp->k_u, "%s:n:%s:u", p, n);
    snprintf(bp->k_g, sizeof bp->k_g, "%s:n:%s:g", p, n);
    snprintf(bp->k_ug, sizeof bp->k_ug, "%s:n:%s:ug", p, n);
    snprintf(bp->k_node, sizeof bp->k_node, "%s:node:%s", p, n);
    snprintf(bp->k_nodes, sizeof bp->k_nodes, "%s:nodes", p);
    snprintf(bp->k_ops, sizeof bp->k_ops, "%s:ops", p);
    snprintf(bp->k_ugk, sizeof bp->k_ugk, "%s:ugk", p);
    snprintf(bp->k_epoch, sizeof bp->k_epoch, "%s:epoch", p);
    bp->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (bp->efd < 0)
        goto fail;
    struct hcs_backplane_ops ops = {
        .publish = cb_publish,
        .query = cb_query,
        .conn_live = cb_conn_live,
        .group_member = cb_group_member,
    };
    if (hcs_core_set_backplane(core, &ops, bp, bp->node_id) != HCS_OK)
        goto fail;
    if (pthread_create(&bp->thread, NULL, worker, bp) != 0) {
        (void)hcs_core_set_backplane(core, NULL, NULL, NULL);
        goto fail;
    }
    bp->thread_started = true;
    hcs_log(HCS_LOG_NOTICE, "backplane", "node=%s joining Redis host=%s port=%d db=%d prefix=%s",
            bp->node_id, url.host, url.port, url.db, bp->prefix);
    return bp;
fail:
    hcs_log(HCS_LOG_ERR, "backplane", "cannot start the backplane");
    if (bp->efd >= 0)
        close(bp->efd);
    pthread_mutex_destroy(&bp->mu);
    free(bp);
    return NULL;
}

void hcs_backplane_free(struct hcs_backplane *bp)
{
    if (!bp)
        return;
    (void)hcs_core_set_backplane(bp->core, NULL, NULL, NULL);
    bp->accepting = false;
    if (bp->thread_started) {
        pthread_mutex_lock(&bp->mu);
        bp->stop = true;
        pthread_mutex_unlock(&bp->mu);
        kick(bp);
        pthread_join(bp->thread, NULL);
    }
    q_close(bp);
    struct cmd *c = bp->out_head;
    while (c) {
        struct cmd *next = c->next;
        free(c);
        c = next;
    }
    struct ev *e = bp->in_head;
    while (e) {
        struct ev *next = e->next;
        free(e);
        e = next;
    }
    close(bp->efd);
    pthread_mutex_destroy(&bp->mu);
    free(bp);
}
