/*
 * Azure SignalR REST data-plane codec (azure-signalr-service.md section 4):
 * route matching, name validation, send payloads and error bodies.
 */
#ifndef HCP_REST_H
#define HCP_REST_H

#include <cjson/cJSON.h>

#include "hcp/common.h"

#define HCP_METHOD_MAP(X)                                                                          \
    X(GET, "GET")                                                                                  \
    X(HEAD, "HEAD")                                                                                \
    X(POST, "POST")                                                                                \
    X(PUT, "PUT")                                                                                  \
    X(DELETE, "DELETE")                                                                            \
    X(OPTIONS, "OPTIONS")                                                                          \
    X(PATCH, "PATCH")                                                                              \
    X(OTHER, "OTHER")

enum hcp_method {
#define HCP_METHOD_ENUM_(name, str) HCP_METHOD_##name,
    HCP_METHOD_MAP(HCP_METHOD_ENUM_)
#undef HCP_METHOD_ENUM_
};
const char *hcp_method_name(enum hcp_method m);

/*
 * Routes, X(NAME, "description"). Spec section 4.3 rows 1-20. Paths accepted,
 * with P = /api/hubs/{hub} and V = /api/v1/hubs/{hub} (both always accepted):
 *  BROADCAST              POST P/:send                 POST V
 *  SEND_USER              POST P/users/{u}/:send       POST V/users/{u}
 *  SEND_GROUP             POST P/groups/{g}/:send      POST V/groups/{g}
 *  SEND_CONNECTION        POST P/connections/{c}/:send POST V/connections/{c}
 *  GROUP_ADD_CONNECTION   PUT    {P,V}/groups/{g}/connections/{c} and {P,V}/connections/{c}/groups/{g}
 *  GROUP_REMOVE_CONNECTION DELETE (same two shapes)
 *  CONNECTION_LEAVE_ALL   DELETE {P,V}/connections/{c}/groups
 *  USER_ADD_GROUP         PUT    {P,V}/users/{u}/groups/{g} and {P,V}/groups/{g}/users/{u}
 *  USER_REMOVE_GROUP      DELETE (same two shapes)
 *  USER_REMOVE_ALL_GROUPS DELETE {P,V}/users/{u}/groups
 *  USER_IN_GROUP          GET|HEAD (same two shapes as USER_ADD_GROUP)
 *  CONNECTION_EXISTS      GET|HEAD {P,V}/connections/{c}
 *  USER_EXISTS            GET|HEAD {P,V}/users/{u}
 *  GROUP_EXISTS           GET|HEAD {P,V}/groups/{g}
 *  CLOSE_CONNECTION       DELETE {P,V}/connections/{c}
 *  CLOSE_ALL              POST {P,V}/:closeConnections
 *  CLOSE_GROUP            POST {P,V}/groups/{g}/:closeConnections
 *  CLOSE_USER             POST {P,V}/users/{u}/:closeConnections
 *  HEALTH                 GET|HEAD /api/health, /api/v1/health
 *  GENERATE_TOKEN         POST {P,V}/:generateToken
 * A trailing '/' is tolerated.
 */
#define HCP_REST_ROUTE_MAP(X)                                                                      \
    X(BROADCAST, "broadcast")                                                                      \
    X(SEND_USER, "send to user")                                                                   \
    X(SEND_GROUP, "send to group")                                                                 \
    X(SEND_CONNECTION, "send to connection")                                                       \
    X(GROUP_ADD_CONNECTION, "add connection to group")                                             \
    X(GROUP_REMOVE_CONNECTION, "remove connection from group")                                     \
    X(CONNECTION_LEAVE_ALL, "remove connection from all groups")                                   \
    X(USER_ADD_GROUP, "add user to group")                                                         \
    X(USER_REMOVE_GROUP, "remove user from group")                                                 \
    X(USER_REMOVE_ALL_GROUPS, "remove user from all groups")                                       \
    X(USER_IN_GROUP, "check user in group")                                                        \
    X(CONNECTION_EXISTS, "check connection exists")                                                \
    X(USER_EXISTS, "check user exists")                                                            \
    X(GROUP_EXISTS, "check group exists")                                                          \
    X(CLOSE_CONNECTION, "close connection")                                                        \
    X(CLOSE_ALL, "close all connections")                                                          \
    X(CLOSE_GROUP, "close group connections")                                                      \
    X(CLOSE_USER, "close user connections")                                                        \
    X(HEALTH, "health")                                                                            \
    X(GENERATE_TOKEN, "generate client token")

enum hcp_rest_route {
#define HCP_REST_ROUTE_ENUM_(name, desc) HCP_REST_##name,
    HCP_REST_ROUTE_MAP(HCP_REST_ROUTE_ENUM_)
#undef HCP_REST_ROUTE_ENUM_
    HCP_REST_ROUTE_COUNT
};
const char *hcp_rest_route_name(enum hcp_rest_route r);

struct hcp_rest_target {
    enum hcp_rest_route route;
    bool is_v1;              /* matched a /api/v1/ path (status codes differ) */
    struct hcp_str hub;      /* as in the path (not lower-cased); absent for HEALTH */
    struct hcp_str user;     /* views into the caller's scratch buffer */
    struct hcp_str group;
    struct hcp_str connection;
};

/*
 * Match `method` + `path[0..len)` (no query string). When `decode` is true,
 * each path segment is percent-decoded (use false when the HTTP library has
 * already decoded the path). Segment values are copied NUL-terminated into
 * scratch[0..cap) and out's views point there.
 * Returns HCP_OK; HCP_ERR_NOT_FOUND when no route has this path shape;
 * HCP_ERR_METHOD when the shape exists but not for this method;
 * HCP_ERR_TOO_LARGE when scratch is too small; HCP_ERR_MALFORMED for bad
 * percent-encoding. Names are not validated here (see hcp_rest_validate).
 */
HCP_NODISCARD int hcp_rest_route(enum hcp_method method, const char *path, size_t len,
                                 bool decode, char *scratch, size_t cap,
                                 struct hcp_rest_target *out);

/* Hub (and application) names: ^[A-Za-z][A-Za-z0-9_`,.[\]]{0,127}$ */
bool hcp_rest_valid_hub(const char *s, size_t len);
/* Group: 1..1024 bytes, not whitespace-only, valid UTF-8. */
bool hcp_rest_valid_group(const char *s, size_t len);
/* User id / connection id: non-empty, <= 1024 bytes, valid UTF-8. */
bool hcp_rest_valid_id(const char *s, size_t len);
/* Validate every name present in t; on failure returns HCP_ERR_INVALID and a
 * static reason such as "Invalid hub name." */
HCP_NODISCARD int hcp_rest_validate(const struct hcp_rest_target *t, const char **out_reason);

/* Error codes the Management SDK depends on (spec 4.2), X(NAME, "code"). */
#define HCP_REST_ERROR_MAP(X)                                                                      \
    X(CONNECTION_NOT_EXISTED, "Warning.Connection.NotExisted")                                     \
    X(USER_NOT_EXISTED, "Warning.User.NotExisted")                                                 \
    X(GROUP_NOT_EXISTED, "Warning.Group.NotExisted")                                               \
    X(USER_NOT_IN_GROUP, "Info.User.NotInGroup")                                                   \
    X(ERROR_CONNECTION_NOT_EXISTED, "Error.Connection.NotExisted")                                 \
    X(REQUEST_INVALID, "Error.Request.Invalid")                                                    \
    X(REQUEST_TOO_LARGE, "Error.Request.TooLarge")                                                 \
    X(UNAUTHORIZED, "Error.Request.Unauthorized")                                                  \
    X(NOT_FOUND, "Error.Request.NotFound")                                                         \
    X(METHOD_NOT_ALLOWED, "Error.Request.MethodNotAllowed")                                        \
    X(TOO_MANY_CONNECTIONS, "Error.Connection.TooMany")                                            \
    X(INTERNAL, "Error.Internal")

enum hcp_rest_error {
#define HCP_REST_ERROR_ENUM_(name, code) HCP_REST_E_##name,
    HCP_REST_ERROR_MAP(HCP_REST_ERROR_ENUM_)
#undef HCP_REST_ERROR_ENUM_
    HCP_REST_E_COUNT
};
const char *hcp_rest_error_code(enum hcp_rest_error e);

/* Append the ErrorDetail body {"code":"…","message":"…"}. */
HCP_NODISCARD int hcp_rest_error_encode(struct hcp_buf *b, const char *code, const char *message);

/*
 * A send payload {"target": "...", "arguments": [...]} with case-insensitive
 * property names ("Target", "Arguments"). Fields borrow from root.
 */
struct hcp_rest_payload {
    const char *target;
    size_t target_len;
    const cJSON *arguments; /* NULL when absent: treat as [] */
    struct hcp_str arguments_raw; /* the arguments array exactly as sent (view into the body;
                                     ptr NULL when absent or null) */
    cJSON *root;            /* owned */
};

/*
 * Decode a JSON send body. Must be valid UTF-8 and a JSON object; "target"
 * must be a non-empty string; "arguments" if present and not null must be an
 * array (any length, any values). On failure returns HCP_ERR_MALFORMED /
 * HCP_ERR_NOMEM with a static *out_reason and leaves *out untouched.
 */
HCP_NODISCARD int hcp_rest_payload_decode(const char *body, size_t len,
                                          struct hcp_rest_payload *out,
                                          const char **out_reason);
void hcp_rest_payload_cleanup(struct hcp_rest_payload *p);

/* Append the JSON hub Invocation record for p (no invocation id):
 * {"type":1,"target":"…","arguments":[…]} 0x1E. The arguments are copied
 * verbatim from the request body (arguments_raw), so strings holding \u0000
 * and integers beyond 2^53 arrive exactly as sent. The body must outlive p. */
HCP_NODISCARD int hcp_rest_payload_encode_json(struct hcp_buf *b,
                                               const struct hcp_rest_payload *p);

#endif
