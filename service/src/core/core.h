/*
 * hcs_core: the hub core. Connections, hubs, groups, users and routing.
 *
 * Invariants:
 * - Never includes libwebsockets, curl or any I/O header; the static library
 *   hcs_core links only hcproto and cJSON, so the linker guards the line.
 * - Single-threaded: one thread (the edge's event loop) makes every call; no
 *   locks. Time comes in as `now_ms` arguments (monotonic milliseconds).
 * - Knows a connection's transport only as an opaque `void *transport` handed
 *   back through the sink; it never dereferences it.
 * - A message for many connections is encoded once per wire format into a
 *   refcounted frame (struct hcs_frame); every target queues a reference.
 *   Per-connection output queues are capped in bytes; a connection over its
 *   cap is closed with a reason, and the hub never buffers more for it.
 * - Connections are disposed only by hcs_core_conn_detach() (called by the
 *   edge when the transport is gone) or by the core itself for connections
 *   that have no transport attached. Never inside a sink callback.
 *
 * - Hub protocols: JSON and MessagePack. A connection's protocol is fixed by
 *   its handshake; every frame queued for it is in that protocol (the edge
 *   asks hcs_conn_protocol() to pick text or binary WebSocket frames).
 * - Stateful reconnect: trackable messages to a stateful connection are also
 *   referenced from a bounded replay buffer until the client acknowledges
 *   them; an unclean WebSocket drop keeps the connection (live: groups,
 *   user, existence) for reconnect_window_ms, and a new WebSocket resumes it.
 *
 * Wire rules: signalr-protocol.md (handshake section 3, JSON section 5,
 * MessagePack section 6, close section 8, stateful reconnect section 9,
 * keep-alive section 10) and azure-signalr-service.md section 4.
 */
#ifndef HCS_CORE_H
#define HCS_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "hcp/hcp.h"

#define HCS_ERR_MAP(X)                                                                             \
    X(NOMEM, -1, "out of memory")                                                                  \
    X(NOT_FOUND, -2, "not found")                                                                  \
    X(BUSY, -3, "transport already attached")                                                      \
    X(LIMIT, -4, "connection limit reached")                                                       \
    X(INVALID, -5, "invalid argument")                                                             \
    X(CLOSED, -6, "connection is closing")                                                         \
    X(TRANSPORT, -7, "transport not allowed for this connection")

enum hcs_err {
    HCS_OK = 0,
#define HCS_ERR_ENUM_(name, value, desc) HCS_ERR_##name = value,
    HCS_ERR_MAP(HCS_ERR_ENUM_)
#undef HCS_ERR_ENUM_
};
const char *hcs_strerror(int err);

/* Transport kinds; values equal HCP_TRANSPORT_* bits. */
enum hcs_transport {
    HCS_TRANSPORT_NONE = 0,
    HCS_TRANSPORT_WEBSOCKETS = 1,
    HCS_TRANSPORT_SSE = 2,
    HCS_TRANSPORT_LONGPOLLING = 4,
};

struct hcs_core_limits {
    size_t max_message_bytes;     /* one incoming hub record, incl. the handshake */
    size_t max_queue_bytes;       /* per-connection outbound queue cap */
    size_t max_connections;       /* negotiated + connected; 0 = unlimited */
    int64_t handshake_timeout_ms; /* transport attached -> handshake complete */
    int64_t keepalive_ms;         /* send a Ping after this much send-idleness */
    int64_t client_timeout_ms;    /* close after this much receive-silence, armed by the
                                     client's first Ping */
    int64_t negotiate_timeout_ms; /* negotiated but never attached connections expire */
    size_t headroom;              /* bytes reserved before every output span (LWS_PRE) */
    size_t max_write_bytes;       /* coalesce queued frames into writes up to this size */
    size_t stateful_buffer_bytes; /* unacknowledged bytes kept per stateful connection */
    int64_t reconnect_window_ms;  /* a dropped stateful connection waits this long */
};

/* Fill with the defaults: 1 MiB messages, 1 MiB queues, 100000 connections,
 * 15 s handshake, 15 s keep-alive, 30 s client timeout, 30 s negotiate expiry,
 * headroom 0, 64 KiB writes, 100000-byte replay buffers, 15 s reconnect
 * window. */
void hcs_core_limits_default(struct hcs_core_limits *l);

struct hcs_core;
struct hcs_conn;

/* What the edge must provide. Callbacks never re-enter the core. */
struct hcs_sink_ops {
    /*
     * The connection has output queued or must close: arrange for a writable
     * callback, then call hcs_core_conn_output() from it. Called once per
     * transition from "nothing to do" to "something to do"; calling it again
     * while a request is pending must be harmless for the edge.
     */
    void (*want_write)(void *sink_user, const char *conn_id, void *transport);
};

/* A connection as dispatch implementations see it. All fields borrowed. */
struct hcs_conn_info {
    const char *hub;        /* lower-case */
    const char *id;         /* public connection id */
    const char *user_id;    /* NULL when none */
    const char *claims_json; /* the token's claims as JSON object text, or NULL */
    const char *query;      /* the connect request's raw query string, or "" */
    enum hcp_protocol protocol;
};

/*
 * Where client invocations go (serverless: upstream webhooks; later in-process
 * C hub methods or a backplane). All callbacks optional. With no dispatch set,
 * an Invocation with an id is completed at once with an error.
 */
struct hcs_dispatch_ops {
    void (*connected)(void *user, const struct hcs_conn_info *c);
    void (*disconnected)(void *user, const struct hcs_conn_info *c, const char *error);
    /*
     * A client Invocation (type 1). `raw` is the record as received, in the
     * client's protocol (c->protocol) and unframed: for JSON the object
     * without its 0x1E, for MessagePack the array without its VarInt length
     * prefix (binary: use raw_len, not strlen). msg's fields are the same for
     * both protocols (MessagePack arguments converted to cJSON, see
     * hcp/msgpack.h). Return 0 when accepted: if msg->invocation_id is set
     * the implementation later calls hcs_core_complete*() exactly once.
     * Return <0 to have the core complete it at once with a "no handler"
     * error. With stateful reconnect a replayed duplicate is never
     * dispatched twice.
     */
    int (*invocation)(void *user, const struct hcs_conn_info *c, const struct hcp_msg *msg,
                      const char *raw, size_t raw_len);
};

/* Create / destroy. `limits` and `sink` are copied. Returns NULL on OOM. */
struct hcs_core *hcs_core_new(const struct hcs_core_limits *limits,
                              const struct hcs_sink_ops *sink, void *sink_user);
/* Frees everything, without calling the sink. NULL is a no-op. */
void hcs_core_free(struct hcs_core *core);
void hcs_core_set_dispatch(struct hcs_core *core, const struct hcs_dispatch_ops *ops, void *user);

/* ---- Backplane (scale-out over several nodes, docs/scale-out.md) ---- */

/* Cluster-wide questions the core cannot answer from its own connections. */
enum hcs_bp_query {
    HCS_BP_Q_CONN = 0,      /* a live connection `a` exists */
    HCS_BP_Q_USER = 1,      /* user `a` has a live connection */
    HCS_BP_Q_GROUP = 2,     /* group `a` has a live member */
    HCS_BP_Q_USER_IN_GROUP = 3, /* a live connection of user `a` is in group `b` */
};

/*
 * What a backplane (the edge's Redis client) provides. Like the sink, it is
 * an interface: the core never sees a socket. All callbacks run on the loop
 * thread, never re-enter the core, and borrow their arguments.
 *
 * - publish: send one operation record (core/backplane.h) to every other
 *   node. Best effort: a backplane that is down drops it (the operation was
 *   already applied to this node's connections).
 * - query: ask the other nodes; 1 yes, 0 no, <0 unknown (backplane down).
 * - conn_live / group_member: this node's live state changed (a connection
 *   became live or left the live set; a live connection joined or left a
 *   group), so the backplane can keep the cluster-wide registry that
 *   answers other nodes' queries. Not called while the core is being freed.
 */
struct hcs_backplane_ops {
    void (*publish)(void *user, const uint8_t *rec, size_t len);
    int (*query)(void *user, enum hcs_bp_query q, const char *hub, const char *a, const char *b);
    void (*conn_live)(void *user, const char *hub, const char *conn_id, const char *user_id,
                      bool on);
    void (*group_member)(void *user, const char *hub, const char *group, const char *conn_id,
                         const char *user_id, bool on);
};

/*
 * Install (ops != NULL) or remove (NULL) the backplane. `node_id` names this
 * node in published records (copied; records from the same id are never
 * applied twice). Returns HCS_OK or HCS_ERR_NOMEM.
 */
int hcs_core_set_backplane(struct hcs_core *core, const struct hcs_backplane_ops *ops, void *user,
                           const char *node_id);
/* The installed ops (NULL when none), its user pointer and this node's id. */
const struct hcs_backplane_ops *hcs_core_backplane(const struct hcs_core *core, void **out_user,
                                                   const char **out_node_id);
/*
 * Report the whole live state again through conn_live / group_member (on),
 * e.g. after the backplane reconnected to an empty registry.
 */
void hcs_core_backplane_snapshot(struct hcs_core *core);
/*
 * Every stored user-group membership still valid at now_ms: hub, user,
 * group and the remaining time in ms (-1 = no TTL). For re-publishing after
 * a backplane restart.
 */
void hcs_core_user_groups_foreach(struct hcs_core *core, int64_t now_ms,
                                  void (*fn)(void *ctx, const char *hub, const char *user,
                                             const char *group, int64_t remaining_ms),
                                  void *ctx);

/* ---- Connection lifecycle (edge-facing) ---- */

struct hcs_conn_params {
    const char *hub;       /* any case; stored lower-case */
    const char *id;        /* public id (22-char base64url from the edge's CSPRNG) */
    const char *token;     /* secret token; equal to id for negotiate version 0 */
    const char *user_id;   /* NULL or "" for none */
    cJSON *claims;         /* adopted (freed by the core), may be NULL; kept as compact
                              JSON text (a parsed tree costs ~0.5 KB more per connection) */
    const char *query;     /* connect/negotiate query string to keep, may be NULL */
    unsigned transports;   /* allowed HCS_TRANSPORT_* mask */
    int64_t close_at_ms;   /* close (allowReconnect) once now_ms passes this; 0 = never.
                              From the asrs.s.aeo + asrs.s.coae token claims. */
    bool stateful_reconnect; /* negotiate answered "useStatefulReconnect":true: a
                                version-2 handshake on WebSockets turns it on */
};

/*
 * Create a negotiated (inactive) connection. Returns HCS_OK and *out, or
 * HCS_ERR_LIMIT when max_connections is reached, HCS_ERR_INVALID for a
 * duplicate id/token, HCS_ERR_NOMEM. On failure claims is still adopted
 * (freed).
 */
int hcs_core_conn_new(struct hcs_core *core, const struct hcs_conn_params *p, int64_t now_ms,
                      struct hcs_conn **out);
struct hcs_conn *hcs_core_conn_by_token(struct hcs_core *core, const char *token);
/* Look up a connection of `hub` (any case) by public id. */
struct hcs_conn *hcs_core_conn_by_id(struct hcs_core *core, const char *hub, const char *id);

const char *hcs_conn_id(const struct hcs_conn *c);
const char *hcs_conn_hub(const struct hcs_conn *c);
const char *hcs_conn_user(const struct hcs_conn *c); /* NULL when none */
enum hcs_transport hcs_conn_transport(const struct hcs_conn *c);
void *hcs_conn_transport_handle(const struct hcs_conn *c);
/* The HCS_TRANSPORT_* mask this connection may use (service + token). */
unsigned hcs_conn_transports(const struct hcs_conn *c);
bool hcs_conn_is_closing(const struct hcs_conn *c);
/* The error text the connection was closed with (server- or client-side), or
 * NULL: for the edge's log line. */
const char *hcs_conn_close_reason(const struct hcs_conn *c);
/* The hub protocol from the handshake (JSON until then). MessagePack
 * connections get binary WebSocket frames, the handshake answer included. */
enum hcp_protocol hcs_conn_protocol(const struct hcs_conn *c);
/* Stateful reconnect is on for this connection. */
bool hcs_conn_is_stateful(const struct hcs_conn *c);
/* The transport dropped uncleanly and the connection waits for a resume. */
bool hcs_conn_is_lost(const struct hcs_conn *c);
/* A new WebSocket for this token resumes the connection (stateful, past
 * its handshake, not closing), whether or not the old socket is gone. */
bool hcs_conn_can_resume(const struct hcs_conn *c);

/*
 * Bind a transport. Returns HCS_ERR_BUSY when one is already attached (409),
 * HCS_ERR_TRANSPORT when `t` is not allowed for this connection or differs
 * from the kind it was first used with (400), HCS_ERR_CLOSED if closing and
 * nothing is left to drain (a closing connection with queued output, e.g. a
 * Close record for long polling, may still attach to drain it).
 * Starts the handshake timer.
 */
int hcs_core_conn_attach(struct hcs_core *core, struct hcs_conn *c, enum hcs_transport t,
                         void *transport, int64_t now_ms);

/*
 * The transport is gone but the connection lives on (long polling between
 * polls): queued output is kept for the next attach, and the core reclaims
 * the connection if nothing attaches within negotiate_timeout_ms. Attach
 * again with the same transport kind. Added by the core engineer.
 */
void hcs_core_conn_release(struct hcs_core *core, struct hcs_conn *c, int64_t now_ms);

/*
 * Bytes received from the client (any fragmentation: records may be split or
 * batched arbitrarily; 0x1E-terminated JSON, or VarInt-prefixed MessagePack
 * after a MessagePack handshake). Handles the handshake, Ping, Close,
 * Invocation (dispatched), Ack and Sequence (stateful reconnect: numbering,
 * de-duplication of replays), and ignores unknown types, Completion and
 * CancelInvocation. On a protocol error (bad handshake, malformed record,
 * record over max_message_bytes) the core queues the proper answer (handshake
 * error, or Close with an error and allowReconnect) and returns
 * HCS_ERR_CLOSED; the edge keeps writing until hcs_core_conn_output() says
 * HCS_OUTPUT_CLOSE. Also returns HCS_ERR_CLOSED after a client Close record.
 */
int hcs_core_conn_input(struct hcs_core *core, struct hcs_conn *c, const uint8_t *data,
                        size_t len, int64_t now_ms);

enum hcs_output {
    HCS_OUTPUT_NONE = 0,  /* nothing queued */
    HCS_OUTPUT_DATA = 1,  /* out and out_len set */
    HCS_OUTPUT_CLOSE = 2, /* queue drained and the connection is closing: close the transport */
};

/*
 * The next span to write: one or more whole records, coalesced up to
 * max_write_bytes (a single larger record is returned alone). At least
 * `headroom` writable bytes precede *out. The span stays valid until
 * hcs_core_conn_output_done() or any other call for this connection.
 * Records when data was last sent (keep-alive).
 */
enum hcs_output hcs_core_conn_output(struct hcs_core *core, struct hcs_conn *c, uint8_t **out,
                                     size_t *out_len, int64_t now_ms);
/* The span returned by the last hcs_core_conn_output() was written. */
void hcs_core_conn_output_done(struct hcs_core *core, struct hcs_conn *c);

/*
 * The WebSocket ended without a Close frame (signalr-protocol.md section 9.5).
 * A connection that can resume is kept, live, for reconnect_window_ms:
 * messages sent to it meanwhile go to its replay buffer; returns true and c
 * stays valid. Otherwise it is disposed as by hcs_core_conn_detach() and
 * false is returned (c invalid). After the window the core disposes it
 * (hcs_core_tick), dispatching `disconnected` once.
 */
bool hcs_core_conn_drop(struct hcs_core *core, struct hcs_conn *c, int64_t now_ms);

/*
 * A new WebSocket for a connection that hcs_conn_can_resume(): binds
 * `transport` in place of the old one (whose handle, or NULL, goes to
 * *out_old: the edge must stop using it for this connection and close it),
 * discards whatever was queued for the old socket, and queues Sequence
 * (the oldest unacknowledged id) followed by every unacknowledged message in
 * order. No handshake follows. HCS_ERR_TRANSPORT when the connection cannot
 * resume, HCS_ERR_CLOSED when it is closing, HCS_ERR_NOMEM.
 */
int hcs_core_conn_resume(struct hcs_core *core, struct hcs_conn *c, void *transport,
                         int64_t now_ms, void **out_old);

/*
 * The transport is gone: the connection is removed from its hub, groups and
 * user, `disconnected` is dispatched (if the handshake had completed), and it
 * is freed. `c` is invalid afterwards. `error` may be NULL.
 */
void hcs_core_conn_detach(struct hcs_core *core, struct hcs_conn *c, const char *error);

/*
 * Close a connection from the server side: queue a Close record ({"type":7}
 * plus error / allowReconnect) and mark it closing. If no transport is
 * attached it is disposed at once.
 */
void hcs_core_conn_close(struct hcs_core *core, struct hcs_conn *c, const char *error,
                         bool allow_reconnect);

/*
 * Timers; call about once a second. Handshake timeouts (answer
 * "Handshake was canceled." then close), keep-alive Pings, client timeouts,
 * expiry of unused negotiated connections, user-group TTLs.
 */
void hcs_core_tick(struct hcs_core *core, int64_t now_ms);

/* Close every connection with {"type":7,"allowReconnect":true} (graceful
 * shutdown). */
void hcs_core_shutdown(struct hcs_core *core);
size_t hcs_core_conn_count(const struct hcs_core *core);

/* Complete a client invocation (for dispatch implementations). `record` is a
 * complete framed hub record in the connection's protocol (JSON with 0x1E,
 * MessagePack with its VarInt prefix); it is copied.
 * HCS_ERR_NOT_FOUND if the connection is gone. */
int hcs_core_complete_raw(struct hcs_core *core, const char *hub, const char *conn_id,
                          const uint8_t *record, size_t len);
/* Complete with an error text (or result_json, or neither = void), encoded
 * in the connection's protocol (result_json converted for MessagePack;
 * HCS_ERR_NOMEM also when it is not valid JSON). */
int hcs_core_complete(struct hcs_core *core, const char *hub, const char *conn_id,
                      const char *invocation_id, const char *result_json, const char *error);

/* ---- Messages for many connections ---- */

/*
 * A message encoded once per wire format: one frame per hub protocol, each
 * copied once with `headroom` bytes in front and shared by reference by
 * every target queue. A protocol's frame missing at creation is converted
 * from the other one when the first target speaking it is reached (so a
 * broadcast to JSON clients only never encodes MessagePack). Only
 * Invocation records convert. Not refcounted itself: free with
 * hcs_message_unref() after the sends; queued frames stay alive.
 *
 * hcs_message_new_json: a complete JSON record incl. 0x1E.
 * hcs_message_new_msgpack: a complete framed MessagePack record (VarInt
 * prefix + array).
 * hcs_message_new_multi: either or both (the multi-protocol REST body).
 * NULL on allocation failure (or when both are NULL).
 */
struct hcs_message;
struct hcs_message *hcs_message_new_json(struct hcs_core *core, const uint8_t *record,
                                         size_t len);
struct hcs_message *hcs_message_new_msgpack(struct hcs_core *core, const uint8_t *record,
                                            size_t len);
struct hcs_message *hcs_message_new_multi(struct hcs_core *core, const uint8_t *json,
                                          size_t json_len, const uint8_t *msgpack,
                                          size_t msgpack_len);
/* Whether the frame for protocol p exists (was given or has been encoded). */
bool hcs_message_has_frame(const struct hcs_message *m, enum hcp_protocol p);
/* The record bytes of protocol p's frame (as given or encoded so far), or
 * false when there is none. Valid until hcs_message_unref(). */
bool hcs_message_record(const struct hcs_message *m, enum hcp_protocol p, const uint8_t **out,
                        size_t *out_len);
void hcs_message_unref(struct hcs_message *m);

/* ---- Hub operations (REST-facing). `hub` any case; names case-sensitive. ---- */

struct hcs_names {
    const char *const *v;
    size_t n;
};

int hcs_core_send_all(struct hcs_core *core, const char *hub, struct hcs_message *m,
                      struct hcs_names excluded);
int hcs_core_send_user(struct hcs_core *core, const char *hub, const char *user,
                       struct hcs_message *m);
int hcs_core_send_group(struct hcs_core *core, const char *hub, const char *group,
                        struct hcs_message *m, struct hcs_names excluded);
int hcs_core_send_conn(struct hcs_core *core, const char *hub, const char *conn_id,
                       struct hcs_message *m);

/* HCS_ERR_NOT_FOUND if the connection does not exist. */
int hcs_core_group_add_conn(struct hcs_core *core, const char *hub, const char *group,
                            const char *conn_id);
/* Idempotent: HCS_OK also when not a member or unknown. */
int hcs_core_group_remove_conn(struct hcs_core *core, const char *hub, const char *group,
                               const char *conn_id);
int hcs_core_conn_leave_all(struct hcs_core *core, const char *hub, const char *conn_id);

/*
 * User-group membership. ttl_s < 0: no TTL (kept); ttl_s == 0: current
 * connections only; ttl_s > 0: future connections of the user join while
 * now < added + ttl. Stored even when the user or hub has no connections.
 * Connections that joined keep the membership until removed.
 */
int hcs_core_user_add_group(struct hcs_core *core, const char *hub, const char *user,
                            const char *group, int64_t ttl_s, int64_t now_ms);
int hcs_core_user_remove_group(struct hcs_core *core, const char *hub, const char *user,
                               const char *group);
int hcs_core_user_remove_all_groups(struct hcs_core *core, const char *hub, const char *user);
bool hcs_core_user_in_group(struct hcs_core *core, const char *hub, const char *user,
                            const char *group, int64_t now_ms);

/* Existence: a connection exists once its handshake completed and until it
 * closes; a user / group exists while it has at least one such connection. */
bool hcs_core_conn_exists(struct hcs_core *core, const char *hub, const char *conn_id);
bool hcs_core_user_exists(struct hcs_core *core, const char *hub, const char *user);
bool hcs_core_group_exists(struct hcs_core *core, const char *hub, const char *group);

/* Close with `reason` as the Close error (allowReconnect true); NULL reason
 * sends {"type":7,"allowReconnect":true}. Unknown targets are not errors. */
int hcs_core_close_conn(struct hcs_core *core, const char *hub, const char *conn_id,
                        const char *reason);
int hcs_core_close_all(struct hcs_core *core, const char *hub, struct hcs_names excluded,
                       const char *reason);
int hcs_core_close_group(struct hcs_core *core, const char *hub, const char *group,
                         struct hcs_names excluded, const char *reason);
int hcs_core_close_user(struct hcs_core *core, const char *hub, const char *user,
                        struct hcs_names excluded, const char *reason);

#endif
