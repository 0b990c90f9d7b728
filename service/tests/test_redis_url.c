/*
 * Unit tests for hcs_redis_url_parse (edge/backplane.h): a case table of
 * accepted and refused --redis values. hcs_log is stubbed (link seam).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "backplane.h"
#include "log.h"

int hcs_log_level = -1;
void hcs_log_write(int level, const char *module, const char *fmt, ...)
{
    (void)level;
    (void)module;
    (void)fmt;
}

static void t_ok(void **state)
{
    (void)state;
    static const struct {
        const char *url, *host, *user, *pass;
        int port, db;
    } cases[] = {
        {"redis://127.0.0.1:6380", "127.0.0.1", "", "", 6380, 0},
        {"redis://localhost", "localhost", "", "", 6379, 0},
        {"redis://h:1/2", "h", "", "", 1, 2},
        {"redis://:s3cret@h:7000/0", "h", "", "s3cret", 7000, 0},
        {"redis://app:p%40ss@h", "h", "app", "p@ss", 6379, 0},
        {"redis://[::1]:6381/3", "::1", "", "", 6381, 3},
        {"redis://h/", "h", "", "", 6379, 0},
        {"myhost:1234", "myhost", "", "", 1234, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct hcs_redis_url u;
        const char *why = NULL;
        assert_int_equal(hcs_redis_url_parse(cases[i].url, &u, &why), 0);
        assert_string_equal(u.host, cases[i].host);
        assert_string_equal(u.user, cases[i].user);
        assert_string_equal(u.password, cases[i].pass);
        assert_int_equal(u.port, cases[i].port);
        assert_int_equal(u.db, cases[i].db);
    }
}

static void t_bad(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "", "rediss://h", "http://h", "redis://", "redis://h:0", "redis://h:70000",
        "redis://h:x", "redis://h/x", "redis://pw@h", "redis://[::1", "redis://:%zz@h",
        "redis://:%4@h",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct hcs_redis_url u;
        const char *why = NULL;
        assert_int_equal(hcs_redis_url_parse(cases[i], &u, &why), -1);
        assert_non_null(why);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_ok),
        cmocka_unit_test(t_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
