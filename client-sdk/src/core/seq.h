/*
 * Stateful-reconnect bookkeeping of libhubcast (signalr-protocol.md section
 * 9): numbering of trackable messages both ways, the bounded buffer of sent
 * messages not yet acknowledged, cumulative Acks in both directions, the
 * Sequence value and replay list for a resumed WebSocket, and duplicate
 * suppression on receive.
 *
 * Pure: no I/O, clock, logging or locking; the edge holds its lock around
 * every call (the send side is reached from any thread) and decides when to
 * write Acks (the ~1 s timer lives in the state machine, sm.h). Buffered
 * records are opaque framed bytes (a JSON record with its 0x1E, or a
 * length-prefixed MessagePack record), copied with hcp_malloc.
 * Must not include lws or curl.
 */
#ifndef HC_CORE_SEQ_H
#define HC_CORE_SEQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hubcast.h"

/* Default limit of unacknowledged sent bytes (the JS client's bufferSize). */
#define HC__SEQ_DEFAULT_BUFFER 100000

/* One sent trackable message kept until the peer acknowledges its id. */
struct hc__seq_msg {
    struct hc__seq_msg *next;
    uint64_t id;
    size_t len;
    uint8_t data[];
};

struct hc__seq {
    size_t max_bytes; /* cap on n_bytes (sum of buffered record lengths) */
    size_t n_bytes;
    size_t n_msgs;
    uint64_t tx_next;         /* id the next sent trackable message takes (from 1) */
    struct hc__seq_msg *head; /* oldest unacknowledged */
    struct hc__seq_msg *tail;
    uint64_t rx_next;      /* id the next received trackable message takes */
    uint64_t rx_latest;    /* highest id processed (0: none) */
    uint64_t rx_acked;     /* the last id we acknowledged */
    bool rx_need_sequence; /* resumed: drop everything until the peer's Sequence */
};

/* What to do with a received hub message. */
enum hc__seq_verdict {
    HC__SEQ_PROCESS = 0, /* dispatch it */
    HC__SEQ_DUPLICATE,   /* trackable, already processed before a resume: drop */
    HC__SEQ_EARLY,       /* arrived on a resumed socket before the Sequence: drop */
};

/* Empty bookkeeping for a new connection; max_bytes 0 means the default. */
void hc__seq_init(struct hc__seq *s, size_t max_bytes);
/* Free the buffer and start over (a new connection), keeping max_bytes. */
void hc__seq_reset(struct hc__seq *s);
void hc__seq_cleanup(struct hc__seq *s);

/* True for the message types that are numbered: Invocation, StreamItem,
 * Completion, StreamInvocation, CancelInvocation (section 9.3). */
bool hc__seq_is_trackable(int type);

/*
 * Number and keep a copy of a trackable record about to be sent.
 * HC_ERR_TOO_LARGE when it would take the buffer past max_bytes (the peer has
 * not acknowledged enough yet), HC_ERR_NOMEM; nothing changes on error.
 */
HC_NODISCARD int hc__seq_push(struct hc__seq *s, const void *rec, size_t len);
/* Forget the newest pushed record and its id (its send failed after push). */
void hc__seq_unpush(struct hc__seq *s);
/* The peer's Ack: drop every buffered record with id <= id (cumulative). */
void hc__seq_on_ack(struct hc__seq *s, uint64_t id);
/* The value of our Sequence on a resumed socket: the oldest unacknowledged
 * id, or the next id when nothing is buffered (section 9.7). */
uint64_t hc__seq_resume_from(const struct hc__seq *s);
/* Records to replay after the Sequence, oldest first (NULL when none);
 * valid until the next call that changes the buffer. */
const struct hc__seq_msg *hc__seq_replay_head(const struct hc__seq *s);

/* A resumed socket is up: received messages are dropped until a Sequence. */
void hc__seq_rx_resumed(struct hc__seq *s);
/*
 * The peer's Sequence S: the next trackable message it sends has id S.
 * HC_ERR_INVALID (a protocol error: close the connection) when S is beyond
 * the next id we have not processed yet (messages would be lost).
 */
HC_NODISCARD int hc__seq_rx_sequence(struct hc__seq *s, uint64_t id);
/* Classify one received message of `type` (not a Sequence) and count it. */
enum hc__seq_verdict hc__seq_rx_message(struct hc__seq *s, int type);
/* True when messages were processed since the last Ack; *out_id is the
 * cumulative id to acknowledge. Call hc__seq_rx_acked() once it is queued. */
bool hc__seq_ack_due(const struct hc__seq *s, uint64_t *out_id);
void hc__seq_rx_acked(struct hc__seq *s, uint64_t id);

#endif
