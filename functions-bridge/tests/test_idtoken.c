/* Unit tests for reading negotiate's user id from an ID token claim. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "idtoken.h"

static void *t_malloc(size_t n)
{
    return test_malloc(n);
}
static void *t_realloc(void *p, size_t n)
{
    return test_realloc(p, n);
}
static void t_free(void *p)
{
    test_free(p);
}

static int setup(void **state)
{
    (void)state;
    static const struct hcp_alloc a = {t_malloc, t_realloc, t_free};
    hcp_set_alloc(&a);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hcp_set_alloc(NULL);
    return 0;
}

/* header {"alg":"RS256"} . payload . signature (not checked) */
#define HDR "eyJhbGciOiJSUzI1NiJ9"
/* {"sub":"abc","preferred_username":"ann@example.com","oid":42} */
#define PAY "eyJzdWIiOiJhYmMiLCJwcmVmZXJyZWRfdXNlcm5hbWUiOiJhbm5AZXhhbXBsZS5jb20iLCJvaWQiOjQyfQ"

static void test_claims(void **state)
{
    (void)state;
    const char *tok = HDR "." PAY ".c2ln";
    char out[64];
    assert_int_equal(hcb_idtoken_claim(tok, strlen(tok), "sub", out, sizeof out), HCP_OK);
    assert_string_equal(out, "abc");
    assert_int_equal(
        hcb_idtoken_claim(tok, strlen(tok), "preferred_username", out, sizeof out), HCP_OK);
    assert_string_equal(out, "ann@example.com");
    assert_int_equal(hcb_idtoken_claim(tok, strlen(tok), "oid", out, sizeof out), HCP_OK);
    assert_string_equal(out, "42");
    assert_int_equal(hcb_idtoken_claim(tok, strlen(tok), "nope", out, sizeof out),
                     HCP_ERR_NOT_FOUND);
    assert_int_equal(hcb_idtoken_claim(tok, strlen(tok), "preferred_username", out, 5),
                     HCP_ERR_TOO_LARGE);
}

static void test_malformed(void **state)
{
    (void)state;
    const char *bad[] = {"", "abc", HDR, HDR ".", HDR ".!!!!.x", HDR ".bnVsbA.x" /* null */,
                         HDR ".e30" /* no second dot */, HDR ".a.x"};
    char out[16];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(hcb_idtoken_claim(bad[i], strlen(bad[i]), "sub", out, sizeof out),
                         HCP_ERR_MALFORMED);
    /* {} : well formed, claim absent */
    const char *empty = HDR ".e30.x";
    assert_int_equal(hcb_idtoken_claim(empty, strlen(empty), "sub", out, sizeof out),
                     HCP_ERR_NOT_FOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_claims, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
