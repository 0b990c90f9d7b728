/*
 * Connect/reconnect state machine (see sm.h). Pure: no I/O, no clock, no
 * allocation. Wire rules cited from signalr-protocol.md: fallback and
 * re-negotiation §2.6, redirects §2.4, handshake §3, Close §8, stateful
 * reconnect §9, timers §10.
 */
#include "sm.h"

#include <stdio.h>
#include <string.h>

#include "hcp/client.h"

#define NEVER INT64_MAX

void hc__sm_init(struct hc__sm *sm, const struct hc__sm_config *cfg)
{
    memset(sm, 0, sizeof *sm);
    sm->cfg = *cfg;
    if (sm->cfg.binary)
        sm->cfg.transports &= ~(unsigned)HC_TRANSPORT_SSE; /* SSE is text-only (§2.6, §6) */
    if (sm->cfg.ack_interval_ms <= 0)
        sm->cfg.ack_interval_ms = 1000;
    sm->state = HC_STATE_DISCONNECTED;
    sm->phase = HC__PHASE_IDLE;
    sm->deadline_handshake = sm->deadline_server = sm->deadline_ping = NEVER;
    sm->deadline_retry = sm->deadline_stop = NEVER;
    sm->deadline_ack = sm->deadline_resume = NEVER;
}

int64_t hc__retry_delays(void *user, const struct hc_retry_info *info)
{
    const struct hc__delays *d = user;
    if (d == NULL || info->previous_attempts >= d->n)
        return -1;
    return d->ms[info->previous_attempts];
}

static void set_error(struct hc__sm *sm, const char *error)
{
    snprintf(sm->error, sizeof sm->error, "%s", error ? error : "");
}

static void fail_pending(struct hc__sm *sm, const char *error, struct hc__out *out)
{
    snprintf(sm->fail_error, sizeof sm->fail_error, "%s", error && *error ? error : HC__ERR_STOPPED);
    out->actions |= HC__ACT_FAIL_PENDING;
    out->fail_error = sm->fail_error;
}

static void clear_timers(struct hc__sm *sm)
{
    sm->deadline_handshake = sm->deadline_server = sm->deadline_ping = NEVER;
    sm->deadline_retry = sm->deadline_stop = NEVER;
    sm->deadline_ack = sm->deadline_resume = NEVER;
}

static void change_state(struct hc__sm *sm, enum hc_state to, const char *error,
                         struct hc__out *out)
{
    if (sm->state == to)
        return;
    out->actions |= HC__ACT_STATE;
    out->old_state = sm->state;
    out->state = to;
    if (error != NULL && *error) {
        set_error(sm, error);
        out->error = sm->error;
    } else {
        out->error = NULL;
    }
    sm->state = to;
}

/* Start one connection attempt (initial or reconnect) from the base URL. */
static void begin_attempt(struct hc__sm *sm, struct hc__out *out)
{
    clear_timers(sm);
    sm->tried = 0;
    sm->redirects = 0;
    sm->errors[0] = '\0';
    sm->is_offered = false;
    sm->is_stateful = false;
    out->actions |= HC__ACT_RESET_URL;
    if (sm->cfg.skip_negotiate) {
        sm->phase = HC__PHASE_OPENING;
        sm->transport = HC_TRANSPORT_WEBSOCKETS;
        sm->tried = HC_TRANSPORT_WEBSOCKETS;
        out->actions |= HC__ACT_OPEN;
        out->transport = HC_TRANSPORT_WEBSOCKETS;
    } else {
        sm->phase = HC__PHASE_NEGOTIATING;
        sm->transport = 0;
        out->actions |= HC__ACT_NEGOTIATE;
    }
}

/* Bounded copy that truncates silently (the texts are for humans). */
static void copy_text(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strnlen(src, cap - 1) : 0;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

static void go_idle(struct hc__sm *sm, const char *error, struct hc__out *out)
{
    clear_timers(sm);
    sm->phase = HC__PHASE_IDLE;
    sm->transport = 0;
    /* Copy first: error may point into sm->error. */
    char tmp[HC__ERR_TEXT_MAX];
    copy_text(tmp, sizeof tmp, error);
    change_state(sm, HC_STATE_DISCONNECTED, tmp, out);
}

/* Ask the policy; either schedule the next attempt or give up. */
static void schedule_retry(struct hc__sm *sm, const char *error, int64_t now,
                           struct hc__out *out)
{
    char tmp[HC__ERR_TEXT_MAX];
    copy_text(tmp, sizeof tmp, error);
    int64_t delay = -1;
    if (sm->cfg.retry != NULL) {
        struct hc_retry_info info = {sm->retry_attempts, now - sm->lost_at_ms, tmp};
        delay = sm->cfg.retry(sm->cfg.retry_user, &info);
    }
    if (delay < 0) {
        go_idle(sm, tmp, out);
        return;
    }
    sm->retry_attempts++;
    change_state(sm, HC_STATE_RECONNECTING, tmp, out);
    clear_timers(sm);
    sm->transport = 0;
    if (delay == 0) {
        begin_attempt(sm, out);
    } else {
        sm->phase = HC__PHASE_WAIT_RETRY;
        sm->deadline_retry = now + delay;
    }
}

/* The current attempt failed (before Connected). */
static void attempt_failed(struct hc__sm *sm, const char *error, int64_t now, struct hc__out *out)
{
    if (sm->phase == HC__PHASE_OPENING || sm->phase == HC__PHASE_HANDSHAKING)
        out->actions |= HC__ACT_CLOSE_TRANSPORT;
    if (sm->state == HC_STATE_RECONNECTING)
        schedule_retry(sm, error, now, out);
    else
        go_idle(sm, error, out);
}

/* A live connection ended without a graceful stop. */
static void connection_lost(struct hc__sm *sm, const char *error, bool may_reconnect, int64_t now,
                            struct hc__out *out)
{
    char tmp[HC__ERR_TEXT_MAX];
    copy_text(tmp, sizeof tmp, error);
    fail_pending(sm, tmp, out);
    out->actions |= HC__ACT_CLOSE_TRANSPORT;
    if (!may_reconnect) {
        go_idle(sm, tmp, out);
        return;
    }
    sm->retry_attempts = 0;
    sm->lost_at_ms = now;
    schedule_retry(sm, tmp, now, out);
}

static void append_error(struct hc__sm *sm, unsigned transport, const char *error)
{
    size_t len = strlen(sm->errors);
    snprintf(sm->errors + len, sizeof sm->errors - len, "%s%s failed: %s", len ? " " : "",
             hcp_client_transport_name(transport), error ? error : "");
}

/* Pick the first transport in the server's list that is allowed and untried. */
static void choose_transport(struct hc__sm *sm, const struct hc__ev *ev, int64_t now,
                             struct hc__out *out)
{
    bool any_common = false;
    for (size_t i = 0; i < ev->n_transports; i++) {
        unsigned t = ev->transports[i];
        if (!(t & sm->cfg.transports))
            continue;
        any_common = true;
        if (t & sm->tried)
            continue;
        sm->tried |= t;
        sm->transport = t;
        /* Version 2 only on WebSockets (§3, §9.2). */
        sm->is_stateful =
            sm->cfg.stateful && sm->is_offered && t == HC_TRANSPORT_WEBSOCKETS;
        sm->phase = HC__PHASE_OPENING;
        out->actions |= HC__ACT_OPEN;
        out->transport = t;
        return;
    }
    char msg[HC__ERR_TEXT_MAX * 2];
    if (!any_common && sm->tried == 0)
        snprintf(msg, sizeof msg, "%s", HC__ERR_NO_COMMON_TRANSPORT);
    else
        snprintf(msg, sizeof msg, "%s %s", HC__ERR_NO_TRANSPORT, sm->errors);
    attempt_failed(sm, msg, now, out);
}

/* Server timeout and pings for a live connection, from now. */
static void arm_live_timers(struct hc__sm *sm, int64_t now)
{
    bool lp = sm->transport == HC_TRANSPORT_LONGPOLLING;
    /* Long polling has inherent keep-alive: no pings, no server timeout (§4.4). */
    sm->deadline_server =
        (!lp && sm->cfg.server_timeout_ms > 0) ? now + sm->cfg.server_timeout_ms : NEVER;
    sm->deadline_ping = (!lp && sm->cfg.keepalive_ms > 0) ? now + sm->cfg.keepalive_ms : NEVER;
}

/* The WebSocket of a stateful connection dropped without a Close frame: reopen it at
 * once under the same connection; pending calls stay pending (§9.5, §9.6). */
static void begin_resume(struct hc__sm *sm, int64_t now, struct hc__out *out)
{
    clear_timers(sm);
    sm->phase = HC__PHASE_RESUMING;
    sm->deadline_resume = now + sm->cfg.handshake_timeout_ms;
    out->actions |= HC__ACT_CLOSE_TRANSPORT | HC__ACT_RESUME;
}

/* The one resume attempt failed: the connection is lost; ordinary automatic
 * reconnect (if any) takes over, as in the JS client (§9). */
static void resume_failed(struct hc__sm *sm, const char *why, int64_t now, struct hc__out *out)
{
    char msg[HC__ERR_TEXT_MAX];
    snprintf(msg, sizeof msg, "%s: %.400s", HC__ERR_RESUME_FAILED, why && *why ? why : "error");
    sm->is_stateful = false;
    connection_lost(sm, msg, true, now, out);
}

static bool connecting_phase(enum hc__phase p)
{
    return p == HC__PHASE_NEGOTIATING || p == HC__PHASE_OPENING || p == HC__PHASE_HANDSHAKING;
}

static void on_tick(struct hc__sm *sm, int64_t now, struct hc__out *out)
{
    switch (sm->phase) {
    case HC__PHASE_HANDSHAKING:
        if (now >= sm->deadline_handshake)
            attempt_failed(sm, HC__ERR_HANDSHAKE_TIMEOUT, now, out);
        break;
    case HC__PHASE_LIVE:
        if (now >= sm->deadline_server) {
            connection_lost(sm, HC__ERR_SERVER_TIMEOUT, true, now, out);
            break;
        }
        if (now >= sm->deadline_ping) {
            out->actions |= HC__ACT_SEND_PING;
            sm->deadline_ping = now + sm->cfg.keepalive_ms;
        }
        if (now >= sm->deadline_ack) {
            out->actions |= HC__ACT_SEND_ACK;
            sm->deadline_ack = NEVER;
        }
        break;
    case HC__PHASE_RESUMING:
        if (now >= sm->deadline_resume)
            resume_failed(sm, "Timed out.", now, out);
        break;
    case HC__PHASE_WAIT_RETRY:
        if (now >= sm->deadline_retry)
            begin_attempt(sm, out);
        break;
    case HC__PHASE_STOPPING:
        if (now >= sm->deadline_stop) {
            out->actions |= HC__ACT_CLOSE_TRANSPORT;
            go_idle(sm, NULL, out);
        }
        break;
    default:
        break;
    }
}

void hc__sm_event(struct hc__sm *sm, const struct hc__ev *ev, int64_t now, struct hc__out *out)
{
    memset(out, 0, sizeof *out);
    switch (ev->type) {
    case HC__EV_START:
        if (sm->phase != HC__PHASE_IDLE)
            return;
        sm->retry_attempts = 0;
        change_state(sm, HC_STATE_CONNECTING, NULL, out);
        begin_attempt(sm, out);
        return;
    case HC__EV_STOP:
        switch (sm->phase) {
        case HC__PHASE_IDLE:
        case HC__PHASE_STOPPING:
            return;
        case HC__PHASE_LIVE:
            clear_timers(sm);
            sm->phase = HC__PHASE_STOPPING;
            sm->deadline_stop = now + sm->cfg.stop_timeout_ms;
            out->actions |= HC__ACT_SEND_CLOSE | HC__ACT_CLOSE_TRANSPORT;
            fail_pending(sm, HC__ERR_STOPPED, out);
            change_state(sm, HC_STATE_DISCONNECTING, NULL, out);
            return;
        default:
            if (sm->phase != HC__PHASE_WAIT_RETRY)
                out->actions |= HC__ACT_CLOSE_TRANSPORT;
            fail_pending(sm, HC__ERR_STOPPED, out);
            go_idle(sm, NULL, out);
            return;
        }
    case HC__EV_NEGOTIATED:
        if (sm->phase == HC__PHASE_NEGOTIATING) {
            sm->is_offered = ev->stateful;
            choose_transport(sm, ev, now, out);
        }
        return;
    case HC__EV_REDIRECT:
        if (sm->phase != HC__PHASE_NEGOTIATING)
            return;
        if (++sm->redirects > HCP_CLIENT_MAX_REDIRECTS) {
            attempt_failed(sm, HC__ERR_REDIRECTS, now, out);
            return;
        }
        out->actions |= HC__ACT_NEGOTIATE;
        return;
    case HC__EV_NEGOTIATE_FAILED:
        if (sm->phase == HC__PHASE_NEGOTIATING)
            attempt_failed(sm, ev->error, now, out);
        return;
    case HC__EV_TRANSPORT_OPEN:
        if (sm->phase == HC__PHASE_RESUMING) {
            /* No handshake on a resumed socket: Sequence first, then the replay (§9.7). */
            sm->phase = HC__PHASE_LIVE;
            sm->deadline_resume = NEVER;
            arm_live_timers(sm, now);
            sm->deadline_ack = now + sm->cfg.ack_interval_ms;
            out->actions |= HC__ACT_SEND_SEQUENCE;
            return;
        }
        if (sm->phase != HC__PHASE_OPENING)
            return;
        sm->phase = HC__PHASE_HANDSHAKING;
        sm->deadline_handshake = now + sm->cfg.handshake_timeout_ms;
        out->actions |= HC__ACT_SEND_HANDSHAKE;
        out->handshake_version = sm->is_stateful ? 2 : 1;
        return;
    case HC__EV_TRANSPORT_FAILED:
        if (sm->phase == HC__PHASE_RESUMING) {
            resume_failed(sm, ev->error, now, out);
            return;
        }
        if (sm->phase != HC__PHASE_OPENING)
            return;
        append_error(sm, sm->transport, ev->error);
        if (!sm->cfg.skip_negotiate && (sm->cfg.transports & ~sm->tried) != 0) {
            /* JS: negotiate again and try the next transport with the new token. */
            out->actions |= HC__ACT_CLOSE_TRANSPORT | HC__ACT_NEGOTIATE;
            sm->phase = HC__PHASE_NEGOTIATING;
            return;
        }
        {
            char msg[HC__ERR_TEXT_MAX * 2];
            snprintf(msg, sizeof msg, "%s %s", HC__ERR_NO_TRANSPORT, sm->errors);
            attempt_failed(sm, msg, now, out);
        }
        return;
    case HC__EV_HANDSHAKE_OK:
        if (sm->phase != HC__PHASE_HANDSHAKING)
            return;
        sm->phase = HC__PHASE_LIVE;
        sm->deadline_handshake = NEVER;
        sm->retry_attempts = 0;
        arm_live_timers(sm, now);
        if (sm->deadline_ping != NEVER)
            out->actions |= HC__ACT_SEND_PING; /* one ping right after the handshake (§3) */
        change_state(sm, HC_STATE_CONNECTED, NULL, out);
        return;
    case HC__EV_HANDSHAKE_FAILED:
        if (sm->phase == HC__PHASE_HANDSHAKING)
            attempt_failed(sm, ev->error, now, out);
        return;
    case HC__EV_CLOSE_MESSAGE: {
        char msg[HC__ERR_TEXT_MAX] = "";
        if (ev->error != NULL && *ev->error)
            snprintf(msg, sizeof msg, "Server returned an error on close: %s", ev->error);
        if (sm->phase == HC__PHASE_LIVE || sm->phase == HC__PHASE_RESUMING) {
            if (!ev->allow_reconnect)
                out->actions |= HC__ACT_SEND_CLOSE; /* reply, then close (§8) */
            connection_lost(sm, msg, ev->allow_reconnect, now, out);
        } else if (connecting_phase(sm->phase)) {
            attempt_failed(sm, *msg ? msg : "Server closed the connection.", now, out);
        } else if (sm->phase == HC__PHASE_STOPPING) {
            out->actions |= HC__ACT_CLOSE_TRANSPORT;
            go_idle(sm, NULL, out);
        }
        return;
    }
    case HC__EV_TRANSPORT_CLOSED:
        if (sm->phase == HC__PHASE_LIVE && ev->is_drop && sm->is_stateful) {
            begin_resume(sm, now, out);
        } else if (sm->phase == HC__PHASE_RESUMING) {
            resume_failed(sm, ev->error && *ev->error ? ev->error : "Connection lost.", now, out);
        } else if (sm->phase == HC__PHASE_LIVE) {
            connection_lost(sm, ev->error && *ev->error ? ev->error : "Connection lost.", true,
                            now, out);
        } else if (sm->phase == HC__PHASE_OPENING) {
            struct hc__ev f = *ev;
            f.type = HC__EV_TRANSPORT_FAILED;
            hc__sm_event(sm, &f, now, out);
        } else if (sm->phase == HC__PHASE_HANDSHAKING) {
            attempt_failed(sm, ev->error && *ev->error ? ev->error : "Connection lost.", now,
                           out);
        } else if (sm->phase == HC__PHASE_STOPPING) {
            go_idle(sm, NULL, out);
        }
        return;
    case HC__EV_RECEIVED:
        if (sm->phase != HC__PHASE_LIVE)
            return;
        if (sm->deadline_server != NEVER)
            sm->deadline_server = now + sm->cfg.server_timeout_ms;
        /* Acknowledge about once a second while numbered messages arrive (§9.4). */
        if (ev->is_trackable && sm->is_stateful && sm->deadline_ack == NEVER)
            sm->deadline_ack = now + sm->cfg.ack_interval_ms;
        return;
    case HC__EV_SENT:
        if (sm->phase == HC__PHASE_LIVE && sm->deadline_ping != NEVER)
            sm->deadline_ping = now + sm->cfg.keepalive_ms;
        return;
    case HC__EV_TICK:
        on_tick(sm, now, out);
        return;
    }
}

int64_t hc__sm_next_deadline(const struct hc__sm *sm)
{
    int64_t d = sm->deadline_handshake;
    if (sm->deadline_server < d)
        d = sm->deadline_server;
    if (sm->deadline_ping < d)
        d = sm->deadline_ping;
    if (sm->deadline_retry < d)
        d = sm->deadline_retry;
    if (sm->deadline_stop < d)
        d = sm->deadline_stop;
    if (sm->deadline_ack < d)
        d = sm->deadline_ack;
    if (sm->deadline_resume < d)
        d = sm->deadline_resume;
    return d;
}
