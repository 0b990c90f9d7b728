/*
 * hcs_core: hubs, connections, groups, users, routing and timers (core.h).
 *
 * Data layout (all maps are hcs_map, keys borrowed from the values):
 *   core->hubs     lower-case hub name -> struct hcs_hub
 *   core->tokens   connection token    -> struct hcs_conn
 *   hub->conns     connection id       -> struct hcs_conn (every state)
 *   hub->groups    group name          -> struct group    (live members only)
 *   hub->users     user id             -> struct user     (live conns + stored
 *                                                          user-group memberships)
 *   group->conns   connection id       -> struct hcs_conn
 *   conn->groups   group name          -> struct group
 *   user->conns    connection id       -> struct hcs_conn (live only)
 *   user->groups   group name          -> struct ugroup   (membership + expiry)
 * A struct group exists only while it has members; a struct user only while
 * it has live connections or stored memberships; empty hubs are reaped by
 * hcs_core_tick().
 *
 * Invariants:
 * - A connection is "live" (sendable, exists, member of groups and of its
 *   user) from handshake completion until it starts closing or is disposed.
 * - Queued output is a ring of frame references; a frame is immutable once
 *   queued except for its headroom, which the (single) writer may scribble on.
 * - Nothing is freed while a map that holds it is being iterated: fan-out
 *   marks connections over their queue cap and closes them afterwards
 *   (flush_overflow), bulk closes collect their targets first.
 * - Dispatch callbacks run synchronously; connected/disconnected must not
 *   close or detach other connections from inside the callback.
 */
#include "core/core.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "core/map.h"

#define HUB_KEY_MAX 512     /* longest hub name we accept, incl. application prefix */
#define RING_MIN 8          /* initial output ring entries */
#define RING_MAX (1u << 20) /* hard bound on queued frames per connection */
#define MSG_GENERIC_ERROR "Connection closed with an error."
#define MSG_CLIENT_TIMEOUT "Client timeout elapsed without receiving a message from the client."
#define MSG_TOKEN_EXPIRED "Connection closed because its access token expired."

/* ---- frames and messages ---- */

struct hcs_frame {
    unsigned refs;
    size_t len;
    uint8_t *data; /* `headroom` writable bytes precede it in the same block */
};

/* A message for many connections: one frame per hub protocol, encoded on
 * first use from whichever frame exists (JSON <-> MessagePack). */
struct hcs_message {
    struct hcs_frame *frames[HCP_PROTOCOL_COUNT]; /* NULL: not encoded (yet) */
    bool failed[HCP_PROTOCOL_COUNT];              /* conversion tried and failed */
    size_t headroom;
};

/* Why a connection marked during a fan-out is closed afterwards. */
enum defer_close {
    DC_NONE = 0,
    DC_QUEUE,  /* outbound queue over max_queue_bytes */
    DC_REPLAY, /* stateful reconnect buffer over stateful_buffer_bytes */
    DC_ENCODE, /* the message could not be encoded in the connection's protocol */
};

enum conn_state {
    ST_NEGOTIATED, /* created by negotiate, never attached nor written to */
    ST_HANDSHAKE,  /* waiting for the handshake request */
    ST_CONNECTED,  /* handshake completed */
};

struct hcs_hub;
struct user;

struct hcs_conn {
    struct hcs_conn *prev, *next; /* core->conns list */
    struct hcs_hub *hub;
    char *id, *token, *user_id, *query;
    char *claims_json; /* compact JSON text of the token's claims, or NULL */
    unsigned transports;
    enum hcs_transport kind; /* first transport attached, NONE before */
    void *transport;         /* NULL when not attached */
    enum conn_state state;
    enum hcp_protocol protocol;
    bool is_live;
    bool was_connected;
    bool is_closing;
    bool want_write; /* a write request is outstanding at the edge */
    bool ping_armed; /* the client pinged: enforce client_timeout_ms */
    bool in_overflow;
    enum defer_close defer; /* why it is on core->overflow */
    bool skip; /* transient mark for "excluded" during one fan-out */
    /* Stateful reconnect (signalr-protocol.md section 9). */
    bool stateful_ok; /* negotiated with useStatefulReconnect */
    bool stateful;    /* on: version-2 handshake over WebSockets */
    bool is_lost;     /* transport dropped uncleanly; kept for a resume */
    int64_t lost_ms;
    uint64_t out_next;       /* sequence id of our next trackable message */
    struct hcs_frame **rb;   /* replay ring: unacknowledged trackable frames */
    size_t rb_cap, rb_head, rb_n, rb_bytes;
    uint64_t rb_first;       /* sequence id of rb[rb_head] */
    uint64_t in_next;        /* id the client's next trackable message takes */
    uint64_t in_max;         /* highest id processed */
    uint64_t in_acked;       /* highest id we acknowledged */
    struct hcs_conn *overflow_next;
    int64_t created_ms, attached_ms, released_ms, last_send_ms, last_recv_ms;
    int64_t close_at_ms; /* 0 = never */
    char *close_error;
    struct hcp_buf in;
    struct hcs_frame **q; /* ring */
    size_t q_cap, q_head, q_n, q_bytes;
    size_t out_n; /* frames covered by the span last returned by output() */
    struct hcs_map groups;
    struct user *user; /* set while live and the connection has a user id */
};

struct group {
    char *name;
    struct hcs_map conns;
};

struct ugroup {
    char *group;
    int64_t expires_ms; /* INT64_MAX: no TTL */
};

struct user {
    char *name;
    struct hcs_map conns;
    struct hcs_map groups;
};

struct hcs_hub {
    struct hcs_core *core;
    char *name;
    struct hcs_map conns;
    struct hcs_map groups;
    struct hcs_map users;
};

struct hcs_core {
    struct hcs_core_limits limits;
    struct hcs_sink_ops sink;
    void *sink_user;
    struct hcs_dispatch_ops dispatch;
    void *dispatch_user;
    struct hcs_map hubs;
    struct hcs_map tokens;
    struct hcs_conn *conns;
    size_t n_conns;
    struct hcs_conn *overflow; /* connections to close after the current fan-out */
    struct hcs_frame *f_handshake_ok;
    struct hcs_frame *f_ping[HCP_PROTOCOL_COUNT];
    struct hcs_frame *f_close_reconnect[HCP_PROTOCOL_COUNT];
    uint8_t *scratch; /* headroom + max_write_bytes */
    bool is_freeing;
    /* Backplane (NULL ops.publish etc. when none); node_id names us. */
    struct hcs_backplane_ops bp;
    void *bp_user;
    char *node_id;
    bool has_bp;
};

const char *hcs_strerror(int err)
{
    switch (err) {
    case HCS_OK:
        return "success";
#define HCS_ERR_STR_(name, value, desc)                                                            \
    case HCS_ERR_##name:                                                                           \
        return desc;
        HCS_ERR_MAP(HCS_ERR_STR_)
#undef HCS_ERR_STR_
    }
    return "unknown error";
}

void hcs_core_limits_default(struct hcs_core_limits *l)
{
    l->max_message_bytes = 1024 * 1024;
    l->max_queue_bytes = 1024 * 1024;
    l->max_connections = 100000;
    l->handshake_timeout_ms = 15000;
    l->keepalive_ms = 15000;
    l->client_timeout_ms = 30000;
    l->negotiate_timeout_ms = 30000;
    l->headroom = 0;
    l->max_write_bytes = 64 * 1024;
    l->stateful_buffer_bytes = 100000;
    l->reconnect_window_ms = 15000;
}

static void frame_unref(struct hcs_frame *f)
{
    if (f && --f->refs == 0)
        hcp_free(f);
}

/* Start a frame in `b`: reserve the header and headroom, then let an encoder
 * append the record, then frame_finish(). */
static int frame_begin(const struct hcs_core *core, struct hcp_buf *b)
{
    hcp_buf_init(b, 0);
    return hcp_buf_append_zeros(b, sizeof(struct hcs_frame) + core->limits.headroom);
}

static struct hcs_frame *frame_finish(const struct hcs_core *core, struct hcp_buf *b, int rc)
{
    if (rc != 0) {
        hcp_buf_cleanup(b);
        return NULL;
    }
    size_t pre = sizeof(struct hcs_frame) + core->limits.headroom;
    size_t total = 0;
    uint8_t *block = hcp_buf_take(b, &total);
    if (!block)
        return NULL;
    struct hcs_frame *f = (struct hcs_frame *)(void *)block;
    f->refs = 1;
    f->len = total - pre;
    f->data = block + pre;
    return f;
}

static struct hcs_frame *frame_copy(const struct hcs_core *core, const uint8_t *data, size_t len)
{
    size_t pre = sizeof(struct hcs_frame) + core->limits.headroom;
    if (len > SIZE_MAX - pre)
        return NULL;
    uint8_t *block = hcp_malloc(pre + len);
    if (!block)
        return NULL;
    struct hcs_frame *f = (struct hcs_frame *)(void *)block;
    f->refs = 1;
    f->len = len;
    f->data = block + pre;
    if (len)
        memcpy(f->data, data, len);
    return f;
}

static struct hcs_frame *frame_close(const struct hcs_core *core, enum hcp_protocol p,
                                     const char *error, bool allow_reconnect)
{
    struct hcp_buf b;
    int rc = frame_begin(core, &b);
    error = (error && *error) ? error : NULL;
    if (rc == 0)
        rc = p == HCP_PROTOCOL_MSGPACK ? hcp_msgpack_encode_close(&b, error, allow_reconnect)
                                       : hcp_json_encode_close(&b, error, allow_reconnect);
    return frame_finish(core, &b, rc);
}

/* Ack (type 8) or Sequence (type 9) for stateful reconnect. */
static struct hcs_frame *frame_seq(const struct hcs_core *core, enum hcp_protocol p, int type,
                                   uint64_t id)
{
    struct hcp_buf b;
    int rc = frame_begin(core, &b);
    if (rc == 0) {
        if (p == HCP_PROTOCOL_MSGPACK)
            rc = type == HCP_MSG_ACK ? hcp_msgpack_encode_ack(&b, id)
                                     : hcp_msgpack_encode_sequence(&b, id);
        else
            rc = type == HCP_MSG_ACK ? hcp_json_encode_ack(&b, id)
                                     : hcp_json_encode_sequence(&b, id);
    }
    return frame_finish(core, &b, rc);
}

static struct hcs_frame *frame_handshake_error(const struct hcs_core *core, const char *error)
{
    struct hcp_buf b;
    int rc = frame_begin(core, &b);
    if (rc == 0)
        rc = hcp_handshake_encode_error(&b, error);
    return frame_finish(core, &b, rc);
}

static struct hcs_frame *frame_completion(const struct hcs_core *core, enum hcp_protocol p,
                                          const char *invocation_id, const char *result_json,
                                          const char *error)
{
    struct hcp_buf b;
    int rc = frame_begin(core, &b);
    size_t rlen = result_json ? strlen(result_json) : 0;
    if (rc == 0)
        rc = p == HCP_PROTOCOL_MSGPACK
                 ? hcp_msgpack_encode_completion(&b, invocation_id, result_json, rlen, error)
                 : hcp_json_encode_completion(&b, invocation_id, result_json, rlen, error);
    return frame_finish(core, &b, rc);
}

/* A message from pre-encoded records; either may be absent (not both). */
struct hcs_message *hcs_message_new_multi(struct hcs_core *core, const uint8_t *json,
                                          size_t json_len, const uint8_t *msgpack,
                                          size_t msgpack_len)
{
    if (!json && !msgpack)
        return NULL;
    struct hcs_message *m = hcp_calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->headroom = core->limits.headroom;
    if (json && !(m->frames[HCP_PROTOCOL_JSON] = frame_copy(core, json, json_len)))
        goto fail;
    if (msgpack && !(m->frames[HCP_PROTOCOL_MSGPACK] = frame_copy(core, msgpack, msgpack_len)))
        goto fail;
    return m;
fail:
    hcs_message_unref(m);
    return NULL;
}

struct hcs_message *hcs_message_new_json(struct hcs_core *core, const uint8_t *record, size_t len)
{
    return hcs_message_new_multi(core, record, len, NULL, 0);
}

struct hcs_message *hcs_message_new_msgpack(struct hcs_core *core, const uint8_t *record,
                                            size_t len)
{
    return hcs_message_new_multi(core, NULL, 0, record, len);
}

bool hcs_message_has_frame(const struct hcs_message *m, enum hcp_protocol p)
{
    return p < HCP_PROTOCOL_COUNT && m->frames[p] != NULL;
}

bool hcs_message_record(const struct hcs_message *m, enum hcp_protocol p, const uint8_t **out,
                        size_t *out_len)
{
    if (p >= HCP_PROTOCOL_COUNT || !m->frames[p])
        return false;
    *out = m->frames[p]->data;
    *out_len = m->frames[p]->len;
    return true;
}

/*
 * The frame for protocol p, encoded now from the other protocol's frame if
 * this is the first target speaking p (signalr-protocol.md sections 5, 6).
 * NULL when the conversion failed (remembered: tried once per message).
 */
static struct hcs_frame *message_frame(const struct hcs_core *core, struct hcs_message *m,
                                       enum hcp_protocol p)
{
    if (m->frames[p] || m->failed[p])
        return m->frames[p];
    struct hcp_buf b;
    int rc = frame_begin(core, &b);
    const struct hcs_frame *src;
    if (p == HCP_PROTOCOL_MSGPACK && (src = m->frames[HCP_PROTOCOL_JSON]) != NULL) {
        /* The JSON record without its 0x1E. */
        if (rc == 0)
            rc = src->len ? hcp_msgpack_invocation_from_json(&b, (const char *)src->data,
                                                             src->len - 1)
                          : HCP_ERR_MALFORMED;
    } else if (p == HCP_PROTOCOL_JSON && (src = m->frames[HCP_PROTOCOL_MSGPACK]) != NULL) {
        size_t off = 0, len = 0;
        if (rc == 0 &&
            hcp_msgpack_record_next(src->data, src->len, HCP_MSGPACK_MAX_RECORD, &off, &len) <= 0)
            rc = HCP_ERR_MALFORMED;
        if (rc == 0)
            rc = hcp_json_invocation_from_msgpack(&b, src->data + off, len);
    } else if (rc == 0) {
        rc = HCP_ERR_INVALID;
    }
    m->frames[p] = frame_finish(core, &b, rc);
    m->failed[p] = m->frames[p] == NULL;
    return m->frames[p];
}

void hcs_message_unref(struct hcs_message *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < HCP_PROTOCOL_COUNT; i++)
        frame_unref(m->frames[i]);
    hcp_free(m);
}

/* ---- names ---- */

/* Lower-case `s` into buf; false when it does not fit or is empty. */
static bool hub_key(const char *s, char *buf, size_t cap)
{
    if (!s || !*s)
        return false;
    size_t i = 0;
    for (; s[i]; i++) {
        if (i + 1 >= cap)
            return false;
        buf[i] = (char)tolower((unsigned char)s[i]);
    }
    buf[i] = '\0';
    return true;
}

/* ---- hubs, groups, users ---- */

static struct hcs_hub *hub_find(const struct hcs_core *core, const char *name)
{
    char key[HUB_KEY_MAX];
    if (!hub_key(name, key, sizeof(key)))
        return NULL;
    return hcs_map_get(&core->hubs, key);
}

static void hub_free(struct hcs_hub *h)
{
    hcs_map_cleanup(&h->conns);
    hcs_map_cleanup(&h->groups);
    hcs_map_cleanup(&h->users);
    hcp_free(h->name);
    hcp_free(h);
}

static struct hcs_hub *hub_get(struct hcs_core *core, const char *name)
{
    char key[HUB_KEY_MAX];
    if (!hub_key(name, key, sizeof(key)))
        return NULL;
    struct hcs_hub *h = hcs_map_get(&core->hubs, key);
    if (h)
        return h;
    h = hcp_calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->core = core;
    h->name = hcp_strdup(key);
    if (!h->name || hcs_map_put(&core->hubs, h->name, h) != 0) {
        hub_free(h);
        return NULL;
    }
    return h;
}

static bool hub_is_empty(const struct hcs_hub *h)
{
    return !hcs_map_count(&h->conns) && !hcs_map_count(&h->groups) && !hcs_map_count(&h->users);
}

/* ---- backplane registry events ---- */

static bool bp_on(const struct hcs_core *core)
{
    return core->has_bp && !core->is_freeing;
}

static void bp_conn_live(struct hcs_conn *c, bool on)
{
    struct hcs_core *core = c->hub->core;
    if (bp_on(core) && core->bp.conn_live)
        core->bp.conn_live(core->bp_user, c->hub->name, c->id, c->user_id, on);
}

static void bp_group_member(const struct group *g, struct hcs_conn *c, bool on)
{
    struct hcs_core *core = c->hub->core;
    if (bp_on(core) && core->bp.group_member)
        core->bp.group_member(core->bp_user, c->hub->name, g->name, c->id, c->user_id, on);
}

static void group_free(struct group *g)
{
    hcs_map_cleanup(&g->conns);
    hcp_free(g->name);
    hcp_free(g);
}

/* Remove c from g (both directions); frees g when it becomes empty. */
static void group_drop_member(struct hcs_hub *h, struct group *g, struct hcs_conn *c)
{
    if (hcs_map_del(&g->conns, c->id))
        bp_group_member(g, c, false);
    if (hcs_map_count(&g->conns) == 0) {
        hcs_map_del(&h->groups, g->name);
        group_free(g);
    }
}

static int group_join(struct hcs_hub *h, const char *name, struct hcs_conn *c)
{
    struct group *g = hcs_map_get(&h->groups, name);
    bool created = false;
    if (!g) {
        g = hcp_calloc(1, sizeof(*g));
        if (!g)
            return HCS_ERR_NOMEM;
        g->name = hcp_strdup(name);
        if (!g->name || hcs_map_put(&h->groups, g->name, g) != 0) {
            group_free(g);
            return HCS_ERR_NOMEM;
        }
        created = true;
    } else if (hcs_map_get(&g->conns, c->id)) {
        return HCS_OK;
    }
    if (hcs_map_put(&g->conns, c->id, c) != 0)
        goto fail;
    if (hcs_map_put(&c->groups, g->name, g) != 0) {
        hcs_map_del(&g->conns, c->id);
        goto fail;
    }
    bp_group_member(g, c, true);
    return HCS_OK;
fail:
    if (created) {
        hcs_map_del(&h->groups, g->name);
        group_free(g);
    }
    return HCS_ERR_NOMEM;
}

static void group_leave(struct hcs_hub *h, const char *name, struct hcs_conn *c)
{
    struct group *g = hcs_map_del(&c->groups, name);
    if (g)
        group_drop_member(h, g, c);
}

static bool match_all(void *val, void *ctx)
{
    (void)val;
    (void)ctx;
    return true;
}

/* hcs_map_remove_if drop callback for conn->groups; ctx is the connection. */
static void drop_conn_group(void *val, void *ctx)
{
    struct hcs_conn *c = ctx;
    group_drop_member(c->hub, val, c);
}

static void conn_leave_all(struct hcs_conn *c)
{
    hcs_map_remove_if(&c->groups, match_all, drop_conn_group, c);
}

static void ugroup_free(void *val, void *ctx)
{
    (void)ctx;
    struct ugroup *ug = val;
    hcp_free(ug->group);
    hcp_free(ug);
}

static void user_free(struct user *u)
{
    hcs_map_remove_if(&u->groups, match_all, ugroup_free, NULL);
    hcs_map_cleanup(&u->conns);
    hcp_free(u->name);
    hcp_free(u);
}

static struct user *user_find(const struct hcs_hub *h, const char *name)
{
    return (h && name) ? hcs_map_get(&h->users, name) : NULL;
}

static struct user *user_get(struct hcs_hub *h, const char *name)
{
    struct user *u = hcs_map_get(&h->users, name);
    if (u)
        return u;
    u = hcp_calloc(1, sizeof(*u));
    if (!u)
        return NULL;
    u->name = hcp_strdup(name);
    if (!u->name || hcs_map_put(&h->users, u->name, u) != 0) {
        user_free(u);
        return NULL;
    }
    return u;
}

static void user_maybe_free(struct hcs_hub *h, struct user *u)
{
    if (hcs_map_count(&u->conns) || hcs_map_count(&u->groups))
        return;
    hcs_map_del(&h->users, u->name);
    user_free(u);
}

static bool ugroup_valid(const struct ugroup *ug, int64_t now_ms)
{
    return ug->expires_ms > now_ms;
}

/* ---- output queue ---- */

static struct hcs_frame *q_at(const struct hcs_conn *c, size_t i)
{
    return c->q[(c->q_head + i) & (c->q_cap - 1)];
}

static int q_grow(struct hcs_conn *c)
{
    size_t ncap = c->q_cap ? c->q_cap * 2 : RING_MIN;
    if (ncap > RING_MAX)
        return HCS_ERR_LIMIT;
    struct hcs_frame **nq = hcp_malloc(ncap * sizeof(*nq));
    if (!nq)
        return HCS_ERR_NOMEM;
    for (size_t i = 0; i < c->q_n; i++)
        nq[i] = q_at(c, i);
    hcp_free(c->q);
    c->q = nq;
    c->q_cap = ncap;
    c->q_head = 0;
    return HCS_OK;
}

static void q_pop(struct hcs_conn *c, size_t n)
{
    for (size_t i = 0; i < n && c->q_n; i++) {
        struct hcs_frame *f = q_at(c, 0);
        c->q_bytes -= f->len;
        frame_unref(f);
        c->q_head = (c->q_head + 1) & (c->q_cap - 1);
        c->q_n--;
    }
}

/* Drop queued frames from index `keep` on (the span handed to the edge by the
 * last output() stays valid). */
static void q_truncate(struct hcs_conn *c, size_t keep)
{
    while (c->q_n > keep) {
        struct hcs_frame *f = q_at(c, c->q_n - 1);
        c->q_bytes -= f->len;
        frame_unref(f);
        c->q_n--;
    }
}

static void request_write(struct hcs_core *core, struct hcs_conn *c)
{
    if (c->want_write || !c->transport)
        return;
    c->want_write = true;
    if (core->sink.want_write)
        core->sink.want_write(core->sink_user, c->id, c->transport);
}

/* Mark c to be closed (for `why`) once the current fan-out is over; its
 * not-yet-handed-out frames are dropped now. */
static void mark_overflow_for(struct hcs_core *core, struct hcs_conn *c, enum defer_close why)
{
    if (c->in_overflow)
        return;
    c->in_overflow = true;
    c->defer = why;
    q_truncate(c, c->out_n);
    c->overflow_next = core->overflow;
    core->overflow = c;
}

static void mark_overflow(struct hcs_core *core, struct hcs_conn *c)
{
    mark_overflow_for(core, c, DC_QUEUE);
}

/* Append a reference to the ring (no cap checks). */
static int q_push(struct hcs_core *core, struct hcs_conn *c, struct hcs_frame *f)
{
    if (c->q_n == c->q_cap) {
        int rc = q_grow(c);
        if (rc != 0)
            return rc;
    }
    c->q[(c->q_head + c->q_n) & (c->q_cap - 1)] = f;
    c->q_n++;
    c->q_bytes += f->len;
    f->refs++;
    request_write(core, c);
    return HCS_OK;
}

/* ---- stateful reconnect: the replay buffer (signalr-protocol.md section 9) ---- */

static struct hcs_frame *rb_at(const struct hcs_conn *c, size_t i)
{
    return c->rb[(c->rb_head + i) & (c->rb_cap - 1)];
}

static int rb_push(struct hcs_conn *c, struct hcs_frame *f)
{
    if (c->rb_n == c->rb_cap) {
        size_t ncap = c->rb_cap ? c->rb_cap * 2 : RING_MIN;
        if (ncap > RING_MAX)
            return HCS_ERR_LIMIT;
        struct hcs_frame **nr = hcp_malloc(ncap * sizeof(*nr));
        if (!nr)
            return HCS_ERR_NOMEM;
        for (size_t i = 0; i < c->rb_n; i++)
            nr[i] = rb_at(c, i);
        hcp_free(c->rb);
        c->rb = nr;
        c->rb_cap = ncap;
        c->rb_head = 0;
    }
    c->rb[(c->rb_head + c->rb_n) & (c->rb_cap - 1)] = f;
    c->rb_n++;
    c->rb_bytes += f->len;
    f->refs++;
    c->out_next++;
    return HCS_OK;
}

/* The client acknowledged everything up to `id`: those frames are dropped
 * (the frames themselves live on while other queues reference them). */
static void rb_ack(struct hcs_conn *c, uint64_t id)
{
    while (c->rb_n && c->rb_first <= id) {
        struct hcs_frame *f = rb_at(c, 0);
        c->rb_bytes -= f->len;
        frame_unref(f);
        c->rb_head = (c->rb_head + 1) & (c->rb_cap - 1);
        c->rb_n--;
        c->rb_first++;
    }
}

static void rb_clear(struct hcs_conn *c)
{
    while (c->rb_n) {
        frame_unref(rb_at(c, 0));
        c->rb_head = (c->rb_head + 1) & (c->rb_cap - 1);
        c->rb_n--;
    }
    c->rb_bytes = 0;
    hcp_free(c->rb);
    c->rb = NULL;
    c->rb_cap = 0;
}

/*
 * Queue a reference to f. `capped`: a data (trackable) message, subject to
 * max_queue_bytes; a connection over its cap is marked for closing
 * (flush_overflow) and its queue dropped. Uncapped frames (handshake
 * answers, Close, Ping, Ack, Sequence) always go in unless memory runs out.
 * With stateful reconnect on, data messages are also kept in the replay
 * buffer until the client acknowledges them (over stateful_buffer_bytes the
 * connection is closed, never silently dropped); while the transport is
 * lost they go only there and are replayed on resume.
 */
static int enqueue(struct hcs_core *core, struct hcs_conn *c, struct hcs_frame *f, bool capped)
{
    if (capped) {
        if (c->is_closing || c->in_overflow)
            return HCS_ERR_CLOSED;
        if (c->stateful) {
            size_t cap = core->limits.stateful_buffer_bytes;
            if (f->len > cap || c->rb_bytes > cap - f->len) {
                mark_overflow_for(core, c, DC_REPLAY);
                return HCS_ERR_LIMIT;
            }
        }
        if (f->len > core->limits.max_queue_bytes ||
            c->q_bytes > core->limits.max_queue_bytes - f->len) {
            mark_overflow(core, c);
            return HCS_ERR_LIMIT;
        }
        if (c->stateful) {
            int rc = rb_push(c, f);
            if (rc != 0) {
                mark_overflow_for(core, c, DC_REPLAY);
                return rc;
            }
            if (c->is_lost)
                return HCS_OK;
        }
    }
    int rc = q_push(core, c, f);
    if (rc != 0 && capped)
        mark_overflow(core, c);
    return rc;
}

/* ---- connection lifecycle ---- */

static void conn_info(const struct hcs_conn *c, struct hcs_conn_info *info)
{
    info->hub = c->hub->name;
    info->id = c->id;
    info->user_id = c->user_id;
    info->claims_json = c->claims_json;
    info->query = c->query ? c->query : "";
    info->protocol = c->protocol;
}

static void conn_free(struct hcs_conn *c)
{
    q_truncate(c, 0);
    hcp_free(c->q);
    rb_clear(c);
    hcp_buf_cleanup(&c->in);
    hcs_map_cleanup(&c->groups);
    hcp_free(c->claims_json);
    hcp_free(c->id);
    hcp_free(c->token);
    hcp_free(c->user_id);
    hcp_free(c->query);
    hcp_free(c->close_error);
    hcp_free(c);
}

/* Leave the live set: groups, user, existence. Idempotent. */
static void live_leave(struct hcs_conn *c)
{
    if (!c->is_live)
        return;
    c->is_live = false;
    conn_leave_all(c);
    bp_conn_live(c, false);
    if (c->user) {
        hcs_map_del(&c->user->conns, c->id);
        user_maybe_free(c->hub, c->user);
        c->user = NULL;
    }
}

static int live_join(struct hcs_conn *c, int64_t now_ms)
{
    c->is_live = true;
    c->was_connected = true;
    bp_conn_live(c, true);
    if (!c->user_id)
        return HCS_OK;
    struct user *u = user_get(c->hub, c->user_id);
    if (!u)
        return HCS_ERR_NOMEM;
    if (hcs_map_put(&u->conns, c->id, c) != 0) {
        user_maybe_free(c->hub, u);
        return HCS_ERR_NOMEM;
    }
    c->user = u;
    size_t pos = 0;
    struct ugroup *ug;
    while ((ug = hcs_map_next(&u->groups, &pos)) != NULL) {
        if (ugroup_valid(ug, now_ms) && group_join(c->hub, ug->group, c) != 0)
            return HCS_ERR_NOMEM;
    }
    return HCS_OK;
}

static void conn_dispose(struct hcs_core *core, struct hcs_conn *c, const char *error)
{
    live_leave(c);
    hcs_map_del(&c->hub->conns, c->id);
    hcs_map_del(&core->tokens, c->token);
    if (c->prev)
        c->prev->next = c->next;
    else
        core->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    core->n_conns--;
    if (c->was_connected && core->dispatch.disconnected && !core->is_freeing) {
        struct hcs_conn_info info;
        conn_info(c, &info);
        core->dispatch.disconnected(core->dispatch_user, &info, error ? error : c->close_error);
    }
    conn_free(c);
}

/*
 * Start closing: leave the live set, queue `last` (may be NULL) as the final
 * record, and let the edge drain then close. A connection that never had a
 * transport is disposed at once (c is then invalid).
 */
static void conn_close_with(struct hcs_core *core, struct hcs_conn *c, struct hcs_frame *last,
                            const char *error)
{
    if (c->is_closing)
        return;
    if (c->state == ST_NEGOTIATED || c->is_lost) {
        /* Nothing to tell it on: a stateful connection waiting for its
         * resume ends here, and the resume will find no connection (404). */
        conn_dispose(core, c, error);
        return;
    }
    live_leave(c);
    c->is_closing = true;
    if (error && *error && !c->close_error)
        c->close_error = hcp_strdup(error); /* best effort: only reported */
    /* Tell the edge about the close even when a write request is already
     * pending (the sink contract allows a repeat): the close must not wait
     * for a peer that may never make its socket writable again, so the edge
     * arms a deadline when it sees a closing connection. */
    bool pending = c->want_write;
    if (last)
        (void)enqueue(core, c, last, false);
    if (pending)
        c->want_write = false;
    request_write(core, c);
}

/* Close with a Close record (only once the handshake completed: before that
 * the handshake answer must come first, so nothing is sent). */
static void conn_close_record(struct hcs_core *core, struct hcs_conn *c, const char *error,
                              bool allow_reconnect)
{
    if (c->is_closing)
        return;
    struct hcs_frame *f = NULL;
    bool own = false;
    if (c->state == ST_CONNECTED) {
        if ((!error || !*error) && allow_reconnect) {
            f = core->f_close_reconnect[c->protocol];
        } else {
            f = frame_close(core, c->protocol, error, allow_reconnect);
            own = true;
        }
    }
    conn_close_with(core, c, f, error);
    if (own)
        frame_unref(f);
}

static void conn_close_handshake(struct hcs_core *core, struct hcs_conn *c, const char *error)
{
    struct hcs_frame *f = frame_handshake_error(core, error);
    conn_close_with(core, c, f, error);
    frame_unref(f);
}

static void flush_overflow(struct hcs_core *core)
{
    while (core->overflow) {
        struct hcs_conn *c = core->overflow;
        core->overflow = c->overflow_next;
        c->overflow_next = NULL;
        c->in_overflow = false;
        char msg[160];
        switch (c->defer) {
        case DC_REPLAY:
            snprintf(msg, sizeof(msg),
                     "Connection closed: stateful reconnect buffer limit of %zu bytes exceeded "
                     "(messages not acknowledged by the client).",
                     core->limits.stateful_buffer_bytes);
            break;
        case DC_ENCODE:
            snprintf(msg, sizeof(msg), "Connection closed: a message could not be encoded in "
                                       "the '%s' protocol.",
                     hcp_protocol_name(c->protocol));
            break;
        default:
            snprintf(msg, sizeof(msg),
                     "Connection closed: outbound queue limit of %zu bytes exceeded.",
                     core->limits.max_queue_bytes);
            break;
        }
        c->defer = DC_NONE;
        conn_close_record(core, c, msg, true);
    }
}

/* ---- core ---- */

struct hcs_core *hcs_core_new(const struct hcs_core_limits *limits, const struct hcs_sink_ops *sink,
                              void *sink_user)
{
    struct hcs_core *core = hcp_calloc(1, sizeof(*core));
    if (!core)
        return NULL;
    core->limits = *limits;
    if (core->limits.max_message_bytes == 0 || core->limits.max_message_bytes > INT32_MAX - 1)
        core->limits.max_message_bytes = INT32_MAX - 1;
    if (core->limits.max_write_bytes == 0)
        core->limits.max_write_bytes = 64 * 1024;
    if (sink)
        core->sink = *sink;
    core->sink_user = sink_user;
    hcs_map_init(&core->hubs);
    hcs_map_init(&core->tokens);

    struct hcp_buf b;
    int rc = frame_begin(core, &b);
    if (rc == 0)
        rc = hcp_handshake_encode_ok(&b);
    if (!(core->f_handshake_ok = frame_finish(core, &b, rc)))
        goto fail;
    for (int p = 0; p < HCP_PROTOCOL_COUNT; p++) {
        rc = frame_begin(core, &b);
        if (rc == 0)
            rc = p == HCP_PROTOCOL_MSGPACK ? hcp_msgpack_encode_ping(&b) : hcp_json_encode_ping(&b);
        if (!(core->f_ping[p] = frame_finish(core, &b, rc)))
            goto fail;
        if (!(core->f_close_reconnect[p] = frame_close(core, (enum hcp_protocol)p, NULL, true)))
            goto fail;
    }
    if (core->limits.max_write_bytes > SIZE_MAX - core->limits.headroom)
        goto fail;
    core->scratch = hcp_malloc(core->limits.headroom + core->limits.max_write_bytes);
    if (!core->scratch)
        goto fail;
    return core;
fail:
    hcs_core_free(core);
    return NULL;
}

static void drop_hub(void *val, void *ctx)
{
    (void)ctx;
    hub_free(val); /* users and groups already freed */
}

static void drop_user(void *val, void *ctx)
{
    (void)ctx;
    user_free(val);
}

static void drop_group(void *val, void *ctx)
{
    (void)ctx;
    group_free(val);
}

void hcs_core_free(struct hcs_core *core)
{
    if (!core)
        return;
    core->is_freeing = true;
    while (core->conns)
        conn_dispose(core, core->conns, NULL);
    size_t pos = 0;
    struct hcs_hub *h;
    while ((h = hcs_map_next(&core->hubs, &pos)) != NULL) {
        hcs_map_remove_if(&h->users, match_all, drop_user, NULL);
        hcs_map_remove_if(&h->groups, match_all, drop_group, NULL);
    }
    hcs_map_remove_if(&core->hubs, match_all, drop_hub, NULL);
    hcs_map_cleanup(&core->tokens);
    frame_unref(core->f_handshake_ok);
    for (int p = 0; p < HCP_PROTOCOL_COUNT; p++) {
        frame_unref(core->f_ping[p]);
        frame_unref(core->f_close_reconnect[p]);
    }
    hcp_free(core->scratch);
    hcp_free(core->node_id);
    hcp_free(core);
}

void hcs_core_set_dispatch(struct hcs_core *core, const struct hcs_dispatch_ops *ops, void *user)
{
    if (ops)
        core->dispatch = *ops;
    else
        memset(&core->dispatch, 0, sizeof(core->dispatch));
    core->dispatch_user = user;
}

int hcs_core_set_backplane(struct hcs_core *core, const struct hcs_backplane_ops *ops, void *user,
                           const char *node_id)
{
    char *id = NULL;
    if (ops && !(id = hcp_strdup(node_id ? node_id : "")))
        return HCS_ERR_NOMEM;
    hcp_free(core->node_id);
    core->node_id = id;
    if (ops)
        core->bp = *ops;
    else
        memset(&core->bp, 0, sizeof(core->bp));
    core->bp_user = user;
    core->has_bp = ops != NULL;
    return HCS_OK;
}

const struct hcs_backplane_ops *hcs_core_backplane(const struct hcs_core *core, void **out_user,
                                                   const char **out_node_id)
{
    if (!core->has_bp)
        return NULL;
    if (out_user)
        *out_user = core->bp_user;
    if (out_node_id)
        *out_node_id = core->node_id;
    return &core->bp;
}

void hcs_core_backplane_snapshot(struct hcs_core *core)
{
    if (!bp_on(core))
        return;
    for (struct hcs_conn *c = core->conns; c; c = c->next) {
        if (!c->is_live)
            continue;
        bp_conn_live(c, true);
        size_t pos = 0;
        struct group *g;
        while ((g = hcs_map_next(&c->groups, &pos)) != NULL)
            bp_group_member(g, c, true);
    }
}

void hcs_core_user_groups_foreach(struct hcs_core *core, int64_t now_ms,
                                  void (*fn)(void *ctx, const char *hub, const char *user,
                                             const char *group, int64_t remaining_ms),
                                  void *ctx)
{
    size_t hp = 0;
    struct hcs_hub *h;
    while ((h = hcs_map_next(&core->hubs, &hp)) != NULL) {
        size_t up = 0;
        struct user *u;
        while ((u = hcs_map_next(&h->users, &up)) != NULL) {
            size_t gp = 0;
            struct ugroup *ug;
            while ((ug = hcs_map_next(&u->groups, &gp)) != NULL) {
                if (!ugroup_valid(ug, now_ms))
                    continue;
                fn(ctx, h->name, u->name, ug->group,
                   ug->expires_ms == INT64_MAX ? -1 : ug->expires_ms - now_ms);
            }
        }
    }
}

int hcs_core_conn_new(struct hcs_core *core, const struct hcs_conn_params *p, int64_t now_ms,
                      struct hcs_conn **out)
{
    cJSON *claims = p->claims;
    int rc = HCS_ERR_INVALID;
    struct hcs_conn *c = NULL;
    if (core->limits.max_connections && core->n_conns >= core->limits.max_connections) {
        rc = HCS_ERR_LIMIT;
        goto fail;
    }
    if (!p->id || !*p->id || !p->token || !*p->token || hcs_map_get(&core->tokens, p->token))
        goto fail;
    struct hcs_hub *h = hub_get(core, p->hub);
    if (!h) {
        rc = (p->hub && *p->hub && strlen(p->hub) < HUB_KEY_MAX) ? HCS_ERR_NOMEM : HCS_ERR_INVALID;
        goto fail;
    }
    if (hcs_map_get(&h->conns, p->id))
        goto fail;
    rc = HCS_ERR_NOMEM;
    c = hcp_calloc(1, sizeof(*c));
    if (!c)
        goto fail;
    hcs_map_init(&c->groups);
    /* + 8: a MessagePack record may carry a 5-byte length prefix. */
    hcp_buf_init(&c->in, core->limits.max_message_bytes + 8);
    c->hub = h;
    c->id = hcp_strdup(p->id);
    c->token = hcp_strdup(p->token);
    c->user_id = (p->user_id && *p->user_id) ? hcp_strdup(p->user_id) : NULL;
    c->query = hcp_strdup(p->query ? p->query : "");
    if (!c->id || !c->token || !c->query || (p->user_id && *p->user_id && !c->user_id))
        goto fail;
    if (claims) {
        c->claims_json = cJSON_PrintUnformatted(claims);
        if (!c->claims_json)
            goto fail;
        cJSON_Delete(claims);
        claims = NULL;
    }
    if (hcs_map_put(&core->tokens, c->token, c) != 0)
        goto fail;
    if (hcs_map_put(&h->conns, c->id, c) != 0) {
        hcs_map_del(&core->tokens, c->token);
        goto fail;
    }
    c->transports = p->transports;
    c->close_at_ms = p->close_at_ms;
    c->stateful_ok = p->stateful_reconnect;
    c->state = ST_NEGOTIATED;
    c->protocol = HCP_PROTOCOL_JSON;
    c->created_ms = now_ms;
    c->next = core->conns;
    if (core->conns)
        core->conns->prev = c;
    core->conns = c;
    core->n_conns++;
    *out = c;
    return HCS_OK;
fail:
    if (c)
        conn_free(c);
    cJSON_Delete(claims); /* NULL once turned into c->claims_json */
    return rc;
}

struct hcs_conn *hcs_core_conn_by_token(struct hcs_core *core, const char *token)
{
    return token ? hcs_map_get(&core->tokens, token) : NULL;
}

struct hcs_conn *hcs_core_conn_by_id(struct hcs_core *core, const char *hub, const char *id)
{
    struct hcs_hub *h = hub_find(core, hub);
    return (h && id) ? hcs_map_get(&h->conns, id) : NULL;
}

const char *hcs_conn_id(const struct hcs_conn *c)
{
    return c->id;
}

const char *hcs_conn_hub(const struct hcs_conn *c)
{
    return c->hub->name;
}

const char *hcs_conn_user(const struct hcs_conn *c)
{
    return c->user_id;
}

enum hcs_transport hcs_conn_transport(const struct hcs_conn *c)
{
    return c->kind;
}

void *hcs_conn_transport_handle(const struct hcs_conn *c)
{
    return c->transport;
}

unsigned hcs_conn_transports(const struct hcs_conn *c)
{
    return c->transports;
}

bool hcs_conn_is_closing(const struct hcs_conn *c)
{
    return c->is_closing;
}

const char *hcs_conn_close_reason(const struct hcs_conn *c)
{
    return c->close_error;
}

enum hcp_protocol hcs_conn_protocol(const struct hcs_conn *c)
{
    return c->protocol;
}

bool hcs_conn_is_stateful(const struct hcs_conn *c)
{
    return c->stateful;
}

bool hcs_conn_is_lost(const struct hcs_conn *c)
{
    return c->is_lost;
}

bool hcs_conn_can_resume(const struct hcs_conn *c)
{
    return c->stateful && c->state == ST_CONNECTED && !c->is_closing &&
           c->kind == HCS_TRANSPORT_WEBSOCKETS;
}

bool hcs_core_conn_drop(struct hcs_core *core, struct hcs_conn *c, int64_t now_ms)
{
    if (!hcs_conn_can_resume(c)) {
        conn_dispose(core, c, NULL);
        return false;
    }
    /* Queued frames are either in the replay buffer (data) or control
     * frames that mean nothing on the next socket: drop them all; the resume
     * sends Sequence and the replay. A partial input record is gone too. */
    q_truncate(c, 0);
    hcp_buf_reset(&c->in);
    c->transport = NULL;
    c->want_write = false;
    c->out_n = 0;
    c->is_lost = true;
    c->lost_ms = now_ms;
    return true;
}

int hcs_core_conn_resume(struct hcs_core *core, struct hcs_conn *c, void *transport,
                         int64_t now_ms, void **out_old)
{
    if (!transport)
        return HCS_ERR_INVALID;
    if (!hcs_conn_can_resume(c))
        return c->is_closing ? HCS_ERR_CLOSED : HCS_ERR_TRANSPORT;
    struct hcs_frame *seq =
        frame_seq(core, c->protocol, HCP_MSG_SEQUENCE, c->rb_n ? c->rb_first : c->out_next);
    if (!seq)
        return HCS_ERR_NOMEM;
    void *old = c->transport;
    q_truncate(c, 0);
    hcp_buf_reset(&c->in);
    c->out_n = 0;
    c->want_write = false;
    c->transport = transport;
    c->is_lost = false;
    c->last_recv_ms = now_ms;
    c->last_send_ms = now_ms;
    /* Sequence first (the JS client drops everything before it), then every
     * unacknowledged message in order. */
    int rc = q_push(core, c, seq);
    frame_unref(seq);
    for (size_t i = 0; rc == 0 && i < c->rb_n; i++)
        rc = q_push(core, c, rb_at(c, i));
    if (rc != 0)
        conn_close_record(core, c, MSG_GENERIC_ERROR, true);
    request_write(core, c);
    if (out_old)
        *out_old = old;
    return HCS_OK;
}

int hcs_core_conn_attach(struct hcs_core *core, struct hcs_conn *c, enum hcs_transport t,
                         void *transport, int64_t now_ms)
{
    if (c->transport)
        return HCS_ERR_BUSY;
    if (t == HCS_TRANSPORT_NONE || !transport || !((unsigned)t & c->transports) ||
        (c->kind != HCS_TRANSPORT_NONE && c->kind != t))
        return HCS_ERR_TRANSPORT;
    if (c->is_closing && c->q_n == 0)
        return HCS_ERR_CLOSED;
    c->kind = t;
    c->transport = transport;
    if (c->state == ST_NEGOTIATED) {
        c->state = ST_HANDSHAKE;
        c->attached_ms = now_ms;
        c->last_recv_ms = now_ms;
    }
    /* Output queued while no transport was attached (long polling between
     * polls, or a close) needs a write request now. */
    if (c->q_n || c->is_closing)
        request_write(core, c);
    return HCS_OK;
}

void hcs_core_conn_release(struct hcs_core *core, struct hcs_conn *c, int64_t now_ms)
{
    (void)core;
    c->transport = NULL;
    c->want_write = false;
    c->out_n = 0;
    c->released_ms = now_ms;
}

/* ---- input ---- */

static int complete_error(struct hcs_core *core, struct hcs_conn *c, const char *invocation_id,
                          const char *text)
{
    struct hcs_frame *f = frame_completion(core, c->protocol, invocation_id, NULL, text);
    if (!f)
        return HCS_ERR_NOMEM;
    int rc = enqueue(core, c, f, true);
    frame_unref(f);
    return rc;
}

static void handle_handshake(struct hcs_core *core, struct hcs_conn *c, const char *rec, size_t len,
                             int64_t now_ms)
{
    char err[256];
    struct hcp_handshake hs;
    unsigned supported = HCP_PROTOCOL_BIT(HCP_PROTOCOL_JSON) | HCP_PROTOCOL_BIT(HCP_PROTOCOL_MSGPACK);
    if (c->kind == HCS_TRANSPORT_SSE)
        supported |= HCP_HANDSHAKE_TEXT_TRANSPORT; /* MessagePack needs binary frames */
    int rc = hcp_handshake_decode(rec, len, supported, 2, &hs, err, sizeof(err));
    if (rc != 0) {
        if (rc == HCP_ERR_NOMEM || !err[0])
            snprintf(err, sizeof(err), "%s", HCP_HANDSHAKE_ERR_UNPARSABLE);
        conn_close_handshake(core, c, err);
        return;
    }
    c->protocol = hs.protocol;
    c->state = ST_CONNECTED;
    /* Version 2 over WebSockets turns stateful reconnect on, if negotiated
     * (signalr-protocol.md section 9); version 1 turns it off. */
    if (hs.version >= 2 && c->stateful_ok && c->kind == HCS_TRANSPORT_WEBSOCKETS) {
        c->stateful = true;
        c->out_next = 1;
        c->rb_first = 1;
        c->in_next = 1;
    }
    if (enqueue(core, c, core->f_handshake_ok, false) != 0 || live_join(c, now_ms) != 0) {
        conn_close_record(core, c, MSG_GENERIC_ERROR, true);
        return;
    }
    c->last_send_ms = now_ms;
    if (core->dispatch.connected) {
        struct hcs_conn_info info;
        conn_info(c, &info);
        core->dispatch.connected(core->dispatch_user, &info);
    }
}

static bool is_trackable(int type)
{
    return type >= HCP_MSG_INVOCATION && type <= HCP_MSG_CANCEL_INVOCATION;
}

static void handle_message(struct hcs_core *core, struct hcs_conn *c, const char *rec, size_t len)
{
    struct hcp_msg msg;
    const char *reason = NULL;
    char text[1024];
    int drc = c->protocol == HCP_PROTOCOL_MSGPACK
                  ? hcp_msgpack_msg_decode((const uint8_t *)rec, len, &msg, &reason)
                  : hcp_json_msg_decode(rec, len, &msg, &reason);
    if (drc != 0) {
        conn_close_record(core, c, MSG_GENERIC_ERROR, true);
        return;
    }
    if (c->stateful) {
        if (msg.type == HCP_MSG_SEQUENCE) {
            /* Section 9.8: ahead of what we have seen is a protocol error. */
            if (msg.sequence_id < 1 || (uint64_t)msg.sequence_id > c->in_next)
                conn_close_record(core, c,
                                  "Sequence ID greater than amount of messages we've received.",
                                  true);
            else
                c->in_next = (uint64_t)msg.sequence_id;
            hcp_msg_cleanup(&msg);
            return;
        }
        if (msg.type == HCP_MSG_ACK) {
            rb_ack(c, (uint64_t)msg.sequence_id);
            hcp_msg_cleanup(&msg);
            return;
        }
        if (is_trackable(msg.type)) {
            uint64_t id = c->in_next++;
            if (id <= c->in_max) {
                hcp_msg_cleanup(&msg); /* a replayed duplicate */
                return;
            }
            c->in_max = id;
        }
    }
    switch (msg.type) {
    case HCP_MSG_PING:
        c->ping_armed = true;
        break;
    case HCP_MSG_CLOSE:
        /* A graceful goodbye: no reply (signalr-protocol.md section 7). */
        conn_close_with(core, c, NULL, msg.error);
        break;
    case HCP_MSG_INVOCATION: {
        int rc = -1;
        if (core->dispatch.invocation) {
            struct hcs_conn_info info;
            conn_info(c, &info);
            rc = core->dispatch.invocation(core->dispatch_user, &info, &msg, rec, len);
        }
        if (rc < 0 && msg.invocation_id && !c->is_closing) {
            snprintf(text, sizeof(text),
                     "Failed to invoke '%s' due to an error on the server. HubException: No "
                     "upstream is configured to handle this invocation.",
                     msg.target);
            (void)complete_error(core, c, msg.invocation_id, text);
        }
        break;
    }
    case HCP_MSG_STREAM_INVOCATION:
        /* Serverless mode has no streaming (azure-signalr-service.md section 3);
         * the invocation must still complete. */
        snprintf(text, sizeof(text),
                 "The client attempted to invoke the streaming '%s' method, which is not "
                 "supported in serverless mode.",
                 msg.target);
        (void)complete_error(core, c, msg.invocation_id, text);
        break;
    default:
        break; /* StreamItem, Completion, CancelInvocation, Ack, Sequence, unknown */
    }
    hcp_msg_cleanup(&msg);
}

static void oversize(struct hcs_core *core, struct hcs_conn *c)
{
    if (c->state != ST_CONNECTED) {
        conn_close_handshake(core, c, HCP_HANDSHAKE_ERR_CANCELED);
        return;
    }
    char msg[128];
    snprintf(msg, sizeof(msg), "The maximum message size of %zuB was exceeded.",
             core->limits.max_message_bytes);
    conn_close_record(core, c, msg, true);
}

/* Handle every complete record in p[0..n); *out_used is what was consumed. */
static void feed(struct hcs_core *core, struct hcs_conn *c, const uint8_t *p, size_t n,
                 int64_t now_ms, size_t *out_used)
{
    size_t used = 0;
    while (!c->is_closing && used < n) {
        size_t rlen = 0;
        size_t roff = 0;
        int rc;
        if (c->state == ST_CONNECTED && c->protocol == HCP_PROTOCOL_MSGPACK)
            rc = hcp_msgpack_record_next(p + used, n - used, core->limits.max_message_bytes,
                                         &roff, &rlen);
        else
            rc = hcp_json_record_next(p + used, n - used, core->limits.max_message_bytes, &rlen);
        if (rc == HCP_ERR_INCOMPLETE)
            break;
        if (rc == HCP_ERR_MALFORMED) {
            conn_close_record(core, c, MSG_GENERIC_ERROR, true);
            break;
        }
        if (rc <= 0) {
            oversize(core, c);
            break;
        }
        const char *rec = (const char *)p + used + roff;
        used += (size_t)rc;
        c->last_recv_ms = now_ms;
        if (c->state == ST_CONNECTED)
            handle_message(core, c, rec, rlen);
        else
            handle_handshake(core, c, rec, rlen, now_ms);
    }
    *out_used = used;
}

int hcs_core_conn_input(struct hcs_core *core, struct hcs_conn *c, const uint8_t *data, size_t len,
                        int64_t now_ms)
{
    if (c->is_closing)
        return HCS_ERR_CLOSED;
    if (c->state == ST_NEGOTIATED) {
        /* Long polling may POST the handshake before the first poll. */
        c->state = ST_HANDSHAKE;
        c->attached_ms = now_ms;
        c->released_ms = now_ms;
    }
    while (!c->is_closing && len > 0) {
        size_t used = 0;
        if (c->in.len == 0) {
            /* Fast path: parse straight from the caller's bytes; keep only an
             * incomplete tail, which feed() guarantees fits (<= max). */
            feed(core, c, data, len, now_ms, &used);
            if (!c->is_closing && used < len &&
                hcp_buf_append(&c->in, data + used, len - used) != 0)
                conn_close_record(core, c, MSG_GENERIC_ERROR, true);
            break;
        }
        size_t room = c->in.max - c->in.len;
        size_t take = len < room ? len : room;
        if (hcp_buf_append(&c->in, data, take) != 0) {
            conn_close_record(core, c, MSG_GENERIC_ERROR, true);
            break;
        }
        data += take;
        len -= take;
        feed(core, c, c->in.data, c->in.len, now_ms, &used);
        hcp_buf_consume(&c->in, used);
    }
    flush_overflow(core);
    return c->is_closing ? HCS_ERR_CLOSED : HCS_OK;
}

/* ---- output ---- */

enum hcs_output hcs_core_conn_output(struct hcs_core *core, struct hcs_conn *c, uint8_t **out,
                                     size_t *out_len, int64_t now_ms)
{
    c->out_n = 0;
    if (c->q_n == 0) {
        c->want_write = false;
        return c->is_closing ? HCS_OUTPUT_CLOSE : HCS_OUTPUT_NONE;
    }
    size_t max = core->limits.max_write_bytes;
    struct hcs_frame *f0 = q_at(c, 0);
    size_t k = 1, total = f0->len;
    while (k < c->q_n && total <= max && q_at(c, k)->len <= max - total) {
        total += q_at(c, k)->len;
        k++;
    }
    if (k == 1) {
        *out = f0->data;
        *out_len = f0->len;
    } else {
        uint8_t *dst = core->scratch + core->limits.headroom;
        size_t off = 0;
        for (size_t i = 0; i < k; i++) {
            struct hcs_frame *f = q_at(c, i);
            memcpy(dst + off, f->data, f->len);
            off += f->len;
        }
        *out = dst;
        *out_len = total;
    }
    c->out_n = k;
    c->last_send_ms = now_ms;
    return HCS_OUTPUT_DATA;
}

void hcs_core_conn_output_done(struct hcs_core *core, struct hcs_conn *c)
{
    q_pop(c, c->out_n);
    c->out_n = 0;
    if (c->q_n == 0 && !c->is_closing) {
        c->want_write = false;
        return;
    }
    /* More to write (or the close to perform): the edge's request was used
     * up by this write, so ask again. */
    c->want_write = false;
    request_write(core, c);
}

void hcs_core_conn_detach(struct hcs_core *core, struct hcs_conn *c, const char *error)
{
    conn_dispose(core, c, error);
}

void hcs_core_conn_close(struct hcs_core *core, struct hcs_conn *c, const char *error,
                         bool allow_reconnect)
{
    conn_close_record(core, c, error, allow_reconnect);
}

/* ---- timers ---- */

static bool expire_ugroup(void *val, void *ctx)
{
    const struct ugroup *ug = val;
    return !ugroup_valid(ug, *(const int64_t *)ctx);
}

static bool expire_user(void *val, void *ctx)
{
    struct user *u = val;
    hcs_map_remove_if(&u->groups, expire_ugroup, ugroup_free, ctx);
    return !hcs_map_count(&u->conns) && !hcs_map_count(&u->groups);
}

static bool expire_hub(void *val, void *ctx)
{
    struct hcs_hub *h = val;
    hcs_map_remove_if(&h->users, expire_user, drop_user, ctx);
    return hub_is_empty(h);
}

void hcs_core_tick(struct hcs_core *core, int64_t now_ms)
{
    const struct hcs_core_limits *l = &core->limits;
    struct hcs_conn *next;
    for (struct hcs_conn *c = core->conns; c; c = next) {
        next = c->next;
        if (c->state == ST_NEGOTIATED) {
            if (now_ms - c->created_ms >= l->negotiate_timeout_ms)
                conn_dispose(core, c, NULL);
            continue;
        }
        if (c->is_lost) {
            /* A stateful WebSocket that dropped and did not come back in
             * time: over, as usual (disconnected is dispatched once). */
            if (now_ms - c->lost_ms >= l->reconnect_window_ms)
                conn_dispose(core, c, NULL);
            continue;
        }
        if (!c->transport) {
            /* Inactive (long polling between polls): reclaim after the
             * disconnect window. */
            if (now_ms - c->released_ms >= l->negotiate_timeout_ms)
                conn_dispose(core, c, NULL);
            continue;
        }
        if (c->is_closing)
            continue;
        if (c->state == ST_HANDSHAKE) {
            if (now_ms - c->attached_ms >= l->handshake_timeout_ms)
                conn_close_handshake(core, c, HCP_HANDSHAKE_ERR_CANCELED);
            continue;
        }
        if (c->close_at_ms && now_ms >= c->close_at_ms) {
            conn_close_record(core, c, MSG_TOKEN_EXPIRED, true);
            continue;
        }
        if (c->ping_armed && now_ms - c->last_recv_ms >= l->client_timeout_ms) {
            conn_close_record(core, c, MSG_CLIENT_TIMEOUT, true);
            continue;
        }
        if (c->stateful && c->state == ST_CONNECTED && c->in_max > c->in_acked) {
            /* About once a second when the client sent something new. */
            struct hcs_frame *ack = frame_seq(core, c->protocol, HCP_MSG_ACK, c->in_max);
            if (ack && q_push(core, c, ack) == 0)
                c->in_acked = c->in_max;
            frame_unref(ack);
        }
        if ((c->kind == HCS_TRANSPORT_WEBSOCKETS || c->kind == HCS_TRANSPORT_SSE) && c->q_n == 0 &&
            now_ms - c->last_send_ms >= l->keepalive_ms)
            (void)enqueue(core, c, core->f_ping[c->protocol], false);
    }
    hcs_map_remove_if(&core->hubs, expire_hub, drop_hub, &now_ms);
    flush_overflow(core);
}

void hcs_core_shutdown(struct hcs_core *core)
{
    struct hcs_conn *next;
    for (struct hcs_conn *c = core->conns; c; c = next) {
        next = c->next;
        conn_close_record(core, c, NULL, true);
    }
}

size_t hcs_core_conn_count(const struct hcs_core *core)
{
    return core->n_conns;
}

/* ---- completions ---- */

static struct hcs_conn *live_conn(struct hcs_core *core, const char *hub, const char *id)
{
    struct hcs_conn *c = hcs_core_conn_by_id(core, hub, id);
    return (c && c->is_live) ? c : NULL;
}

int hcs_core_complete_raw(struct hcs_core *core, const char *hub, const char *conn_id,
                          const uint8_t *record, size_t len)
{
    struct hcs_conn *c = live_conn(core, hub, conn_id);
    if (!c)
        return HCS_ERR_NOT_FOUND;
    struct hcs_frame *f = frame_copy(core, record, len);
    if (!f)
        return HCS_ERR_NOMEM;
    int rc = enqueue(core, c, f, true);
    frame_unref(f);
    flush_overflow(core);
    return rc == HCS_ERR_LIMIT ? HCS_OK : rc;
}

int hcs_core_complete(struct hcs_core *core, const char *hub, const char *conn_id,
                      const char *invocation_id, const char *result_json, const char *error)
{
    if (!invocation_id || !*invocation_id || (error && !*error) || (error && result_json))
        return HCS_ERR_INVALID;
    struct hcs_conn *c = live_conn(core, hub, conn_id);
    if (!c)
        return HCS_ERR_NOT_FOUND;
    struct hcs_frame *f = frame_completion(core, c->protocol, invocation_id, result_json, error);
    if (!f)
        return HCS_ERR_NOMEM;
    int rc = enqueue(core, c, f, true);
    frame_unref(f);
    flush_overflow(core);
    return rc == HCS_ERR_LIMIT ? HCS_OK : rc;
}

/* ---- sends ---- */

static void send_one(struct hcs_core *core, struct hcs_conn *c, struct hcs_message *m)
{
    if (!c->is_live || c->skip || c->is_closing || c->in_overflow)
        return;
    struct hcs_frame *f = message_frame(core, m, c->protocol);
    if (f)
        (void)enqueue(core, c, f, true);
    else
        mark_overflow_for(core, c, DC_ENCODE); /* never drop silently */
}

/* Mark / unmark the excluded connections of h (O(excluded)). */
static void mark_excluded(struct hcs_hub *h, struct hcs_names ex, bool on)
{
    for (size_t i = 0; i < ex.n; i++) {
        struct hcs_conn *c = ex.v[i] ? hcs_map_get(&h->conns, ex.v[i]) : NULL;
        if (c)
            c->skip = on;
    }
}

static void send_set(struct hcs_core *core, struct hcs_hub *h, const struct hcs_map *set,
                     struct hcs_message *m, struct hcs_names ex)
{
    mark_excluded(h, ex, true);
    size_t pos = 0;
    struct hcs_conn *c;
    while ((c = hcs_map_next(set, &pos)) != NULL)
        send_one(core, c, m);
    mark_excluded(h, ex, false);
    flush_overflow(core);
}

int hcs_core_send_all(struct hcs_core *core, const char *hub, struct hcs_message *m,
                      struct hcs_names excluded)
{
    struct hcs_hub *h = hub_find(core, hub);
    if (h)
        send_set(core, h, &h->conns, m, excluded);
    return HCS_OK;
}

int hcs_core_send_user(struct hcs_core *core, const char *hub, const char *user,
                       struct hcs_message *m)
{
    struct hcs_hub *h = hub_find(core, hub);
    struct user *u = user_find(h, user);
    if (u)
        send_set(core, h, &u->conns, m, (struct hcs_names){NULL, 0});
    return HCS_OK;
}

int hcs_core_send_group(struct hcs_core *core, const char *hub, const char *group,
                        struct hcs_message *m, struct hcs_names excluded)
{
    struct hcs_hub *h = hub_find(core, hub);
    struct group *g = (h && group) ? hcs_map_get(&h->groups, group) : NULL;
    if (g)
        send_set(core, h, &g->conns, m, excluded);
    return HCS_OK;
}

int hcs_core_send_conn(struct hcs_core *core, const char *hub, const char *conn_id,
                       struct hcs_message *m)
{
    struct hcs_conn *c = live_conn(core, hub, conn_id);
    if (c) {
        send_one(core, c, m);
        flush_overflow(core);
    }
    return HCS_OK;
}

/* ---- groups ---- */

int hcs_core_group_add_conn(struct hcs_core *core, const char *hub, const char *group,
                            const char *conn_id)
{
    struct hcs_conn *c = live_conn(core, hub, conn_id);
    if (!c || !group)
        return HCS_ERR_NOT_FOUND;
    return group_join(c->hub, group, c);
}

int hcs_core_group_remove_conn(struct hcs_core *core, const char *hub, const char *group,
                               const char *conn_id)
{
    struct hcs_conn *c = live_conn(core, hub, conn_id);
    if (c && group)
        group_leave(c->hub, group, c);
    return HCS_OK;
}

int hcs_core_conn_leave_all(struct hcs_core *core, const char *hub, const char *conn_id)
{
    struct hcs_conn *c = live_conn(core, hub, conn_id);
    if (c)
        conn_leave_all(c);
    return HCS_OK;
}

/* ---- user groups ---- */

int hcs_core_user_add_group(struct hcs_core *core, const char *hub, const char *user,
                            const char *group, int64_t ttl_s, int64_t now_ms)
{
    if (!user || !*user || !group || !*group)
        return HCS_ERR_INVALID;
    char key[HUB_KEY_MAX];
    if (!hub_key(hub, key, sizeof(key)))
        return HCS_ERR_INVALID;
    struct hcs_hub *h = hub_get(core, key);
    if (!h)
        return HCS_ERR_NOMEM;
    struct user *u = user_get(h, user);
    if (!u)
        return HCS_ERR_NOMEM;
    int rc = HCS_OK;
    struct ugroup *ug = hcs_map_get(&u->groups, group);
    if (ttl_s == 0) {
        /* Current connections only: nothing is kept for future ones. */
        if (ug) {
            hcs_map_del(&u->groups, group);
            ugroup_free(ug, NULL);
        }
    } else {
        if (!ug) {
            ug = hcp_calloc(1, sizeof(*ug));
            if (!ug || !(ug->group = hcp_strdup(group)) ||
                hcs_map_put(&u->groups, ug->group, ug) != 0) {
                if (ug)
                    ugroup_free(ug, NULL);
                user_maybe_free(h, u);
                return HCS_ERR_NOMEM;
            }
        }
        if (ttl_s < 0 || ttl_s > (INT64_MAX - now_ms) / 1000 - 1)
            ug->expires_ms = INT64_MAX;
        else
            ug->expires_ms = now_ms + ttl_s * 1000;
    }
    size_t pos = 0;
    struct hcs_conn *c;
    while ((c = hcs_map_next(&u->conns, &pos)) != NULL) {
        if (group_join(h, group, c) != 0)
            rc = HCS_ERR_NOMEM;
    }
    user_maybe_free(h, u);
    return rc;
}

int hcs_core_user_remove_group(struct hcs_core *core, const char *hub, const char *user,
                               const char *group)
{
    struct hcs_hub *h = hub_find(core, hub);
    struct user *u = user_find(h, user);
    if (!u || !group)
        return HCS_OK;
    struct ugroup *ug = hcs_map_del(&u->groups, group);
    if (ug)
        ugroup_free(ug, NULL);
    size_t pos = 0;
    struct hcs_conn *c;
    while ((c = hcs_map_next(&u->conns, &pos)) != NULL)
        group_leave(h, group, c);
    user_maybe_free(h, u);
    return HCS_OK;
}

int hcs_core_user_remove_all_groups(struct hcs_core *core, const char *hub, const char *user)
{
    struct hcs_hub *h = hub_find(core, hub);
    struct user *u = user_find(h, user);
    if (!u)
        return HCS_OK;
    hcs_map_remove_if(&u->groups, match_all, ugroup_free, NULL);
    size_t pos = 0;
    struct hcs_conn *c;
    while ((c = hcs_map_next(&u->conns, &pos)) != NULL)
        conn_leave_all(c);
    user_maybe_free(h, u);
    return HCS_OK;
}

bool hcs_core_user_in_group(struct hcs_core *core, const char *hub, const char *user,
                            const char *group, int64_t now_ms)
{
    struct hcs_hub *h = hub_find(core, hub);
    struct user *u = user_find(h, user);
    if (!u || !group)
        return false;
    struct ugroup *ug = hcs_map_get(&u->groups, group);
    if (ug && ugroup_valid(ug, now_ms))
        return true;
    size_t pos = 0;
    struct hcs_conn *c;
    while ((c = hcs_map_next(&u->conns, &pos)) != NULL)
        if (hcs_map_get(&c->groups, group))
            return true;
    return false;
}

/* ---- existence ---- */

bool hcs_core_conn_exists(struct hcs_core *core, const char *hub, const char *conn_id)
{
    return live_conn(core, hub, conn_id) != NULL;
}

bool hcs_core_user_exists(struct hcs_core *core, const char *hub, const char *user)
{
    struct user *u = user_find(hub_find(core, hub), user);
    return u && hcs_map_count(&u->conns) > 0;
}

bool hcs_core_group_exists(struct hcs_core *core, const char *hub, const char *group)
{
    struct hcs_hub *h = hub_find(core, hub);
    return h && group && hcs_map_get(&h->groups, group) != NULL;
}

/* ---- close ---- */

int hcs_core_close_conn(struct hcs_core *core, const char *hub, const char *conn_id,
                        const char *reason)
{
    struct hcs_conn *c = live_conn(core, hub, conn_id);
    if (c)
        conn_close_record(core, c, reason, true);
    return HCS_OK;
}

/* Close every live member of `set` not in `ex`, sharing one Close frame. */
static int close_set(struct hcs_core *core, struct hcs_hub *h, const struct hcs_map *set,
                     struct hcs_names ex, const char *reason)
{
    void **v = NULL;
    size_t n = hcs_map_count(set);
    if (n == 0)
        return HCS_OK;
    if (hcs_map_values(set, &v) != 0)
        return HCS_ERR_NOMEM;
    /* One Close frame per protocol, built on first use. */
    struct hcs_frame *f[HCP_PROTOCOL_COUNT] = {NULL};
    bool nomem = false;
    mark_excluded(h, ex, true);
    for (size_t i = 0; i < n; i++) {
        struct hcs_conn *c = v[i];
        if (!c->is_live || c->skip)
            continue;
        enum hcp_protocol p = c->protocol;
        if (!f[p]) {
            if (reason && *reason) {
                f[p] = frame_close(core, p, reason, true); /* owned, NULL on OOM */
                nomem |= f[p] == NULL;
            } else {
                f[p] = core->f_close_reconnect[p];
                f[p]->refs++;
            }
        }
        conn_close_with(core, c, f[p], reason);
    }
    /* Closed connections left the live set but stay in h->conns, so the
     * marks can be cleared by id. (Lost stateful ones were disposed, and
     * mark_excluded looks excluded ids up again, so that is safe too.) */
    mark_excluded(h, ex, false);
    for (int p = 0; p < HCP_PROTOCOL_COUNT; p++)
        frame_unref(f[p]);
    hcp_free(v);
    return nomem ? HCS_ERR_NOMEM : HCS_OK;
}

int hcs_core_close_all(struct hcs_core *core, const char *hub, struct hcs_names excluded,
                       const char *reason)
{
    struct hcs_hub *h = hub_find(core, hub);
    return h ? close_set(core, h, &h->conns, excluded, reason) : HCS_OK;
}

int hcs_core_close_group(struct hcs_core *core, const char *hub, const char *group,
                         struct hcs_names excluded, const char *reason)
{
    struct hcs_hub *h = hub_find(core, hub);
    struct group *g = (h && group) ? hcs_map_get(&h->groups, group) : NULL;
    return g ? close_set(core, h, &g->conns, excluded, reason) : HCS_OK;
}

int hcs_core_close_user(struct hcs_core *core, const char *hub, const char *user,
                        struct hcs_names excluded, const char *reason)
{
    struct hcs_hub *h = hub_find(core, hub);
    struct user *u = user_find(h, user);
    return u ? close_set(core, h, &u->conns, excluded, reason) : HCS_OK;
}
