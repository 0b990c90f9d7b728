/*
 * hubcast-cli: listen to, send to and invoke SignalR hubs from a shell, on
 * top of libhubcast's public API only (hubcast.h).
 *
 *   hubcast-cli listen URL [--access-token T] [--transport websockets|sse|longpolling]
 *                          [--protocol json|messagepack] [--stateful-reconnect]
 *                          [--method NAME ...]
 *   hubcast-cli send   URL METHOD 'JSON-ARRAY'
 *   hubcast-cli invoke URL METHOD 'JSON-ARRAY'
 *
 * listen prints one JSON line per received invocation and reconnects by
 * itself (forever, backing off 0, 2, 10, 30, 30, … s). Output goes to stdout,
 * diagnostics to stderr. Exit codes: see cli_args.h / --help.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_args.h"
#include "hcp/common.h"
#include "hubcast.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

struct app {
    struct hc_cli_args args;
    long received;
    bool done;
    int exit_code;
    bool was_connected;
    char error[1024];
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: hubcast-cli listen URL [options] [--method NAME ...]\n"
            "       hubcast-cli send   URL METHOD 'JSON-ARRAY' [options]\n"
            "       hubcast-cli invoke URL METHOD 'JSON-ARRAY' [options]\n"
            "\n"
            "URL is a hub URL (http://localhost:8888/client/?hub=chat, with --access-token)\n"
            "or a negotiate base that redirects (a functions app: http://localhost:7071/api).\n"
            "\n"
            "  listen   print one line per received invocation,\n"
            "           {\"target\":...,\"arguments\":[...]}, flushed per line; reconnects\n"
            "           by itself until interrupted (SIGINT/SIGTERM) or --count/--timeout\n"
            "  send     send a fire-and-forget invocation, then close\n"
            "  invoke   invoke and print the result (JSON) on stdout\n"
            "\n"
            "options:\n"
            "  --access-token T       bearer token (default: $HUBCAST_ACCESS_TOKEN)\n"
            "  --transport T          websockets, sse or longpolling (comma list allowed;\n"
            "                         default: all, in the server's order)\n"
            "  --method NAME          listen: only print this method (repeatable;\n"
            "                         matched case-insensitively)\n"
            "  -H, --header 'N: V'    extra HTTP header (repeatable)\n"
            "  --protocol P           hub protocol: json (default) or messagepack (never\n"
            "                         over sse); output and arguments stay JSON\n"
            "  --stateful-reconnect   ask for stateful reconnect: a dropped WebSocket is\n"
            "                         resumed under the same connection, nothing lost\n"
            "  --skip-negotiate       connect the WebSocket directly (websockets only)\n"
            "  --ca-file FILE         CA bundle for TLS;  -k, --insecure: skip TLS checks\n"
            "  --count N              listen: exit 0 after N messages\n"
            "  --timeout SECONDS      give up after this long (exit 4)\n"
            "  -v, --verbose          log to stderr (-vv for debug)\n"
            "  -V, --version          print the version;  -h, --help: this text\n"
            "\n"
            "exit codes:\n");
#define HC_CLI_EXIT_HELP_(name, value, desc) fprintf(f, "  %d  %s\n", value, desc);
    HC_CLI_EXIT_MAP(HC_CLI_EXIT_HELP_)
#undef HC_CLI_EXIT_HELP_
}

static void on_log(void *user, enum hc_log_level level, const char *line)
{
    (void)user;
    static const char *names[] = {"err", "warn", "notice", "info", "debug"};
    fprintf(stderr, "hubcast-cli: [%s] %s\n", names[level], line);
}

static void on_state(void *user, hc_client *c, enum hc_state old_state, enum hc_state new_state,
                     const char *error)
{
    (void)c;
    (void)old_state;
    struct app *a = user;
    if (new_state == HC_STATE_CONNECTED) {
        a->was_connected = true;
        if (a->args.verbose)
            fprintf(stderr, "hubcast-cli: connected\n");
    }
    if (new_state == HC_STATE_RECONNECTING)
        fprintf(stderr, "hubcast-cli: connection lost (%s); reconnecting\n",
                error ? error : "no reason");
    if (new_state == HC_STATE_DISCONNECTED) {
        if (error)
            snprintf(a->error, sizeof a->error, "%s", error);
        if (!a->done) {
            a->done = true;
            if (a->exit_code == 0 && error)
                a->exit_code = HC_CLI_EXIT_CONNECT;
            else if (a->exit_code == 0 && a->args.cmd == HC_CLI_INVOKE)
                a->exit_code = HC_CLI_EXIT_CONNECT;
        }
    }
}

/* listen: retry forever with the default schedule, then every 30 s. */
static int64_t retry_forever(void *user, const struct hc_retry_info *info)
{
    (void)user;
    static const int64_t d[] = {0, 2000, 10000, 30000};
    return info->previous_attempts < 4 ? d[info->previous_attempts] : 30000;
}

static void print_invocation(void *user, hc_client *c, hc_invocation *inv)
{
    (void)c;
    struct app *a = user;
    struct hcp_buf line;
    hcp_buf_init(&line, 0);
    const char *t = hc_invocation_target(inv);
    int rc = hcp_buf_append_str(&line, "{\"target\":");
    if (rc == 0)
        rc = hcp_json_append_string(&line, t, strlen(t));
    if (rc == 0)
        rc = hcp_buf_appendf(&line, ",\"arguments\":%s}\n", hc_invocation_args_json(inv));
    if (rc == 0) {
        fwrite(line.data, 1, line.len, stdout);
        fflush(stdout);
    }
    hcp_buf_cleanup(&line);
    if (a->args.count > 0 && ++a->received >= a->args.count)
        a->done = true;
}

static void on_result(void *user, hc_client *c, const char *result_json, const char *error)
{
    (void)c;
    struct app *a = user;
    if (error) {
        fprintf(stderr, "hubcast-cli: invoke failed: %s\n", error);
        a->exit_code = HC_CLI_EXIT_REMOTE;
    } else {
        printf("%s\n", result_json);
        fflush(stdout);
        a->exit_code = HC_CLI_EXIT_OK;
    }
    a->done = true;
}

static int configure(hc_client *c, struct app *a)
{
    const struct hc_cli_args *g = &a->args;
    const char *token = g->access_token ? g->access_token : getenv("HUBCAST_ACCESS_TOKEN");
    int rc = HC_OK;
    if (token && *token)
        rc = hc_client_set_access_token(c, token);
    if (rc == HC_OK && g->transports)
        rc = hc_client_set_transports(c, g->transports);
    if (rc == HC_OK && g->skip_negotiate) {
        rc = hc_client_set_transports(c, HC_TRANSPORT_WEBSOCKETS);
        if (rc == HC_OK)
            rc = hc_client_set_skip_negotiate(c, true);
    }
    if (rc == HC_OK && g->messagepack)
        rc = hc_client_set_protocol(c, HC_PROTOCOL_MESSAGEPACK);
    if (rc == HC_OK && g->stateful_reconnect)
        rc = hc_client_set_stateful_reconnect(c, true);
    if (rc == HC_OK && g->ca_file)
        rc = hc_client_set_ca_file(c, g->ca_file);
    if (rc == HC_OK && g->insecure)
        rc = hc_client_set_tls_verify(c, false);
    for (size_t i = 0; rc == HC_OK && i < g->n_headers; i++) {
        char name[256];
        const char *colon = strchr(g->headers[i], ':');
        snprintf(name, sizeof name, "%.*s", (int)(colon - g->headers[i]), g->headers[i]);
        const char *v = colon + 1;
        while (*v == ' ')
            v++;
        rc = hc_client_add_header(c, name, v);
    }
    if (rc == HC_OK && g->verbose)
        rc = hc_client_set_log_fn(c, on_log, NULL, g->verbose > 1 ? HC_LOG_DEBUG : HC_LOG_INFO);
    if (rc == HC_OK)
        rc = hc_client_set_state_fn(c, on_state, a);
    if (rc == HC_OK && g->cmd == HC_CLI_LISTEN)
        rc = hc_client_set_reconnect_policy(c, retry_forever, NULL);
    if (rc == HC_OK && g->cmd != HC_CLI_LISTEN)
        rc = hc_client_set_reconnect_delays(c, NULL, 0);
    if (rc == HC_OK && g->cmd == HC_CLI_LISTEN) {
        if (g->n_methods == 0)
            rc = hc_client_on(c, "*", print_invocation, a);
        for (size_t i = 0; rc == HC_OK && i < g->n_methods; i++)
            rc = hc_client_on(c, g->methods[i], print_invocation, a);
    }
    return rc;
}

int main(int argc, char **argv)
{
    struct app a;
    memset(&a, 0, sizeof a);
    char err[512];
    if (hc_cli_parse(argc, argv, &a.args, err, sizeof err) != 0) {
        fprintf(stderr, "hubcast-cli: %s\n", err);
        fprintf(stderr, "try 'hubcast-cli --help'\n");
        return HC_CLI_EXIT_USAGE;
    }
    if (a.args.cmd == HC_CLI_HELP) {
        usage(stdout);
        return HC_CLI_EXIT_OK;
    }
    if (a.args.cmd == HC_CLI_VERSION) {
        printf("hubcast-cli %s\n", hc_version_string());
        return HC_CLI_EXIT_OK;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);

    hc_client *c = hc_client_new(a.args.url);
    if (c == NULL) {
        fprintf(stderr, "hubcast-cli: cannot use URL '%s'\n", a.args.url);
        return HC_CLI_EXIT_USAGE;
    }
    int rc = configure(c, &a);
    if (rc == HC_OK)
        rc = hc_client_start(c);
    if (rc != HC_OK) {
        fprintf(stderr, "hubcast-cli: %s\n", hc_strerror(rc));
        hc_client_free(c);
        return HC_CLI_EXIT_USAGE;
    }
    double deadline = a.args.timeout_s > 0 ? now_s() + a.args.timeout_s : 0;
    bool sent = false;
    while (!a.done && !g_stop) {
        hc_client_service(c, 200);
        if (deadline && now_s() >= deadline) {
            fprintf(stderr, "hubcast-cli: timed out\n");
            a.exit_code = HC_CLI_EXIT_TIMEOUT;
            break;
        }
        if (!sent && hc_client_state(c) == HC_STATE_CONNECTED && a.args.cmd != HC_CLI_LISTEN) {
            sent = true;
            if (a.args.cmd == HC_CLI_SEND)
                rc = hc_client_send(c, a.args.method, a.args.args_json);
            else
                rc = hc_client_invoke(c, a.args.method, a.args.args_json, on_result, &a);
            if (rc != HC_OK) {
                fprintf(stderr, "hubcast-cli: %s\n", hc_strerror(rc));
                a.exit_code = HC_CLI_EXIT_USAGE;
                break;
            }
            if (a.args.cmd == HC_CLI_SEND) {
                a.exit_code = HC_CLI_EXIT_OK;
                break; /* hc_client_free() below flushes it and closes gracefully */
            }
        }
    }
    if (a.done && a.exit_code == HC_CLI_EXIT_CONNECT)
        fprintf(stderr, "hubcast-cli: %s\n",
                *a.error ? a.error : "the connection closed");
    a.done = true; /* the disconnect during free is expected */
    hc_client_free(c);
    return a.exit_code;
}
