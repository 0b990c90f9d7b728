/*
 * SignalR handshake codec (signalr-protocol.md section 3). The request is a
 * JSON object with "protocol" and "version"; failures carry the exact
 * ASP.NET error texts because clients show them verbatim.
 */
#include "hcp/handshake.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "hcp/text.h"
#include "internal.h"

const char *hcp_protocol_name(enum hcp_protocol p)
{
    switch (p) {
    case HCP_PROTOCOL_JSON:
        return "json";
    case HCP_PROTOCOL_MSGPACK:
        return "messagepack";
    default:
        return "unknown";
    }
}

static void set_err(char *err, size_t err_cap, const char *text)
{
    if (err != NULL && err_cap > 0)
        snprintf(err, err_cap, "%s", text);
}

int hcp_handshake_decode(const char *rec, size_t len, unsigned supported, int max_version,
                         struct hcp_handshake *out, char *err, size_t err_cap)
{
    cJSON *root = NULL;
    const char *reason = NULL;
    if (hcp__parse_object(rec, len, &root, &reason) != HCP_OK) {
        set_err(err, err_cap, HCP_HANDSHAKE_ERR_UNPARSABLE);
        return HCP_ERR_MALFORMED;
    }
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "protocol");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "version");
    int64_t version = 0;
    if (!cJSON_IsString(p) || p->valuestring == NULL ||
        !hcp__json_int(v, INT_MIN, INT_MAX, &version)) {
        cJSON_Delete(root);
        set_err(err, err_cap, HCP_HANDSHAKE_ERR_UNPARSABLE);
        return HCP_ERR_MALFORMED;
    }
    const char *name = p->valuestring;
    int proto = -1;
    for (int i = 0; i < HCP_PROTOCOL_COUNT; i++) {
        if (hcp_str_ieq(name, hcp_protocol_name((enum hcp_protocol)i)))
            proto = i;
    }
    int rc = HCP_OK;
    if (proto < 0 || !(supported & HCP_PROTOCOL_BIT(proto))) {
        if (err != NULL && err_cap > 0)
            snprintf(err, err_cap, "The protocol '%s' is not supported.", name);
        rc = HCP_ERR_UNSUPPORTED;
    } else if (proto == HCP_PROTOCOL_MSGPACK && (supported & HCP_HANDSHAKE_TEXT_TRANSPORT)) {
        /* A binary protocol on a text-only transport (SSE): ASP.NET's text. */
        if (err != NULL && err_cap > 0)
            snprintf(err, err_cap,
                     "Cannot use the '%s' protocol on the current transport. The transport "
                     "does not support 'Binary' transfer format.",
                     hcp_protocol_name((enum hcp_protocol)proto));
        rc = HCP_ERR_UNSUPPORTED;
    } else if (version < 1 || version > max_version) {
        if (err != NULL && err_cap > 0)
            snprintf(err, err_cap, "The server does not support version %d of the '%s' protocol.",
                     (int)version, hcp_protocol_name((enum hcp_protocol)proto));
        rc = HCP_ERR_UNSUPPORTED;
    }
    cJSON_Delete(root);
    if (rc != HCP_OK)
        return rc;
    out->protocol = (enum hcp_protocol)proto;
    out->version = (int)version;
    return HCP_OK;
}

int hcp_handshake_encode_ok(struct hcp_buf *b)
{
    return hcp_buf_append(b, "{}\x1e", 3);
}

int hcp_handshake_encode_error(struct hcp_buf *b, const char *error)
{
    size_t start = b->len;
    int rc = hcp_buf_append_str(b, "{\"error\":");
    if (rc == HCP_OK)
        rc = hcp_json_append_string(b, error, strlen(error));
    if (rc == HCP_OK)
        rc = hcp_buf_append(b, "}\x1e", 2);
    if (rc != HCP_OK)
        b->len = start;
    return rc;
}
