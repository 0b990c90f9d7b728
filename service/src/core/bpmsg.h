/*
 * Backplane operation records: one REST operation (a send, a membership
 * change, a close) as it travels between hubcast nodes (docs/scale-out.md).
 * Pure: encode into a caller's buffer, decode into views of the input, apply
 * to a core. No sockets, no clock, no logging; the edge moves the bytes.
 *
 * Wire format (all integers big-endian):
 *   "HCB" 0x01 | u8 op | str origin | str hub | str a | str b | str reason |
 *   i64 ttl_s | u32 n_excluded | n_excluded * str | blob json | blob msgpack
 * str / blob: u32 length (0xFFFFFFFF = absent) then the bytes; a str is
 * followed by one 0x00 and holds none, so decoded strings are C strings that
 * point into the record. json / msgpack are complete framed hub records
 * (JSON with its 0x1E, MessagePack with its VarInt prefix), encoded once by
 * the publishing node; a receiving node wraps them into one hcs_message and
 * converts lazily for the other protocol, as for a local send.
 *
 * Meaning of a, b per op: SEND_USER / USER_* : a = user, b = group;
 * SEND_GROUP / CLOSE_GROUP: a = group; connection ops: a = connection id,
 * b = group; CLOSE_USER: a = user.
 */
#ifndef HCS_BPMSG_H
#define HCS_BPMSG_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

#define HCS_BPMSG_OP_MAP(X)                                                                        \
    X(SEND_ALL, 1, "send_all")                                                                     \
    X(SEND_USER, 2, "send_user")                                                                   \
    X(SEND_GROUP, 3, "send_group")                                                                 \
    X(SEND_CONN, 4, "send_conn")                                                                   \
    X(GROUP_ADD_CONN, 5, "group_add_conn")                                                         \
    X(GROUP_REMOVE_CONN, 6, "group_remove_conn")                                                   \
    X(CONN_LEAVE_ALL, 7, "conn_leave_all")                                                         \
    X(USER_ADD_GROUP, 8, "user_add_group")                                                         \
    X(USER_REMOVE_GROUP, 9, "user_remove_group")                                                   \
    X(USER_REMOVE_ALL_GROUPS, 10, "user_remove_all_groups")                                        \
    X(CLOSE_CONN, 11, "close_conn")                                                                \
    X(CLOSE_ALL, 12, "close_all")                                                                  \
    X(CLOSE_GROUP, 13, "close_group")                                                              \
    X(CLOSE_USER, 14, "close_user")

enum hcs_bpmsg_op {
#define HCS_BPMSG_OP_ENUM_(name, value, str) HCS_BPMSG_##name = value,
    HCS_BPMSG_OP_MAP(HCS_BPMSG_OP_ENUM_)
#undef HCS_BPMSG_OP_ENUM_
};
/* "send_all" ..., or NULL for an unknown op. */
const char *hcs_bpmsg_op_name(int op);

/* One record. Strings may be NULL (absent). Views: valid as long as the
 * buffer they were decoded from. */
struct hcs_bpmsg {
    enum hcs_bpmsg_op op;
    const char *origin; /* node id of the publisher */
    const char *hub;    /* lower-case effective hub */
    const char *a, *b;
    const char *reason; /* close reason; NULL = none */
    int64_t ttl_s;      /* USER_ADD_GROUP: as hcs_core_user_add_group() */
    const char *const *excluded;
    size_t n_excluded;
    const uint8_t *json; /* NULL = absent */
    size_t json_len;
    const uint8_t *msgpack; /* NULL = absent */
    size_t msgpack_len;
    const char **owned_excluded_; /* decoder's allocation (hcs_bpmsg_cleanup) */
};

/* Append the encoding of m to out. 0, or HCP_ERR_NOMEM / HCP_ERR_TOO_LARGE
 * (a field over 4 GiB). */
HCP_NODISCARD int hcs_bpmsg_encode(struct hcp_buf *out, const struct hcs_bpmsg *m);

/*
 * Decode one record (the whole input). On success fills *out (views into
 * data; `excluded` allocated, free with hcs_bpmsg_cleanup) and returns 0;
 * HCP_ERR_MALFORMED with a static *reason, or HCP_ERR_NOMEM. *out is
 * written only on success.
 */
HCP_NODISCARD int hcs_bpmsg_decode(const uint8_t *data, size_t len, struct hcs_bpmsg *out,
                                  const char **reason);
void hcs_bpmsg_cleanup(struct hcs_bpmsg *m);

/*
 * Apply a record received from the backplane to this node's connections with
 * the same core calls a local REST request makes. A record whose origin is
 * this node (hcs_core_set_backplane's node_id) is ignored: the publisher
 * applied it already. Returns HCS_OK (also when ignored), HCS_ERR_INVALID
 * for a malformed record (*reason set), HCS_ERR_NOMEM.
 */
HCP_NODISCARD int hcs_bpmsg_apply(struct hcs_core *core, const uint8_t *data, size_t len,
                                 int64_t now_ms, const char **reason);

/*
 * Encode m with this node's id as origin and hand it to the backplane's
 * publish callback. A send's payload is taken from `msg` (every frame it
 * holds; may be NULL for other ops). HCS_OK also when no backplane is set.
 */
int hcs_bpmsg_publish(struct hcs_core *core, struct hcs_bpmsg *m, const struct hcs_message *msg);

#endif
