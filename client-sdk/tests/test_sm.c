/*
 * Unit tests for the pure connect/reconnect state machine (src/core/sm.h) and
 * the default reconnect policy. Time is driven by hand; no sockets.
 */
#include "test_util.h"

#include "hcp/negotiate.h"
#include "sm.h"

static const unsigned ALL3[] = {HCP_TRANSPORT_WEBSOCKETS, HCP_TRANSPORT_SSE,
                                HCP_TRANSPORT_LONGPOLLING};

static struct hc__delays g_delays = {{0, 2000, 10000, 30000}, 4};

static void init(struct hc__sm *sm, unsigned transports, bool skip)
{
    struct hc__sm_config cfg = {.transports = transports,
                                .skip_negotiate = skip,
                                .handshake_timeout_ms = 15000,
                                .server_timeout_ms = 30000,
                                .keepalive_ms = 15000,
                                .stop_timeout_ms = 1000,
                                .retry = hc__retry_delays,
                                .retry_user = &g_delays};
    hc__sm_init(sm, &cfg);
}

static struct hc__out ev(struct hc__sm *sm, enum hc__ev_type t, const char *err, int64_t now)
{
    struct hc__ev e = {.type = t, .error = err};
    struct hc__out out;
    hc__sm_event(sm, &e, now, &out);
    return out;
}

static struct hc__out negotiated(struct hc__sm *sm, const unsigned *list, size_t n, int64_t now)
{
    struct hc__ev e = {.type = HC__EV_NEGOTIATED, .transports = list, .n_transports = n};
    struct hc__out out;
    hc__sm_event(sm, &e, now, &out);
    return out;
}

/* Start → negotiate → open WebSockets → handshake → Connected, at t=0. */
static void connect_ws(struct hc__sm *sm)
{
    struct hc__out o = ev(sm, HC__EV_START, NULL, 0);
    assert_int_equal(o.actions, HC__ACT_STATE | HC__ACT_RESET_URL | HC__ACT_NEGOTIATE);
    assert_int_equal(o.old_state, HC_STATE_DISCONNECTED);
    assert_int_equal(o.state, HC_STATE_CONNECTING);
    o = negotiated(sm, ALL3, 3, 0);
    assert_int_equal(o.actions, HC__ACT_OPEN);
    assert_int_equal(o.transport, HCP_TRANSPORT_WEBSOCKETS);
    o = ev(sm, HC__EV_TRANSPORT_OPEN, NULL, 0);
    assert_int_equal(o.actions, HC__ACT_SEND_HANDSHAKE);
    o = ev(sm, HC__EV_HANDSHAKE_OK, NULL, 0);
    assert_int_equal(o.actions, HC__ACT_STATE | HC__ACT_SEND_PING);
    assert_int_equal(o.state, HC_STATE_CONNECTED);
    assert_int_equal(sm->state, HC_STATE_CONNECTED);
}

static void test_connect_and_stop(void **state)
{
    (void)state;
    struct hc__sm sm;
    init(&sm, HC_TRANSPORT_ALL, false);
    assert_int_equal(hc__sm_next_deadline(&sm), INT64_MAX);
    connect_ws(&sm);
    struct hc__out o = ev(&sm, HC__EV_STOP, NULL, 100);
    assert_int_equal(o.actions, HC__ACT_SEND_CLOSE | HC__ACT_CLOSE_TRANSPORT |
                                    HC__ACT_FAIL_PENDING | HC__ACT_STATE);
    assert_int_equal(o.state, HC_STATE_DISCONNECTING);
    assert_string_equal(o.fail_error, HC__ERR_STOPPED);
    assert_null(o.error);
    o = ev(&sm, HC__EV_TRANSPORT_CLOSED, NULL, 200);
    assert_int_equal(o.actions, HC__ACT_STATE);
    assert_int_equal(o.state, HC_STATE_DISCONNECTED);
    assert_null(o.error);
    /* a second stop is a no-op */
    o = ev(&sm, HC__EV_STOP, NULL, 300);
    assert_int_equal(o.actions, 0);
}

static void test_stop_times_out(void **state)
{
    (void)state;
    struct hc__sm sm;
    init(&sm, HC_TRANSPORT_ALL, false);
    connect_ws(&sm);
    ev(&sm, HC__EV_STOP, NULL, 1000);
    assert_int_equal(hc__sm_next_deadline(&sm), 2000);
    struct hc__out o = ev(&sm, HC__EV_TICK, NULL, 1999);
    assert_int_equal(o.actions, 0);
    o = ev(&sm, HC__EV_TICK, NULL, 2000);
    assert_int_equal(o.actions, HC__ACT_CLOSE_TRANSPORT | HC__ACT_STATE);
    assert_int_equal(o.state, HC_STATE_DISCONNECTED);
}

static void test_keepalive_and_server_timeout(void **state)
{
    (void)state;
    struct hc__sm sm;
    init(&sm, HC_TRANSPORT_ALL, false);
    connect_ws(&sm);
    assert_int_equal(hc__sm_next_deadline(&sm), 15000);
    struct hc__out o = ev(&sm, HC__EV_TICK, NULL, 15000);
    assert_int_equal(o.actions, HC__ACT_SEND_PING);
    /* sending resets the ping timer, receiving the server timeout */
    ev(&sm, HC__EV_SENT, NULL, 20000);
    assert_int_equal(sm.deadline_ping, 35000);
    ev(&sm, HC__EV_RECEIVED, NULL, 20000);
    assert_int_equal(sm.deadline_server, 50000);
    o = ev(&sm, HC__EV_TICK, NULL, 35000);
    assert_int_equal(o.actions, HC__ACT_SEND_PING);
    /* nothing received for 30 s: lost, reconnect at once (delay 0) */
    o = ev(&sm, HC__EV_TICK, NULL, 50000);
    assert_true(o.actions & HC__ACT_CLOSE_TRANSPORT);
    assert_true(o.actions & HC__ACT_FAIL_PENDING);
    assert_true(o.actions & HC__ACT_STATE);
    assert_true(o.actions & HC__ACT_NEGOTIATE);
    assert_true(o.actions & HC__ACT_RESET_URL);
    assert_int_equal(o.state, HC_STATE_RECONNECTING);
    assert_string_equal(o.error, HC__ERR_SERVER_TIMEOUT);
    assert_string_equal(o.fail_error, HC__ERR_SERVER_TIMEOUT);
}

static void test_longpolling_has_no_pings(void **state)
{
    (void)state;
    struct hc__sm sm;
    init(&sm, HC_TRANSPORT_LONGPOLLING, false);
    ev(&sm, HC__EV_START, NULL, 0);
    struct hc__out o = negotiated(&sm, ALL3, 3, 0);
    assert_int_equal(o.transport, HCP_TRANSPORT_LONGPOLLING);
    ev(&sm, HC__EV_TRANSPORT_OPEN, NULL, 0);
    o = ev(&sm, HC__EV_HANDSHAKE_OK, NULL, 0);
    assert_int_equal(o.actions, HC__ACT_STATE);
    assert_int_equal(hc__sm_next_deadline(&sm), INT64_MAX);
}

static void test_fallback_renegotiates(void **state)
{
    (void)state;
    struct hc__sm sm;
    init(&sm, HC_TRANSPORT_ALL, false);
    ev(&sm, HC__EV_START, NULL, 0);
    struct hc__out o = negotiated(&sm, ALL3, 3, 0);
    assert_int_equal(o.transport, HCP_TRANSPORT_WEBSOCKETS);
    o = ev(&sm, HC__EV_TRANSPORT_FAILED, "refused", 10);
    assert_int_equal(o.actions, HC__ACT_CLOSE_TRANSPORT | HC__ACT_NEGOTIATE);
    assert_int_equal(sm.state, HC_STATE_CONNECTING);
    o = negotiated(&sm, ALL3, 3, 20);
    assert_int_equal(o.transport, HCP_TRANSPORT_SSE);
    o = ev(&sm, HC__EV_TRANSPORT_FAILED, "403", 30);
    assert_int_equal(o.actions, HC__ACT_CLOSE_TRANSPORT | HC__ACT_NEGOTIATE);
    o = negotiated(&sm, ALL3, 3, 40);
    assert_int_equal(o.transport, HCP_TRANSPORT_LONGPOLLING);
    o = ev(&sm, HC__EV_TRANSPORT_FAILED, "500", 50);
    /* all tried: the initial start fails, no automatic reconnect */
    assert_int_equal(o.actions, HC__ACT_CLOSE_TRANSPORT | HC__ACT_STATE);
    assert_int_equal(o.state, HC_STATE_DISCONNECTED);
    assert_non_null(strstr(o.error, HC__ERR_NO_TRANSPORT));
    assert_non_null(strstr(o.error, "WebSockets failed: refused"));
    assert_non_null(strstr(o.error, "LongPolling failed: 500"));
}

static void test_server_order_and_mask(void **state)
{
    (void)state;
    struct hc__sm sm;
    init(&sm, HC_TRANSPORT_SSE | HC_TRANSPORT_LONGPOLLING, false);
    ev(&sm, HC__EV_START, NULL, 0);
    static const unsigned order[] = {HCP_TRANSPORT_LONGPOLLING, HCP_TRANSPORT_WEBSOCKETS,
                                     HCP_TRANSPORT_SSE};
    struct hc__out o = negotiated(&sm, order, 3, 0);
    assert_int_equal(o.transport, HCP_TRANSPORT_LONGPOLLING);

    init(&sm, HC_TRANSPORT_SSE, false);
    ev(&sm, HC__EV_START, NULL, 0);
    static const unsigned ws_only[] = {HCP_TRANSPORT_WEBSOCKETS};
    o = negotiated(&sm, ws_only, 1, 0);
    assert_int_equal(o.state, HC_STATE_DISCONNECTED);
    assert_string_equal(o.error, HC__ERR_NO_COMMON_TRANSPORT);
}

static void test_skip_negotiate(void **state)
{
    (void)state;
    struct hc__sm sm;
    init(&sm, HC_TRANSPORT_WEBSOCKETS, true);
    struct hc__out o = ev(&sm, HC__EV_START, NULL, 0);
    assert_int_equal(o.actions, HC__ACT_STATE | HC__ACT_RESET_URL | HC__ACT_OPEN);
    assert_int_equal(o.transport, HCP_TRANSPORT_WEBSOCKETS);
    o = ev(&sm, HC__EV_TRANSPORT_FAILED, "refused", 0);
    assert_int_equal(o.state, HC_STATE_DISCONNECTED);
    assert_false(o.actions & HC__ACT_NEGOTIATE);
}

static void test_redirects(void **state)
{
    (void)state;
    struct hc__sm sm;
    init(&sm, HC_TRANSPORT_ALL, false);
    ev(&sm, HC__EV_START, NULL, 0);
    for (int i = 0; i < 100; i++) {
        struct hc__out o = ev(&sm, HC__EV_REDIRECT, NULL, 0);
        assert_int_equal(o.actions, HC__ACT_NEGOTIATE);
    }
    struct hc__out o = ev(&sm, HC__EV_REDIRECT, NULL, 0);
    assert_int_equal(o.state, HC_STATE_DISCONNECTED);
    assert_string_equal(o.error, HC__ERR_REDIRECTS);
}

static void test_negotiate_error_and_handshake(void **state)
{
    (void)state;
    struct hc__sm sm;
    init(&sm, HC_TRANSPORT_ALL, false);
    ev(&sm, HC__EV_START, NULL, 0);
    struct hc__out o = ev(&sm, HC__EV_NEGOTIATE_FAILED, "Unauthorized", 0);
    assert_int_equal(o.actions, HC__ACT_STATE);
    assert_string_equal(o.error, "Unauthorized");

    init(&sm, HC_TRANSPORT_ALL, false);
    ev(&sm, HC__EV_START, NULL, 0);
    negotiated(&sm, ALL3, 3, 0);
    ev(&sm, HC__EV_TRANSPORT_OPEN, NULL, 1000);
    assert_int_equal(hc__sm_next_deadline(&sm), 16000);
    o = ev(&sm, HC__EV_TICK, NULL, 16000);
    assert_int_equal(o.actions, HC__ACT_CLOSE_TRANSPORT | HC__ACT_STATE);
    assert_string_equal(o.error, HC__ERR_HANDSHAKE_TIMEOUT);

    init(&sm, HC_TRANSPORT_ALL, false);
    ev(&sm, HC__EV_START, NULL, 0);
    negotiated(&sm, ALL3, 3, 0);
    ev(&sm, HC__EV_TRANSPORT_OPEN, NULL, 0);
    o = ev(&sm, HC__EV_HANDSHAKE_FAILED, "bad protocol", 0);
    /* a handshake error does not fall back to another transport */
    assert_int_equal(o.actions, HC__ACT_CLOSE_TRANSPORT | HC__ACT_STATE);
    assert_string_equal(o.error, "bad protocol");
}

static void test_reconnect_schedule(void **state)
{
    (void)state;
    struct hc__sm sm;
    init(&sm, HC_TRANSPORT_ALL, false);
    connect_ws(&sm);
    struct hc__out o = ev(&sm, HC__EV_TRANSPORT_CLOSED, "WebSocket closed with status code: 1006 ().",
                          1000);
    assert_int_equal(o.state, HC_STATE_RECONNECTING);
    assert_true(o.actions & HC__ACT_NEGOTIATE); /* first delay is 0 */
    /* attempt 1 fails: wait 2 s */
    o = ev(&sm, HC__EV_NEGOTIATE_FAILED, "refused", 1100);
    assert_int_equal(o.actions, 0);
    assert_int_equal(hc__sm_next_deadline(&sm), 3100);
    o = ev(&sm, HC__EV_TICK, NULL, 3099);
    assert_int_equal(o.actions, 0);
    o = ev(&sm, HC__EV_TICK, NULL, 3100);
    assert_int_equal(o.actions, HC__ACT_RESET_URL | HC__ACT_NEGOTIATE);
    o = ev(&sm, HC__EV_NEGOTIATE_FAILED, "refused", 3200);
    assert_int_equal(hc__sm_next_deadline(&sm), 13200);
    ev(&sm, HC__EV_TICK, NULL, 13200);
    ev(&sm, HC__EV_NEGOTIATE_FAILED, "refused", 13300);
    assert_int_equal(hc__sm_next_deadline(&sm), 43300);
    ev(&sm, HC__EV_TICK, NULL, 43300);
    o = ev(&sm, HC__EV_NEGOTIATE_FAILED, "refused", 43400);
    /* the list is exhausted: give up */
    assert_int_equal(o.actions, HC__ACT_STATE);
    assert_int_equal(o.old_state, HC_STATE_RECONNECTING);
    assert_int_equal(o.state, HC_STATE_DISCONNECTED);
    assert_string_equal(o.error, "refused");
}

static void test_reconnect_success_resets(void **state)
{
    (void)state;
    struct hc__sm sm;
    init(&sm, HC_TRANSPORT_ALL, false);
    connect_ws(&sm);
    ev(&sm, HC__EV_TRANSPORT_CLOSED, NULL, 0);
    ev(&sm, HC__EV_NEGOTIATE_FAILED, "x", 0);
    ev(&sm, HC__EV_TICK, NULL, 2000);
    negotiated(&sm, ALL3, 3, 2000);
    ev(&sm, HC__EV_TRANSPORT_OPEN, NULL, 2000);
    struct hc__out o = ev(&sm, HC__EV_HANDSHAKE_OK, NULL, 2000);
    assert_int_equal(o.old_state, HC_STATE_RECONNECTING);
    assert_int_equal(o.state, HC_STATE_CONNECTED);
    assert_int_equal(sm.retry_attempts, 0);
}

static void test_close_message(void **state)
{
    (void)state;
    struct hc__sm sm;
    init(&sm, HC_TRANSPORT_ALL, false);
    connect_ws(&sm);
    struct hc__ev e = {.type = HC__EV_CLOSE_MESSAGE, .error = "boom"};
    struct hc__out o;
    hc__sm_event(&sm, &e, 0, &o);
    /* no allowReconnect: reply Close, stop for good */
    assert_int_equal(o.actions, HC__ACT_SEND_CLOSE | HC__ACT_CLOSE_TRANSPORT |
                                    HC__ACT_FAIL_PENDING | HC__ACT_STATE);
    assert_int_equal(o.state, HC_STATE_DISCONNECTED);
    assert_string_equal(o.error, "Server returned an error on close: boom");

    init(&sm, HC_TRANSPORT_ALL, false);
    connect_ws(&sm);
    struct hc__ev r = {.type = HC__EV_CLOSE_MESSAGE, .allow_reconnect = true};
    hc__sm_event(&sm, &r, 0, &o);
    assert_int_equal(o.state, HC_STATE_RECONNECTING);
    assert_false(o.actions & HC__ACT_SEND_CLOSE);
}

static int64_t never(void *user, const struct hc_retry_info *info)
{
    (void)user;
    (void)info;
    return -1;
}

static void test_no_reconnect_policy(void **state)
{
    (void)state;
    struct hc__sm sm;
    struct hc__sm_config cfg = {.transports = HC_TRANSPORT_ALL,
                                .handshake_timeout_ms = 15000,
                                .server_timeout_ms = 30000,
                                .keepalive_ms = 15000,
                                .stop_timeout_ms = 1000,
                                .retry = never};
    hc__sm_init(&sm, &cfg);
    connect_ws(&sm);
    struct hc__out o = ev(&sm, HC__EV_TRANSPORT_CLOSED, NULL, 0);
    assert_int_equal(o.state, HC_STATE_DISCONNECTED);
    assert_string_equal(o.error, "Connection lost.");
    cfg.retry = NULL;
    hc__sm_init(&sm, &cfg);
    connect_ws(&sm);
    o = ev(&sm, HC__EV_TRANSPORT_CLOSED, NULL, 0);
    assert_int_equal(o.state, HC_STATE_DISCONNECTED);
}

static void test_stop_while_waiting(void **state)
{
    (void)state;
    struct hc__sm sm;
    init(&sm, HC_TRANSPORT_ALL, false);
    connect_ws(&sm);
    ev(&sm, HC__EV_TRANSPORT_CLOSED, NULL, 0);
    ev(&sm, HC__EV_NEGOTIATE_FAILED, "x", 0);
    assert_int_equal(sm.phase, HC__PHASE_WAIT_RETRY);
    struct hc__out o = ev(&sm, HC__EV_STOP, NULL, 10);
    assert_int_equal(o.actions, HC__ACT_FAIL_PENDING | HC__ACT_STATE);
    assert_int_equal(o.state, HC_STATE_DISCONNECTED);
    assert_int_equal(hc__sm_next_deadline(&sm), INT64_MAX);
    /* stale events after stop are ignored */
    o = negotiated(&sm, ALL3, 3, 20);
    assert_int_equal(o.actions, 0);
    o = ev(&sm, HC__EV_TRANSPORT_OPEN, NULL, 20);
    assert_int_equal(o.actions, 0);
}

static void test_retry_delays_policy(void **state)
{
    (void)state;
    struct hc_retry_info info = {0, 0, "x"};
    static const int64_t want[] = {0, 2000, 10000, 30000, -1, -1};
    for (unsigned i = 0; i < 6; i++) {
        info.previous_attempts = i;
        assert_int_equal(hc__retry_delays(&g_delays, &info), want[i]);
    }
    struct hc__delays none = {{0}, 0};
    info.previous_attempts = 0;
    assert_int_equal(hc__retry_delays(&none, &info), -1);
    assert_int_equal(hc__retry_delays(NULL, &info), -1);
}


/* ---- MessagePack and stateful reconnect (signalr-protocol.md sections 2.6, 9) ---------- */

static void init_ext(struct hc__sm *sm, unsigned transports, bool binary, bool stateful)
{
    struct hc__sm_config cfg = {.transports = transports,
                                .handshake_timeout_ms = 15000,
                                .server_timeout_ms = 30000,
                                .keepalive_ms = 15000,
                                .stop_timeout_ms = 1000,
                                .retry = hc__retry_delays,
                                .retry_user = &g_delays,
                                .binary = binary,
                                .stateful = stateful};
    hc__sm_init(sm, &cfg);
}

static struct hc__out negotiated_sr(struct hc__sm *sm, const unsigned *list, size_t n,
                                    bool offered, int64_t now)
{
    struct hc__ev e = {.type = HC__EV_NEGOTIATED, .transports = list, .n_transports = n,
                       .stateful = offered};
    struct hc__out out;
    hc__sm_event(sm, &e, now, &out);
    return out;
}

static struct hc__out dropped(struct hc__sm *sm, bool is_drop, int64_t now)
{
    struct hc__ev e = {.type = HC__EV_TRANSPORT_CLOSED, .is_drop = is_drop};
    struct hc__out out;
    hc__sm_event(sm, &e, now, &out);
    return out;
}

static struct hc__out received(struct hc__sm *sm, bool trackable, int64_t now)
{
    struct hc__ev e = {.type = HC__EV_RECEIVED, .is_trackable = trackable};
    struct hc__out out;
    hc__sm_event(sm, &e, now, &out);
    return out;
}

/* Connect over WebSockets with stateful reconnect offered; returns the handshake version. */
static int connect_sr(struct hc__sm *sm, bool offered)
{
    ev(sm, HC__EV_START, NULL, 0);
    struct hc__out o = negotiated_sr(sm, ALL3, 3, offered, 0);
    assert_int_equal(o.transport, HCP_TRANSPORT_WEBSOCKETS);
    o = ev(sm, HC__EV_TRANSPORT_OPEN, NULL, 0);
    assert_int_equal(o.actions, HC__ACT_SEND_HANDSHAKE);
    int version = o.handshake_version;
    o = ev(sm, HC__EV_HANDSHAKE_OK, NULL, 0);
    assert_int_equal(o.state, HC_STATE_CONNECTED);
    return version;
}

static void test_messagepack_skips_sse(void **state)
{
    (void)state;
    struct hc__sm sm;
    static const unsigned SSE_LP[] = {HCP_TRANSPORT_SSE, HCP_TRANSPORT_LONGPOLLING};
    init_ext(&sm, HC_TRANSPORT_ALL, true, false);
    ev(&sm, HC__EV_START, NULL, 0);
    struct hc__out o = negotiated(&sm, SSE_LP, 2, 0);
    assert_int_equal(o.actions, HC__ACT_OPEN);
    assert_int_equal(o.transport, HCP_TRANSPORT_LONGPOLLING);
    /* Long polling fails: negotiate again (WebSockets is still allowed), but SSE is
     * never a candidate for binary, so the same list leaves nothing. */
    o = ev(&sm, HC__EV_TRANSPORT_FAILED, "boom", 10);
    assert_true(o.actions & HC__ACT_NEGOTIATE);
    o = negotiated(&sm, SSE_LP, 2, 20);
    assert_false(o.actions & HC__ACT_OPEN);
    assert_int_equal(o.state, HC_STATE_DISCONNECTED);
    assert_non_null(strstr(o.error, HC__ERR_NO_TRANSPORT));

    /* A server offering only SSE has no common transport for MessagePack. */
    init_ext(&sm, HC_TRANSPORT_ALL, true, false);
    ev(&sm, HC__EV_START, NULL, 0);
    static const unsigned SSE[] = {HCP_TRANSPORT_SSE};
    o = negotiated(&sm, SSE, 1, 0);
    assert_int_equal(o.state, HC_STATE_DISCONNECTED);
    assert_string_equal(o.error, HC__ERR_NO_COMMON_TRANSPORT);
    /* JSON still uses it. */
    init_ext(&sm, HC_TRANSPORT_ALL, false, false);
    ev(&sm, HC__EV_START, NULL, 0);
    o = negotiated(&sm, SSE, 1, 0);
    assert_int_equal(o.transport, HCP_TRANSPORT_SSE);
}

static void test_stateful_handshake_version(void **state)
{
    (void)state;
    struct hc__sm sm;
    /* asked and offered, WebSockets: version 2 */
    init_ext(&sm, HC_TRANSPORT_ALL, false, true);
    assert_int_equal(connect_sr(&sm, true), 2);
    assert_true(sm.is_stateful);
    /* asked, not offered: version 1 */
    init_ext(&sm, HC_TRANSPORT_ALL, false, true);
    assert_int_equal(connect_sr(&sm, false), 1);
    assert_false(sm.is_stateful);
    /* offered, not asked: version 1 */
    init_ext(&sm, HC_TRANSPORT_ALL, false, false);
    assert_int_equal(connect_sr(&sm, true), 1);
    /* long polling never uses it */
    init_ext(&sm, HC_TRANSPORT_LONGPOLLING, true, true);
    ev(&sm, HC__EV_START, NULL, 0);
    negotiated_sr(&sm, ALL3, 3, true, 0);
    struct hc__out o = ev(&sm, HC__EV_TRANSPORT_OPEN, NULL, 0);
    assert_int_equal(o.handshake_version, 1);
    assert_false(sm.is_stateful);
}

static void test_stateful_resume(void **state)
{
    (void)state;
    struct hc__sm sm;
    init_ext(&sm, HC_TRANSPORT_ALL, false, true);
    connect_sr(&sm, true);
    /* A clean end (Close frame) is not resumed: ordinary reconnect. */
    struct hc__out o = dropped(&sm, false, 100);
    assert_int_equal(o.state, HC_STATE_RECONNECTING);

    init_ext(&sm, HC_TRANSPORT_ALL, false, true);
    connect_sr(&sm, true);
    /* A drop: reopen at once, same connection; no state change, nothing fails. */
    o = dropped(&sm, true, 1000);
    assert_int_equal(o.actions, HC__ACT_CLOSE_TRANSPORT | HC__ACT_RESUME);
    assert_int_equal(sm.phase, HC__PHASE_RESUMING);
    assert_int_equal(sm.state, HC_STATE_CONNECTED);
    assert_int_equal(hc__sm_next_deadline(&sm), 1000 + 15000); /* resume bounded */
    /* no pings or server timeout while resuming */
    o = ev(&sm, HC__EV_TICK, NULL, 1000 + 14999);
    assert_int_equal(o.actions, 0);
    o = ev(&sm, HC__EV_TRANSPORT_OPEN, NULL, 2000);
    assert_int_equal(o.actions, HC__ACT_SEND_SEQUENCE);
    assert_int_equal(sm.phase, HC__PHASE_LIVE);
    assert_int_equal(sm.deadline_server, 2000 + 30000);
    /* a second drop is resumed again */
    o = dropped(&sm, true, 3000);
    assert_int_equal(o.actions, HC__ACT_CLOSE_TRANSPORT | HC__ACT_RESUME);
    /* the resume fails: the connection is lost, ordinary reconnect takes over */
    o = ev(&sm, HC__EV_TRANSPORT_FAILED, "refused", 3100);
    assert_true(o.actions & HC__ACT_FAIL_PENDING);
    assert_true(o.actions & HC__ACT_NEGOTIATE); /* first delay is 0 */
    assert_int_equal(o.state, HC_STATE_RECONNECTING);
    assert_string_equal(o.error, HC__ERR_RESUME_FAILED ": refused");
    assert_false(sm.is_stateful);

    /* resume timeout */
    init_ext(&sm, HC_TRANSPORT_ALL, false, true);
    connect_sr(&sm, true);
    dropped(&sm, true, 0);
    o = ev(&sm, HC__EV_TICK, NULL, 15000);
    assert_int_equal(o.state, HC_STATE_RECONNECTING);
    assert_string_equal(o.error, HC__ERR_RESUME_FAILED ": Timed out.");

    /* stop while resuming */
    init_ext(&sm, HC_TRANSPORT_ALL, false, true);
    connect_sr(&sm, true);
    dropped(&sm, true, 0);
    o = ev(&sm, HC__EV_STOP, NULL, 10);
    assert_true(o.actions & HC__ACT_CLOSE_TRANSPORT);
    assert_int_equal(o.state, HC_STATE_DISCONNECTED);

    /* without stateful reconnect a drop is an ordinary loss */
    init_ext(&sm, HC_TRANSPORT_ALL, false, false);
    connect_sr(&sm, true);
    o = dropped(&sm, true, 0);
    assert_int_equal(o.state, HC_STATE_RECONNECTING);
}

static void test_stateful_ack_timer(void **state)
{
    (void)state;
    struct hc__sm sm;
    init_ext(&sm, HC_TRANSPORT_ALL, false, true);
    sm.cfg.keepalive_ms = 0;
    connect_sr(&sm, true);
    /* untracked messages (pings) never make an Ack due */
    received(&sm, false, 100);
    assert_int_equal(sm.deadline_ack, INT64_MAX);
    received(&sm, true, 200);
    received(&sm, true, 700); /* does not push the deadline out */
    assert_int_equal(hc__sm_next_deadline(&sm), 1200);
    struct hc__out o = ev(&sm, HC__EV_TICK, NULL, 1199);
    assert_int_equal(o.actions, 0);
    o = ev(&sm, HC__EV_TICK, NULL, 1200);
    assert_int_equal(o.actions, HC__ACT_SEND_ACK);
    assert_int_equal(sm.deadline_ack, INT64_MAX);
    /* a non-stateful connection never acks */
    init_ext(&sm, HC_TRANSPORT_ALL, false, false);
    connect_sr(&sm, true);
    received(&sm, true, 100);
    assert_int_equal(sm.deadline_ack, INT64_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST(test_connect_and_stop),
        TU_TEST(test_stop_times_out),
        TU_TEST(test_keepalive_and_server_timeout),
        TU_TEST(test_longpolling_has_no_pings),
        TU_TEST(test_fallback_renegotiates),
        TU_TEST(test_server_order_and_mask),
        TU_TEST(test_skip_negotiate),
        TU_TEST(test_redirects),
        TU_TEST(test_negotiate_error_and_handshake),
        TU_TEST(test_reconnect_schedule),
        TU_TEST(test_reconnect_success_resets),
        TU_TEST(test_close_message),
        TU_TEST(test_no_reconnect_policy),
        TU_TEST(test_stop_while_waiting),
        TU_TEST(test_retry_delays_policy),
        TU_TEST(test_messagepack_skips_sse),
        TU_TEST(test_stateful_handshake_version),
        TU_TEST(test_stateful_resume),
        TU_TEST(test_stateful_ack_timer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
