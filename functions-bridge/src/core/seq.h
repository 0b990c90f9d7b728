/*
 * hcb_seq: per-partition (per-device) sequence numbers, strictly increasing
 * from 1 (iot-bridge-and-client.md sections 2 and 9), plus one global
 * offset. Bounded: at most `max_partitions` devices are remembered.
 */
#ifndef HCB_SEQ_H
#define HCB_SEQ_H

#include "hcp/common.h"

struct hcb_seq;

struct hcb_seq *hcb_seq_new(size_t max_partitions);
void hcb_seq_free(struct hcb_seq *s);
/* Next sequence number of `partition` (1 the first time). Returns
 * HCP_ERR_TOO_LARGE when a new partition would exceed the cap, HCP_ERR_NOMEM;
 * on success writes *out_seq and the next global offset to *out_offset. */
HCP_NODISCARD int hcb_seq_next(struct hcb_seq *s, const char *partition, int64_t *out_seq,
                               int64_t *out_offset);

#endif
