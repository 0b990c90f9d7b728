/*
 * hcb_action: SignalR actions in the Functions output-binding shape
 * (iot-bridge-and-client.md section 6.1) and their REST calls on
 * hubcast-service (section 6.2). Pure; depends on hcproto and cJSON.
 */
#ifndef HCB_ACTION_H
#define HCB_ACTION_H

#include <cjson/cJSON.h>

#include "hcp/common.h"
#include "hcp/rest.h"

/* One REST call: method, path without query (segments percent-encoded), and
 * the JSON body (NULL for membership calls). Owned strings (hcp_malloc). */
struct hcb_rest_call {
    enum hcp_method method;
    char *path;
    char *body;
    size_t body_len;
};

/*
 * Map an action to its REST call for `hub` (lower-cased into the path).
 * Message: "target" (non-empty string) and "arguments" (array) required;
 * routing by connectionId, else userId, else groupName, else broadcast.
 * Group action: "action" add/remove/removeAll; connectionId before userId.
 * removeAll with only a connectionId removes that connection from every
 * group (REST DELETE .../connections/{id}/groups, a hubcast extension).
 * Returns HCP_OK, HCP_ERR_MALFORMED with a static reason, or HCP_ERR_NOMEM;
 * *out only on success (release with hcb_rest_call_cleanup).
 */
HCP_NODISCARD int hcb_action_to_rest(const cJSON *action, const char *hub,
                                     struct hcb_rest_call *out, const char **out_reason);
void hcb_rest_call_cleanup(struct hcb_rest_call *c);

#endif
