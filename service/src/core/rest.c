/*
 * The REST data plane (azure-signalr-service.md section 4.3 rows 1-20) as a
 * pure function: route, authorise, validate, apply to the core, answer.
 *
 * Every state change is applied before the response is built, so a following
 * REST call observes it (section 4.1); sends queue synchronously, which keeps
 * per-connection delivery in acceptance order (section 6).
 * No sockets, no clock: time comes in the request.
 *
 * With a backplane (hcs_core_set_backplane, docs/scale-out.md) an operation
 * is applied to this node's connections first, then published once as a
 * record (core/bpmsg.h) that every other node applies to its own; an
 * operation on one connection that lives here is not published (ids are
 * unique cluster-wide). Existence checks ask the backplane when this node
 * does not know the answer.
 */
#include "core/rest.h"

#include "core/bpmsg.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define HUB_MAX 300 /* {application}_{hub}: 128 + 1 + 128, plus slack */
#define CT_JSON "application/json"

void hcs_rest_response_init(struct hcs_rest_response *r)
{
    r->status = 0;
    r->error_code = NULL;
    r->content_type = NULL;
    hcp_buf_init(&r->body, 0);
    r->www_authenticate = false;
}

void hcs_rest_response_cleanup(struct hcs_rest_response *r)
{
    hcp_buf_cleanup(&r->body);
}

static void ok(struct hcs_rest_response *resp, int status)
{
    resp->status = status;
}

/* Fill an error answer: status, x-ms-error-code and the ErrorDetail body.
 * Returns 0, or HCS_ERR_NOMEM (status then 500, body empty). */
static int fail(struct hcs_rest_response *resp, int status, enum hcp_rest_error e,
                const char *message)
{
    const char *code = hcp_rest_error_code(e);
    resp->status = status;
    resp->error_code = code;
    resp->content_type = CT_JSON;
    hcp_buf_reset(&resp->body);
    if (hcp_rest_error_encode(&resp->body, code, message) != 0) {
        hcp_buf_reset(&resp->body);
        resp->status = 500;
        resp->error_code = hcp_rest_error_code(HCP_REST_E_INTERNAL);
        resp->content_type = NULL;
        return HCS_ERR_NOMEM;
    }
    return 0;
}

static int fail_nomem(struct hcs_rest_response *resp)
{
    (void)fail(resp, 500, HCP_REST_E_INTERNAL, "Out of memory.");
    return HCS_ERR_NOMEM;
}

/* Map a core result: 0 -> `status`, NOMEM -> 500. */
static int core_result(struct hcs_rest_response *resp, int rc, int status)
{
    if (rc == HCS_ERR_NOMEM)
        return fail_nomem(resp);
    ok(resp, status);
    return 0;
}

static const char *param(const struct hcs_rest_request *req, const char *key)
{
    for (size_t i = 0; i < req->n_params; i++)
        if (req->params[i].key && hcp_str_ieq(req->params[i].key, key))
            return req->params[i].value ? req->params[i].value : "";
    return NULL;
}

/* A non-negative decimal integer (no sign, no spaces), saturating. */
static bool parse_nonneg(const char *s, int64_t *out)
{
    if (!s || !*s)
        return false;
    int64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        if (v > (INT64_MAX - 9) / 10)
            v = INT64_MAX / 10; /* saturate: callers cap anyway */
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return true;
}

enum body_kind { BODY_OTHER, BODY_JSON, BODY_MULTI };

/* Media type of the send body: JSON (or absent), or the multi-protocol
 * MessagePack map (application/octet-stream, application/x-msgpack). */
static enum body_kind content_type_kind(const char *ct)
{
    if (!ct)
        return BODY_JSON;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = strcspn(ct, ";");
    while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    if (n == 0 || hcp_strn_ieq(ct, n, "application/json") || hcp_strn_ieq(ct, n, "text/json"))
        return BODY_JSON;
    if (hcp_strn_ieq(ct, n, "application/octet-stream") ||
        hcp_strn_ieq(ct, n, "application/x-msgpack"))
        return BODY_MULTI;
    return BODY_OTHER;
}

struct ctx {
    struct hcs_core *core;
    const struct hcs_rest_request *req;
    struct hcs_rest_response *resp;
    struct hcp_rest_target t;
    char hub[HUB_MAX];
    const char *user, *group, *conn;
    const char **excluded;
    size_t n_excluded;
};

static struct hcs_names excluded(const struct ctx *x)
{
    return (struct hcs_names){x->excluded, x->n_excluded};
}

/* ---- backplane ---- */

static bool has_backplane(const struct ctx *x)
{
    return hcs_core_backplane(x->core, NULL, NULL) != NULL;
}

/* Publish op for the other nodes (no-op without a backplane). `msg` carries
 * a send's payload. Returns HCS_OK or HCS_ERR_NOMEM. */
static int publish(struct ctx *x, enum hcs_bpmsg_op op, const char *a, const char *b,
                   const char *reason, int64_t ttl_s, bool with_excluded,
                   const struct hcs_message *msg)
{
    if (!has_backplane(x))
        return HCS_OK;
    struct hcs_bpmsg m;
    memset(&m, 0, sizeof m);
    m.op = op;
    m.hub = x->hub;
    m.a = a;
    m.b = b;
    m.reason = reason;
    m.ttl_s = ttl_s;
    if (with_excluded) {
        m.excluded = x->excluded;
        m.n_excluded = x->n_excluded;
    }
    int rc = hcs_bpmsg_publish(x->core, &m, msg);
    return rc == HCS_ERR_NOMEM ? rc : HCS_OK;
}

/* Ask the other nodes; false when there is no backplane or it is down. */
static bool remote_has(struct ctx *x, enum hcs_bp_query q, const char *a, const char *b)
{
    void *user = NULL;
    const struct hcs_backplane_ops *ops = hcs_core_backplane(x->core, &user, NULL);
    return ops && ops->query && ops->query(user, q, x->hub, a, b) == 1;
}

/* Apply locally (rc), then publish; the first failure wins. */
static int then_publish(struct ctx *x, int rc, enum hcs_bpmsg_op op, const char *a,
                        const char *b, const char *reason, int64_t ttl_s, bool with_excluded)
{
    if (rc != HCS_OK)
        return rc;
    return publish(x, op, a, b, reason, ttl_s, with_excluded, NULL);
}

/* Effective hub: lower-case `{application}_{hub}` or `{hub}`. */
static int effective_hub(struct ctx *x)
{
    const char *app = param(x->req, "application");
    size_t hlen = x->t.hub.len;
    size_t alen = 0;
    if (app && *app) {
        alen = strlen(app);
        if (!hcp_rest_valid_hub(app, alen))
            return fail(x->resp, 400, HCP_REST_E_REQUEST_INVALID, "Invalid application name.");
    }
    if (alen + 1 + hlen + 1 > sizeof(x->hub))
        return fail(x->resp, 400, HCP_REST_E_REQUEST_INVALID, "Invalid hub name.");
    size_t o = 0;
    if (alen) {
        memcpy(x->hub, app, alen);
        x->hub[alen] = '_';
        o = alen + 1;
    }
    memcpy(x->hub + o, x->t.hub.ptr, hlen);
    x->hub[o + hlen] = '\0';
    for (char *p = x->hub; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return 1;
}

static int collect_excluded(struct ctx *x)
{
    size_t n = 0;
    for (size_t i = 0; i < x->req->n_params; i++)
        if (x->req->params[i].key && hcp_str_ieq(x->req->params[i].key, "excluded"))
            n++;
    if (n == 0)
        return 1;
    x->excluded = hcp_malloc(n * sizeof(*x->excluded));
    if (!x->excluded)
        return fail_nomem(x->resp);
    for (size_t i = 0; i < x->req->n_params; i++)
        if (x->req->params[i].key && hcp_str_ieq(x->req->params[i].key, "excluded"))
            x->excluded[x->n_excluded++] = x->req->params[i].value ? x->req->params[i].value : "";
    return 1;
}

/*
 * The multi-protocol body (azure-signalr-service.md section 4.1): each
 * client gets the bytes for its protocol verbatim; a missing protocol is
 * converted from the other one when a client needs it.
 */
static struct hcs_message *multi_message(struct ctx *x, int *out_rc)
{
    const struct hcs_rest_request *req = x->req;
    struct hcp_rest_multi mb;
    const char *reason = NULL;
    int rc = hcp_rest_multi_decode(req->body, req->body_len, &mb, &reason);
    if (rc == HCP_ERR_NOMEM) {
        *out_rc = fail_nomem(x->resp);
        return NULL;
    }
    if (rc != 0) {
        char msg[256];
        snprintf(msg, sizeof(msg), "Invalid payload: %s.", reason ? reason : "malformed body");
        *out_rc = fail(x->resp, 400, HCP_REST_E_REQUEST_INVALID, msg);
        return NULL;
    }
    struct hcs_message *m = hcs_message_new_multi(
        x->core, (const uint8_t *)mb.json.ptr, mb.json.len, (const uint8_t *)mb.msgpack.ptr,
        mb.msgpack.len);
    if (!m)
        *out_rc = fail_nomem(x->resp);
    return m;
}

static int send_message(struct ctx *x, struct hcs_message *m);

static int do_send(struct ctx *x)
{
    const struct hcs_rest_request *req = x->req;
    enum body_kind kind = content_type_kind(req->content_type);
    if (kind == BODY_OTHER)
        return fail(x->resp, 400, HCP_REST_E_REQUEST_INVALID,
                    "Unsupported content type: the body must be application/json (or "
                    "application/octet-stream / application/x-msgpack for the "
                    "multi-protocol MessagePack body).");
    if (!req->body || req->body_len == 0)
        return fail(x->resp, 400, HCP_REST_E_REQUEST_INVALID,
                    "The request body is empty: expected {\"target\":...,\"arguments\":[...]}.");
    int rc;
    struct hcs_message *m;
    if (kind == BODY_MULTI) {
        rc = 0;
        if (!(m = multi_message(x, &rc)))
            return rc;
        return send_message(x, m);
    }
    struct hcp_rest_payload p;
    const char *reason = NULL;
    rc = hcp_rest_payload_decode((const char *)req->body, req->body_len, &p, &reason);
    if (rc == HCP_ERR_NOMEM)
        return fail_nomem(x->resp);
    if (rc != 0) {
        char msg[256];
        snprintf(msg, sizeof(msg), "Invalid payload: %s",
                 reason ? reason : "expected {\"target\":...,\"arguments\":[...]}.");
        return fail(x->resp, 400, HCP_REST_E_REQUEST_INVALID, msg);
    }
    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    rc = hcp_rest_payload_encode_json(&b, &p);
    hcp_rest_payload_cleanup(&p);
    m = rc == 0 ? hcs_message_new_json(x->core, b.data, b.len) : NULL;
    hcp_buf_cleanup(&b);
    if (!m)
        return fail_nomem(x->resp);
    return send_message(x, m);
}

/* Route m to the targets and release it. */
static int send_message(struct ctx *x, struct hcs_message *m)
{
    int rc;
    switch (x->t.route) {
    case HCP_REST_BROADCAST:
        rc = hcs_core_send_all(x->core, x->hub, m, excluded(x));
        if (rc == HCS_OK)
            rc = publish(x, HCS_BPMSG_SEND_ALL, NULL, NULL, NULL, 0, true, m);
        break;
    case HCP_REST_SEND_USER:
        rc = hcs_core_send_user(x->core, x->hub, x->user, m);
        if (rc == HCS_OK)
            rc = publish(x, HCS_BPMSG_SEND_USER, x->user, NULL, NULL, 0, false, m);
        break;
    case HCP_REST_SEND_GROUP:
        rc = hcs_core_send_group(x->core, x->hub, x->group, m, excluded(x));
        if (rc == HCS_OK)
            rc = publish(x, HCS_BPMSG_SEND_GROUP, x->group, NULL, NULL, 0, true, m);
        break;
    default:
        if (hcs_core_conn_exists(x->core, x->hub, x->conn))
            rc = hcs_core_send_conn(x->core, x->hub, x->conn, m);
        else
            rc = publish(x, HCS_BPMSG_SEND_CONN, x->conn, NULL, NULL, 0, false, m);
        break;
    }
    hcs_message_unref(m);
    return core_result(x->resp, rc, 202);
}

static int exists(struct ctx *x, bool found, enum hcp_rest_error e, const char *msg)
{
    if (found) {
        ok(x->resp, 200);
        return 0;
    }
    return fail(x->resp, 404, e, msg);
}

static int do_generate_token(struct ctx *x)
{
    const struct hcs_rest_request *req = x->req;
    const char *user_id = param(req, "userId");
    const char *mins = param(req, "minutesToExpire");
    int64_t minutes = 60;
    if (mins && (!parse_nonneg(mins, &minutes) || minutes < 1))
        return fail(x->resp, 400, HCP_REST_E_REQUEST_INVALID,
                    "minutesToExpire must be an integer >= 1.");
    if (minutes > INT64_MAX / 60)
        minutes = INT64_MAX / 60;
    if (!req->issue_token)
        return fail(x->resp, 500, HCP_REST_E_INTERNAL, "Token issuing is not configured.");
    char *token = NULL;
    if (req->issue_token(req->issue_user, x->hub, (user_id && *user_id) ? user_id : NULL,
                         minutes * 60, &token) != 0 ||
        !token) {
        hcp_free(token);
        return fail(x->resp, 500, HCP_REST_E_INTERNAL, "Could not issue a token.");
    }
    int rc = hcp_buf_append_str(&x->resp->body, "{\"token\":");
    if (rc == 0)
        rc = hcp_json_append_string(&x->resp->body, token, strlen(token));
    if (rc == 0)
        rc = hcp_buf_append_byte(&x->resp->body, '}');
    hcp_free(token);
    if (rc != 0)
        return fail_nomem(x->resp);
    x->resp->status = 200;
    x->resp->content_type = CT_JSON;
    return 0;
}

static int apply(struct ctx *x)
{
    struct hcs_core *core = x->core;
    const struct hcs_rest_request *req = x->req;
    bool v1 = x->t.is_v1;
    int rc;
    switch (x->t.route) {
    case HCP_REST_BROADCAST:
    case HCP_REST_SEND_USER:
    case HCP_REST_SEND_GROUP:
    case HCP_REST_SEND_CONNECTION:
        return do_send(x);
    case HCP_REST_GROUP_ADD_CONNECTION:
        rc = hcs_core_group_add_conn(core, x->hub, x->group, x->conn);
        if (rc == HCS_ERR_NOT_FOUND && remote_has(x, HCS_BP_Q_CONN, x->conn, NULL))
            rc = publish(x, HCS_BPMSG_GROUP_ADD_CONN, x->conn, x->group, NULL, 0, false, NULL);
        if (rc == HCS_ERR_NOT_FOUND)
            return fail(x->resp, 404, HCP_REST_E_ERROR_CONNECTION_NOT_EXISTED,
                        "The connection does not exist.");
        return core_result(x->resp, rc, 200);
    case HCP_REST_GROUP_REMOVE_CONNECTION:
        if (hcs_core_conn_exists(core, x->hub, x->conn))
            rc = hcs_core_group_remove_conn(core, x->hub, x->group, x->conn);
        else
            rc = publish(x, HCS_BPMSG_GROUP_REMOVE_CONN, x->conn, x->group, NULL, 0, false, NULL);
        return core_result(x->resp, rc, 200);
    case HCP_REST_CONNECTION_LEAVE_ALL:
        if (hcs_core_conn_exists(core, x->hub, x->conn))
            rc = hcs_core_conn_leave_all(core, x->hub, x->conn);
        else
            rc = publish(x, HCS_BPMSG_CONN_LEAVE_ALL, x->conn, NULL, NULL, 0, false, NULL);
        return core_result(x->resp, rc, 200);
    case HCP_REST_USER_ADD_GROUP: {
        const char *ttl = param(req, "ttl");
        int64_t ttl_s = -1;
        if (ttl && !parse_nonneg(ttl, &ttl_s))
            return fail(x->resp, 400, HCP_REST_E_REQUEST_INVALID,
                        "ttl must be a non-negative integer (seconds).");
        rc = hcs_core_user_add_group(core, x->hub, x->user, x->group, ttl_s, req->now_ms);
        rc = then_publish(x, rc, HCS_BPMSG_USER_ADD_GROUP, x->user, x->group, NULL, ttl_s, false);
        return core_result(x->resp, rc, v1 ? 202 : 200);
    }
    case HCP_REST_USER_REMOVE_GROUP:
        rc = hcs_core_user_remove_group(core, x->hub, x->user, x->group);
        rc = then_publish(x, rc, HCS_BPMSG_USER_REMOVE_GROUP, x->user, x->group, NULL, 0, false);
        return core_result(x->resp, rc, v1 ? 202 : 204);
    case HCP_REST_USER_REMOVE_ALL_GROUPS:
        rc = hcs_core_user_remove_all_groups(core, x->hub, x->user);
        rc = then_publish(x, rc, HCS_BPMSG_USER_REMOVE_ALL_GROUPS, x->user, NULL, NULL, 0, false);
        return core_result(x->resp, rc, v1 ? 200 : 204);
    case HCP_REST_USER_IN_GROUP:
        return exists(x,
                      hcs_core_user_in_group(core, x->hub, x->user, x->group, req->now_ms) ||
                          remote_has(x, HCS_BP_Q_USER_IN_GROUP, x->user, x->group),
                      HCP_REST_E_USER_NOT_IN_GROUP, "The user is not in the group.");
    case HCP_REST_CONNECTION_EXISTS:
        return exists(x,
                      hcs_core_conn_exists(core, x->hub, x->conn) ||
                          remote_has(x, HCS_BP_Q_CONN, x->conn, NULL),
                      HCP_REST_E_CONNECTION_NOT_EXISTED, "The connection does not exist.");
    case HCP_REST_USER_EXISTS:
        return exists(x,
                      hcs_core_user_exists(core, x->hub, x->user) ||
                          remote_has(x, HCS_BP_Q_USER, x->user, NULL),
                      HCP_REST_E_USER_NOT_EXISTED, "The user does not exist.");
    case HCP_REST_GROUP_EXISTS:
        return exists(x,
                      hcs_core_group_exists(core, x->hub, x->group) ||
                          remote_has(x, HCS_BP_Q_GROUP, x->group, NULL),
                      HCP_REST_E_GROUP_NOT_EXISTED, "The group does not exist.");
    case HCP_REST_CLOSE_CONNECTION: {
        const char *reason = param(req, "reason");
        if (hcs_core_conn_exists(core, x->hub, x->conn))
            rc = hcs_core_close_conn(core, x->hub, x->conn, reason);
        else
            rc = publish(x, HCS_BPMSG_CLOSE_CONN, x->conn, NULL, reason, 0, false, NULL);
        return core_result(x->resp, rc, v1 ? 202 : 200);
    }
    case HCP_REST_CLOSE_ALL:
        rc = hcs_core_close_all(core, x->hub, excluded(x), param(req, "reason"));
        rc = then_publish(x, rc, HCS_BPMSG_CLOSE_ALL, NULL, NULL, param(req, "reason"), 0, true);
        return core_result(x->resp, rc, 204);
    case HCP_REST_CLOSE_GROUP:
        rc = hcs_core_close_group(core, x->hub, x->group, excluded(x), param(req, "reason"));
        rc = then_publish(x, rc, HCS_BPMSG_CLOSE_GROUP, x->group, NULL, param(req, "reason"), 0,
                          true);
        return core_result(x->resp, rc, 204);
    case HCP_REST_CLOSE_USER:
        rc = hcs_core_close_user(core, x->hub, x->user, excluded(x), param(req, "reason"));
        rc = then_publish(x, rc, HCS_BPMSG_CLOSE_USER, x->user, NULL, param(req, "reason"), 0,
                          true);
        return core_result(x->resp, rc, 204);
    case HCP_REST_HEALTH:
        ok(x->resp, 200);
        return 0;
    case HCP_REST_GENERATE_TOKEN:
        return do_generate_token(x);
    case HCP_REST_ROUTE_COUNT:
        break;
    }
    return fail(x->resp, 404, HCP_REST_E_NOT_FOUND, "Not found.");
}

static int route(struct ctx *x, char *scratch, size_t cap)
{
    const struct hcs_rest_request *req = x->req;
    int rc = hcp_rest_route(req->method, req->path ? req->path : "", req->path_len,
                            !req->path_decoded, scratch, cap, &x->t);
    bool is_health = rc == 0 && x->t.route == HCP_REST_HEALTH;
    /* Only health is anonymous (section 4.1); everything else needs a token
     * before we say anything about the path. */
    if (!is_health && req->auth_status != 0) {
        x->resp->status = 401;
        x->resp->error_code = hcp_rest_error_code(HCP_REST_E_UNAUTHORIZED);
        x->resp->www_authenticate = true;
        return 0;
    }
    switch (rc) {
    case HCP_OK:
        return 1;
    case HCP_ERR_METHOD:
        return fail(x->resp, 405, HCP_REST_E_METHOD_NOT_ALLOWED,
                    "The method is not allowed for this resource.");
    case HCP_ERR_MALFORMED:
        return fail(x->resp, 400, HCP_REST_E_REQUEST_INVALID, "Malformed percent-encoding.");
    case HCP_ERR_TOO_LARGE:
        return fail(x->resp, 400, HCP_REST_E_REQUEST_INVALID, "The path is too long.");
    default:
        return fail(x->resp, 404, HCP_REST_E_NOT_FOUND, "No such resource.");
    }
}

int hcs_rest_handle(struct hcs_core *core, const struct hcs_rest_request *req,
                    struct hcs_rest_response *resp)
{
    struct ctx x;
    memset(&x, 0, sizeof(x));
    x.core = core;
    x.req = req;
    x.resp = resp;
    resp->status = 0;
    resp->error_code = NULL;
    resp->content_type = NULL;
    resp->www_authenticate = false;
    hcp_buf_reset(&resp->body);

    /* Decoded segments never exceed the raw path, plus a NUL each. */
    size_t cap = req->path_len + 64;
    char *scratch = hcp_malloc(cap);
    if (!scratch)
        return fail_nomem(resp);
    int rc = route(&x, scratch, cap);
    if (rc == 1) {
        const char *reason = NULL;
        if (hcp_rest_validate(&x.t, &reason) != 0) {
            rc = fail(resp, 400, HCP_REST_E_REQUEST_INVALID, reason ? reason : "Invalid name.");
        } else if (x.t.route == HCP_REST_HEALTH) {
            ok(resp, 200);
            rc = 0;
        } else if ((rc = effective_hub(&x)) == 1 && (rc = collect_excluded(&x)) == 1) {
            x.user = x.t.user.ptr;
            x.group = x.t.group.ptr;
            x.conn = x.t.connection.ptr;
            rc = apply(&x);
        }
    }
    hcp_free(x.excluded);
    hcp_free(scratch);
    if (req->method == HCP_METHOD_HEAD) {
        /* HEAD answers carry status and headers only. */
        hcp_buf_reset(&resp->body);
        resp->content_type = NULL;
    }
    return rc < 0 ? rc : 0;
}
