/*
 * MessagePack hub protocol codec (signalr-protocol.md section 6) and the
 * JSON <-> MessagePack conversion of hub payloads.
 *
 * Framing: every message is VarInt(length) || MessagePack array. "Record"
 * below means the array alone (no length prefix); "framed record" means the
 * prefix plus the array, which is what goes on the wire.
 *
 * Built on msgpack-c (Debian's libmsgpack-dev): its packer writes straight
 * into an hcp_buf; its unpacker references strings and binaries in the input
 * (views, no copies). msgpack-c allocates its unpack zone with libc malloc,
 * not through hcp_set_alloc(), and its C unpacker refuses nesting deeper than
 * 32 levels (MSGPACK_EMBED_STACK_SIZE): such input is HCP_ERR_MALFORMED.
 * msgpack-c reports both with one code, so an allocation failure inside its
 * unpacker is reported as HCP_ERR_MALFORMED too (as with cJSON).
 *
 * Type mapping used by the conversions (what the JS and .NET clients expect):
 *   JSON integer literal   <-> MessagePack int/uint (exact, from the text: no
 *                               double in between, so 2^53+1 stays 2^53+1);
 *                               a literal beyond 64 bits becomes float64
 *   JSON number with . / e <-> float64 (float32 read as its double value)
 *   JSON string            <-> str (\u0000 and surrogate pairs decoded)
 *   base64 string          <-  bin (standard alphabet, padded: .NET byte[])
 *   ISO-8601 UTC string    <-  timestamp extension (type -1): what
 *                               JSON.stringify(Date) writes
 *   base64 string          <-  any other extension (its payload)
 *   null / true / false / array / object <-> nil / bool / array / map
 *   object member name     <-  map key (non-string keys as their JSON text)
 *   NaN / Infinity         ->  null (JSON has no such numbers)
 */
#ifndef HCP_MSGPACK_H
#define HCP_MSGPACK_H

#include "hcp/common.h"
#include "hcp/json.h"

/* Longest record a VarInt may announce (signalr-protocol.md section 6). */
#define HCP_MSGPACK_MAX_RECORD 0x7fffffffu

/*
 * Find the first framed record in buf[0..len). On success returns the bytes
 * it occupies including the prefix (> 0) and sets *out_off to the prefix
 * length (1-5) and *out_len to the record length.
 * HCP_ERR_INCOMPLETE: the prefix or the record is not all there yet (and the
 * announced length is <= max).
 * HCP_ERR_MALFORMED: a prefix longer than 5 bytes or a length above
 * 2^31-1 (the fifth byte may only carry 3 bits).
 * HCP_ERR_TOO_LARGE: the announced length exceeds max, reported as soon as
 * the prefix is complete. `max` must be <= HCP_MSGPACK_MAX_RECORD.
 */
HCP_NODISCARD int hcp_msgpack_record_next(const uint8_t *buf, size_t len, size_t max,
                                          size_t *out_off, size_t *out_len);

/* Append the VarInt prefix for a record of `len` bytes (len <= 2^31-1). */
HCP_NODISCARD int hcp_msgpack_varint_append(struct hcp_buf *b, size_t len);

/*
 * Decode one record rec[0..len) (the array, without the prefix): exactly one
 * MessagePack array, nothing after it. Layouts (section 6):
 *   Invocation        [1, H, id|nil, target, [args]] or [..., [streamIds]]
 *   StreamItem        [2, H, id, item]
 *   Completion        [3, H, id, 1, error] | [3, H, id, 2] | [3, H, id, 3, result]
 *   StreamInvocation  [4, H, id, target, [args]] or [..., [streamIds]]
 *   CancelInvocation  [5, H, id]
 *   Ping              [6]
 *   Close             [7, error|nil] or [7, error|nil, allowReconnect]
 *   Ack / Sequence    [8, seqId] / [9, seqId]
 * H must be a map of non-empty strings to strings (never nil). An empty
 * Invocation id is treated as absent (fire-and-forget). Extra trailing array
 * elements are ignored; unknown types decode with only `type` set.
 * On success fills *out exactly like hcp_json_msg_decode(): strings are
 * NUL-terminated, and arguments/item/result/stream ids are a cJSON tree
 * converted with the mapping above (lossy for integers beyond 2^53: use the
 * raw record when exactness matters). Release with hcp_msg_cleanup().
 * On failure returns HCP_ERR_MALFORMED or HCP_ERR_NOMEM with a static
 * *out_reason and leaves *out untouched.
 */
HCP_NODISCARD int hcp_msgpack_msg_decode(const uint8_t *rec, size_t len, struct hcp_msg *out,
                                         const char **out_reason);

/*
 * Encoders: each appends exactly one framed record (prefix + array) with the
 * layouts ASP.NET writes (headers always an empty map, 80).
 *
 * Invocation [1, {}, id|nil, target, args, []]: args_json[0..args_len) is a
 * JSON array text converted exactly (see above); HCP_ERR_MALFORMED if it is
 * not a strict JSON array. invocation_id NULL for fire-and-forget. The
 * 6-element form with empty stream ids is what ASP.NET writes:
 *   "Push"(42), no id: 0c 96 01 80 c0 a4 50 75 73 68 91 2a 90
 */
HCP_NODISCARD int hcp_msgpack_encode_invocation(struct hcp_buf *b, const char *invocation_id,
                                                const char *target, size_t target_len,
                                                const char *args_json, size_t args_len);
/* As above, with args_mp[0..args_len) an already encoded MessagePack array
 * (copied verbatim, not checked). */
HCP_NODISCARD int hcp_msgpack_encode_invocation_raw(struct hcp_buf *b, const char *invocation_id,
                                                    const char *target, size_t target_len,
                                                    const uint8_t *args_mp, size_t args_len);
/* Completion: [3, {}, id, 1, error] when error is given (non-empty),
 * [3, {}, id, 3, result] when result_json is given (JSON text, converted),
 * [3, {}, id, 2] when neither. */
HCP_NODISCARD int hcp_msgpack_encode_completion(struct hcp_buf *b, const char *invocation_id,
                                                const char *result_json, size_t result_len,
                                                const char *error);
/* StreamItem [2, {}, id, item] (item_json converted). */
HCP_NODISCARD int hcp_msgpack_encode_stream_item(struct hcp_buf *b, const char *invocation_id,
                                                 const char *item_json, size_t item_len);
/* Client-side messages (what the JS client writes, section 6):
 * StreamInvocation [4, {}, id, target, args] (args_json converted; HCP_ERR_MALFORMED if
 * it is not a strict JSON array): stream("Counter",5) is
 *   0f 95 04 80 a1 32 a7 43 6f 75 6e 74 65 72 91 05
 * CancelInvocation [5, {}, id]: 05 93 05 80 a1 32.
 * HCP_ERR_INVALID for a NULL or empty id. */
HCP_NODISCARD int hcp_msgpack_encode_stream_invocation(struct hcp_buf *b,
                                                       const char *invocation_id,
                                                       const char *target, size_t target_len,
                                                       const char *args_json, size_t args_len);
HCP_NODISCARD int hcp_msgpack_encode_cancel(struct hcp_buf *b, const char *invocation_id);
/* Ping: 02 91 06. */
HCP_NODISCARD int hcp_msgpack_encode_ping(struct hcp_buf *b);
/* Close (server form) [7, error|nil, allowReconnect]: 04 93 07 c0 c2. */
HCP_NODISCARD int hcp_msgpack_encode_close(struct hcp_buf *b, const char *error,
                                           bool allow_reconnect);
/* Ack [8, seq] / Sequence [9, seq] (smallest unsigned width). */
HCP_NODISCARD int hcp_msgpack_encode_ack(struct hcp_buf *b, uint64_t sequence_id);
HCP_NODISCARD int hcp_msgpack_encode_sequence(struct hcp_buf *b, uint64_t sequence_id);

/*
 * Convert one strict JSON value json[0..len) (surrounding whitespace
 * allowed) to MessagePack, appended to b. Works on the text, so integers of
 * any size up to 64 bits and strings holding \u0000 convert exactly.
 * HCP_ERR_MALFORMED for invalid JSON or nesting deeper than
 * HCP_JSON_MAX_DEPTH; b is then restored to its previous length.
 */
HCP_NODISCARD int hcp_msgpack_from_json(struct hcp_buf *b, const char *json, size_t len);

/*
 * Convert one MessagePack value mp[0..len) (exactly one, nothing after it)
 * to JSON text appended to b. HCP_ERR_MALFORMED for invalid MessagePack or
 * strings that are not UTF-8; b is then restored.
 */
HCP_NODISCARD int hcp_msgpack_to_json(struct hcp_buf *b, const uint8_t *mp, size_t len);

/*
 * Re-encode an Invocation between the two hub protocols (for fan-out to
 * clients of the other protocol). Target, invocation id and arguments are
 * kept; headers and stream ids are dropped (servers never send them).
 *
 * hcp_msgpack_invocation_from_json: rec[0..len) is one JSON record without
 * its 0x1E; appends one framed MessagePack record.
 * hcp_json_invocation_from_msgpack: rec[0..len) is one MessagePack record
 * (no prefix); appends one JSON record plus 0x1E.
 * HCP_ERR_MALFORMED when the input is not a valid Invocation; b restored.
 */
HCP_NODISCARD int hcp_msgpack_invocation_from_json(struct hcp_buf *b, const char *rec,
                                                   size_t len);
HCP_NODISCARD int hcp_json_invocation_from_msgpack(struct hcp_buf *b, const uint8_t *rec,
                                                   size_t len);

/*
 * The multi-protocol REST send body (azure-signalr-service.md section 4.1,
 * Content-Type application/octet-stream or application/x-msgpack): a
 * MessagePack map from protocol name to bin(pre-encoded message), e.g.
 * {"json": bin(<JSON Invocation> 1E), "messagepack": bin(<VarInt><array>)}.
 * Names are matched case-insensitively; unknown names are skipped; values
 * may be bin or str. Each present entry must hold exactly one Invocation in
 * its protocol's framing (so a client never gets a broken frame), and at
 * least one of the two must be present. Views point into body.
 */
struct hcp_rest_multi {
    struct hcp_str json;    /* whole framed record incl. 0x1E; ptr NULL when absent */
    struct hcp_str msgpack; /* whole framed record incl. the VarInt prefix */
};
HCP_NODISCARD int hcp_rest_multi_decode(const uint8_t *body, size_t len,
                                        struct hcp_rest_multi *out, const char **out_reason);

#endif
