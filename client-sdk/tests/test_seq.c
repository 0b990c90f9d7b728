/*
 * Unit tests for src/core/seq.h: the stateful-reconnect sequencing of
 * signalr-protocol.md section 9 (numbering, the bounded replay buffer,
 * cumulative Acks, the Sequence value, replay order, dropping what arrives
 * before the peer's Sequence and replayed duplicates). Allocations go
 * through CMocka (leak checks, OOM).
 */
#include "test_util.h"

#include "seq.h"

static void push(struct hc__seq *s, const char *text)
{
    assert_int_equal(hc__seq_push(s, text, strlen(text)), HC_OK);
}

/* The replay list as "id:text,id:text". */
static void replay_text(const struct hc__seq *s, char *buf, size_t cap)
{
    buf[0] = '\0';
    for (const struct hc__seq_msg *m = hc__seq_replay_head(s); m; m = m->next) {
        size_t len = strlen(buf);
        snprintf(buf + len, cap - len, "%s%llu:%.*s", len ? "," : "", (unsigned long long)m->id,
                 (int)m->len, (const char *)m->data);
    }
}

static void test_trackable_types(void **state)
{
    (void)state;
    assert_true(hc__seq_is_trackable(HCP_MSG_INVOCATION));
    assert_true(hc__seq_is_trackable(HCP_MSG_STREAM_ITEM));
    assert_true(hc__seq_is_trackable(HCP_MSG_COMPLETION));
    assert_true(hc__seq_is_trackable(HCP_MSG_STREAM_INVOCATION));
    assert_true(hc__seq_is_trackable(HCP_MSG_CANCEL_INVOCATION));
    assert_false(hc__seq_is_trackable(HCP_MSG_PING));
    assert_false(hc__seq_is_trackable(HCP_MSG_CLOSE));
    assert_false(hc__seq_is_trackable(HCP_MSG_ACK));
    assert_false(hc__seq_is_trackable(HCP_MSG_SEQUENCE));
    assert_false(hc__seq_is_trackable(42));
}

static void test_send_ack_replay(void **state)
{
    (void)state;
    struct hc__seq s;
    hc__seq_init(&s, 0);
    assert_int_equal(s.max_bytes, HC__SEQ_DEFAULT_BUFFER);
    char buf[256];
    /* nothing sent: resume from the next id */
    assert_int_equal(hc__seq_resume_from(&s), 1);
    assert_null(hc__seq_replay_head(&s));
    push(&s, "a");
    push(&s, "bb");
    push(&s, "ccc");
    assert_int_equal(s.n_bytes, 6);
    assert_int_equal(hc__seq_resume_from(&s), 1);
    replay_text(&s, buf, sizeof buf);
    assert_string_equal(buf, "1:a,2:bb,3:ccc");
    /* Acks are cumulative; old or repeated ones are harmless. */
    hc__seq_on_ack(&s, 2);
    assert_int_equal(hc__seq_resume_from(&s), 3);
    assert_int_equal(s.n_bytes, 3);
    hc__seq_on_ack(&s, 1);
    replay_text(&s, buf, sizeof buf);
    assert_string_equal(buf, "3:ccc");
    push(&s, "d");
    replay_text(&s, buf, sizeof buf);
    assert_string_equal(buf, "3:ccc,4:d");
    hc__seq_on_ack(&s, 100);
    assert_null(hc__seq_replay_head(&s));
    assert_int_equal(s.n_bytes, 0);
    assert_int_equal(hc__seq_resume_from(&s), 5);
    push(&s, "e"); /* the list works after being emptied */
    replay_text(&s, buf, sizeof buf);
    assert_string_equal(buf, "5:e");
    /* a new connection starts over */
    hc__seq_reset(&s);
    assert_int_equal(hc__seq_resume_from(&s), 1);
    assert_null(hc__seq_replay_head(&s));
    hc__seq_cleanup(&s);
}

static void test_buffer_cap_and_unpush(void **state)
{
    (void)state;
    struct hc__seq s;
    hc__seq_init(&s, 10);
    push(&s, "12345");
    push(&s, "6789");
    /* 9 of 10 bytes used: a 2-byte record must wait for an Ack */
    assert_int_equal(hc__seq_push(&s, "xy", 2), HC_ERR_TOO_LARGE);
    assert_int_equal(hc__seq_push(&s, "01234567890", 11), HC_ERR_TOO_LARGE);
    assert_int_equal(s.tx_next, 3); /* no id consumed */
    hc__seq_on_ack(&s, 1);
    push(&s, "xy");
    /* the send of the newest failed after push: its id is reused */
    hc__seq_unpush(&s);
    assert_int_equal(s.tx_next, 3);
    assert_int_equal(s.n_bytes, 4);
    push(&s, "z");
    char buf[64];
    replay_text(&s, buf, sizeof buf);
    assert_string_equal(buf, "2:6789,3:z");
    hc__seq_unpush(&s);
    hc__seq_unpush(&s);
    hc__seq_unpush(&s); /* empty: no-op */
    assert_null(hc__seq_replay_head(&s));
    assert_int_equal(s.tx_next, 2);
    push(&s, "q");
    replay_text(&s, buf, sizeof buf);
    assert_string_equal(buf, "2:q");
    /* out of memory: nothing changes */
    tu_fail_nth(1);
    assert_int_equal(hc__seq_push(&s, "r", 1), HC_ERR_NOMEM);
    tu_fail_nth(0);
    assert_int_equal(s.tx_next, 3);
    assert_int_equal(s.n_msgs, 1);
    hc__seq_cleanup(&s);
}

static void test_receive_numbering(void **state)
{
    (void)state;
    struct hc__seq s;
    hc__seq_init(&s, 0);
    uint64_t id = 77;
    assert_false(hc__seq_ack_due(&s, &id));
    assert_int_equal(id, 77);
    /* Pings and Closes are not numbered. */
    assert_int_equal(hc__seq_rx_message(&s, HCP_MSG_PING), HC__SEQ_PROCESS);
    assert_false(hc__seq_ack_due(&s, &id));
    assert_int_equal(hc__seq_rx_message(&s, HCP_MSG_INVOCATION), HC__SEQ_PROCESS);  /* 1 */
    assert_int_equal(hc__seq_rx_message(&s, HCP_MSG_COMPLETION), HC__SEQ_PROCESS);  /* 2 */
    assert_int_equal(hc__seq_rx_message(&s, HCP_MSG_STREAM_ITEM), HC__SEQ_PROCESS); /* 3 */
    assert_true(hc__seq_ack_due(&s, &id));
    assert_int_equal(id, 3);
    hc__seq_rx_acked(&s, 3);
    assert_false(hc__seq_ack_due(&s, &id));
    assert_int_equal(hc__seq_rx_message(&s, HCP_MSG_INVOCATION), HC__SEQ_PROCESS); /* 4 */
    assert_int_equal(hc__seq_rx_message(&s, HCP_MSG_INVOCATION), HC__SEQ_PROCESS); /* 5 */
    /* The socket drops; our Ack of 3 got through, 4 and 5 were processed, not acked. */
    hc__seq_rx_resumed(&s);
    /* everything before the peer's Sequence is dropped (the JS client does so) */
    assert_int_equal(hc__seq_rx_message(&s, HCP_MSG_INVOCATION), HC__SEQ_EARLY);
    assert_int_equal(hc__seq_rx_message(&s, HCP_MSG_PING), HC__SEQ_EARLY);
    /* a Sequence past what we processed + 1 would lose messages: protocol error */
    assert_int_equal(hc__seq_rx_sequence(&s, 7), HC_ERR_INVALID);
    assert_int_equal(hc__seq_rx_sequence(&s, 0), HC_ERR_INVALID);
    /* The peer replays from 4: 4 and 5 are duplicates, 6 is new. */
    assert_int_equal(hc__seq_rx_sequence(&s, 4), HC_OK);
    assert_int_equal(hc__seq_rx_message(&s, HCP_MSG_INVOCATION), HC__SEQ_DUPLICATE); /* 4 */
    assert_int_equal(hc__seq_rx_message(&s, HCP_MSG_PING), HC__SEQ_PROCESS);
    assert_int_equal(hc__seq_rx_message(&s, HCP_MSG_INVOCATION), HC__SEQ_DUPLICATE); /* 5 */
    assert_int_equal(hc__seq_rx_message(&s, HCP_MSG_INVOCATION), HC__SEQ_PROCESS);   /* 6 */
    assert_true(hc__seq_ack_due(&s, &id));
    assert_int_equal(id, 6);
    hc__seq_rx_acked(&s, 6);
    /* Another drop: the peer never saw our Ack of 6 and restarts at 5; the lost Ack is
     * due again although nothing new arrived. */
    hc__seq_rx_resumed(&s);
    assert_int_equal(hc__seq_rx_sequence(&s, 5), HC_OK);
    assert_true(hc__seq_ack_due(&s, &id));
    assert_int_equal(id, 6);
    /* Sequence exactly at the next id: nothing to drop */
    hc__seq_rx_acked(&s, 6);
    hc__seq_rx_resumed(&s);
    assert_int_equal(hc__seq_rx_sequence(&s, 7), HC_OK);
    assert_false(hc__seq_ack_due(&s, &id));
    assert_int_equal(hc__seq_rx_message(&s, HCP_MSG_INVOCATION), HC__SEQ_PROCESS); /* 7 */
    hc__seq_cleanup(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST(test_trackable_types),
        TU_TEST(test_send_ack_replay),
        TU_TEST(test_buffer_cap_and_unpush),
        TU_TEST(test_receive_numbering),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
