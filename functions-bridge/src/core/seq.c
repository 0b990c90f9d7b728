/* hcb_seq: a chained hash table of partition -> last sequence number. */
#include "seq.h"

#include <string.h>

#define N_BUCKETS 1024

struct entry {
    struct entry *next;
    int64_t seq;
    char key[];
};

struct hcb_seq {
    struct entry *buckets[N_BUCKETS];
    size_t n, max;
    int64_t offset;
};

struct hcb_seq *hcb_seq_new(size_t max_partitions)
{
    struct hcb_seq *s = hcp_calloc(1, sizeof *s);
    if (s)
        s->max = max_partitions;
    return s;
}

void hcb_seq_free(struct hcb_seq *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < N_BUCKETS; i++) {
        for (struct entry *e = s->buckets[i], *nx; e; e = nx) {
            nx = e->next;
            hcp_free(e);
        }
    }
    hcp_free(s);
}

static size_t hash(const char *k)
{
    size_t h = 5381;
    while (*k)
        h = h * 33 + (unsigned char)*k++;
    return h % N_BUCKETS;
}

int hcb_seq_next(struct hcb_seq *s, const char *partition, int64_t *out_seq, int64_t *out_offset)
{
    size_t b = hash(partition);
    struct entry *e = s->buckets[b];
    while (e && strcmp(e->key, partition))
        e = e->next;
    if (!e) {
        if (s->n >= s->max)
            return HCP_ERR_TOO_LARGE;
        size_t kl = strlen(partition);
        e = hcp_malloc(sizeof *e + kl + 1);
        if (!e)
            return HCP_ERR_NOMEM;
        memcpy(e->key, partition, kl + 1);
        e->seq = 0;
        e->next = s->buckets[b];
        s->buckets[b] = e;
        s->n++;
    }
    *out_seq = ++e->seq;
    *out_offset = ++s->offset;
    return HCP_OK;
}
