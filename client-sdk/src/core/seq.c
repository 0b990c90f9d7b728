/*
 * Stateful-reconnect bookkeeping (see seq.h; signalr-protocol.md section 9).
 * Pure: no I/O, clock or locking; allocation through hcp_malloc.
 */
#include "seq.h"

#include <string.h>

#include "hcp/common.h"
#include "hcp/json.h"

void hc__seq_init(struct hc__seq *s, size_t max_bytes)
{
    memset(s, 0, sizeof *s);
    s->max_bytes = max_bytes ? max_bytes : HC__SEQ_DEFAULT_BUFFER;
    s->tx_next = 1;
    s->rx_next = 1;
}

void hc__seq_cleanup(struct hc__seq *s)
{
    struct hc__seq_msg *m = s->head;
    while (m) {
        struct hc__seq_msg *next = m->next;
        hcp_free(m);
        m = next;
    }
    s->head = s->tail = NULL;
    s->n_bytes = 0;
    s->n_msgs = 0;
}

void hc__seq_reset(struct hc__seq *s)
{
    size_t max = s->max_bytes;
    hc__seq_cleanup(s);
    hc__seq_init(s, max);
}

bool hc__seq_is_trackable(int type)
{
    return type == HCP_MSG_INVOCATION || type == HCP_MSG_STREAM_ITEM ||
           type == HCP_MSG_COMPLETION || type == HCP_MSG_STREAM_INVOCATION ||
           type == HCP_MSG_CANCEL_INVOCATION;
}

int hc__seq_push(struct hc__seq *s, const void *rec, size_t len)
{
    if (len > s->max_bytes || s->n_bytes > s->max_bytes - len)
        return HC_ERR_TOO_LARGE;
    struct hc__seq_msg *m = hcp_malloc(sizeof *m + len);
    if (m == NULL)
        return HC_ERR_NOMEM;
    m->next = NULL;
    m->id = s->tx_next++;
    m->len = len;
    memcpy(m->data, rec, len);
    if (s->tail)
        s->tail->next = m;
    else
        s->head = m;
    s->tail = m;
    s->n_bytes += len;
    s->n_msgs++;
    return HC_OK;
}

void hc__seq_unpush(struct hc__seq *s)
{
    struct hc__seq_msg *last = s->tail;
    if (last == NULL)
        return;
    struct hc__seq_msg **pp = &s->head;
    struct hc__seq_msg *prev = NULL;
    while (*pp != last) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    *pp = NULL;
    s->tail = prev;
    s->n_bytes -= last->len;
    s->n_msgs--;
    s->tx_next = last->id;
    hcp_free(last);
}

void hc__seq_on_ack(struct hc__seq *s, uint64_t id)
{
    while (s->head && s->head->id <= id) {
        struct hc__seq_msg *m = s->head;
        s->head = m->next;
        s->n_bytes -= m->len;
        s->n_msgs--;
        hcp_free(m);
    }
    if (s->head == NULL)
        s->tail = NULL;
}

uint64_t hc__seq_resume_from(const struct hc__seq *s)
{
    return s->head ? s->head->id : s->tx_next;
}

const struct hc__seq_msg *hc__seq_replay_head(const struct hc__seq *s)
{
    return s->head;
}

void hc__seq_rx_resumed(struct hc__seq *s)
{
    s->rx_need_sequence = true;
}

int hc__seq_rx_sequence(struct hc__seq *s, uint64_t id)
{
    /* The peer may restart at anything we already have (duplicates are dropped
     * below), but not past the first id we have not processed. */
    if (id == 0 || id > s->rx_latest + 1)
        return HC_ERR_INVALID;
    s->rx_next = id;
    s->rx_need_sequence = false;
    /* The peer still holds id and later: an Ack lost with the old socket is due again. */
    if (s->rx_acked >= id)
        s->rx_acked = id - 1;
    return HC_OK;
}

enum hc__seq_verdict hc__seq_rx_message(struct hc__seq *s, int type)
{
    if (s->rx_need_sequence)
        return HC__SEQ_EARLY;
    if (!hc__seq_is_trackable(type))
        return HC__SEQ_PROCESS;
    uint64_t id = s->rx_next++;
    if (id <= s->rx_latest)
        return HC__SEQ_DUPLICATE;
    s->rx_latest = id;
    return HC__SEQ_PROCESS;
}

bool hc__seq_ack_due(const struct hc__seq *s, uint64_t *out_id)
{
    if (s->rx_latest <= s->rx_acked)
        return false;
    *out_id = s->rx_latest;
    return true;
}

void hc__seq_rx_acked(struct hc__seq *s, uint64_t id)
{
    if (id > s->rx_acked)
        s->rx_acked = id;
}
