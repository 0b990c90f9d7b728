/* Unit tests for core/seq.h: per-device sequence numbers. */
#include "hcb_test.h"

#include "seq.h"

static void test_seq(void **state)
{
    (void)state;
    struct hcb_seq *s = hcb_seq_new(2);
    int64_t q = 0, o = 0;
    assert_int_equal(hcb_seq_next(s, "a", &q, &o), HCP_OK);
    assert_int_equal(q, 1);
    assert_int_equal(o, 1);
    assert_int_equal(hcb_seq_next(s, "b", &q, &o), HCP_OK);
    assert_int_equal(q, 1);
    assert_int_equal(o, 2);
    assert_int_equal(hcb_seq_next(s, "a", &q, &o), HCP_OK);
    assert_int_equal(q, 2);
    assert_int_equal(o, 3);
    assert_int_equal(hcb_seq_next(s, "c", &q, &o), HCP_ERR_TOO_LARGE);
    assert_int_equal(hcb_seq_next(s, "b", &q, &o), HCP_OK);
    assert_int_equal(q, 2);
    hcb_seq_free(s);
    hcb_seq_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {TU_TEST(test_seq)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
