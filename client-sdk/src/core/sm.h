/*
 * The connect/reconnect state machine of libhubcast: pure, events in,
 * actions out (STYLE.md section 1). It decides when to negotiate, which
 * transport to open next (fallback in the server's order, re-negotiating
 * between attempts like the JS client), when the handshake, keep-alive and
 * server timeouts fire, and when and how often to reconnect. With stateful
 * reconnect (signalr-protocol.md section 9) it also decides when a dropped
 * WebSocket is resumed under the same connection (no negotiate, no
 * handshake), when that resume has failed and ordinary reconnect takes over,
 * and when an Ack is due (~1 s after trackable messages arrived). The message
 * numbering itself lives in seq.h.
 *
 * It knows no sockets, clock or strings beyond error texts: time arrives as
 * `now_ms` with each event; the edge (src/edge/client.c) performs the
 * actions in the fixed order of the HC__ACT_* bits and feeds back what
 * happened. Must not include lws or curl.
 */
#ifndef HC_CORE_SM_H
#define HC_CORE_SM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hubcast.h"

#define HC__ERR_TEXT_MAX 512
#define HC__MAX_DELAYS 64

enum hc__phase {
    HC__PHASE_IDLE = 0,   /* Disconnected */
    HC__PHASE_NEGOTIATING,
    HC__PHASE_OPENING,    /* transport connecting */
    HC__PHASE_HANDSHAKING,
    HC__PHASE_LIVE,
    HC__PHASE_WAIT_RETRY, /* Reconnecting, waiting for the next attempt */
    HC__PHASE_STOPPING,   /* Disconnecting: Close sent, waiting for the transport to end */
    HC__PHASE_RESUMING,   /* stateful reconnect: reopening the WebSocket (state stays Connected) */
};

enum hc__ev_type {
    HC__EV_START,
    HC__EV_STOP,
    HC__EV_NEGOTIATED,       /* transports, n_transports: the server's list; stateful: the
                                server answered useStatefulReconnect:true */
    HC__EV_REDIRECT,         /* the edge switched URL/token; negotiate again */
    HC__EV_NEGOTIATE_FAILED, /* error */
    HC__EV_TRANSPORT_OPEN,
    HC__EV_TRANSPORT_FAILED, /* could not be opened; error */
    HC__EV_HANDSHAKE_OK,
    HC__EV_HANDSHAKE_FAILED, /* error */
    HC__EV_CLOSE_MESSAGE,    /* server Close record: error (may be NULL), allow_reconnect */
    HC__EV_TRANSPORT_CLOSED, /* an open transport ended; error (NULL = clean); is_drop: a
                                WebSocket that ended without a Close frame (section 9.5) */
    HC__EV_RECEIVED,         /* a hub message arrived (resets the server timeout); is_trackable:
                                a numbered message that was processed (an Ack becomes due) */
    HC__EV_SENT,             /* hub data was written (resets the keep-alive timer) */
    HC__EV_TICK,             /* time passed: check deadlines */
};

struct hc__ev {
    enum hc__ev_type type;
    const char *error;
    bool allow_reconnect;
    const unsigned *transports;
    size_t n_transports;
    bool stateful;
    bool is_drop;
    bool is_trackable;
};

/* Actions, performed by the edge in this bit order. */
#define HC__ACT_SEND_CLOSE (1u << 0)      /* queue a Close record ({"type":7}) */
#define HC__ACT_CLOSE_TRANSPORT (1u << 1) /* end the transport (after writing what is queued) */
#define HC__ACT_FAIL_PENDING (1u << 2)    /* fail pending invocations/streams with out.error */
#define HC__ACT_STATE (1u << 3)           /* public state changed: old_state → state, error */
#define HC__ACT_RESET_URL (1u << 4)       /* new connection attempt: back to the base URL */
#define HC__ACT_NEGOTIATE (1u << 5)       /* POST …/negotiate at the current URL */
#define HC__ACT_OPEN (1u << 6)            /* open out.transport (no token when skip-negotiate) */
#define HC__ACT_SEND_HANDSHAKE (1u << 7) /* with out.handshake_version (2: stateful) */
#define HC__ACT_SEND_PING (1u << 8)
#define HC__ACT_RESUME (1u << 9)        /* reopen the WebSocket: same URL and connection token,
                                           fresh access token; no negotiate, no handshake */
#define HC__ACT_SEND_SEQUENCE (1u << 10) /* resumed: write Sequence, replay unacked, resume sends;
                                            drop received messages until the peer's Sequence */
#define HC__ACT_SEND_ACK (1u << 11)      /* queue an Ack for what was processed, if any */

struct hc__out {
    unsigned actions;
    unsigned transport;      /* HC__ACT_OPEN */
    enum hc_state old_state; /* HC__ACT_STATE */
    enum hc_state state;
    const char *error;      /* HC__ACT_STATE: NULL or why; borrowed from the sm until the next event */
    const char *fail_error; /* HC__ACT_FAIL_PENDING: the error pending invocations get */
    int handshake_version;  /* HC__ACT_SEND_HANDSHAKE: 1, or 2 for stateful reconnect */
};

/* Reconnect policy: delay in ms or -1 to stop. */
typedef int64_t (*hc__retry_policy)(void *user, const struct hc_retry_info *info);

struct hc__sm_config {
    unsigned transports; /* allowed HC_TRANSPORT_* mask */
    bool skip_negotiate;
    int64_t handshake_timeout_ms;
    int64_t server_timeout_ms; /* 0 = none */
    int64_t keepalive_ms;      /* 0 = no pings */
    int64_t stop_timeout_ms;   /* how long Disconnecting waits for the transport */
    hc__retry_policy retry;    /* NULL = no automatic reconnect */
    void *retry_user;
    bool binary;               /* MessagePack: needs binary transports, so never SSE (2.6) */
    bool stateful;             /* ask for stateful reconnect (useStatefulReconnect=true) */
    int64_t ack_interval_ms;   /* Ack delay after trackable messages arrive (0: 1000) */
};

struct hc__sm {
    struct hc__sm_config cfg;
    enum hc_state state;
    enum hc__phase phase;
    unsigned transport;     /* the transport being opened or in use */
    unsigned tried;         /* transports tried in this attempt */
    unsigned redirects;     /* redirects followed in this attempt */
    unsigned retry_attempts;
    int64_t lost_at_ms;
    int64_t deadline_handshake;
    int64_t deadline_server;
    int64_t deadline_ping;
    int64_t deadline_retry;
    int64_t deadline_stop;
    int64_t deadline_ack;
    int64_t deadline_resume;
    bool is_offered;  /* the last negotiate answered useStatefulReconnect:true */
    bool is_stateful; /* the current connection uses stateful reconnect (WebSockets, v2) */
    char error[HC__ERR_TEXT_MAX]; /* last error text */
    char errors[HC__ERR_TEXT_MAX]; /* per-transport failures of this attempt */
    char fail_error[HC__ERR_TEXT_MAX];
};

void hc__sm_init(struct hc__sm *sm, const struct hc__sm_config *cfg);
/* Feed one event at time now_ms; *out receives the actions (cleared first). */
void hc__sm_event(struct hc__sm *sm, const struct hc__ev *ev, int64_t now_ms, struct hc__out *out);
/* The earliest pending deadline (INT64_MAX when none): feed HC__EV_TICK then. */
int64_t hc__sm_next_deadline(const struct hc__sm *sm);

/*
 * The default reconnect policy over a delay list: attempt i waits delays[i],
 * -1 after the last. `user` points to a struct hc__delays.
 */
struct hc__delays {
    uint32_t ms[HC__MAX_DELAYS];
    size_t n;
};
int64_t hc__retry_delays(void *user, const struct hc_retry_info *info);

/* Texts the JS client uses. */
#define HC__ERR_SERVER_TIMEOUT                                                                     \
    "Server timeout elapsed without receiving a message from the server."
#define HC__ERR_HANDSHAKE_TIMEOUT "Handshake timed out."
#define HC__ERR_NO_TRANSPORT                                                                       \
    "Unable to connect to the server with any of the available transports."
#define HC__ERR_NO_COMMON_TRANSPORT                                                                \
    "None of the transports supported by the client are supported by the server."
#define HC__ERR_REDIRECTS "Negotiate redirection limit exceeded."
#define HC__ERR_STOPPED "Invocation canceled due to the underlying connection being closed."
#define HC__ERR_RESUME_FAILED "Stateful reconnect failed"

#endif
