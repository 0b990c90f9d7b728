/*
 * hcs_map: an open-addressing string -> pointer hash map (linear probing,
 * backward-shift deletion, load factor <= 1/2) used for every core lookup.
 *
 * Keys are borrowed: each key must stay valid and unchanged while its entry
 * is in the map (the core keys entries by a name stored in the value).
 * Iterate with hcs_map_next(); the map must not be modified during an
 * iteration (deletion moves entries), so callers collect first.
 * An empty map allocates nothing. Depends only on hcproto's allocator.
 */
#ifndef HCS_MAP_H
#define HCS_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hcp/common.h"

struct hcs_map_slot {
    const char *key; /* NULL: empty slot */
    uint64_t hash;
    void *val;
};

struct hcs_map {
    struct hcs_map_slot *slots;
    size_t cap; /* 0 or a power of two */
    size_t n;
};

void hcs_map_init(struct hcs_map *m);
void hcs_map_cleanup(struct hcs_map *m);
void *hcs_map_get(const struct hcs_map *m, const char *key);
/* Insert or replace. Returns 0 or HCS_ERR_NOMEM (map unchanged). */
HCP_NODISCARD int hcs_map_put(struct hcs_map *m, const char *key, void *val);
/* Remove `key`; returns its value or NULL when absent. */
void *hcs_map_del(struct hcs_map *m, const char *key);
static inline size_t hcs_map_count(const struct hcs_map *m)
{
    return m->n;
}
/* Iterate: start with *pos = 0; returns the next value or NULL at the end. */
void *hcs_map_next(const struct hcs_map *m, size_t *pos);
/*
 * Visit every entry; where `match(val, ctx)` is true the entry is removed and
 * then `drop(val, ctx)` (if given) is called, so drop may free the key. Neither
 * callback may modify this map (other maps are fine). Returns the number
 * removed. O(capacity).
 */
size_t hcs_map_remove_if(struct hcs_map *m, bool (*match)(void *val, void *ctx),
                         void (*drop)(void *val, void *ctx), void *ctx);
/* Copy all values into a new array (hcp_malloc) of hcs_map_count() entries;
 * *out is NULL for an empty map. Returns 0 or HCS_ERR_NOMEM. */
HCP_NODISCARD int hcs_map_values(const struct hcs_map *m, void ***out);

#endif
