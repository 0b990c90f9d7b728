/* Unit tests for hubcast-cli argument parsing (tools/cli_args.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cli_args.h"
#include "hcp/negotiate.h"

#define ARGV(...) ((char *[]){"hubcast-cli", __VA_ARGS__, NULL})
#define ARGC(...) ((int)(sizeof((char *[]){"hubcast-cli", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(out, ...) hc_cli_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), out, err, sizeof err)

static void test_listen(void **state)
{
    (void)state;
    char err[256];
    struct hc_cli_args a;
    assert_int_equal(PARSE(&a, "listen", "http://localhost:8888/client/?hub=chat",
                           "--access-token", "T", "--transport", "sse", "--method", "a",
                           "--method", "B", "-H", "X-A: 1", "--count", "3", "-v"),
                     0);
    assert_int_equal(a.cmd, HC_CLI_LISTEN);
    assert_string_equal(a.url, "http://localhost:8888/client/?hub=chat");
    assert_string_equal(a.access_token, "T");
    assert_int_equal(a.transports, HCP_TRANSPORT_SSE);
    assert_int_equal(a.n_methods, 2);
    assert_string_equal(a.methods[1], "B");
    assert_int_equal(a.n_headers, 1);
    assert_int_equal(a.count, 3);
    assert_int_equal(a.verbose, 1);
    /* options may come first */
    assert_int_equal(PARSE(&a, "--transport", "LongPolling", "listen", "http://h:7071/api"), 0);
    assert_int_equal(a.transports, HCP_TRANSPORT_LONGPOLLING);
    assert_int_equal(a.n_methods, 0);
}

static void test_send_invoke(void **state)
{
    (void)state;
    char err[256];
    struct hc_cli_args a;
    assert_int_equal(PARSE(&a, "send", "http://h/chat", "Broadcast", "[\"x\",1]"), 0);
    assert_int_equal(a.cmd, HC_CLI_SEND);
    assert_string_equal(a.method, "Broadcast");
    assert_string_equal(a.args_json, "[\"x\",1]");
    assert_int_equal(PARSE(&a, "invoke", "https://h/chat", "Add", "[1, 2]", "--timeout", "2.5"),
                     0);
    assert_int_equal(a.cmd, HC_CLI_INVOKE);
    assert_true(a.timeout_s == 2.5);
    assert_int_equal(PARSE(&a, "invoke", "ws://h/chat", "A", "[]", "--skip-negotiate",
                           "--transport", "websockets"),
                     0);
    assert_true(a.skip_negotiate);
    assert_false(a.messagepack);
    assert_false(a.stateful_reconnect);
    /* --protocol and --stateful-reconnect for every command */
    assert_int_equal(PARSE(&a, "send", "http://h/chat", "A", "[]", "--protocol", "MessagePack",
                           "--stateful-reconnect"),
                     0);
    assert_true(a.messagepack);
    assert_true(a.stateful_reconnect);
    assert_int_equal(PARSE(&a, "listen", "http://h/chat", "--protocol", "msgpack"), 0);
    assert_true(a.messagepack);
    assert_int_equal(PARSE(&a, "invoke", "http://h/chat", "A", "[]", "--protocol", "messagepack",
                           "--protocol", "json", "--stateful-reconnect"),
                     0);
    assert_false(a.messagepack);
    assert_true(a.stateful_reconnect);
}

static void test_help_version(void **state)
{
    (void)state;
    char err[256];
    struct hc_cli_args a;
    assert_int_equal(PARSE(&a, "--help"), 0);
    assert_int_equal(a.cmd, HC_CLI_HELP);
    assert_int_equal(PARSE(&a, "listen", "--version"), 0);
    assert_int_equal(a.cmd, HC_CLI_VERSION);
}

static void test_errors(void **state)
{
    (void)state;
    char err[256];
    struct hc_cli_args a;
    const struct {
        int argc;
        char **argv;
        const char *msg;
    } cases[] = {
        {ARGC("bogus"), ARGV("bogus"), "unknown command"},
        {ARGC("listen"), ARGV("listen"), "wrong number"},
        {ARGC("listen", "a", "b"), ARGV("listen", "a", "b"), "wrong number"},
        {ARGC("listen", "notaurl"), ARGV("listen", "notaurl"), "not an http"},
        {ARGC("listen", "http://h/", "--transport", "carrier"),
         ARGV("listen", "http://h/", "--transport", "carrier"), "unknown transport"},
        {ARGC("listen", "http://h/", "--access-token"), ARGV("listen", "http://h/", "--access-token"),
         "needs a value"},
        {ARGC("listen", "http://h/", "--frob"), ARGV("listen", "http://h/", "--frob"),
         "unknown option"},
        {ARGC("send", "http://h/", "M", "{}"), ARGV("send", "http://h/", "M", "{}"), "JSON array"},
        {ARGC("send", "http://h/", "M", "[1,"), ARGV("send", "http://h/", "M", "[1,"),
         "JSON array"},
        {ARGC("send", "http://h/", "M"), ARGV("send", "http://h/", "M"), "wrong number"},
        {ARGC("invoke", "http://h/", "M", "[]", "--method", "x"),
         ARGV("invoke", "http://h/", "M", "[]", "--method", "x"), "listen only"},
        {ARGC("listen", "http://h/", "--count", "0"), ARGV("listen", "http://h/", "--count", "0"),
         "bad --count"},
        {ARGC("listen", "http://h/", "-H", "novalue"), ARGV("listen", "http://h/", "-H", "novalue"),
         "bad --header"},
        {ARGC("listen", "http://h/", "--skip-negotiate", "--transport", "sse"),
         ARGV("listen", "http://h/", "--skip-negotiate", "--transport", "sse"), "skip-negotiate"},
        {ARGC("x"), ARGV("x"), "unknown command"},
        {ARGC("listen", "http://h/", "--protocol", "xml"),
         ARGV("listen", "http://h/", "--protocol", "xml"), "unknown protocol"},
        {ARGC("listen", "http://h/", "--protocol"), ARGV("listen", "http://h/", "--protocol"),
         "needs a value"},
        {ARGC("listen", "http://h/", "--protocol", "messagepack", "--transport", "sse"),
         ARGV("listen", "http://h/", "--protocol", "messagepack", "--transport", "sse"),
         "Server-Sent Events"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(&a, 0x5a, sizeof a);
        err[0] = '\0';
        assert_int_equal(hc_cli_parse(cases[i].argc, cases[i].argv, &a, err, sizeof err), -1);
        if (strstr(err, cases[i].msg) == NULL)
            fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].msg);
        assert_int_equal(a.count, 0x5a5a5a5a5a5a5a5a); /* untouched */
    }
    char *none[] = {"hubcast-cli", NULL};
    assert_int_equal(hc_cli_parse(1, none, &a, err, sizeof err), -1);
}

static void test_transports(void **state)
{
    (void)state;
    assert_int_equal(hc_cli_parse_transports("websockets"), HCP_TRANSPORT_WEBSOCKETS);
    assert_int_equal(hc_cli_parse_transports("WS,lp"),
                     HCP_TRANSPORT_WEBSOCKETS | HCP_TRANSPORT_LONGPOLLING);
    assert_int_equal(hc_cli_parse_transports("ServerSentEvents"), HCP_TRANSPORT_SSE);
    assert_int_equal(hc_cli_parse_transports("sse,x"), 0);
    assert_int_equal(hc_cli_parse_transports(""), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listen),       cmocka_unit_test(test_send_invoke),
        cmocka_unit_test(test_help_version), cmocka_unit_test(test_errors),
        cmocka_unit_test(test_transports),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
