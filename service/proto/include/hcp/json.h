/*
 * JSON hub protocol codec (signalr-protocol.md section 5): record framing,
 * message decoding and the encoders the service needs.
 *
 * Decoded messages own a cJSON tree and borrow their fields from it; release
 * with hcp_msg_cleanup(). Encoders append one complete record including the
 * 0x1E terminator to a caller-given hcp_buf.
 */
#ifndef HCP_JSON_H
#define HCP_JSON_H

#include <cjson/cJSON.h>

#include "hcp/common.h"

#define HCP_RS 0x1e

/* X(NAME, value, "Name") */
#define HCP_MSG_TYPE_MAP(X)                                                                        \
    X(INVOCATION, 1, "Invocation")                                                                 \
    X(STREAM_ITEM, 2, "StreamItem")                                                                \
    X(COMPLETION, 3, "Completion")                                                                 \
    X(STREAM_INVOCATION, 4, "StreamInvocation")                                                    \
    X(CANCEL_INVOCATION, 5, "CancelInvocation")                                                    \
    X(PING, 6, "Ping")                                                                             \
    X(CLOSE, 7, "Close")                                                                           \
    X(ACK, 8, "Ack")                                                                               \
    X(SEQUENCE, 9, "Sequence")

enum hcp_msg_type {
#define HCP_MSG_ENUM_(name, value, str) HCP_MSG_##name = value,
    HCP_MSG_TYPE_MAP(HCP_MSG_ENUM_)
#undef HCP_MSG_ENUM_
};

/* "Invocation", ... or "Unknown". */
const char *hcp_msg_type_name(int type);

/*
 * Find the first complete record in buf[0..len). On success returns the
 * number of bytes it occupies including the separator (> 0) and sets
 * *out_len to the record length without the separator.
 * Returns HCP_ERR_INCOMPLETE if no separator is present and len <= max, and
 * HCP_ERR_TOO_LARGE if the record (without separator) is longer than max
 * bytes, which a caller can report before the separator ever arrives.
 * `max` must be <= INT_MAX.
 */
HCP_NODISCARD int hcp_json_record_next(const uint8_t *buf, size_t len, size_t max,
                                       size_t *out_len);

/* A decoded hub message. Pointer fields borrow from `root`. */
struct hcp_msg {
    int type;                    /* any integer; callers ignore unknown types */
    const char *invocation_id;   /* NULL when absent (or JSON null) */
    const char *target;          /* Invocation, StreamInvocation */
    const cJSON *arguments;      /* array; Invocation, StreamInvocation */
    const cJSON *stream_ids;     /* array or NULL */
    const cJSON *item;           /* StreamItem (may be a JSON null node) */
    const cJSON *result;         /* Completion: NULL when the key is absent */
    const char *error;           /* Completion, Close: NULL when absent */
    bool allow_reconnect;        /* Close */
    bool has_sequence_id;        /* Ack, Sequence */
    int64_t sequence_id;
    cJSON *root;                 /* owned */
};

/*
 * Decode one record rec[0..len) (without 0x1E). The input must be valid UTF-8
 * and a JSON object with an integer "type". Per-type validation for the types
 * a client may send:
 *   Invocation/StreamInvocation: "target" non-empty string, "arguments" array
 *     (StreamInvocation also needs "invocationId");
 *   StreamItem: "invocationId"; Completion: "invocationId", not both result
 *     and error; CancelInvocation: "invocationId"; Ack/Sequence: integer
 *     "sequenceId"; Close: optional string "error", optional bool
 *     "allowReconnect".
 * "invocationId" when present must be a string. Unknown keys are skipped;
 * unknown types decode successfully with only `type` and `root` set.
 * Keys are matched case-sensitively, as ASP.NET does. Allocation failure
 * inside cJSON cannot be told from bad JSON and is reported as MALFORMED.
 * On failure returns HCP_ERR_MALFORMED (or HCP_ERR_NOMEM), sets *out_reason
 * to a static English reason, and leaves *out untouched.
 */
HCP_NODISCARD int hcp_json_msg_decode(const char *rec, size_t len, struct hcp_msg *out,
                                      const char **out_reason);
void hcp_msg_cleanup(struct hcp_msg *m);

/*
 * Encoders. Each appends exactly one record plus 0x1E, with the key order
 * ASP.NET uses (type, invocationId, then the rest).
 *
 * hcp_json_encode_invocation: args_json[0..args_len) must be a serialized JSON
 * array (copied verbatim); invocation_id NULL for fire-and-forget.
 *   {"type":1,"target":"t","arguments":[...]}
 */
HCP_NODISCARD int hcp_json_encode_invocation(struct hcp_buf *b, const char *invocation_id,
                                             const char *target, size_t target_len,
                                             const char *args_json, size_t args_len);
/* {"type":3,"invocationId":"x","result":<result_json>} when result_json is
 * given, {"type":3,"invocationId":"x","error":"e"} when error is given (must be
 * non-empty), or {"type":3,"invocationId":"x"} when neither. */
HCP_NODISCARD int hcp_json_encode_completion(struct hcp_buf *b, const char *invocation_id,
                                             const char *result_json, size_t result_len,
                                             const char *error);
/* {"type":7} / {"type":7,"error":"e"} / ... ,"allowReconnect":true} (the key is
 * written only when true). */
HCP_NODISCARD int hcp_json_encode_close(struct hcp_buf *b, const char *error,
                                        bool allow_reconnect);
/* {"type":6} */
HCP_NODISCARD int hcp_json_encode_ping(struct hcp_buf *b);
/* {"type":8,"sequenceId":N} / {"type":9,"sequenceId":N} (stateful reconnect,
 * signalr-protocol.md section 9). */
HCP_NODISCARD int hcp_json_encode_ack(struct hcp_buf *b, uint64_t sequence_id);
HCP_NODISCARD int hcp_json_encode_sequence(struct hcp_buf *b, uint64_t sequence_id);

#endif
