/*
 * Unit tests for the backplane records (core/bpmsg.h) and the core's
 * backplane interface (core.h, rest.c with a backplane): golden bytes,
 * round trips, malformed input, OOM, and two in-process "nodes" wired
 * through a fake backplane that carries records from one core to the other,
 * as Redis would. The allocator hook points at CMocka's test_malloc, so
 * every test is a leak check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/bpmsg.h"
#include "core/rest.h"

#define RS "\x1e"
#define HS_JSON "{\"protocol\":\"json\",\"version\":1}" RS

static long fail_countdown = -1;

static void *t_malloc(size_t n)
{
    if (fail_countdown > 0 && --fail_countdown == 0)
        return NULL;
    return test_malloc(n);
}

static void *t_realloc(void *p, size_t n)
{
    if (fail_countdown > 0 && --fail_countdown == 0)
        return NULL;
    return test_realloc(p, n);
}

static void t_free(void *p)
{
    test_free(p);
}

static const struct hcp_alloc talloc = {t_malloc, t_realloc, t_free};

/* ---- codec ---- */

static void t_golden(void **state)
{
    (void)state;
    const char *ex[] = {"x"};
    struct hcs_bpmsg m = {.op = HCS_BPMSG_SEND_GROUP,
                          .origin = "n1",
                          .hub = "h",
                          .a = "g",
                          .ttl_s = -1,
                          .excluded = ex,
                          .n_excluded = 1,
                          .json = (const uint8_t *)"{}" RS,
                          .json_len = 3};
    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    assert_int_equal(hcs_bpmsg_encode(&b, &m), 0);
    static const uint8_t want[] = {
        'H', 'C', 'B', 1, 3,                              /* magic, version, op */
        0, 0, 0, 2, 'n', '1', 0,                          /* origin */
        0, 0, 0, 1, 'h', 0,                               /* hub */
        0, 0, 0, 1, 'g', 0,                               /* a */
        0xff, 0xff, 0xff, 0xff,                           /* b absent */
        0xff, 0xff, 0xff, 0xff,                           /* reason absent */
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,   /* ttl -1 */
        0, 0, 0, 1, 0, 0, 0, 1, 'x', 0,                   /* excluded */
        0, 0, 0, 3, '{', '}', 0x1e,                       /* json */
        0xff, 0xff, 0xff, 0xff,                           /* msgpack absent */
    };
    assert_int_equal(b.len, sizeof want);
    assert_memory_equal(b.data, want, sizeof want);
    hcp_buf_cleanup(&b);
}

static void t_roundtrip(void **state)
{
    (void)state;
    const char *ex[] = {"a", "", "c c"};
    static const uint8_t mp[] = {0x02, 0x91, 0x06};
    struct hcs_bpmsg m = {.op = HCS_BPMSG_CLOSE_ALL,
                          .origin = "node",
                          .hub = "app_chat",
                          .a = NULL,
                          .b = "grp",
                          .reason = "",
                          .ttl_s = 123456789012LL,
                          .excluded = ex,
                          .n_excluded = 3,
                          .msgpack = mp,
                          .msgpack_len = sizeof mp};
    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    assert_int_equal(hcs_bpmsg_encode(&b, &m), 0);
    struct hcs_bpmsg d;
    const char *why = NULL;
    assert_int_equal(hcs_bpmsg_decode(b.data, b.len, &d, &why), 0);
    assert_int_equal(d.op, HCS_BPMSG_CLOSE_ALL);
    assert_string_equal(d.origin, "node");
    assert_string_equal(d.hub, "app_chat");
    assert_null(d.a);
    assert_string_equal(d.b, "grp");
    assert_string_equal(d.reason, "");
    assert_true(d.ttl_s == 123456789012LL);
    assert_int_equal(d.n_excluded, 3);
    assert_string_equal(d.excluded[0], "a");
    assert_string_equal(d.excluded[1], "");
    assert_string_equal(d.excluded[2], "c c");
    assert_null(d.json);
    assert_int_equal(d.msgpack_len, sizeof mp);
    assert_memory_equal(d.msgpack, mp, sizeof mp);
    hcs_bpmsg_cleanup(&d);
    hcp_buf_cleanup(&b);
    assert_string_equal(hcs_bpmsg_op_name(HCS_BPMSG_USER_ADD_GROUP), "user_add_group");
    assert_null(hcs_bpmsg_op_name(0));
    assert_null(hcs_bpmsg_op_name(99));
}

static void t_malformed(void **state)
{
    (void)state;
    const char *ex[] = {"e1", "e2"};
    struct hcs_bpmsg m = {.op = HCS_BPMSG_SEND_ALL,
                          .origin = "o",
                          .hub = "h",
                          .excluded = ex,
                          .n_excluded = 2,
                          .json = (const uint8_t *)"{}" RS,
                          .json_len = 3};
    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    assert_int_equal(hcs_bpmsg_encode(&b, &m), 0);
    struct hcs_bpmsg d;
    const char *why;
    /* Every truncation is rejected, never read past. */
    for (size_t n = 0; n < b.len; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, b.data, n);
        why = NULL;
        assert_int_equal(hcs_bpmsg_decode(copy, n, &d, &why), HCP_ERR_MALFORMED);
        assert_non_null(why);
        free(copy);
    }
    uint8_t *x = malloc(b.len + 1);
    struct {
        size_t off;
        uint8_t val;
    } cases[] = {
        {0, 'X'},  /* magic */
        {3, 2},    /* version */
        {4, 0},    /* op */
        {4, 200},  /* op */
        {10, 0x7a}, /* origin NUL replaced */
        {9, 0},    /* embedded NUL in origin */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(x, b.data, b.len);
        x[cases[i].off] = cases[i].val;
        assert_int_equal(hcs_bpmsg_decode(x, b.len, &d, &why), HCP_ERR_MALFORMED);
    }
    /* Trailing bytes. */
    memcpy(x, b.data, b.len);
    x[b.len] = 0;
    assert_int_equal(hcs_bpmsg_decode(x, b.len + 1, &d, &why), HCP_ERR_MALFORMED);
    assert_string_equal(why, "trailing bytes");
    free(x);
    /* No hub. */
    m.hub = NULL;
    hcp_buf_reset(&b);
    assert_int_equal(hcs_bpmsg_encode(&b, &m), 0);
    assert_int_equal(hcs_bpmsg_decode(b.data, b.len, &d, &why), HCP_ERR_MALFORMED);
    hcp_buf_cleanup(&b);
}

static void t_oom(void **state)
{
    (void)state;
    const char *ex[] = {"e1"};
    struct hcs_bpmsg m = {.op = HCS_BPMSG_CLOSE_ALL, .origin = "o", .hub = "h",
                          .excluded = ex, .n_excluded = 1};
    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    assert_int_equal(hcs_bpmsg_encode(&b, &m), 0);
    struct hcs_bpmsg d;
    const char *why;
    fail_countdown = 1;
    assert_int_equal(hcs_bpmsg_decode(b.data, b.len, &d, &why), HCP_ERR_NOMEM);
    fail_countdown = -1;
    hcp_buf_cleanup(&b);
    struct hcp_buf c;
    for (long n = 1; n < 6; n++) {
        hcp_buf_init(&c, 0);
        fail_countdown = n;
        int rc = hcs_bpmsg_encode(&c, &m);
        fail_countdown = -1;
        assert_true(rc == 0 || rc == HCP_ERR_NOMEM);
        if (rc)
            assert_int_equal(c.len, 0);
        hcp_buf_cleanup(&c);
    }
}

/* ---- two nodes over a fake backplane ---- */

#define MAX_RECS 32

struct node {
    struct hcs_core *core;
    struct node *peer;
    const char *id;
    /* published records, delivered to the peer by deliver() */
    struct hcp_buf recs[MAX_RECS];
    size_t n_recs;
    int query_answer; /* what "the cluster" says */
    int n_queries;
    enum hcs_bp_query last_q;
    /* registry events */
    int live, members;
    char last_group[64];
};

static void b_publish(void *user, const uint8_t *rec, size_t len)
{
    struct node *n = user;
    assert_true(n->n_recs < MAX_RECS);
    hcp_buf_init(&n->recs[n->n_recs], 0);
    assert_int_equal(hcp_buf_append(&n->recs[n->n_recs], rec, len), 0);
    n->n_recs++;
}

static int b_query(void *user, enum hcs_bp_query q, const char *hub, const char *a, const char *b)
{
    struct node *n = user;
    (void)hub;
    (void)a;
    (void)b;
    n->n_queries++;
    n->last_q = q;
    return n->query_answer;
}

static void b_conn_live(void *user, const char *hub, const char *conn_id, const char *user_id,
                        bool on)
{
    struct node *n = user;
    (void)hub;
    (void)conn_id;
    (void)user_id;
    n->live += on ? 1 : -1;
}

static void b_group_member(void *user, const char *hub, const char *group, const char *conn_id,
                           const char *user_id, bool on)
{
    struct node *n = user;
    (void)hub;
    (void)conn_id;
    (void)user_id;
    n->members += on ? 1 : -1;
    snprintf(n->last_group, sizeof n->last_group, "%s", group);
}

static const struct hcs_backplane_ops bops = {b_publish, b_query, b_conn_live, b_group_member};

static void want_write(void *user, const char *conn_id, void *transport)
{
    (void)user;
    (void)conn_id;
    (void)transport;
}

static const struct hcs_sink_ops sink = {want_write};

static void node_init(struct node *n, const char *id)
{
    memset(n, 0, sizeof *n);
    struct hcs_core_limits l;
    hcs_core_limits_default(&l);
    n->core = hcs_core_new(&l, &sink, n);
    assert_non_null(n->core);
    n->id = id;
    assert_int_equal(hcs_core_set_backplane(n->core, &bops, n, id), HCS_OK);
}

static void node_clear(struct node *n)
{
    for (size_t i = 0; i < n->n_recs; i++)
        hcp_buf_cleanup(&n->recs[i]);
    n->n_recs = 0;
}

static void node_free(struct node *n)
{
    node_clear(n);
    hcs_core_free(n->core);
}

/* Redis: every record published by `from` reaches every node, itself too
 * (its own echo must be ignored). */
static void deliver(struct node *from, struct node *to)
{
    const char *why = NULL;
    for (size_t i = 0; i < from->n_recs; i++) {
        assert_int_equal(
            hcs_bpmsg_apply(to->core, from->recs[i].data, from->recs[i].len, 1000, &why), 0);
        assert_int_equal(
            hcs_bpmsg_apply(from->core, from->recs[i].data, from->recs[i].len, 1000, &why), 0);
    }
    node_clear(from);
}

static struct hcs_conn *connect(struct node *n, const char *id, const char *user)
{
    char token[64];
    snprintf(token, sizeof token, "t-%s", id);
    struct hcs_conn_params p = {.hub = "chat", .id = id, .token = token, .user_id = user,
                                .transports = HCS_TRANSPORT_WEBSOCKETS};
    struct hcs_conn *c = NULL;
    assert_int_equal(hcs_core_conn_new(n->core, &p, 0, &c), 0);
    assert_int_equal(hcs_core_conn_attach(n->core, c, HCS_TRANSPORT_WEBSOCKETS, c, 0), 0);
    assert_int_equal(hcs_core_conn_input(n->core, c, (const uint8_t *)HS_JSON, strlen(HS_JSON), 0),
                     0);
    return c;
}

/* Everything queued for c, as text; handshake answers skipped. */
static void drain(struct node *n, struct hcs_conn *c, char *out, size_t cap)
{
    size_t o = 0;
    uint8_t *p;
    size_t len;
    out[0] = '\0';
    while (hcs_core_conn_output(n->core, c, &p, &len, 0) == HCS_OUTPUT_DATA) {
        for (size_t i = 0; i < len && o + 1 < cap; i++)
            out[o++] = (char)p[i];
        out[o] = '\0';
        hcs_core_conn_output_done(n->core, c);
    }
    char *hs = strstr(out, "{}" RS);
    if (hs == out)
        memmove(out, out + 3, strlen(out + 3) + 1);
}

static int rest(struct node *n, enum hcp_method m, const char *path, const char *query,
                const char *body)
{
    struct hcs_rest_param params[8];
    char q[256];
    size_t np = 0;
    if (query) {
        snprintf(q, sizeof q, "%s", query);
        for (char *save = NULL, *kv = strtok_r(q, "&", &save); kv && np < 8;
             kv = strtok_r(NULL, "&", &save)) {
            char *eq = strchr(kv, '=');
            if (eq)
                *eq = '\0';
            params[np].key = kv;
            params[np].value = eq ? eq + 1 : "";
            np++;
        }
    }
    struct hcs_rest_request req = {.method = m,
                                   .path = path,
                                   .path_len = strlen(path),
                                   .params = params,
                                   .n_params = np,
                                   .content_type = "application/json",
                                   .body = (const uint8_t *)body,
                                   .body_len = body ? strlen(body) : 0,
                                   .now_ms = 1000};
    struct hcs_rest_response resp;
    hcs_rest_response_init(&resp);
    assert_int_equal(hcs_rest_handle(n->core, &req, &resp), 0);
    int status = resp.status;
    hcs_rest_response_cleanup(&resp);
    return status;
}

#define MSG "{\"target\":\"t\",\"arguments\":[1]}"
#define REC "{\"type\":1,\"target\":\"t\",\"arguments\":[1]}" RS

static void t_cross_node_sends(void **state)
{
    (void)state;
    struct node a, b;
    node_init(&a, "A");
    node_init(&b, "B");
    struct hcs_conn *ca = connect(&a, "ca", "alice");
    struct hcs_conn *cb = connect(&b, "cb", "bob");
    char out[512];
    /* Broadcast through A: local at once, remote after delivery; once each. */
    assert_int_equal(rest(&a, HCP_METHOD_POST, "/api/v1/hubs/chat", NULL, MSG), 202);
    assert_int_equal(a.n_recs, 1);
    drain(&a, ca, out, sizeof out);
    assert_string_equal(out, REC);
    drain(&b, cb, out, sizeof out);
    assert_string_equal(out, "");
    deliver(&a, &b);
    drain(&b, cb, out, sizeof out);
    assert_string_equal(out, REC);
    drain(&a, ca, out, sizeof out); /* the echo was ignored */
    assert_string_equal(out, "");
    /* User send; broadcast with excluded (a remote id). */
    assert_int_equal(rest(&a, HCP_METHOD_POST, "/api/v1/hubs/chat/users/bob", NULL, MSG), 202);
    assert_int_equal(rest(&a, HCP_METHOD_POST, "/api/v1/hubs/chat", "excluded=cb", MSG), 202);
    deliver(&a, &b);
    drain(&b, cb, out, sizeof out);
    assert_string_equal(out, REC);
    drain(&a, ca, out, sizeof out);
    assert_string_equal(out, REC);
    /* A connection send to a local connection is not published. */
    assert_int_equal(rest(&a, HCP_METHOD_POST, "/api/v1/hubs/chat/connections/ca", NULL, MSG),
                     202);
    assert_int_equal(a.n_recs, 0);
    drain(&a, ca, out, sizeof out);
    assert_string_equal(out, REC);
    /* ... to a remote one is. */
    assert_int_equal(rest(&a, HCP_METHOD_POST, "/api/v1/hubs/chat/connections/cb", NULL, MSG),
                     202);
    assert_int_equal(a.n_recs, 1);
    deliver(&a, &b);
    drain(&b, cb, out, sizeof out);
    assert_string_equal(out, REC);
    node_free(&a);
    node_free(&b);
}

static void t_cross_node_membership(void **state)
{
    (void)state;
    struct node a, b;
    node_init(&a, "A");
    node_init(&b, "B");
    struct hcs_conn *cb = connect(&b, "cb", "bob");
    assert_int_equal(b.live, 1);
    char out[512];
    /* Unknown everywhere: 404 after asking the cluster. */
    a.query_answer = 0;
    assert_int_equal(rest(&a, HCP_METHOD_PUT, "/api/v1/hubs/chat/groups/g/connections/cb", NULL,
                          NULL),
                     404);
    assert_int_equal(a.n_queries, 1);
    assert_int_equal(a.last_q, HCS_BP_Q_CONN);
    assert_int_equal(a.n_recs, 0);
    /* Known elsewhere: published, applied by the owner. */
    a.query_answer = 1;
    assert_int_equal(rest(&a, HCP_METHOD_PUT, "/api/v1/hubs/chat/groups/g/connections/cb", NULL,
                          NULL),
                     200);
    deliver(&a, &b);
    assert_int_equal(b.members, 1);
    assert_string_equal(b.last_group, "g");
    assert_true(hcs_core_group_exists(b.core, "chat", "g"));
    /* Group existence on A: remote answer. */
    a.query_answer = 1;
    assert_int_equal(rest(&a, HCP_METHOD_HEAD, "/api/v1/hubs/chat/groups/g", NULL, NULL), 200);
    a.query_answer = -1; /* backplane down: only what A knows */
    assert_int_equal(rest(&a, HCP_METHOD_HEAD, "/api/v1/hubs/chat/groups/g", NULL, NULL), 404);
    /* Group send from A reaches B's member. */
    assert_int_equal(rest(&a, HCP_METHOD_POST, "/api/v1/hubs/chat/groups/g", NULL, MSG), 202);
    deliver(&a, &b);
    drain(&b, cb, out, sizeof out);
    assert_string_equal(out, REC);
    /* User-group with TTL made on A applies to bob's future connection on B. */
    assert_int_equal(rest(&a, HCP_METHOD_PUT, "/api/v1/hubs/chat/groups/vip/users/bob", "ttl=60",
                          NULL),
                     202);
    deliver(&a, &b);
    assert_true(hcs_core_user_in_group(a.core, "chat", "bob", "vip", 1000));
    assert_true(hcs_core_user_in_group(b.core, "chat", "bob", "vip", 1000));
    struct hcs_conn *cb2 = connect(&b, "cb2", "bob");
    (void)cb2;
    assert_int_equal(b.members, 3); /* cb: g, vip; cb2: vip */
    /* Removing on B removes everywhere. */
    b.query_answer = 0;
    assert_int_equal(rest(&b, HCP_METHOD_DELETE, "/api/v1/hubs/chat/groups/vip/users/bob", NULL,
                          NULL),
                     202);
    deliver(&b, &a);
    assert_false(hcs_core_user_in_group(a.core, "chat", "bob", "vip", 1000));
    assert_int_equal(b.members, 1);
    /* Snapshot re-reports the live state. */
    b.live = b.members = 0;
    hcs_core_backplane_snapshot(b.core);
    assert_int_equal(b.live, 2);
    assert_int_equal(b.members, 1);
    /* Close by id from A. */
    a.query_answer = 1;
    assert_int_equal(rest(&a, HCP_METHOD_DELETE, "/api/v1/hubs/chat/connections/cb",
                          "reason=bye", NULL),
                     202);
    deliver(&a, &b);
    assert_true(hcs_conn_is_closing(cb));
    drain(&b, cb, out, sizeof out);
    assert_string_equal(out, "{\"type\":7,\"error\":\"bye\",\"allowReconnect\":true}" RS);
    node_free(&a);
    node_free(&b);
}

static void ug_count(void *ctx, const char *hub, const char *user, const char *group,
                     int64_t remaining_ms)
{
    int *n = ctx;
    assert_string_equal(hub, "chat");
    assert_string_equal(user, "u");
    if (!strcmp(group, "forever"))
        assert_true(remaining_ms == -1);
    else
        assert_true(remaining_ms == 5000);
    (*n)++;
}

static void t_user_groups_foreach(void **state)
{
    (void)state;
    struct node a;
    node_init(&a, "A");
    assert_int_equal(hcs_core_user_add_group(a.core, "chat", "u", "forever", -1, 0), 0);
    assert_int_equal(hcs_core_user_add_group(a.core, "chat", "u", "soon", 5, 0), 0);
    int n = 0;
    hcs_core_user_groups_foreach(a.core, 0, ug_count, &n);
    assert_int_equal(n, 2);
    /* A record from another node with a bad body is rejected, not applied. */
    const char *why = NULL;
    static const uint8_t junk[] = {'H', 'C', 'B', 1, 1, 0};
    assert_int_equal(hcs_bpmsg_apply(a.core, junk, sizeof junk, 0, &why), HCS_ERR_INVALID);
    /* Unhooked: nothing is published. */
    assert_int_equal(hcs_core_set_backplane(a.core, NULL, NULL, NULL), 0);
    assert_null(hcs_core_backplane(a.core, NULL, NULL));
    assert_int_equal(rest(&a, HCP_METHOD_POST, "/api/v1/hubs/chat", NULL, MSG), 202);
    assert_int_equal(a.n_recs, 0);
    node_free(&a);
}

int main(void)
{
    hcp_set_alloc(&talloc);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_golden),
        cmocka_unit_test(t_roundtrip),
        cmocka_unit_test(t_malformed),
        cmocka_unit_test(t_oom),
        cmocka_unit_test(t_cross_node_sends),
        cmocka_unit_test(t_cross_node_membership),
        cmocka_unit_test(t_user_groups_foreach),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
