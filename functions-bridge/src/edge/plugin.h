/*
 * hcb_plugin: loads a transform plugin (hubcast_bridge.h) with dlopen and
 * runs it over a batch of stamped canonical events.
 */
#ifndef HCB_PLUGIN_H
#define HCB_PLUGIN_H

#include <cjson/cJSON.h>

struct hcb_plugin;

/* NULL with a logged reason on failure. */
struct hcb_plugin *hcb_plugin_load(const char *path, const char *config);
/* Run the plugin over events[0..n); appends the actions it emitted to
 * `actions`. Returns 0, or -1 when the plugin reported failure (its actions
 * are then discarded) or memory ran out. */
int hcb_plugin_run(struct hcb_plugin *p, cJSON *const *events, size_t n, cJSON *actions);
void hcb_plugin_free(struct hcb_plugin *p);

#endif
