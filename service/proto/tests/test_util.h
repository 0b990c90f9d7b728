/*
 * Shared helpers for the hcproto unit tests: route the allocator hook through
 * CMocka's test_malloc/test_realloc/test_free (every test is a leak check)
 * and optionally fail the Nth allocation.
 */
#ifndef HCP_TEST_UTIL_H
#define HCP_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "hcp/hcp.h"

/* 0: never fail; N: the Nth allocation from now fails. */
static int tu_fail_at;
static int tu_n_allocs;
static int tu_n_failed;

static inline bool tu_should_fail(void)
{
    tu_n_allocs++;
    if (tu_fail_at != 0 && tu_n_allocs == tu_fail_at) {
        tu_n_failed++;
        return true;
    }
    return false;
}

static inline void *tu_malloc(size_t size)
{
    if (tu_should_fail())
        return NULL;
    return test_malloc(size);
}

static inline void *tu_realloc(void *ptr, size_t size)
{
    if (tu_should_fail())
        return NULL;
    return test_realloc(ptr, size);
}

static inline void tu_free(void *ptr)
{
    if (ptr != NULL)
        test_free(ptr);
}

static inline int tu_setup(void **state)
{
    (void)state;
    static const struct hcp_alloc a = {tu_malloc, tu_realloc, tu_free};
    hcp_set_alloc(&a);
    tu_fail_at = 0;
    tu_n_allocs = 0;
    tu_n_failed = 0;
    return 0;
}

static inline int tu_teardown(void **state)
{
    (void)state;
    tu_fail_at = 0;
    hcp_set_alloc(NULL);
    return 0;
}

/* Arm the failure injector: allocation n (1-based) from now fails. */
static inline void tu_fail_nth(int n)
{
    tu_fail_at = n;
    tu_n_allocs = 0;
    tu_n_failed = 0;
}

/* Compare a buffer against expected bytes (exact length). */
#define assert_buf_eq(b, lit)                                                                      \
    do {                                                                                           \
        assert_int_equal((b)->len, sizeof(lit) - 1);                                               \
        assert_memory_equal((b)->data, (lit), sizeof(lit) - 1);                                    \
    } while (0)

#define TU_TEST(f) cmocka_unit_test_setup_teardown(f, tu_setup, tu_teardown)

#endif
