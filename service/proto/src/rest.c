/*
 * Azure SignalR REST data-plane codec (azure-signalr-service.md section 4).
 *
 * The router is table driven: each row is a method mask, the path prefixes it
 * lives under and a segment pattern whose "{u}", "{g}", "{c}" entries capture
 * names. Literal segments are matched case-insensitively after percent
 * decoding. Status codes are the edge's business, not ours.
 */
#include "hcp/rest.h"
#include "hcp/jsonscan.h"

#include <string.h>

#include "hcp/json.h"
#include "hcp/text.h"
#include "internal.h"

const char *hcp_method_name(enum hcp_method m)
{
    switch (m) {
#define HCP_METHOD_CASE_(name, str)                                                                \
    case HCP_METHOD_##name:                                                                        \
        return str;
        HCP_METHOD_MAP(HCP_METHOD_CASE_)
#undef HCP_METHOD_CASE_
    default:
        return "OTHER";
    }
}

const char *hcp_rest_route_name(enum hcp_rest_route r)
{
    switch (r) {
#define HCP_ROUTE_CASE_(name, desc)                                                                \
    case HCP_REST_##name:                                                                          \
        return desc;
        HCP_REST_ROUTE_MAP(HCP_ROUTE_CASE_)
#undef HCP_ROUTE_CASE_
    default:
        return "unknown";
    }
}

const char *hcp_rest_error_code(enum hcp_rest_error e)
{
    switch (e) {
#define HCP_RERR_CASE_(name, code)                                                                 \
    case HCP_REST_E_##name:                                                                        \
        return code;
        HCP_REST_ERROR_MAP(HCP_RERR_CASE_)
#undef HCP_RERR_CASE_
    default:
        return "Error.Internal";
    }
}

/* ---- router ------------------------------------------------------------------------------ */

#define M(x) (1u << HCP_METHOD_##x)
#define M_READ (M(GET) | M(HEAD))
#define PFX_P 1u /* /api/hubs/{hub} */
#define PFX_V 2u /* /api/v1/hubs/{hub} */
#define PFX_PV (PFX_P | PFX_V)
#define MAX_SEGS 4

struct route_row {
    enum hcp_rest_route route;
    unsigned methods;
    unsigned prefixes;
    int n_segs;
    const char *segs[MAX_SEGS];
};

/* Rows after the hub prefix; spec section 4.3 rows 1-20 (health is special). */
static const struct route_row rows[] = {
    {HCP_REST_BROADCAST, M(POST), PFX_P, 1, {":send"}},
    {HCP_REST_BROADCAST, M(POST), PFX_V, 0, {NULL}},
    {HCP_REST_CLOSE_ALL, M(POST), PFX_PV, 1, {":closeConnections"}},
    {HCP_REST_GENERATE_TOKEN, M(POST), PFX_PV, 1, {":generateToken"}},

    {HCP_REST_SEND_USER, M(POST), PFX_P, 3, {"users", "{u}", ":send"}},
    {HCP_REST_SEND_USER, M(POST), PFX_V, 2, {"users", "{u}"}},
    {HCP_REST_USER_EXISTS, M_READ, PFX_PV, 2, {"users", "{u}"}},
    {HCP_REST_CLOSE_USER, M(POST), PFX_PV, 3, {"users", "{u}", ":closeConnections"}},
    {HCP_REST_USER_REMOVE_ALL_GROUPS, M(DELETE), PFX_PV, 3, {"users", "{u}", "groups"}},

    {HCP_REST_SEND_GROUP, M(POST), PFX_P, 3, {"groups", "{g}", ":send"}},
    {HCP_REST_SEND_GROUP, M(POST), PFX_V, 2, {"groups", "{g}"}},
    {HCP_REST_GROUP_EXISTS, M_READ, PFX_PV, 2, {"groups", "{g}"}},
    {HCP_REST_CLOSE_GROUP, M(POST), PFX_PV, 3, {"groups", "{g}", ":closeConnections"}},

    {HCP_REST_SEND_CONNECTION, M(POST), PFX_P, 3, {"connections", "{c}", ":send"}},
    {HCP_REST_SEND_CONNECTION, M(POST), PFX_V, 2, {"connections", "{c}"}},
    {HCP_REST_CONNECTION_EXISTS, M_READ, PFX_PV, 2, {"connections", "{c}"}},
    {HCP_REST_CLOSE_CONNECTION, M(DELETE), PFX_PV, 2, {"connections", "{c}"}},
    {HCP_REST_CONNECTION_LEAVE_ALL, M(DELETE), PFX_PV, 3, {"connections", "{c}", "groups"}},

    {HCP_REST_GROUP_ADD_CONNECTION, M(PUT), PFX_PV, 4, {"groups", "{g}", "connections", "{c}"}},
    {HCP_REST_GROUP_REMOVE_CONNECTION,
     M(DELETE),
     PFX_PV,
     4,
     {"groups", "{g}", "connections", "{c}"}},
    {HCP_REST_GROUP_ADD_CONNECTION, M(PUT), PFX_PV, 4, {"connections", "{c}", "groups", "{g}"}},
    {HCP_REST_GROUP_REMOVE_CONNECTION,
     M(DELETE),
     PFX_PV,
     4,
     {"connections", "{c}", "groups", "{g}"}},

    {HCP_REST_USER_ADD_GROUP, M(PUT), PFX_PV, 4, {"users", "{u}", "groups", "{g}"}},
    {HCP_REST_USER_REMOVE_GROUP, M(DELETE), PFX_PV, 4, {"users", "{u}", "groups", "{g}"}},
    {HCP_REST_USER_IN_GROUP, M_READ, PFX_PV, 4, {"users", "{u}", "groups", "{g}"}},
    {HCP_REST_USER_ADD_GROUP, M(PUT), PFX_PV, 4, {"groups", "{g}", "users", "{u}"}},
    {HCP_REST_USER_REMOVE_GROUP, M(DELETE), PFX_PV, 4, {"groups", "{g}", "users", "{u}"}},
    {HCP_REST_USER_IN_GROUP, M_READ, PFX_PV, 4, {"groups", "{g}", "users", "{u}"}},
};

/* At most "api", "v1", "hubs", hub and MAX_SEGS more. */
#define MAX_PATH_SEGS (4 + MAX_SEGS)

/* Does raw segment s[0..len) name the literal lit after optional decoding? */
static bool seg_is(struct hcp_str s, bool decode, const char *lit)
{
    if (!decode)
        return hcp_strn_ieq(s.ptr, s.len, lit);
    char tmp[32];
    size_t n;
    if (hcp_url_decode(s.ptr, s.len, false, tmp, sizeof(tmp), &n) != HCP_OK)
        return false;
    return hcp_strn_ieq(tmp, n, lit);
}

/* Copy (decoding if asked) a captured segment into scratch. */
static int capture(struct hcp_str seg, bool decode, char *scratch, size_t cap, size_t *used,
                   struct hcp_str *out)
{
    char *dst = scratch + *used;
    size_t room = cap - *used;
    size_t n;
    if (decode) {
        int rc = hcp_url_decode(seg.ptr, seg.len, false, dst, room, &n);
        if (rc != HCP_OK)
            return rc;
    } else {
        if (seg.len >= room)
            return HCP_ERR_TOO_LARGE;
        memcpy(dst, seg.ptr, seg.len);
        dst[seg.len] = '\0';
        n = seg.len;
    }
    out->ptr = dst;
    out->len = n;
    *used += n + 1;
    return HCP_OK;
}

int hcp_rest_route(enum hcp_method method, const char *path, size_t len, bool decode, char *scratch,
                   size_t cap, struct hcp_rest_target *out)
{
    if (path == NULL || len == 0 || path[0] != '/')
        return HCP_ERR_NOT_FOUND;
    /* A single trailing '/' is tolerated. */
    if (len > 1 && path[len - 1] == '/')
        len--;
    struct hcp_str segs[MAX_PATH_SEGS];
    int n = 0;
    size_t pos = 1;
    for (;;) {
        const char *slash = memchr(path + pos, '/', len - pos);
        size_t end = slash != NULL ? (size_t)(slash - path) : len;
        if (end == pos || n == MAX_PATH_SEGS)
            return HCP_ERR_NOT_FOUND; /* empty segment or too deep */
        segs[n].ptr = path + pos;
        segs[n].len = end - pos;
        n++;
        if (slash == NULL)
            break;
        pos = end + 1;
    }
    unsigned mbit =
        ((int)method >= 0 && method <= HCP_METHOD_OTHER) ? 1u << method : 1u << HCP_METHOD_OTHER;
    if (!seg_is(segs[0], decode, "api"))
        return HCP_ERR_NOT_FOUND;

    struct hcp_rest_target t;
    memset(&t, 0, sizeof(t));
    /* /api/health and /api/v1/health */
    int k = 1;
    if (n > k && seg_is(segs[k], decode, "v1")) {
        t.is_v1 = true;
        k++;
    }
    if (n == k + 1 && seg_is(segs[k], decode, "health")) {
        if (!(mbit & M_READ))
            return HCP_ERR_METHOD;
        t.route = HCP_REST_HEALTH;
        *out = t;
        return HCP_OK;
    }
    if (n < k + 2 || !seg_is(segs[k], decode, "hubs"))
        return HCP_ERR_NOT_FOUND;
    unsigned pfx = t.is_v1 ? PFX_V : PFX_P;
    struct hcp_str hub = segs[k + 1];
    const struct hcp_str *rest = segs + k + 2;
    int n_rest = n - k - 2;

    bool shape_found = false;
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        const struct route_row *row = &rows[r];
        if (!(row->prefixes & pfx) || row->n_segs != n_rest)
            continue;
        bool ok = true;
        for (int i = 0; i < n_rest && ok; i++) {
            if (row->segs[i][0] != '{')
                ok = seg_is(rest[i], decode, row->segs[i]);
        }
        if (!ok)
            continue;
        if (!(row->methods & mbit)) {
            shape_found = true;
            continue;
        }
        size_t used = 0;
        t.route = row->route;
        int rc = capture(hub, decode, scratch, cap, &used, &t.hub);
        for (int i = 0; i < n_rest && rc == HCP_OK; i++) {
            const char *s = row->segs[i];
            if (s[0] != '{')
                continue;
            struct hcp_str *dst = s[1] == 'u' ? &t.user : s[1] == 'g' ? &t.group : &t.connection;
            rc = capture(rest[i], decode, scratch, cap, &used, dst);
        }
        if (rc != HCP_OK)
            return rc;
        *out = t;
        return HCP_OK;
    }
    return shape_found ? HCP_ERR_METHOD : HCP_ERR_NOT_FOUND;
}

/* ---- validation -------------------------------------------------------------------------- */

bool hcp_rest_valid_hub(const char *s, size_t len)
{
    if (s == NULL || len == 0 || len > 128)
        return false;
    char c = s[0];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
        return false;
    for (size_t i = 1; i < len; i++) {
        c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '`' || c == ',' || c == '.' || c == '[' || c == ']'))
            return false;
    }
    return true;
}

bool hcp_rest_valid_group(const char *s, size_t len)
{
    if (s == NULL || len == 0 || len > 1024 || !hcp_utf8_valid((const uint8_t *)s, len))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\v' && c != '\f' && c != '\r')
            return true;
    }
    return false;
}

bool hcp_rest_valid_id(const char *s, size_t len)
{
    return s != NULL && len > 0 && len <= 1024 && hcp_utf8_valid((const uint8_t *)s, len);
}

int hcp_rest_validate(const struct hcp_rest_target *t, const char **out_reason)
{
    if (t->hub.ptr != NULL && !hcp_rest_valid_hub(t->hub.ptr, t->hub.len)) {
        *out_reason = "Invalid hub name.";
        return HCP_ERR_INVALID;
    }
    if (t->group.ptr != NULL && !hcp_rest_valid_group(t->group.ptr, t->group.len)) {
        *out_reason = "Invalid group name.";
        return HCP_ERR_INVALID;
    }
    if (t->user.ptr != NULL && !hcp_rest_valid_id(t->user.ptr, t->user.len)) {
        *out_reason = "Invalid user id.";
        return HCP_ERR_INVALID;
    }
    if (t->connection.ptr != NULL && !hcp_rest_valid_id(t->connection.ptr, t->connection.len)) {
        *out_reason = "Invalid connection id.";
        return HCP_ERR_INVALID;
    }
    return HCP_OK;
}

/* ---- bodies ------------------------------------------------------------------------------ */

int hcp_rest_error_encode(struct hcp_buf *b, const char *code, const char *message)
{
    size_t start = b->len;
    int rc = hcp_buf_append_str(b, "{\"code\":");
    if (rc == HCP_OK)
        rc = hcp_json_append_string(b, code, strlen(code));
    if (rc == HCP_OK)
        rc = hcp_buf_append_str(b, ",\"message\":");
    if (rc == HCP_OK)
        rc = hcp_json_append_string(b, message, strlen(message));
    if (rc == HCP_OK)
        rc = hcp_buf_append_byte(b, '}');
    if (rc != HCP_OK)
        b->len = start;
    return rc;
}

int hcp_rest_payload_decode(const char *body, size_t len, struct hcp_rest_payload *out,
                            const char **out_reason)
{
    cJSON *root = NULL;
    const char *reason = NULL;
    int rc = hcp__parse_object(body, len, &root, &reason);
    if (rc != HCP_OK) {
        *out_reason = reason;
        return rc;
    }
    /* cJSON_GetObjectItem compares names case-insensitively: the .NET SDK
     * sends "Target"/"Arguments". */
    const cJSON *t = cJSON_GetObjectItem(root, "target");
    const cJSON *a = cJSON_GetObjectItem(root, "arguments");
    if (t == NULL || !cJSON_IsString(t) || t->valuestring == NULL || t->valuestring[0] == '\0') {
        reason = "The 'target' property must be a non-empty string.";
        rc = HCP_ERR_MALFORMED;
    } else if (a != NULL && !cJSON_IsNull(a) && !cJSON_IsArray(a)) {
        reason = "The 'arguments' property must be an array.";
        rc = HCP_ERR_MALFORMED;
    }
    if (rc != HCP_OK) {
        cJSON_Delete(root);
        *out_reason = reason;
        return rc;
    }
    /* cJSON is lenient (raw control characters in strings) and lossy (NUL in
     * strings, big integers): find the arguments' raw text with the strict
     * scanner and pass it through unchanged. */
    struct hcp_str raw = {NULL, 0};
    if (hcp_json_member_span(body, len, "arguments", true, &raw) != HCP_OK) {
        cJSON_Delete(root);
        *out_reason = "Message is not valid JSON.";
        return HCP_ERR_MALFORMED;
    }
    out->target = t->valuestring;
    out->target_len = strlen(t->valuestring);
    out->arguments = cJSON_IsArray(a) ? a : NULL;
    out->arguments_raw = cJSON_IsArray(a) ? raw : (struct hcp_str){NULL, 0};
    out->root = root;
    return HCP_OK;
}

void hcp_rest_payload_cleanup(struct hcp_rest_payload *p)
{
    if (p == NULL)
        return;
    cJSON_Delete(p->root);
    memset(p, 0, sizeof(*p));
}

int hcp_rest_payload_encode_json(struct hcp_buf *b, const struct hcp_rest_payload *p)
{
    if (p == NULL || p->target == NULL)
        return HCP_ERR_INVALID;
    char *args = NULL;
    const char *raw = p->arguments_raw.ptr;
    size_t raw_len = p->arguments_raw.len;
    if (raw == NULL && p->arguments != NULL) {
        /* Built by hand rather than decoded: serialise the tree. */
        args = cJSON_PrintUnformatted(p->arguments);
        if (args == NULL)
            return HCP_ERR_NOMEM;
        raw = args;
        raw_len = strlen(args);
    }
    int rc = hcp_json_encode_invocation(b, NULL, p->target, p->target_len, raw, raw_len);
    if (args != NULL)
        cJSON_free(args);
    return rc;
}
