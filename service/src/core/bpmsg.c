/*
 * Backplane operation records (bpmsg.h): encode, decode, apply, publish.
 *
 * Invariants: decode never trusts a length before checking it against the
 * bytes left; strings are accepted only when they carry their terminating
 * NUL and no other, so they can be used as C strings in place. Applying a
 * record uses exactly the hcs_core_* calls a local REST request uses, so a
 * remote operation has the local semantics (unknown targets are no-ops).
 */
#include "core/bpmsg.h"

#include <string.h>

#define MAGIC0 'H'
#define MAGIC1 'C'
#define MAGIC2 'B'
#define VERSION 1
#define ABSENT 0xFFFFFFFFu

const char *hcs_bpmsg_op_name(int op)
{
    switch (op) {
#define HCS_BPMSG_OP_NAME_(name, value, str)                                                       \
    case value:                                                                                    \
        return str;
        HCS_BPMSG_OP_MAP(HCS_BPMSG_OP_NAME_)
#undef HCS_BPMSG_OP_NAME_
    default:
        return NULL;
    }
}

/* ---- encode ---- */

static int put_u32(struct hcp_buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    return hcp_buf_append(b, x, 4);
}

static int put_blob(struct hcp_buf *b, const void *p, size_t len, bool is_str)
{
    if (!p)
        return put_u32(b, ABSENT);
    if (len >= ABSENT)
        return HCP_ERR_TOO_LARGE;
    int rc = put_u32(b, (uint32_t)len);
    if (rc == 0 && len)
        rc = hcp_buf_append(b, p, len);
    if (rc == 0 && is_str)
        rc = hcp_buf_append_byte(b, 0);
    return rc;
}

static int put_str(struct hcp_buf *b, const char *s)
{
    return put_blob(b, s, s ? strlen(s) : 0, true);
}

int hcs_bpmsg_encode(struct hcp_buf *out, const struct hcs_bpmsg *m)
{
    size_t start = out->len;
    uint8_t head[5] = {MAGIC0, MAGIC1, MAGIC2, VERSION, (uint8_t)m->op};
    int rc = hcp_buf_append(out, head, sizeof head);
    if (rc == 0)
        rc = put_str(out, m->origin);
    if (rc == 0)
        rc = put_str(out, m->hub);
    if (rc == 0)
        rc = put_str(out, m->a);
    if (rc == 0)
        rc = put_str(out, m->b);
    if (rc == 0)
        rc = put_str(out, m->reason);
    if (rc == 0) {
        uint64_t t = (uint64_t)m->ttl_s;
        rc = put_u32(out, (uint32_t)(t >> 32));
        if (rc == 0)
            rc = put_u32(out, (uint32_t)t);
    }
    if (rc == 0)
        rc = m->n_excluded >= ABSENT ? HCP_ERR_TOO_LARGE : put_u32(out, (uint32_t)m->n_excluded);
    for (size_t i = 0; rc == 0 && i < m->n_excluded; i++)
        rc = put_str(out, m->excluded[i] ? m->excluded[i] : "");
    if (rc == 0)
        rc = put_blob(out, m->json, m->json_len, false);
    if (rc == 0)
        rc = put_blob(out, m->msgpack, m->msgpack_len, false);
    if (rc != 0)
        out->len = start; /* nothing half-written */
    return rc;
}

/* ---- decode ---- */

struct rd {
    const uint8_t *p;
    size_t left;
    const char *why;
};

static bool get_u32(struct rd *r, uint32_t *v)
{
    if (r->left < 4) {
        r->why = "truncated record";
        return false;
    }
    *v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
    r->p += 4;
    r->left -= 4;
    return true;
}

static bool get_blob(struct rd *r, const uint8_t **out, size_t *out_len, bool is_str)
{
    uint32_t n;
    if (!get_u32(r, &n))
        return false;
    if (n == ABSENT) {
        *out = NULL;
        *out_len = 0;
        return true;
    }
    size_t need = (size_t)n + (is_str ? 1 : 0);
    if (need > r->left || need < n) {
        r->why = "field longer than the record";
        return false;
    }
    if (is_str && (r->p[n] != 0 || memchr(r->p, 0, n))) {
        r->why = "string not NUL-terminated or with an embedded NUL";
        return false;
    }
    *out = r->p;
    *out_len = n;
    r->p += need;
    r->left -= need;
    return true;
}

static bool get_str(struct rd *r, const char **out)
{
    const uint8_t *p;
    size_t n;
    if (!get_blob(r, &p, &n, true))
        return false;
    *out = (const char *)p;
    return true;
}

int hcs_bpmsg_decode(const uint8_t *data, size_t len, struct hcs_bpmsg *out, const char **reason)
{
    struct rd r = {data, len, NULL};
    struct hcs_bpmsg m;
    memset(&m, 0, sizeof m);
    if (len < 5 || data[0] != MAGIC0 || data[1] != MAGIC1 || data[2] != MAGIC2) {
        *reason = "not a backplane record";
        return HCP_ERR_MALFORMED;
    }
    if (data[3] != VERSION) {
        *reason = "unsupported record version";
        return HCP_ERR_MALFORMED;
    }
    if (!hcs_bpmsg_op_name(data[4])) {
        *reason = "unknown operation";
        return HCP_ERR_MALFORMED;
    }
    m.op = (enum hcs_bpmsg_op)data[4];
    r.p += 5;
    r.left -= 5;
    uint32_t hi, lo, n_ex;
    if (!get_str(&r, &m.origin) || !get_str(&r, &m.hub) || !get_str(&r, &m.a) ||
        !get_str(&r, &m.b) || !get_str(&r, &m.reason) || !get_u32(&r, &hi) || !get_u32(&r, &lo) ||
        !get_u32(&r, &n_ex))
        goto malformed;
    m.ttl_s = (int64_t)((uint64_t)hi << 32 | lo);
    if (!m.hub || !*m.hub) {
        r.why = "no hub";
        goto malformed;
    }
    /* Each excluded id takes at least 5 bytes. */
    if (n_ex > r.left / 5) {
        r.why = "excluded count larger than the record";
        goto malformed;
    }
    const char **ex = NULL;
    if (n_ex) {
        ex = hcp_malloc(n_ex * sizeof(*ex));
        if (!ex)
            return HCP_ERR_NOMEM;
    }
    for (uint32_t i = 0; i < n_ex; i++) {
        if (!get_str(&r, &ex[i]) || !ex[i]) {
            if (!r.why)
                r.why = "absent excluded id";
            hcp_free(ex);
            goto malformed;
        }
    }
    m.excluded = ex;
    m.owned_excluded_ = ex;
    m.n_excluded = n_ex;
    if (!get_blob(&r, &m.json, &m.json_len, false) ||
        !get_blob(&r, &m.msgpack, &m.msgpack_len, false) || (r.left && (r.why = "trailing bytes"))) {
        hcp_free(ex);
        goto malformed;
    }
    *out = m;
    return HCP_OK;
malformed:
    *reason = r.why ? r.why : "malformed record";
    return HCP_ERR_MALFORMED;
}

void hcs_bpmsg_cleanup(struct hcs_bpmsg *m)
{
    if (!m)
        return;
    hcp_free(m->owned_excluded_);
    m->owned_excluded_ = NULL;
    m->excluded = NULL;
    m->n_excluded = 0;
}

/* ---- apply ---- */

static bool is_send(enum hcs_bpmsg_op op)
{
    return op == HCS_BPMSG_SEND_ALL || op == HCS_BPMSG_SEND_USER || op == HCS_BPMSG_SEND_GROUP ||
           op == HCS_BPMSG_SEND_CONN;
}

static int apply_decoded(struct hcs_core *core, const struct hcs_bpmsg *m, int64_t now_ms,
                         const char **reason)
{
    struct hcs_names ex = {m->excluded, m->n_excluded};
    if (is_send(m->op)) {
        if (m->op != HCS_BPMSG_SEND_ALL && !m->a) {
            *reason = "send without a target";
            return HCS_ERR_INVALID;
        }
        struct hcs_message *msg =
            hcs_message_new_multi(core, m->json, m->json_len, m->msgpack, m->msgpack_len);
        if (!msg) {
            if (!m->json && !m->msgpack) {
                *reason = "send without a payload";
                return HCS_ERR_INVALID;
            }
            return HCS_ERR_NOMEM;
        }
        int rc;
        switch (m->op) {
        case HCS_BPMSG_SEND_ALL:
            rc = hcs_core_send_all(core, m->hub, msg, ex);
            break;
        case HCS_BPMSG_SEND_USER:
            rc = hcs_core_send_user(core, m->hub, m->a, msg);
            break;
        case HCS_BPMSG_SEND_GROUP:
            rc = hcs_core_send_group(core, m->hub, m->a, msg, ex);
            break;
        default:
            rc = hcs_core_send_conn(core, m->hub, m->a, msg);
            break;
        }
        hcs_message_unref(msg);
        return rc;
    }
    /* Every other op names at least `a`, except CLOSE_ALL. */
    if (m->op != HCS_BPMSG_CLOSE_ALL && !m->a) {
        *reason = "operation without a target";
        return HCS_ERR_INVALID;
    }
    switch (m->op) {
    case HCS_BPMSG_GROUP_ADD_CONN: {
        if (!m->b)
            break;
        int rc = hcs_core_group_add_conn(core, m->hub, m->b, m->a);
        return rc == HCS_ERR_NOT_FOUND ? HCS_OK : rc; /* not ours */
    }
    case HCS_BPMSG_GROUP_REMOVE_CONN:
        if (!m->b)
            break;
        return hcs_core_group_remove_conn(core, m->hub, m->b, m->a);
    case HCS_BPMSG_CONN_LEAVE_ALL:
        return hcs_core_conn_leave_all(core, m->hub, m->a);
    case HCS_BPMSG_USER_ADD_GROUP:
        if (!m->b)
            break;
        return hcs_core_user_add_group(core, m->hub, m->a, m->b, m->ttl_s, now_ms);
    case HCS_BPMSG_USER_REMOVE_GROUP:
        if (!m->b)
            break;
        return hcs_core_user_remove_group(core, m->hub, m->a, m->b);
    case HCS_BPMSG_USER_REMOVE_ALL_GROUPS:
        return hcs_core_user_remove_all_groups(core, m->hub, m->a);
    case HCS_BPMSG_CLOSE_CONN:
        return hcs_core_close_conn(core, m->hub, m->a, m->reason);
    case HCS_BPMSG_CLOSE_ALL:
        return hcs_core_close_all(core, m->hub, ex, m->reason);
    case HCS_BPMSG_CLOSE_GROUP:
        return hcs_core_close_group(core, m->hub, m->a, ex, m->reason);
    case HCS_BPMSG_CLOSE_USER:
        return hcs_core_close_user(core, m->hub, m->a, ex, m->reason);
    default:
        break;
    }
    *reason = "operation without a group";
    return HCS_ERR_INVALID;
}

int hcs_bpmsg_apply(struct hcs_core *core, const uint8_t *data, size_t len, int64_t now_ms,
                    const char **reason)
{
    struct hcs_bpmsg m;
    int rc = hcs_bpmsg_decode(data, len, &m, reason);
    if (rc == HCP_ERR_NOMEM)
        return HCS_ERR_NOMEM;
    if (rc != 0)
        return HCS_ERR_INVALID;
    const char *self = NULL;
    if (hcs_core_backplane(core, NULL, &self) && self && m.origin && !strcmp(self, m.origin)) {
        hcs_bpmsg_cleanup(&m);
        return HCS_OK; /* our own echo: applied when it was published */
    }
    rc = apply_decoded(core, &m, now_ms, reason);
    hcs_bpmsg_cleanup(&m);
    return rc;
}

/* ---- publish ---- */

int hcs_bpmsg_publish(struct hcs_core *core, struct hcs_bpmsg *m, const struct hcs_message *msg)
{
    void *user = NULL;
    const char *self = NULL;
    const struct hcs_backplane_ops *ops = hcs_core_backplane(core, &user, &self);
    if (!ops || !ops->publish)
        return HCS_OK;
    m->origin = self;
    if (msg) {
        m->json = m->msgpack = NULL;
        m->json_len = m->msgpack_len = 0;
        (void)hcs_message_record(msg, HCP_PROTOCOL_JSON, &m->json, &m->json_len);
        (void)hcs_message_record(msg, HCP_PROTOCOL_MSGPACK, &m->msgpack, &m->msgpack_len);
    }
    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    int rc = hcs_bpmsg_encode(&b, m);
    if (rc == 0)
        ops->publish(user, b.data, b.len);
    hcp_buf_cleanup(&b);
    return rc == HCP_ERR_NOMEM ? HCS_ERR_NOMEM : (rc ? HCS_ERR_INVALID : HCS_OK);
}
