/*
 * hcs_upstream: serverless upstream webhooks (azure-signalr-service.md
 * section 5): the dispatch implementation that forwards connected /
 * disconnected events and client invocations to the app's function over HTTP.
 *
 * Threading: the core and every hcs_upstream_* call live on the loop thread.
 * HTTP runs on curl multi in a worker thread; finished requests are queued
 * back and applied (completions written to clients) by hcs_upstream_poll(),
 * which the edge calls when `wake` fires (lws_cancel_service ->
 * LWS_CALLBACK_EVENT_WAIT_CANCELLED) and on every timer tick.
 */
#ifndef HCS_UPSTREAM_H
#define HCS_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "core/core.h"

struct hcs_upstream;

/*
 * Create the upstream dispatcher for `core` (installs itself with
 * hcs_core_set_dispatch) and load the rules from cfg->config_path (or
 * ./settings.json when present). `wake` is called from the worker thread
 * when results are ready. Returns NULL on a fatal error (logged).
 */
struct hcs_upstream *hcs_upstream_new(const struct hcs_config *cfg, struct hcs_core *core,
                                      void (*wake)(void *user), void *wake_user);
/* Apply finished requests and settings-file reloads. Loop thread only. */
void hcs_upstream_poll(struct hcs_upstream *u, int64_t now_ms);
/* Connections with upstream events still queued or in flight (loop
 * thread). A graceful shutdown waits for 0 so that the `disconnected` events
 * of the connections it closed reach the app. NULL: 0. */
size_t hcs_upstream_pending(const struct hcs_upstream *u);
/* Stop the worker (pending events are abandoned) and free. NULL is a no-op. */
void hcs_upstream_free(struct hcs_upstream *u);

#endif
