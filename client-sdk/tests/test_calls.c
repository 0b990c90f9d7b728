/*
 * Unit tests for src/core/calls.h: handler dispatch (case-insensitive,
 * catch-all, off), the pending-call table and hc_invocation accessors and
 * client results. Allocations go through CMocka (leak checks, OOM runs).
 */
#include "test_util.h"

#include "calls.h"

static int g_calls;

static void h1(void *user, hc_client *c, hc_invocation *inv)
{
    (void)user, (void)c, (void)inv;
    g_calls += 1;
}

static void h2(void *user, hc_client *c, hc_invocation *inv)
{
    (void)user, (void)c, (void)inv;
    g_calls += 10;
}

static void test_handlers(void **state)
{
    (void)state;
    struct hc__handlers h = {0};
    int u1, u2;
    assert_int_equal(hc__handlers_add(&h, "newMessage", h1, &u1), HC_OK);
    assert_int_equal(hc__handlers_add(&h, "NEWMESSAGE", h2, &u2), HC_OK);
    assert_int_equal(hc__handlers_add(&h, "other", h1, NULL), HC_OK);
    assert_int_equal(hc__handlers_add(&h, "", h1, NULL), HC_ERR_INVALID);
    assert_int_equal(hc__handlers_add(&h, "x", NULL, NULL), HC_ERR_INVALID);
    struct hc__handler_ref refs[4];
    size_t n = hc__handlers_find(&h, "NewMessage", refs, 4);
    assert_int_equal(n, 2);
    assert_ptr_equal(refs[0].fn, h1); /* registration order */
    assert_ptr_equal(refs[0].user, &u1);
    assert_ptr_equal(refs[1].fn, h2);
    assert_int_equal(hc__handlers_find(&h, "missing", refs, 4), 0);
    assert_int_equal(hc__handlers_find(&h, "newmessage", refs, 1), 1); /* capped */
    /* off with a function removes only that one; NULL removes all */
    assert_int_equal(hc__handlers_remove(&h, "newMESSAGE", h2), 1);
    assert_int_equal(hc__handlers_find(&h, "newmessage", refs, 4), 1);
    assert_int_equal(hc__handlers_remove(&h, "newmessage", NULL), 1);
    assert_int_equal(hc__handlers_remove(&h, "newmessage", NULL), 0);
    /* catch-all */
    assert_int_equal(hc__handlers_add(&h, "*", h2, NULL), HC_OK);
    assert_int_equal(hc__handlers_find(&h, "anything", refs, 4), 1);
    assert_int_equal(hc__handlers_find(&h, "other", refs, 4), 2);
    hc__handlers_clear(&h);
    assert_null(h.head);
}

static void test_handlers_oom(void **state)
{
    (void)state;
    for (int n = 1; n <= 2; n++) {
        struct hc__handlers h = {0};
        tu_fail_nth(n);
        assert_int_equal(hc__handlers_add(&h, "m", h1, NULL), HC_ERR_NOMEM);
        assert_null(h.head);
    }
}

static void test_calls_table(void **state)
{
    (void)state;
    struct hc__calls t = {0};
    struct hc__call *a = hc__calls_add(&t, HC__CALL_INVOKE, NULL, NULL, NULL);
    struct hc__call *b = hc__calls_add(&t, HC__CALL_STREAM, NULL, NULL, NULL);
    assert_string_equal(a->id_str, "0"); /* JS ids start at "0" */
    assert_string_equal(b->id_str, "1");
    assert_ptr_equal(hc__calls_find(&t, "1"), b);
    assert_null(hc__calls_find(&t, "2"));
    assert_ptr_equal(hc__calls_take(&t, "0"), a);
    assert_null(hc__calls_take(&t, "0"));
    hc__calls_free_list(a);
    struct hc__call *c = hc__calls_add(&t, HC__CALL_INVOKE, NULL, NULL, NULL);
    assert_string_equal(c->id_str, "2");
    assert_ptr_equal(hc__calls_take_id(&t, 1), b);
    hc__calls_free_list(b);
    struct hc__call *all = hc__calls_take_all(&t);
    assert_ptr_equal(all, c);
    assert_null(all->next);
    assert_null(t.head);
    hc__calls_free_list(all);
    tu_fail_nth(1);
    assert_null(hc__calls_add(&t, HC__CALL_INVOKE, NULL, NULL, NULL));
}

static void test_invocation(void **state)
{
    (void)state;
    cJSON *args = cJSON_Parse("[\"ann\",42.5,true,{\"x\":[1,null]},null]");
    struct hc_invocation inv;
    assert_int_equal(hc__invocation_init(&inv, "newMessage", args, false), HC_OK);
    assert_string_equal(hc_invocation_target(&inv), "newMessage");
    assert_string_equal(hc_invocation_args_json(&inv), "[\"ann\",42.5,true,{\"x\":[1,null]},null]");
    assert_int_equal(hc_invocation_n_args(&inv), 5);
    assert_string_equal(hc_invocation_arg_string(&inv, 0), "ann");
    assert_null(hc_invocation_arg_string(&inv, 1));
    double d = 0;
    assert_int_equal(hc_invocation_arg_number(&inv, 1, &d), HC_OK);
    assert_true(d == 42.5);
    d = 7;
    assert_int_equal(hc_invocation_arg_number(&inv, 0, &d), HC_ERR_INVALID);
    assert_true(d == 7);
    bool b = false;
    assert_int_equal(hc_invocation_arg_bool(&inv, 2, &b), HC_OK);
    assert_true(b);
    assert_string_equal(hc_invocation_arg_json(&inv, 3), "{\"x\":[1,null]}");
    assert_string_equal(hc_invocation_arg_json(&inv, 3), "{\"x\":[1,null]}"); /* cached */
    assert_null(hc_invocation_arg_json(&inv, 5));
    assert_int_equal(hc_invocation_arg_bool(&inv, 9, &b), HC_ERR_INVALID);
    assert_false(hc_invocation_expects_result(&inv));
    assert_int_equal(hc_invocation_set_result(&inv, "1"), HC_ERR_STATE);
    assert_int_equal(hc_invocation_set_error(&inv, "e"), HC_ERR_STATE);
    hc__invocation_cleanup(&inv);
    cJSON_Delete(args);
}

static void test_client_results(void **state)
{
    (void)state;
    cJSON *args = cJSON_Parse("[]");
    struct hc_invocation inv;
    assert_int_equal(hc__invocation_init(&inv, "getAnswer", args, true), HC_OK);
    assert_true(hc_invocation_expects_result(&inv));
    assert_int_equal(hc_invocation_n_args(&inv), 0);
    assert_int_equal(hc_invocation_set_result(&inv, "{bad"), HC_ERR_INVALID);
    assert_int_equal(hc_invocation_set_result(&inv, NULL), HC_ERR_INVALID);
    assert_int_equal(hc_invocation_set_error(&inv, ""), HC_ERR_INVALID);
    assert_int_equal(hc_invocation_set_result(&inv, "{\"a\":42}"), HC_OK);
    assert_string_equal(inv.result_json, "{\"a\":42}");
    assert_int_equal(hc_invocation_set_error(&inv, "nope"), HC_OK);
    assert_null(inv.result_json);
    assert_string_equal(inv.error, "nope");
    assert_int_equal(hc_invocation_set_result(&inv, "null"), HC_OK);
    assert_null(inv.error);
    hc__invocation_cleanup(&inv);
    cJSON_Delete(args);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST(test_handlers),       TU_TEST(test_handlers_oom),   TU_TEST(test_calls_table),
        TU_TEST(test_invocation),     TU_TEST(test_client_results),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
