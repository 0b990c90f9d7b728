/* hcb_plugin: see plugin.h. */
#include "plugin.h"

#include <dlfcn.h>
#include <string.h>

#include "hcp/common.h"
#include "hubcast_bridge.h"
#include "log.h"

struct hcb_plugin {
    void *dl;
    const struct hubcast_bridge_plugin *desc;
    void *state;
};

struct hcb_plugin *hcb_plugin_load(const char *path, const char *config)
{
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        hcb_log(HCB_LOG_ERR, "plugin", "cannot load %s: %s", path, dlerror());
        return NULL;
    }
    hubcast_bridge_plugin_fn fn;
    *(void **)&fn = dlsym(dl, HUBCAST_BRIDGE_PLUGIN_SYMBOL);
    const struct hubcast_bridge_plugin *d = fn ? fn() : NULL;
    if (!d || d->api_version != HUBCAST_BRIDGE_API_VERSION || !d->transform) {
        hcb_log(HCB_LOG_ERR, "plugin",
                "%s does not export %s() for API version %d with a transform", path,
                HUBCAST_BRIDGE_PLUGIN_SYMBOL, HUBCAST_BRIDGE_API_VERSION);
        dlclose(dl);
        return NULL;
    }
    struct hcb_plugin *p = hcp_calloc(1, sizeof *p);
    if (!p) {
        dlclose(dl);
        return NULL;
    }
    p->dl = dl;
    p->desc = d;
    if (d->init && d->init(config, &p->state)) {
        hcb_log(HCB_LOG_ERR, "plugin", "%s: init failed", d->name ? d->name : path);
        dlclose(dl);
        hcp_free(p);
        return NULL;
    }
    hcb_log(HCB_LOG_NOTICE, "plugin", "loaded name=%s path=%s", d->name ? d->name : "-", path);
    return p;
}

void hcb_plugin_free(struct hcb_plugin *p)
{
    if (!p)
        return;
    if (p->desc->fini)
        p->desc->fini(p->state);
    dlclose(p->dl);
    hcp_free(p);
}

struct emit_ctx {
    cJSON *actions;
    bool failed;
};

static int add(struct emit_ctx *c, cJSON *a)
{
    if (!a) {
        c->failed = true;
        return -1;
    }
    cJSON_AddItemToArray(c->actions, a);
    return 0;
}

static int emit_json(void *ctx, const char *json)
{
    struct emit_ctx *c = ctx;
    cJSON *a = json ? cJSON_Parse(json) : NULL;
    if (!cJSON_IsObject(a)) {
        cJSON_Delete(a);
        hcb_log(HCB_LOG_WARN, "plugin", "emit_json: not a JSON object");
        return -1;
    }
    return add(c, a);
}

static bool put_opt(cJSON *o, const char *k, const char *v)
{
    return !v || !*v || cJSON_AddStringToObject(o, k, v);
}

static int emit_send(void *ctx, const char *target, const char *arguments_json,
                     const char *group_name, const char *user_id, const char *connection_id)
{
    if (!target || !*target)
        return -1;
    cJSON *args = cJSON_Parse(arguments_json ? arguments_json : "[]");
    if (!cJSON_IsArray(args)) {
        cJSON_Delete(args);
        hcb_log(HCB_LOG_WARN, "plugin", "send: arguments_json is not a JSON array");
        return -1;
    }
    cJSON *a = cJSON_CreateObject();
    if (!a || !cJSON_AddStringToObject(a, "target", target)) {
        cJSON_Delete(a);
        cJSON_Delete(args);
        return add(ctx, NULL);
    }
    if (!cJSON_AddItemToObject(a, "arguments", args)) {
        cJSON_Delete(args);
        cJSON_Delete(a);
        return add(ctx, NULL);
    }
    if (!put_opt(a, "connectionId", connection_id) || !put_opt(a, "userId", user_id) ||
        !put_opt(a, "groupName", group_name)) {
        cJSON_Delete(a);
        a = NULL;
    }
    return add(ctx, a);
}

static int emit_group(void *ctx, const char *action, const char *group_name,
                      const char *connection_id, const char *user_id)
{
    if (!action || !*action)
        return -1;
    cJSON *a = cJSON_CreateObject();
    if (!a || !cJSON_AddStringToObject(a, "action", action) ||
        !put_opt(a, "groupName", group_name) || !put_opt(a, "connectionId", connection_id) ||
        !put_opt(a, "userId", user_id)) {
        cJSON_Delete(a);
        a = NULL;
    }
    return add(ctx, a);
}

/* Flatten one event for the C API; strings point into the event or into
 * `texts` (printed JSON, freed by the caller). */
static int flatten(const cJSON *ev, struct hubcast_event *out, char **texts, const char **names,
                   const char **values, size_t max_props)
{
    const cJSON *sys = cJSON_GetObjectItemCaseSensitive(ev, "systemProperties");
    const cJSON *mod = cJSON_GetObjectItemCaseSensitive(sys, "iothub-connection-module-id");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(ev, "enqueuedTimeUtc");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(ev, "sequenceNumber");
    const cJSON *enc = cJSON_GetObjectItemCaseSensitive(ev, "bodyEncoding");
    memset(out, 0, sizeof *out);
    out->device_id = cJSON_GetObjectItemCaseSensitive(sys, "iothub-connection-device-id")->valuestring;
    out->module_id = cJSON_IsString(mod) ? mod->valuestring : NULL;
    out->enqueued_time = cJSON_IsString(t) ? t->valuestring : "";
    out->sequence_number = cJSON_IsNumber(s) ? (int64_t)s->valuedouble : 0;
    out->body_is_json = !(cJSON_IsString(enc) && !strcmp(enc->valuestring, "base64"));
    texts[0] = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(ev, "body"));
    texts[1] = cJSON_PrintUnformatted(ev);
    if (!texts[0] || !texts[1])
        return -1;
    out->body_json = texts[0];
    out->event_json = texts[1];
    size_t n = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(ev, "properties"))
    {
        if (n == max_props)
            break;
        names[n] = p->string;
        values[n] = cJSON_IsString(p) ? p->valuestring : NULL;
        n++;
    }
    out->n_properties = n;
    out->property_names = names;
    out->property_values = values;
    return 0;
}

#define MAX_PROPS 256

int hcb_plugin_run(struct hcb_plugin *p, cJSON *const *events, size_t n, cJSON *actions)
{
    struct hubcast_event *evs = hcp_calloc(n, sizeof *evs);
    char **texts = hcp_calloc(2 * n, sizeof *texts);
    const char **names = hcp_calloc(n * MAX_PROPS, sizeof *names);
    const char **values = hcp_calloc(n * MAX_PROPS, sizeof *values);
    struct emit_ctx c = {.actions = cJSON_CreateArray(), .failed = false};
    int rc = -1;
    if (!evs || !texts || !names || !values || !c.actions)
        goto done;
    for (size_t i = 0; i < n; i++)
        if (flatten(events[i], &evs[i], &texts[2 * i], &names[i * MAX_PROPS],
                    &values[i * MAX_PROPS], MAX_PROPS))
            goto done;
    struct hubcast_bridge_emitter em = {
        .ctx = &c, .emit_json = emit_json, .send = emit_send, .group = emit_group};
    int prc = p->desc->transform(p->state, evs, n, &em);
    if (prc || c.failed) {
        hcb_log(HCB_LOG_WARN, "plugin", "transform failed rc=%d events=%zu", prc, n);
        goto done;
    }
    cJSON *a;
    while ((a = cJSON_DetachItemFromArray(c.actions, 0)))
        cJSON_AddItemToArray(actions, a);
    rc = 0;
done:
    if (texts)
        for (size_t i = 0; i < 2 * n; i++)
            cJSON_free(texts[i]);
    cJSON_Delete(c.actions);
    hcp_free(evs);
    hcp_free(texts);
    hcp_free(names);
    hcp_free(values);
    return rc;
}
