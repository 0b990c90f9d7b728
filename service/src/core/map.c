/*
 * hcs_map implementation: see map.h. FNV-1a 64-bit hashes are stored in the
 * slots so that growth does not rehash the strings.
 */
#include "core/map.h"

#include <string.h>

#include "core/core.h"

#define MIN_CAP 8

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

void hcs_map_init(struct hcs_map *m)
{
    m->slots = NULL;
    m->cap = 0;
    m->n = 0;
}

void hcs_map_cleanup(struct hcs_map *m)
{
    hcp_free(m->slots);
    hcs_map_init(m);
}

static size_t find(const struct hcs_map *m, const char *key, uint64_t h)
{
    size_t mask = m->cap - 1;
    size_t i = (size_t)h & mask;
    while (m->slots[i].key) {
        if (m->slots[i].hash == h && strcmp(m->slots[i].key, key) == 0)
            return i;
        i = (i + 1) & mask;
    }
    return i; /* empty slot where key would go */
}

void *hcs_map_get(const struct hcs_map *m, const char *key)
{
    if (m->n == 0)
        return NULL;
    size_t i = find(m, key, hash_str(key));
    return m->slots[i].key ? m->slots[i].val : NULL;
}

static int grow(struct hcs_map *m)
{
    size_t ncap = m->cap ? m->cap * 2 : MIN_CAP;
    if (ncap > SIZE_MAX / sizeof(struct hcs_map_slot))
        return HCS_ERR_NOMEM;
    struct hcs_map_slot *ns = hcp_calloc(ncap, sizeof(*ns));
    if (!ns)
        return HCS_ERR_NOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].key)
            continue;
        size_t j = (size_t)m->slots[i].hash & (ncap - 1);
        while (ns[j].key)
            j = (j + 1) & (ncap - 1);
        ns[j] = m->slots[i];
    }
    hcp_free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return 0;
}

int hcs_map_put(struct hcs_map *m, const char *key, void *val)
{
    uint64_t h = hash_str(key);
    if (m->n) {
        size_t i = find(m, key, h);
        if (m->slots[i].key) {
            m->slots[i].key = key;
            m->slots[i].val = val;
            return 0;
        }
    }
    if ((m->n + 1) * 2 > m->cap && grow(m) != 0)
        return HCS_ERR_NOMEM;
    size_t i = find(m, key, h);
    m->slots[i].key = key;
    m->slots[i].hash = h;
    m->slots[i].val = val;
    m->n++;
    return 0;
}

void *hcs_map_del(struct hcs_map *m, const char *key)
{
    if (m->n == 0)
        return NULL;
    size_t mask = m->cap - 1;
    size_t i = find(m, key, hash_str(key));
    if (!m->slots[i].key)
        return NULL;
    void *val = m->slots[i].val;
    /* Backward-shift deletion keeps every probe chain unbroken. */
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!m->slots[j].key)
            break;
        size_t home = (size_t)m->slots[j].hash & mask;
        /* Move j into the hole at i unless its home lies cyclically in (i, j]. */
        bool stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
        if (stays)
            continue;
        m->slots[i] = m->slots[j];
        i = j;
    }
    m->slots[i].key = NULL;
    m->slots[i].val = NULL;
    m->n--;
    if (m->n == 0)
        hcs_map_cleanup(m);
    return val;
}

void *hcs_map_next(const struct hcs_map *m, size_t *pos)
{
    for (size_t i = *pos; i < m->cap; i++) {
        if (m->slots[i].key) {
            *pos = i + 1;
            return m->slots[i].val;
        }
    }
    *pos = m->cap;
    return NULL;
}

int hcs_map_values(const struct hcs_map *m, void ***out)
{
    *out = NULL;
    if (m->n == 0)
        return 0;
    void **v = hcp_malloc(m->n * sizeof(*v));
    if (!v)
        return HCS_ERR_NOMEM;
    size_t k = 0, pos = 0;
    void *x;
    while ((x = hcs_map_next(m, &pos)) != NULL)
        v[k++] = x;
    *out = v;
    return 0;
}

size_t hcs_map_remove_if(struct hcs_map *m, bool (*match)(void *val, void *ctx),
                         void (*drop)(void *val, void *ctx), void *ctx)
{
    /* Backward-shift deletion only moves entries from later slots (cyclically)
     * into the hole at i, so re-checking slot i before advancing visits every
     * entry; an entry wrapped from the front may be seen twice, which is
     * harmless because it did not match the first time. */
    size_t removed = 0;
    for (size_t i = 0; i < m->cap; i++) {
        while (i < m->cap && m->slots[i].key && match(m->slots[i].val, ctx)) {
            void *val = hcs_map_del(m, m->slots[i].key);
            removed++;
            if (drop)
                drop(val, ctx);
        }
    }
    return removed;
}
