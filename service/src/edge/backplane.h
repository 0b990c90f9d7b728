/*
 * hcs_backplane: the Redis backplane that joins several hubcast-service
 * nodes into one service (docs/scale-out.md). It implements the core's
 * struct hcs_backplane_ops over hiredis.
 *
 * Threading, as for upstream.c: the core, every hcs_backplane_* call and
 * the backplane callbacks live on the loop thread. A worker thread owns two
 * Redis connections (commands, and the subscription to <prefix>:ops); the
 * loop hands it commands through a locked outbox (woken by an eventfd) and
 * it hands back received records and state changes through a locked inbox
 * plus `wake` (lws_cancel_service); hcs_backplane_poll() applies them.
 * Existence queries are the one exception: the loop thread asks Redis
 * synchronously on its own connection with a short timeout (only while the
 * worker reports Redis as reachable).
 *
 * Failure: when Redis is unreachable the node keeps serving its local
 * clients (operations apply locally only), logs once per state change,
 * reconnects with backoff, then re-registers its connections and
 * memberships and reloads user-group memberships.
 */
#ifndef HCS_BACKPLANE_H
#define HCS_BACKPLANE_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "core/core.h"

/* A parsed redis://[[user]:password@]host[:port][/db] URL. */
struct hcs_redis_url {
    char host[256];
    int port;           /* default 6379 */
    int db;             /* default 0 */
    char user[128];     /* "" = none (AUTH password only) */
    char password[256]; /* "" = no AUTH */
};

/* Parse `url` (also accepts a bare host[:port]). 0, or -1 with a static
 * *reason. *out written only on success. */
int hcs_redis_url_parse(const char *url, struct hcs_redis_url *out, const char **reason);

struct hcs_backplane;

/*
 * Create the backplane for cfg->redis_url, install it into `core`
 * (hcs_core_set_backplane) and start the worker, which connects in the
 * background. `wake` is called from the worker thread when the loop should
 * call hcs_backplane_poll(). NULL on a fatal error (logged).
 */
struct hcs_backplane *hcs_backplane_new(const struct hcs_config *cfg, struct hcs_core *core,
                                        void (*wake)(void *user), void *wake_user);
/* Apply received records and state changes. Loop thread; NULL is a no-op. */
void hcs_backplane_poll(struct hcs_backplane *bp, int64_t now_ms);
/* This node's id (random per process). */
const char *hcs_backplane_node_id(const struct hcs_backplane *bp);
/* Unhook from the core, remove this node's registry from Redis (best
 * effort), stop the worker and free. NULL is a no-op. */
void hcs_backplane_free(struct hcs_backplane *bp);

#endif
