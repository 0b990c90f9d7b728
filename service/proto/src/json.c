/*
 * JSON hub protocol codec (signalr-protocol.md section 5).
 *
 * Decoding parses one record with cJSON (through the hcproto allocator hook)
 * and validates the keys each message type needs; fields of struct hcp_msg
 * borrow from the tree. Encoders write the key order ASP.NET uses and never
 * emit a raw 0x1E inside a record (hcp_json_append_string escapes it).
 * Peer input never asserts: every failure is HCP_ERR_MALFORMED with a reason.
 */
#include "hcp/json.h"

#include <limits.h>
#include <math.h>
#include <string.h>

#include "hcp/text.h"
#include "internal.h"

const char *hcp_msg_type_name(int type)
{
    switch (type) {
#define HCP_MSG_CASE_(name, value, str)                                                            \
    case value:                                                                                    \
        return str;
        HCP_MSG_TYPE_MAP(HCP_MSG_CASE_)
#undef HCP_MSG_CASE_
    default:
        return "Unknown";
    }
}

int hcp_json_record_next(const uint8_t *buf, size_t len, size_t max, size_t *out_len)
{
    /* The return value counts the separator, so keep it within int. */
    if (max > (size_t)INT_MAX - 1)
        max = (size_t)INT_MAX - 1;
    size_t scan = len < max + 1 ? len : max + 1;
    const uint8_t *rs = scan > 0 ? memchr(buf, HCP_RS, scan) : NULL;
    if (rs == NULL)
        return len > max ? HCP_ERR_TOO_LARGE : HCP_ERR_INCOMPLETE;
    size_t n = (size_t)(rs - buf);
    if (n > max)
        return HCP_ERR_TOO_LARGE;
    *out_len = n;
    return (int)(n + 1);
}

/* ---- shared helpers ---------------------------------------------------------------------- */

int hcp__parse_object(const char *text, size_t len, cJSON **out_root, const char **out_reason)
{
    if (len == 0 || text == NULL) {
        *out_reason = "Empty message.";
        return HCP_ERR_MALFORMED;
    }
    if (!hcp_utf8_valid((const uint8_t *)text, len)) {
        *out_reason = "Message is not valid UTF-8.";
        return HCP_ERR_MALFORMED;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, false);
    if (root == NULL) {
        /* cJSON does not tell allocation failure from a syntax error. */
        *out_reason = "Message is not valid JSON.";
        return HCP_ERR_MALFORMED;
    }
    /* Only whitespace may follow the value. */
    for (const char *p = end; p != NULL && p < text + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            cJSON_Delete(root);
            *out_reason = "Message is not valid JSON.";
            return HCP_ERR_MALFORMED;
        }
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        *out_reason = "Message is not a JSON object.";
        return HCP_ERR_MALFORMED;
    }
    *out_root = root;
    return HCP_OK;
}

bool hcp__json_int(const cJSON *item, int64_t min, int64_t max, int64_t *out)
{
    if (!cJSON_IsNumber(item))
        return false;
    double d = item->valuedouble;
    if (!isfinite(d) || d != floor(d))
        return false;
    /* Compare in double; the int64 bounds we use are exactly representable
     * or the check is conservative (2^63 rounds up). */
    if (d < (double)min || d > (double)max || d >= 9223372036854775808.0)
        return false;
    *out = (int64_t)d;
    return true;
}

/* ---- decoding ---------------------------------------------------------------------------- */

/* Look up a key case-sensitively (the ASP.NET JSON protocol is). */
static const cJSON *get(const cJSON *obj, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

/* Optional string: absent and null give NULL. Returns false when mistyped. */
static bool opt_string(const cJSON *obj, const char *key, const char **out)
{
    const cJSON *v = get(obj, key);
    if (v == NULL || cJSON_IsNull(v)) {
        *out = NULL;
        return true;
    }
    if (!cJSON_IsString(v) || v->valuestring == NULL)
        return false;
    *out = v->valuestring;
    return true;
}

static int decode_fields(const cJSON *root, struct hcp_msg *m, const char **reason)
{
    if (!opt_string(root, "invocationId", &m->invocation_id)) {
        *reason = "Expected 'invocationId' to be of type String.";
        return HCP_ERR_MALFORMED;
    }
    switch (m->type) {
    case HCP_MSG_INVOCATION:
    case HCP_MSG_STREAM_INVOCATION: {
        const cJSON *t = get(root, "target");
        if (t == NULL) {
            *reason = "Missing required property 'target'.";
            return HCP_ERR_MALFORMED;
        }
        if (!cJSON_IsString(t) || t->valuestring == NULL || t->valuestring[0] == '\0') {
            *reason = "Expected 'target' to be a non-empty String.";
            return HCP_ERR_MALFORMED;
        }
        m->target = t->valuestring;
        const cJSON *a = get(root, "arguments");
        if (a == NULL) {
            *reason = "Missing required property 'arguments'.";
            return HCP_ERR_MALFORMED;
        }
        if (!cJSON_IsArray(a)) {
            *reason = "Expected 'arguments' to be of type Array.";
            return HCP_ERR_MALFORMED;
        }
        m->arguments = a;
        const cJSON *s = get(root, "streamIds");
        if (s != NULL && !cJSON_IsNull(s)) {
            if (!cJSON_IsArray(s)) {
                *reason = "Expected 'streamIds' to be of type Array.";
                return HCP_ERR_MALFORMED;
            }
            const cJSON *e;
            cJSON_ArrayForEach(e, s)
            {
                if (!cJSON_IsString(e)) {
                    *reason = "Expected 'streamIds' to hold Strings.";
                    return HCP_ERR_MALFORMED;
                }
            }
            m->stream_ids = s;
        }
        if (m->type == HCP_MSG_STREAM_INVOCATION && m->invocation_id == NULL) {
            *reason = "Missing required property 'invocationId'.";
            return HCP_ERR_MALFORMED;
        }
        return HCP_OK;
    }
    case HCP_MSG_STREAM_ITEM:
        if (m->invocation_id == NULL) {
            *reason = "Missing required property 'invocationId'.";
            return HCP_ERR_MALFORMED;
        }
        m->item = get(root, "item");
        return HCP_OK;
    case HCP_MSG_COMPLETION:
        if (m->invocation_id == NULL) {
            *reason = "Missing required property 'invocationId'.";
            return HCP_ERR_MALFORMED;
        }
        m->result = get(root, "result");
        if (!opt_string(root, "error", &m->error)) {
            *reason = "Expected 'error' to be of type String.";
            return HCP_ERR_MALFORMED;
        }
        if (m->result != NULL && m->error != NULL) {
            *reason = "The 'error' and 'result' properties are mutually exclusive.";
            return HCP_ERR_MALFORMED;
        }
        return HCP_OK;
    case HCP_MSG_CANCEL_INVOCATION:
        if (m->invocation_id == NULL) {
            *reason = "Missing required property 'invocationId'.";
            return HCP_ERR_MALFORMED;
        }
        return HCP_OK;
    case HCP_MSG_CLOSE: {
        if (!opt_string(root, "error", &m->error)) {
            *reason = "Expected 'error' to be of type String.";
            return HCP_ERR_MALFORMED;
        }
        const cJSON *r = get(root, "allowReconnect");
        if (r != NULL && !cJSON_IsNull(r)) {
            if (!cJSON_IsBool(r)) {
                *reason = "Expected 'allowReconnect' to be of type Boolean.";
                return HCP_ERR_MALFORMED;
            }
            m->allow_reconnect = cJSON_IsTrue(r);
        }
        return HCP_OK;
    }
    case HCP_MSG_ACK:
    case HCP_MSG_SEQUENCE: {
        const cJSON *s = get(root, "sequenceId");
        if (s == NULL) {
            *reason = "Missing required property 'sequenceId'.";
            return HCP_ERR_MALFORMED;
        }
        if (!hcp__json_int(s, INT64_MIN, INT64_MAX, &m->sequence_id)) {
            *reason = "Expected 'sequenceId' to be an integer.";
            return HCP_ERR_MALFORMED;
        }
        m->has_sequence_id = true;
        return HCP_OK;
    }
    default:
        /* Ping and unknown types carry nothing we need. */
        return HCP_OK;
    }
}

int hcp_json_msg_decode(const char *rec, size_t len, struct hcp_msg *out, const char **out_reason)
{
    const char *reason = NULL;
    cJSON *root = NULL;
    int rc = hcp__parse_object(rec, len, &root, &reason);
    if (rc != HCP_OK) {
        *out_reason = reason;
        return rc;
    }
    struct hcp_msg m;
    memset(&m, 0, sizeof(m));
    int64_t type;
    const cJSON *t = get(root, "type");
    if (t == NULL) {
        reason = "Missing required property 'type'.";
        rc = HCP_ERR_MALFORMED;
    } else if (!hcp__json_int(t, INT_MIN, INT_MAX, &type)) {
        reason = "Expected 'type' to be an integer.";
        rc = HCP_ERR_MALFORMED;
    } else {
        m.type = (int)type;
        rc = decode_fields(root, &m, &reason);
    }
    if (rc != HCP_OK) {
        cJSON_Delete(root);
        *out_reason = reason;
        return rc;
    }
    m.root = root;
    *out = m;
    return HCP_OK;
}

void hcp_msg_cleanup(struct hcp_msg *m)
{
    if (m == NULL)
        return;
    cJSON_Delete(m->root);
    memset(m, 0, sizeof(*m));
}

/* ---- encoding ---------------------------------------------------------------------------- */

static int put_id(struct hcp_buf *b, const char *invocation_id)
{
    if (invocation_id == NULL)
        return HCP_OK;
    int rc = hcp_buf_append_str(b, ",\"invocationId\":");
    if (rc == HCP_OK)
        rc = hcp_json_append_string(b, invocation_id, strlen(invocation_id));
    return rc;
}

static int finish(struct hcp_buf *b, size_t start, int rc)
{
    if (rc == HCP_OK)
        rc = hcp_buf_append(b, "}\x1e", 2);
    if (rc != HCP_OK)
        b->len = start;
    return rc;
}

int hcp_json_encode_invocation(struct hcp_buf *b, const char *invocation_id, const char *target,
                               size_t target_len, const char *args_json, size_t args_len)
{
    if (target == NULL || target_len == 0)
        return HCP_ERR_INVALID;
    size_t start = b->len;
    int rc = hcp_buf_append_str(b, "{\"type\":1");
    if (rc == HCP_OK)
        rc = put_id(b, invocation_id);
    if (rc == HCP_OK)
        rc = hcp_buf_append_str(b, ",\"target\":");
    if (rc == HCP_OK)
        rc = hcp_json_append_string(b, target, target_len);
    if (rc == HCP_OK)
        rc = hcp_buf_append_str(b, ",\"arguments\":");
    if (rc == HCP_OK) {
        if (args_json == NULL || args_len == 0)
            rc = hcp_buf_append(b, "[]", 2);
        else
            rc = hcp_buf_append(b, args_json, args_len);
    }
    return finish(b, start, rc);
}

int hcp_json_encode_completion(struct hcp_buf *b, const char *invocation_id,
                               const char *result_json, size_t result_len, const char *error)
{
    if (invocation_id == NULL || (result_json != NULL && error != NULL) ||
        (error != NULL && error[0] == '\0'))
        return HCP_ERR_INVALID;
    size_t start = b->len;
    int rc = hcp_buf_append_str(b, "{\"type\":3");
    if (rc == HCP_OK)
        rc = put_id(b, invocation_id);
    if (rc == HCP_OK && result_json != NULL) {
        rc = hcp_buf_append_str(b, ",\"result\":");
        if (rc == HCP_OK)
            rc = result_len > 0 ? hcp_buf_append(b, result_json, result_len)
                                : hcp_buf_append_str(b, "null");
    } else if (rc == HCP_OK && error != NULL) {
        rc = hcp_buf_append_str(b, ",\"error\":");
        if (rc == HCP_OK)
            rc = hcp_json_append_string(b, error, strlen(error));
    }
    return finish(b, start, rc);
}

int hcp_json_encode_close(struct hcp_buf *b, const char *error, bool allow_reconnect)
{
    size_t start = b->len;
    int rc = hcp_buf_append_str(b, "{\"type\":7");
    if (rc == HCP_OK && error != NULL) {
        rc = hcp_buf_append_str(b, ",\"error\":");
        if (rc == HCP_OK)
            rc = hcp_json_append_string(b, error, strlen(error));
    }
    if (rc == HCP_OK && allow_reconnect)
        rc = hcp_buf_append_str(b, ",\"allowReconnect\":true");
    return finish(b, start, rc);
}

int hcp_json_encode_ping(struct hcp_buf *b)
{
    return hcp_buf_append(b, "{\"type\":6}\x1e", 11);
}

int hcp_json_encode_ack(struct hcp_buf *b, uint64_t sequence_id)
{
    return hcp_buf_appendf(b, "{\"type\":8,\"sequenceId\":%llu}\x1e",
                           (unsigned long long)sequence_id);
}

int hcp_json_encode_sequence(struct hcp_buf *b, uint64_t sequence_id)
{
    return hcp_buf_appendf(b, "{\"type\":9,\"sequenceId\":%llu}\x1e",
                           (unsigned long long)sequence_id);
}
