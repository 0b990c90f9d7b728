/*
 * store_sign: a hubcast-bridge transform plugin (hubcast_bridge.h) for the
 * store-traffic sign.
 *
 * Door counters send telemetry {"store": "s1", "entries": 2, "exits": 1}.
 * The plugin keeps the occupancy of every store between calls and pushes
 * {"store","occupancy","entries","exits","deviceId","at"} as target
 * "occupancy" to group "store:<id>" (the signs of that store) and to group
 * "stores" (the chart page).
 *
 * A sign joins its group by posting a control event to /api/events with
 * property type=subscribe and body {"store": "<id>" | "*", "connectionId":
 * "<its SignalR connection id>"}: the plugin emits the group action and sends
 * the current figures straight to that connection.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "hubcast_bridge.h"

#define MAX_STORES 256

struct store {
    char id[64];
    long occupancy, entries, exits;
    char last_device[129];
    char at[32];
};

struct state {
    struct store stores[MAX_STORES];
    size_t n;
};

static struct store *find(struct state *s, const char *id, int create)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->stores[i].id, id))
            return &s->stores[i];
    if (!create || s->n == MAX_STORES || strlen(id) >= sizeof s->stores[0].id)
        return NULL;
    struct store *st = &s->stores[s->n++];
    memset(st, 0, sizeof *st);
    snprintf(st->id, sizeof st->id, "%s", id);
    return st;
}

/* "[{...}]" for one store; caller frees with cJSON_free. */
static char *args_of(const struct store *st)
{
    cJSON *a = cJSON_CreateArray();
    cJSON *o = cJSON_CreateObject();
    if (!a || !o) {
        cJSON_Delete(a);
        cJSON_Delete(o);
        return NULL;
    }
    cJSON_AddItemToArray(a, o);
    cJSON_AddStringToObject(o, "store", st->id);
    cJSON_AddNumberToObject(o, "occupancy", (double)st->occupancy);
    cJSON_AddNumberToObject(o, "entries", (double)st->entries);
    cJSON_AddNumberToObject(o, "exits", (double)st->exits);
    cJSON_AddStringToObject(o, "deviceId", st->last_device);
    cJSON_AddStringToObject(o, "at", st->at);
    char *txt = cJSON_PrintUnformatted(a);
    cJSON_Delete(a);
    return txt;
}

static int push(const struct hubcast_bridge_emitter *out, const struct store *st,
                const char *group, const char *connection)
{
    char *args = args_of(st);
    if (!args)
        return -1;
    int rc = out->send(out->ctx, "occupancy", args, group, NULL, connection);
    cJSON_free(args);
    return rc;
}

static const char *prop(const struct hubcast_event *e, const char *name)
{
    for (size_t i = 0; i < e->n_properties; i++)
        if (!strcmp(e->property_names[i], name))
            return e->property_values[i];
    return NULL;
}

static int subscribe(struct state *s, const cJSON *body, const struct hubcast_bridge_emitter *out)
{
    const cJSON *store = cJSON_GetObjectItemCaseSensitive(body, "store");
    const cJSON *conn = cJSON_GetObjectItemCaseSensitive(body, "connectionId");
    if (!cJSON_IsString(store) || !cJSON_IsString(conn) || !conn->valuestring[0])
        return 0; /* not ours to fail the batch for */
    if (!strcmp(store->valuestring, "*")) {
        if (out->group(out->ctx, "add", "stores", conn->valuestring, NULL))
            return -1;
        for (size_t i = 0; i < s->n; i++)
            if (push(out, &s->stores[i], NULL, conn->valuestring))
                return -1;
        return 0;
    }
    char group[96];
    snprintf(group, sizeof group, "store:%s", store->valuestring);
    if (out->group(out->ctx, "add", group, conn->valuestring, NULL))
        return -1;
    struct store *st = find(s, store->valuestring, 1);
    return st ? push(out, st, NULL, conn->valuestring) : 0;
}

static int count(struct state *s, const struct hubcast_event *e, const cJSON *body,
                 const struct hubcast_bridge_emitter *out)
{
    const cJSON *store = cJSON_GetObjectItemCaseSensitive(body, "store");
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(body, "entries");
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(body, "exits");
    if (!cJSON_IsString(store) || (!cJSON_IsNumber(in) && !cJSON_IsNumber(ex)))
        return 0; /* other telemetry: ignored */
    struct store *st = find(s, store->valuestring, 1);
    if (!st)
        return 0;
    long n_in = cJSON_IsNumber(in) ? (long)in->valuedouble : 0;
    long n_out = cJSON_IsNumber(ex) ? (long)ex->valuedouble : 0;
    st->entries += n_in;
    st->exits += n_out;
    st->occupancy += n_in - n_out;
    if (st->occupancy < 0)
        st->occupancy = 0; /* a missed entry must not show a negative crowd */
    snprintf(st->last_device, sizeof st->last_device, "%s", e->device_id);
    snprintf(st->at, sizeof st->at, "%s", e->enqueued_time);
    char group[96];
    snprintf(group, sizeof group, "store:%s", st->id);
    if (push(out, st, group, NULL) || push(out, st, "stores", NULL))
        return -1;
    return 0;
}

static int init(const char *config, void **out_state)
{
    (void)config;
    struct state *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    *out_state = s;
    return 0;
}

static int transform(void *state, const struct hubcast_event *events, size_t n_events,
                     const struct hubcast_bridge_emitter *out)
{
    struct state *s = state;
    for (size_t i = 0; i < n_events; i++) {
        const struct hubcast_event *e = &events[i];
        if (!e->body_is_json)
            continue;
        cJSON *body = cJSON_Parse(e->body_json);
        if (!body)
            continue;
        const char *type = prop(e, "type");
        int rc = type && !strcmp(type, "subscribe") ? subscribe(s, body, out)
                                                   : count(s, e, body, out);
        cJSON_Delete(body);
        if (rc)
            return rc;
    }
    return 0;
}

static void fini(void *state)
{
    free(state);
}

static const struct hubcast_bridge_plugin PLUGIN = {
    .api_version = HUBCAST_BRIDGE_API_VERSION,
    .name = "store-sign",
    .init = init,
    .transform = transform,
    .fini = fini,
};

__attribute__((visibility("default"))) const struct hubcast_bridge_plugin *
hubcast_bridge_plugin(void);

const struct hubcast_bridge_plugin *hubcast_bridge_plugin(void)
{
    return &PLUGIN;
}
