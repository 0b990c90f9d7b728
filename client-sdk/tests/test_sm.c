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
    struct hc__sm_config cfg = {transports, skip, 15000, 30000, 15000, 1000, hc__retry_delays,
                                &g_delays};
    hc__sm_init(sm, &cfg);
}

static struct hc__out ev(struct hc__sm *sm, enum hc__ev_type t, const char *err, int64_t now)
{
    struct hc__ev e = {t, err, false, NULL, 0};
    struct hc__out out;
    hc__sm_event(sm, &e, now, &out);
    return out;
}

static struct hc__out negotiated(struct hc__sm *sm, const unsigned *list, size_t n, int64_t now)
{
    struct hc__ev e = {HC__EV_NEGOTIATED, NULL, false, list, n};
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
    struct hc__ev e = {HC__EV_CLOSE_MESSAGE, "boom", false, NULL, 0};
    struct hc__out o;
    hc__sm_event(&sm, &e, 0, &o);
    /* no allowReconnect: reply Close, stop for good */
    assert_int_equal(o.actions, HC__ACT_SEND_CLOSE | HC__ACT_CLOSE_TRANSPORT |
                                    HC__ACT_FAIL_PENDING | HC__ACT_STATE);
    assert_int_equal(o.state, HC_STATE_DISCONNECTED);
    assert_string_equal(o.error, "Server returned an error on close: boom");

    init(&sm, HC_TRANSPORT_ALL, false);
    connect_ws(&sm);
    struct hc__ev r = {HC__EV_CLOSE_MESSAGE, NULL, true, NULL, 0};
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
    struct hc__sm_config cfg = {HC_TRANSPORT_ALL, false, 15000, 30000, 15000, 1000, never, NULL};
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
