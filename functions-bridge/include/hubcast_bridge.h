/*
 * hubcast_bridge.h: the C plugin API of hubcast-bridge (the "user transform").
 *
 * A plugin is a shared object loaded with dlopen (`--transform my.so`). It
 * exports one function, `hubcast_bridge_plugin`, returning a static
 * description. The bridge calls `transform` on its event-loop thread with a
 * batch of canonical events (iot-bridge-and-client.md section 2) and the
 * plugin emits SignalR actions (section 6.1) through the emitter. State kept
 * behind `state` survives between calls (running totals and the like); the
 * bridge never calls a plugin from two threads at once.
 *
 * Everything handed to a callback is borrowed for the duration of that call
 * only. The plugin does not need to link anything from hubcast: the emitter
 * carries function pointers. This header depends on libc only.
 */
#ifndef HUBCAST_BRIDGE_H
#define HUBCAST_BRIDGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HUBCAST_BRIDGE_API_VERSION 1
#define HUBCAST_BRIDGE_PLUGIN_SYMBOL "hubcast_bridge_plugin"

/* One canonical event, flattened for C. Strings are NUL-terminated UTF-8. */
struct hubcast_event {
    const char *device_id;      /* never NULL */
    const char *module_id;      /* NULL for device (not module) telemetry */
    const char *enqueued_time;  /* ISO-8601 UTC with milliseconds, stamped by the bridge */
    int64_t sequence_number;    /* per device, strictly increasing from 1 */
    const char *body_json;      /* the body as JSON text: any JSON value when body_is_json,
                                   else a JSON string holding the base64 of the bytes */
    int body_is_json;
    size_t n_properties;        /* application properties */
    const char *const *property_names;
    const char *const *property_values; /* an entry is NULL for a property without value */
    const char *event_json;     /* the whole canonical event as JSON text */
};

/*
 * How a plugin emits actions. Each call returns 0, or a negative number when
 * the action is invalid or cannot be queued (the rest of the batch may still
 * be emitted). Strings are copied before the call returns.
 */
struct hubcast_bridge_emitter {
    void *ctx;
    /* An action in the Functions output-binding JSON shape: a message
     * {"target","arguments"[,"userId"|"groupName"|"connectionId"]} or a group
     * action {"action":"add"|"remove"|"removeAll","groupName","userId"|"connectionId"}. */
    int (*emit_json)(void *ctx, const char *action_json);
    /* A message: arguments_json is a JSON array ("[]" when NULL). At most one of
     * group_name, user_id, connection_id is used: connection first, then user,
     * then group; all NULL broadcasts to the hub. */
    int (*send)(void *ctx, const char *target, const char *arguments_json,
                const char *group_name, const char *user_id, const char *connection_id);
    /* A group action: action is "add", "remove" or "removeAll"; connection_id
     * takes precedence over user_id. */
    int (*group)(void *ctx, const char *action, const char *group_name,
                 const char *connection_id, const char *user_id);
};

struct hubcast_bridge_plugin {
    int api_version;   /* HUBCAST_BRIDGE_API_VERSION */
    const char *name;  /* for logs */
    /* Optional. config is the --transform-config text (NULL when absent).
     * Return 0 and set *out_state, or non-zero to refuse to start. */
    int (*init)(const char *config, void **out_state);
    /* Required. events[0..n_events), n_events >= 1, in arrival order (per
     * device order is preserved). Return 0, or non-zero to report a failure:
     * the bridge then logs it, counts it and drops this batch's actions. */
    int (*transform)(void *state, const struct hubcast_event *events, size_t n_events,
                     const struct hubcast_bridge_emitter *out);
    /* Optional. Called once at shutdown. */
    void (*fini)(void *state);
};

/* The one symbol a plugin exports. */
typedef const struct hubcast_bridge_plugin *(*hubcast_bridge_plugin_fn)(void);

#ifdef __cplusplus
}
#endif
#endif
