/*
 * hcb_restout: REST calls to hubcast-service on a thread of their own (curl
 * multi), so ingest never blocks on the network.
 *
 * Calls leave in the order they were queued, one at a time on a reused
 * keep-alive connection: per-device order (and any order the transform
 * produced) is preserved. 5xx answers and connection errors are retried with
 * exponential backoff (100 ms doubling, at most 5 s) up to max_retries, then
 * the call is dropped and counted as failed; other non-2xx answers are failed
 * at once. The queue is bounded: enqueue fails when full (counted as
 * dropped). Tokens are cached per audience until five minutes before expiry.
 */
#ifndef HCB_RESTOUT_H
#define HCB_RESTOUT_H

#include <stdint.h>

#include "action.h"

struct hcb_restout;

struct hcb_restout_stats {
    uint64_t queued, sent, failed, dropped, retried;
    size_t pending;
};

/* base_url: service endpoint without trailing '/'; key: AccessKey (borrowed
 * for the lifetime of the object). NULL on failure. */
struct hcb_restout *hcb_restout_new(const char *base_url, const char *key, size_t max_queue,
                                    int max_retries);
/* Takes *call on success (0) and on failure (-1, queue full: counted). */
int hcb_restout_enqueue(struct hcb_restout *r, struct hcb_rest_call *call);
void hcb_restout_stats(struct hcb_restout *r, struct hcb_restout_stats *out);
/* Stop the thread after trying for up to drain_ms to send what is queued. */
void hcb_restout_free(struct hcb_restout *r, int drain_ms);

#endif
