/*
 * Shared helpers for the bridge's unit tests: the allocator hook (and so
 * cJSON) goes through CMocka's test_malloc/test_free, so every test is also a
 * leak check; tu_fail_nth() fails the Nth allocation for OOM runs.
 */
#ifndef HCB_TEST_H
#define HCB_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "hcp/common.h"

static int tu_fail_at;
static int tu_n_allocs;

static inline bool tu_should_fail(void)
{
    tu_n_allocs++;
    return tu_fail_at != 0 && tu_n_allocs == tu_fail_at;
}

static inline void *tu_malloc(size_t size)
{
    return tu_should_fail() ? NULL : test_malloc(size);
}

static inline void *tu_realloc(void *ptr, size_t size)
{
    return tu_should_fail() ? NULL : test_realloc(ptr, size);
}

static inline void tu_free(void *ptr)
{
    if (ptr)
        test_free(ptr);
}

static inline int tu_setup(void **state)
{
    (void)state;
    static const struct hcp_alloc a = {tu_malloc, tu_realloc, tu_free};
    hcp_set_alloc(&a);
    tu_fail_at = 0;
    tu_n_allocs = 0;
    return 0;
}

static inline int tu_teardown(void **state)
{
    (void)state;
    tu_fail_at = 0;
    hcp_set_alloc(NULL);
    return 0;
}

static inline void tu_fail_nth(int n)
{
    tu_fail_at = n;
    tu_n_allocs = 0;
}

/* JSON text of j compared with `expect` (cJSON_Compare after parsing). */
static inline void tu_assert_json(const cJSON *j, const char *expect)
{
    cJSON *e = cJSON_Parse(expect);
    assert_non_null(e);
    if (!cJSON_Compare(j, e, true)) {
        char *got = cJSON_PrintUnformatted(j);
        fprintf(stderr, "got:    %s\nexpect: %s\n", got ? got : "(null)", expect);
        cJSON_free(got);
        cJSON_Delete(e);
        fail();
    }
    cJSON_Delete(e);
}

#define TU_TEST(f) cmocka_unit_test_setup_teardown(f, tu_setup, tu_teardown)

#endif
