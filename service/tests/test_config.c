/* Unit tests for the configuration table and parser (config.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

static const char *fake_env_port;
static const char *fake_env_keys;

static const char *fake_env(const char *name)
{
    if (!strcmp(name, "HUBCAST_PORT"))
        return fake_env_port;
    if (!strcmp(name, "HUBCAST_ACCESS_KEYS"))
        return fake_env_keys;
    return NULL;
}

static enum hcs_config_result load(struct hcs_config *cfg, int argc, char **argv)
{
    FILE *devnull = fopen("/dev/null", "w");
    enum hcs_config_result r = hcs_config_load(cfg, argc, argv, fake_env, devnull, devnull);
    fclose(devnull);
    return r;
}

static void test_defaults(void **state)
{
    (void)state;
    fake_env_port = fake_env_keys = NULL;
    struct hcs_config cfg;
    char *argv[] = {"hubcast-service", NULL};
    assert_int_equal(load(&cfg, 1, argv), HCS_CONFIG_RUN);
    assert_int_equal(cfg.port, 8888);
    assert_string_equal(cfg.host, "localhost");
    assert_int_equal(cfg.n_access_keys, 1);
    assert_string_equal(cfg.access_keys[0], HCS_DEFAULT_ACCESS_KEY);
    assert_int_equal(cfg.handshake_timeout_s, 15);
    assert_int_equal(cfg.keepalive_s, 15);
    assert_int_equal(cfg.client_timeout_s, 30);
    assert_true(cfg.check_token_lifetime);
    assert_false(cfg.strict_audience);
    assert_int_equal(cfg.max_body_bytes, 1048576);
    assert_int_equal(cfg.transports, 7);
    assert_int_equal(cfg.long_poll_timeout_s, 90);
    hcs_config_cleanup(&cfg);

    char *argv2[] = {"hubcast-service", "--transports", "longpolling, WebSockets", NULL};
    assert_int_equal(load(&cfg, 3, argv2), HCS_CONFIG_RUN);
    assert_int_equal(cfg.transports, 5);
    hcs_config_cleanup(&cfg);
}

static void test_flags_override_env(void **state)
{
    (void)state;
    fake_env_port = "9000";
    fake_env_keys = "envkey1,envkey2";
    struct hcs_config cfg;
    char *argv0[] = {"hubcast-service", "start", NULL};
    assert_int_equal(load(&cfg, 2, argv0), HCS_CONFIG_RUN);
    assert_int_equal(cfg.port, 9000);
    assert_int_equal(cfg.n_access_keys, 2);
    assert_string_equal(cfg.access_keys[1], "envkey2");
    hcs_config_cleanup(&cfg);

    char *argv[] = {"hubcast-service", "start", "-p", "7000", "--host=127.0.0.1",
                    "--access-key", "k1", "--access-key", "k2", "--max-queue-bytes", "2m",
                    "--check-token-lifetime", "off", "--strict-audience", NULL};
    assert_int_equal(load(&cfg, 14, argv), HCS_CONFIG_RUN);
    assert_int_equal(cfg.port, 7000);
    assert_string_equal(cfg.host, "127.0.0.1");
    assert_int_equal(cfg.n_access_keys, 2);
    assert_string_equal(cfg.access_keys[0], "k1");
    assert_string_equal(cfg.access_keys[1], "k2");
    assert_int_equal(cfg.max_queue_bytes, 2 * 1024 * 1024);
    assert_false(cfg.check_token_lifetime);
    assert_true(cfg.strict_audience);
    hcs_config_cleanup(&cfg);
    fake_env_port = fake_env_keys = NULL;
}

static void test_errors(void **state)
{
    (void)state;
    struct {
        int argc;
        char *argv[4];
    } cases[] = {
        {2, {"x", "--nope"}},
        {3, {"x", "--port", "70000"}},
        {3, {"x", "--port", "12ab"}},
        {2, {"x", "--port"}},
        {3, {"x", "--log-level", "loud"}},
        {3, {"x", "--strict-audience", "maybe"}},
        {3, {"x", "--max-body-bytes", "-5"}},
        {3, {"x", "--host", ""}},
        {3, {"x", "--transports", "carrier-pigeon"}},
        {3, {"x", "--transports", ","}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct hcs_config cfg;
        assert_int_equal(load(&cfg, cases[i].argc, cases[i].argv), HCS_CONFIG_ERROR);
    }
}

static void test_help_and_version(void **state)
{
    (void)state;
    struct hcs_config cfg;
    char *argv[] = {"x", "--help", NULL};
    char buf[8192] = {0};
    FILE *out = fmemopen(buf, sizeof buf - 1, "w");
    assert_int_equal(hcs_config_load(&cfg, 2, argv, NULL, out, out), HCS_CONFIG_EXIT_OK);
    fclose(out);
    assert_non_null(strstr(buf, "--port"));
    assert_non_null(strstr(buf, "--access-key"));
    assert_non_null(strstr(buf, "--max-queue-bytes"));
    char *argv2[] = {"x", "-V", NULL};
    assert_int_equal(load(&cfg, 2, argv2), HCS_CONFIG_EXIT_OK);
}

static void test_upstream_options(void **state)
{
    (void)state;
    fake_env_port = fake_env_keys = NULL;
    struct hcs_config cfg;
    char *argv0[] = {"hubcast-service", NULL};
    assert_int_equal(load(&cfg, 1, argv0), HCS_CONFIG_RUN);
    assert_int_equal(cfg.upstream_timeout_s, 100);
    assert_int_equal(cfg.upstream_concurrency, 64);
    assert_int_equal(cfg.upstream_queue_bytes, 4194304);
    assert_int_equal(cfg.upstream_total_bytes, 67108864);
    assert_string_equal(cfg.config_path, "");
    hcs_config_cleanup(&cfg);

    char *argv[] = {"hubcast-service", "start", "-c", "/tmp/dir", "--upstream-timeout", "5",
                    "--upstream-concurrency=2", "--upstream-queue-bytes", "8k",
                    "--upstream-total-bytes", "1m", NULL};
    assert_int_equal(load(&cfg, 11, argv), HCS_CONFIG_RUN);
    assert_string_equal(cfg.config_path, "/tmp/dir");
    assert_int_equal(cfg.upstream_timeout_s, 5);
    assert_int_equal(cfg.upstream_concurrency, 2);
    assert_int_equal(cfg.upstream_queue_bytes, 8192);
    assert_int_equal(cfg.upstream_total_bytes, 1048576);
    hcs_config_cleanup(&cfg);

    char *bad1[] = {"hubcast-service", "--upstream-timeout", "0", NULL};
    assert_int_equal(load(&cfg, 3, bad1), HCS_CONFIG_ERROR);
    char *bad2[] = {"hubcast-service", "--upstream-concurrency", "0", NULL};
    assert_int_equal(load(&cfg, 3, bad2), HCS_CONFIG_ERROR);
}

/* --tls-cert and --tls-key come together (issue 8); default: plain http. */
static void test_tls_options(void **state)
{
    (void)state;
    fake_env_port = fake_env_keys = NULL;
    struct hcs_config cfg;
    char *argv0[] = {"hubcast-service", NULL};
    assert_int_equal(load(&cfg, 1, argv0), HCS_CONFIG_RUN);
    assert_string_equal(cfg.tls_cert, "");
    assert_string_equal(cfg.tls_key, "");
    hcs_config_cleanup(&cfg);

    char *argv[] = {"hubcast-service", "--tls-cert", "/c.pem", "--tls-key=/k.pem", NULL};
    assert_int_equal(load(&cfg, 4, argv), HCS_CONFIG_RUN);
    assert_string_equal(cfg.tls_cert, "/c.pem");
    assert_string_equal(cfg.tls_key, "/k.pem");
    hcs_config_cleanup(&cfg);

    char *only_cert[] = {"hubcast-service", "--tls-cert", "/c.pem", NULL};
    assert_int_equal(load(&cfg, 3, only_cert), HCS_CONFIG_ERROR);
    char *only_key[] = {"hubcast-service", "--tls-key", "/k.pem", NULL};
    assert_int_equal(load(&cfg, 3, only_key), HCS_CONFIG_ERROR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_flags_override_env),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_help_and_version),
        cmocka_unit_test(test_upstream_options),
        cmocka_unit_test(test_tls_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
