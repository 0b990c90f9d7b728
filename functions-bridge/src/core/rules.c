/* hcb_rules: see rules.h. The parsed file is kept as its cJSON tree. */
#include "rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "json.h"

struct hcb_rules {
    cJSON *root;
    bool unmatched_telemetry;
};

static const char *const DEST_KEYS[] = {"group", "user", "connection", "all"};

static bool all_strings(const cJSON *o)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, o) if (!cJSON_IsString(it)) return false;
    return true;
}

static const char *check_rule(const cJSON *r)
{
    if (!cJSON_IsObject(r))
        return "each rule must be an object";
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(r, "target");
    if (!cJSON_IsString(t) || !t->valuestring[0])
        return "each rule needs a non-empty \"target\"";
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "match");
    if (m) {
        if (!cJSON_IsObject(m))
            return "\"match\" must be an object";
        const cJSON *it;
        cJSON_ArrayForEach(it, m)
        {
            if (!strcmp(it->string, "deviceId") || !strcmp(it->string, "moduleId")) {
                if (!cJSON_IsString(it))
                    return "\"match.deviceId\"/\"match.moduleId\" must be strings";
            } else if (!strcmp(it->string, "properties")) {
                if (!cJSON_IsObject(it) || !all_strings(it))
                    return "\"match.properties\" must map names to strings";
            } else if (!strcmp(it->string, "body")) {
                if (!cJSON_IsObject(it))
                    return "\"match.body\" must map paths to values";
            } else {
                return "unknown key in \"match\" (deviceId, moduleId, properties, body)";
            }
        }
    }
    const cJSON *to = cJSON_GetObjectItemCaseSensitive(r, "to");
    if (to) {
        if (!cJSON_IsObject(to) || cJSON_GetArraySize(to) != 1)
            return "\"to\" must hold exactly one of group, user, connection, all";
        bool known = false;
        for (size_t i = 0; i < 4; i++)
            known |= !strcmp(to->child->string, DEST_KEYS[i]);
        if (!known || (strcmp(to->child->string, "all") && !cJSON_IsString(to->child)))
            return "\"to\" must hold exactly one of group, user, connection (strings) or all";
    }
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(r, "project");
    if (p && (!cJSON_IsObject(p) || !all_strings(p)))
        return "\"project\" must map argument names to paths";
    const cJSON *stop = cJSON_GetObjectItemCaseSensitive(r, "stop");
    if (stop && !cJSON_IsBool(stop))
        return "\"stop\" must be a boolean";
    return NULL;
}

int hcb_rules_parse(const char *json, size_t len, struct hcb_rules **out, const char **out_reason)
{
    cJSON *root = hcb_json_parse(json, len);
    const char *why = NULL;
    if (!cJSON_IsObject(root))
        why = "rules file must be a JSON object";
    const cJSON *rules = cJSON_GetObjectItemCaseSensitive(root, "rules");
    if (!why && !cJSON_IsArray(rules))
        why = "rules file needs a \"rules\" array";
    const cJSON *r;
    if (!why)
        cJSON_ArrayForEach(r, rules) if (!why) why = check_rule(r);
    const cJSON *um = cJSON_GetObjectItemCaseSensitive(root, "unmatched");
    if (!why && um &&
        (!cJSON_IsString(um) ||
         (strcmp(um->valuestring, "drop") && strcmp(um->valuestring, "telemetry"))))
        why = "\"unmatched\" must be \"drop\" or \"telemetry\"";
    if (why) {
        cJSON_Delete(root);
        *out_reason = why;
        return HCP_ERR_MALFORMED;
    }
    struct hcb_rules *rs = hcp_malloc(sizeof *rs);
    if (!rs) {
        cJSON_Delete(root);
        *out_reason = "out of memory";
        return HCP_ERR_NOMEM;
    }
    rs->root = root;
    rs->unmatched_telemetry = um && !strcmp(um->valuestring, "telemetry");
    *out = rs;
    return HCP_OK;
}

void hcb_rules_free(struct hcb_rules *r)
{
    if (!r)
        return;
    cJSON_Delete(r->root);
    hcp_free(r);
}

static bool glob(const char *pat, const char *s)
{
    if (!*pat)
        return !*s;
    if (*pat == '*')
        return glob(pat + 1, s) || (*s && glob(pat, s + 1));
    if (!*s)
        return false;
    return (*pat == '?' || *pat == *s) && glob(pat + 1, s + 1);
}

static const cJSON *child(const cJSON *v, const char *name, size_t n)
{
    char key[256];
    if (n >= sizeof key)
        return NULL;
    memcpy(key, name, n);
    key[n] = '\0';
    if (cJSON_IsArray(v)) {
        char *e;
        long i = strtol(key, &e, 10);
        return *e || n == 0 ? NULL : cJSON_GetArrayItem(v, (int)i);
    }
    return cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, key) : NULL;
}

const cJSON *hcb_rules_resolve(const cJSON *ev, const char *path)
{
    const cJSON *sys = cJSON_GetObjectItemCaseSensitive(ev, "systemProperties");
    if (!strcmp(path, "deviceId"))
        return cJSON_GetObjectItemCaseSensitive(sys, "iothub-connection-device-id");
    if (!strcmp(path, "moduleId"))
        return cJSON_GetObjectItemCaseSensitive(sys, "iothub-connection-module-id");
    if (!strcmp(path, "enqueuedTime"))
        return cJSON_GetObjectItemCaseSensitive(ev, "enqueuedTimeUtc");
    const char *p = path;
    const char *dot = strchr(p, '.');
    const cJSON *v = child(ev, p, dot ? (size_t)(dot - p) : strlen(p));
    /* systemProperties keys contain dots? They contain dashes only; but
     * property names may hold dots: try the rest as one key first. */
    while (v && dot) {
        p = dot + 1;
        const cJSON *whole = child(v, p, strlen(p));
        if (whole)
            return whole;
        dot = strchr(p, '.');
        v = child(v, p, dot ? (size_t)(dot - p) : strlen(p));
    }
    return v;
}

static int expand(struct hcp_buf *b, const char *tpl, const cJSON *ev)
{
    const char *p = tpl;
    while (*p) {
        const char *open = strchr(p, '{');
        const char *close = open ? strchr(open, '}') : NULL;
        if (!open || !close) {
            return hcp_buf_append_str(b, p);
        }
        if (hcp_buf_append(b, p, (size_t)(open - p)))
            return HCP_ERR_NOMEM;
        char path[256];
        size_t n = (size_t)(close - open - 1);
        if (n >= sizeof path)
            n = sizeof path - 1;
        memcpy(path, open + 1, n);
        path[n] = '\0';
        const cJSON *v = hcb_rules_resolve(ev, path);
        int rc = HCP_OK;
        if (cJSON_IsString(v))
            rc = hcp_buf_append_str(b, v->valuestring);
        else if (cJSON_IsNumber(v) && v->valuedouble == (double)(long long)v->valuedouble)
            rc = hcp_buf_appendf(b, "%lld", (long long)v->valuedouble);
        else if (cJSON_IsNumber(v))
            rc = hcp_buf_appendf(b, "%.17g", v->valuedouble);
        else if (cJSON_IsBool(v))
            rc = hcp_buf_append_str(b, cJSON_IsTrue(v) ? "true" : "false");
        if (rc)
            return rc;
        p = close + 1;
    }
    return HCP_OK;
}

static bool matches(const cJSON *m, const cJSON *ev)
{
    if (!m)
        return true;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(m, "deviceId");
    const char *dev = hcb_event_device_id(ev);
    if (d && (!dev || !glob(d->valuestring, dev)))
        return false;
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(m, "moduleId");
    const char *mod = hcb_event_module_id(ev);
    if (md && (!mod || !glob(md->valuestring, mod)))
        return false;
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(ev, "properties");
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(m, "properties"))
    {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(props, it->string);
        if (!cJSON_IsString(v) || strcmp(v->valuestring, it->valuestring))
            return false;
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(m, "body"))
    {
        char path[300];
        snprintf(path, sizeof path, "body.%s", it->string);
        const cJSON *v = hcb_rules_resolve(ev, path);
        if (!v || !cJSON_Compare(v, it, true))
            return false;
    }
    return true;
}

static cJSON *build(const cJSON *rule, const cJSON *ev)
{
    cJSON *act = cJSON_CreateObject();
    cJSON *args = cJSON_CreateArray();
    cJSON *arg = NULL;
    struct hcp_buf dest;
    hcp_buf_init(&dest, 4096);
    if (!act || !args)
        goto fail;
    const cJSON *proj = cJSON_GetObjectItemCaseSensitive(rule, "project");
    if (proj) {
        arg = cJSON_CreateObject();
        const cJSON *it;
        cJSON_ArrayForEach(it, proj)
        {
            const cJSON *v = arg ? hcb_rules_resolve(ev, it->valuestring) : NULL;
            if (!arg || !hcb_json_add(arg, it->string, v ? cJSON_Duplicate(v, true)
                                                          : cJSON_CreateNull()))
                goto fail;
        }
    } else {
        arg = hcb_event_summary(ev);
    }
    if (!arg)
        goto fail;
    cJSON_AddItemToArray(args, arg);
    arg = NULL;
    if (!cJSON_AddStringToObject(act, "target",
                                 cJSON_GetObjectItemCaseSensitive(rule, "target")->valuestring))
        goto fail;
    cJSON *a = args;
    args = NULL;
    if (!hcb_json_add(act, "arguments", a))
        goto fail;
    const cJSON *to = cJSON_GetObjectItemCaseSensitive(rule, "to");
    if (to && strcmp(to->child->string, "all")) {
        static const char *const FIELD[] = {"groupName", "userId", "connectionId"};
        size_t i = 0;
        while (strcmp(to->child->string, DEST_KEYS[i]))
            i++;
        if (expand(&dest, to->child->valuestring, ev) ||
            !cJSON_AddStringToObject(act, FIELD[i], hcp_buf_cstr(&dest)))
            goto fail;
    }
    hcp_buf_cleanup(&dest);
    return act;
fail:
    hcp_buf_cleanup(&dest);
    cJSON_Delete(act);
    cJSON_Delete(args);
    cJSON_Delete(arg);
    return NULL;
}

int hcb_rules_apply(const struct hcb_rules *r, const cJSON *event, cJSON *actions)
{
    int n = 0;
    const cJSON *rule;
    cJSON_ArrayForEach(rule, cJSON_GetObjectItemCaseSensitive(r->root, "rules"))
    {
        if (!matches(cJSON_GetObjectItemCaseSensitive(rule, "match"), event))
            continue;
        cJSON *a = build(rule, event);
        if (!a)
            return HCP_ERR_NOMEM;
        cJSON_AddItemToArray(actions, a);
        n++;
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rule, "stop")))
            break;
    }
    if (n == 0 && r->unmatched_telemetry) {
        cJSON *a = hcb_event_default_action(event);
        if (!a)
            return HCP_ERR_NOMEM;
        cJSON_AddItemToArray(actions, a);
        n = 1;
    }
    return n;
}
