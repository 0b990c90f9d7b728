/* hcb_action: see action.h. Routes follow azure-signalr-service.md 4.3. */
#include "action.h"

#include <ctype.h>
#include <string.h>

#include "hcp/text.h"
#include "json.h"

static const char *nonempty(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

static int seg(struct hcp_buf *b, const char *s)
{
    return hcp_buf_append_byte(b, '/') || hcp_url_encode(b, s, strlen(s));
}

void hcb_rest_call_cleanup(struct hcb_rest_call *c)
{
    if (!c)
        return;
    hcp_free(c->path);
    hcp_free(c->body);
    c->path = c->body = NULL;
}

int hcb_action_to_rest(const cJSON *action, const char *hub, struct hcb_rest_call *out,
                       const char **out_reason)
{
    if (!cJSON_IsObject(action)) {
        *out_reason = "an action must be a JSON object";
        return HCP_ERR_MALFORMED;
    }
    const char *conn = nonempty(action, "connectionId");
    const char *user = nonempty(action, "userId");
    const char *group = nonempty(action, "groupName");
    struct hcp_buf path;
    hcp_buf_init(&path, 8192);
    char *body = NULL;
    enum hcp_method method;
    int rc = hcp_buf_append_str(&path, "/api/hubs/");
    for (const char *h = hub; !rc && *h; h++)
        rc = hcp_buf_append_byte(&path, (uint8_t)tolower((unsigned char)*h));
    if (rc)
        goto nomem;
    if (cJSON_GetObjectItemCaseSensitive(action, "target")) {
        const char *target = nonempty(action, "target");
        const cJSON *args = cJSON_GetObjectItemCaseSensitive(action, "arguments");
        if (!target || !cJSON_IsArray(args)) {
            hcp_buf_cleanup(&path);
            *out_reason = "a message needs a non-empty \"target\" and an \"arguments\" array";
            return HCP_ERR_MALFORMED;
        }
        method = HCP_METHOD_POST;
        if (conn)
            rc = hcp_buf_append_str(&path, "/connections") || seg(&path, conn);
        else if (user)
            rc = hcp_buf_append_str(&path, "/users") || seg(&path, user);
        else if (group)
            rc = hcp_buf_append_str(&path, "/groups") || seg(&path, group);
        if (rc || hcp_buf_append_str(&path, "/:send"))
            goto nomem;
        cJSON *msg = cJSON_CreateObject();
        cJSON *a = cJSON_Duplicate(args, true);
        if (!msg || !cJSON_AddStringToObject(msg, "target", target)) {
            cJSON_Delete(msg);
            cJSON_Delete(a);
            goto nomem;
        }
        if (!hcb_json_add(msg, "arguments", a)) {
            cJSON_Delete(msg);
            goto nomem;
        }
        char *txt = cJSON_PrintUnformatted(msg);
        cJSON_Delete(msg);
        if (!txt)
            goto nomem;
        body = hcp_strdup(txt);
        cJSON_free(txt);
        if (!body)
            goto nomem;
    } else if (cJSON_GetObjectItemCaseSensitive(action, "action")) {
        const char *kind = nonempty(action, "action");
        bool add = kind && hcp_str_ieq(kind, "add");
        bool remove = kind && hcp_str_ieq(kind, "remove");
        bool remove_all = kind && hcp_str_ieq(kind, "removeAll");
        if (!add && !remove && !remove_all) {
            hcp_buf_cleanup(&path);
            *out_reason = "\"action\" must be \"add\", \"remove\" or \"removeAll\"";
            return HCP_ERR_MALFORMED;
        }
        if (!conn && !user) {
            hcp_buf_cleanup(&path);
            *out_reason = "a group action needs \"connectionId\" or \"userId\"";
            return HCP_ERR_MALFORMED;
        }
        if (!remove_all && !group) {
            hcp_buf_cleanup(&path);
            *out_reason = "a group action needs \"groupName\"";
            return HCP_ERR_MALFORMED;
        }
        method = add ? HCP_METHOD_PUT : HCP_METHOD_DELETE;
        if (remove_all && conn)
            rc = hcp_buf_append_str(&path, "/connections") || seg(&path, conn) ||
                 hcp_buf_append_str(&path, "/groups");
        else if (remove_all)
            rc = hcp_buf_append_str(&path, "/users") || seg(&path, user) ||
                 hcp_buf_append_str(&path, "/groups");
        else if (conn)
            rc = hcp_buf_append_str(&path, "/groups") || seg(&path, group) ||
                 hcp_buf_append_str(&path, "/connections") || seg(&path, conn);
        else
            rc = hcp_buf_append_str(&path, "/users") || seg(&path, user) ||
                 hcp_buf_append_str(&path, "/groups") || seg(&path, group);
        if (rc)
            goto nomem;
    } else {
        hcp_buf_cleanup(&path);
        *out_reason = "an action needs \"target\" (message) or \"action\" (group action)";
        return HCP_ERR_MALFORMED;
    }
    size_t plen = 0;
    char *p = (char *)hcp_buf_take(&path, &plen);
    if (!p)
        goto nomem;
    p[plen] = '\0';
    out->method = method;
    out->path = p;
    out->body = body;
    out->body_len = body ? strlen(body) : 0;
    return HCP_OK;
nomem:
    hcp_buf_cleanup(&path);
    hcp_free(body);
    *out_reason = "out of memory";
    return HCP_ERR_NOMEM;
}
