/*
 * Negotiate response codec (signalr-protocol.md section 2). Writes the exact
 * body shapes clients accept: transports in the order WebSockets,
 * ServerSentEvents, LongPolling; never a "ProtocolVersion" key.
 */
#include "hcp/negotiate.h"

#include <string.h>

static int put_key_string(struct hcp_buf *b, const char *key_json, const char *value)
{
    int rc = hcp_buf_append_str(b, key_json);
    if (rc == HCP_OK)
        rc = hcp_json_append_string(b, value, strlen(value));
    return rc;
}

int hcp_negotiate_encode(struct hcp_buf *b, const struct hcp_negotiate_response *r)
{
    static const struct {
        unsigned bit;
        const char *json;
    } transports[] = {
        {HCP_TRANSPORT_WEBSOCKETS,
         "{\"transport\":\"WebSockets\",\"transferFormats\":[\"Text\",\"Binary\"]}"},
        {HCP_TRANSPORT_SSE, "{\"transport\":\"ServerSentEvents\",\"transferFormats\":[\"Text\"]}"},
        {HCP_TRANSPORT_LONGPOLLING,
         "{\"transport\":\"LongPolling\",\"transferFormats\":[\"Text\",\"Binary\"]}"},
    };
    if (r == NULL || r->connection_id == NULL || (r->version >= 1 && r->connection_token == NULL))
        return HCP_ERR_INVALID;
    int version = r->version >= 1 ? 1 : 0;
    size_t start = b->len;
    int rc = hcp_buf_appendf(b, "{\"negotiateVersion\":%d", version);
    if (rc == HCP_OK)
        rc = put_key_string(b, ",\"connectionId\":", r->connection_id);
    if (rc == HCP_OK && version >= 1)
        rc = put_key_string(b, ",\"connectionToken\":", r->connection_token);
    if (rc == HCP_OK)
        rc = hcp_buf_append_str(b, ",\"availableTransports\":[");
    bool first = true;
    for (size_t i = 0; rc == HCP_OK && i < sizeof(transports) / sizeof(transports[0]); i++) {
        if (!(r->transports & transports[i].bit))
            continue;
        if (!first)
            rc = hcp_buf_append_byte(b, ',');
        if (rc == HCP_OK)
            rc = hcp_buf_append_str(b, transports[i].json);
        first = false;
    }
    if (rc == HCP_OK)
        rc = hcp_buf_append_byte(b, ']');
    if (rc == HCP_OK && r->stateful_reconnect)
        rc = hcp_buf_append_str(b, ",\"useStatefulReconnect\":true");
    if (rc == HCP_OK)
        rc = hcp_buf_append_byte(b, '}');
    if (rc != HCP_OK)
        b->len = start;
    return rc;
}

int hcp_negotiate_encode_error(struct hcp_buf *b, const char *error)
{
    size_t start = b->len;
    int rc = put_key_string(b, "{\"error\":", error);
    if (rc == HCP_OK)
        rc = hcp_buf_append_byte(b, '}');
    if (rc != HCP_OK)
        b->len = start;
    return rc;
}

int hcp_negotiate_encode_redirect(struct hcp_buf *b, const char *url, const char *access_token)
{
    size_t start = b->len;
    int rc = put_key_string(b, "{\"url\":", url);
    if (rc == HCP_OK && access_token != NULL)
        rc = put_key_string(b, ",\"accessToken\":", access_token);
    if (rc == HCP_OK)
        rc = hcp_buf_append_byte(b, '}');
    if (rc != HCP_OK)
        b->len = start;
    return rc;
}

int hcp_negotiate_version(const char *s, int *out_version)
{
    if (s == NULL) {
        *out_version = 0;
        return HCP_OK;
    }
    if (s[0] == '\0')
        return HCP_ERR_MALFORMED;
    bool nonzero = false;
    for (const char *p = s; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return HCP_ERR_MALFORMED;
        if (*p != '0')
            nonzero = true;
    }
    /* Any positive value, however long, answers min(requested, 1). */
    *out_version = nonzero ? 1 : 0;
    return HCP_OK;
}
