/*
 * The REST data plane as a pure request -> response function over the core
 * (azure-signalr-service.md section 4). The edge collects the HTTP request
 * (with a bounded body), verifies the bearer token, calls hcs_rest_handle()
 * and writes the response. No sockets here.
 */
#ifndef HCS_REST_H
#define HCS_REST_H

#include "core/core.h"

struct hcs_rest_param {
    const char *key;   /* decoded */
    const char *value; /* decoded */
};

struct hcs_rest_request {
    enum hcp_method method;
    const char *path; /* without query */
    size_t path_len;
    bool path_decoded; /* the HTTP library already percent-decoded the path */
    const struct hcs_rest_param *params;
    size_t n_params;
    const char *content_type; /* may be NULL */
    const uint8_t *body;
    size_t body_len;
    /* 0 when the bearer token verified; otherwise the request is answered 401
     * unless the route is anonymous (health). */
    int auth_status;
    int64_t now_ms;
    /* For :generateToken: issue a client token (string allocated with
     * hcp_malloc) for hub/user valid for lifetime_s seconds. */
    int (*issue_token)(void *user, const char *hub, const char *user_id, int64_t lifetime_s,
                       char **out_token);
    void *issue_user;
};

struct hcs_rest_response {
    int status;
    const char *error_code; /* x-ms-error-code value (static) or NULL */
    const char *content_type; /* static, NULL when the body is empty */
    struct hcp_buf body;
    bool www_authenticate;    /* add WWW-Authenticate: Bearer (401) */
};

void hcs_rest_response_init(struct hcs_rest_response *r);
void hcs_rest_response_cleanup(struct hcs_rest_response *r);

/*
 * Route, validate and apply one request. Always fills `resp` (status 2xx,
 * 4xx or 500 with an ErrorDetail JSON body for errors). Returns 0, or <0 only
 * on allocation failure (resp then holds a 500).
 */
int hcs_rest_handle(struct hcs_core *core, const struct hcs_rest_request *req,
                    struct hcs_rest_response *resp);

#endif
