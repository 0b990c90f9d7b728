/*
 * Configuration table and parser. See config.h. Every option has one row in
 * OPTIONS: long name, short flag, environment variable, type, default,
 * bounds and help text; parsing, --help and the docs table all come from it.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hcp/common.h"
#include "hcp/text.h"

#ifndef HUBCAST_VERSION
#define HUBCAST_VERSION "0.1.0"
#endif

enum opt_type { T_INT, T_SIZE, T_SECONDS, T_BOOL, T_STR, T_KEYS, T_LOGLEVEL, T_TRANSPORTS };

struct option_row {
    const char *name;   /* long flag without -- */
    char short_flag;    /* 0 = none */
    const char *env;    /* environment variable or NULL */
    enum opt_type type;
    size_t offset;      /* into struct hcs_config */
    size_t size;        /* for T_STR: buffer size */
    const char *def;    /* default as text */
    long long min, max; /* bounds for numbers */
    const char *help;
};

#define OFF(f) offsetof(struct hcs_config, f)
#define SZ(f) sizeof(((struct hcs_config *)0)->f)

static const struct option_row OPTIONS[] = {
    {"port", 'p', "HUBCAST_PORT", T_INT, OFF(port), 0, "8888", 0, 65535,
     "TCP port to listen on (0 picks a free port; the connection string shows it)."},
    {"host", 'i', "HUBCAST_HOST", T_STR, OFF(host), SZ(host), "localhost", 0, 0,
     "Address or host name to bind (0.0.0.0 for all interfaces)."},
    {"access-key", 0, "HUBCAST_ACCESS_KEYS", T_KEYS, 0, 0, HCS_DEFAULT_ACCESS_KEY, 1, 4096,
     "Access key for signing/verifying tokens; repeat for rotation (the env var takes a comma "
     "list). Tokens signed with any key are accepted; the first is printed."},
    {"config", 'c', "HUBCAST_CONFIG", T_STR, OFF(config_path), SZ(config_path), "", 0, 0,
     "Upstream settings.json (file or directory holding it); default ./settings.json when "
     "present. Reloaded when the file changes."},
    {"public-url", 0, "HUBCAST_PUBLIC_URL", T_STR, OFF(public_url), SZ(public_url), "", 0, 0,
     "Base URL to advertise in the printed connection string (for containers/proxies)."},
    {"tls-cert", 0, "HUBCAST_TLS_CERT", T_STR, OFF(tls_cert), SZ(tls_cert), "", 0, 0,
     "PEM certificate (chain) file: serve https/wss instead of http/ws. Needs --tls-key."},
    {"tls-key", 0, "HUBCAST_TLS_KEY", T_STR, OFF(tls_key), SZ(tls_key), "", 0, 0,
     "PEM private key file for --tls-cert."},
    {"cors-origins", 0, "HUBCAST_CORS_ORIGINS", T_STR, OFF(cors_origins), SZ(cors_origins), "*",
     0, 0, "Origins allowed for credentialed cross-origin requests: * (echo any) or a comma list."},
    {"transports", 0, "HUBCAST_TRANSPORTS", T_TRANSPORTS, OFF(transports), 0,
     "WebSockets,ServerSentEvents,LongPolling", 0, 0,
     "Transports negotiate offers, in this order of preference: a comma list of WebSockets, "
     "ServerSentEvents, LongPolling (case-insensitive) or all."},
    {"long-poll-timeout", 0, "HUBCAST_LONG_POLL_TIMEOUT", T_SECONDS, OFF(long_poll_timeout_s), 0,
     "90", 1, 95, "Seconds a long-poll request is held when there is nothing to send (the JS "
     "client gives up after 100)."},
    {"max-message-bytes", 0, "HUBCAST_MAX_MESSAGE_BYTES", T_SIZE, OFF(max_message_bytes), 0,
     "1048576", 256, 1LL << 30, "Largest hub message a client may send (including the handshake)."},
    {"max-body-bytes", 0, "HUBCAST_MAX_BODY_BYTES", T_SIZE, OFF(max_body_bytes), 0, "1048576",
     256, 1LL << 30, "Largest REST request body; larger bodies get 413."},
    {"max-header-bytes", 0, "HUBCAST_MAX_HEADER_BYTES", T_SIZE, OFF(max_header_bytes), 0, "16384",
     1024, 65535, "Largest total size of HTTP request headers."},
    {"max-queue-bytes", 0, "HUBCAST_MAX_QUEUE_BYTES", T_SIZE, OFF(max_queue_bytes), 0, "4194304",
     4096, 1LL << 32, "Outbound bytes queued per connection before it is closed as too slow."},
    {"max-connections", 0, "HUBCAST_MAX_CONNECTIONS", T_SIZE, OFF(max_connections), 0, "100000", 1,
     10000000, "Connections (negotiated or connected); negotiate beyond it gets 429."},
    {"handshake-timeout", 0, "HUBCAST_HANDSHAKE_TIMEOUT", T_SECONDS, OFF(handshake_timeout_s), 0,
     "15", 1, 3600, "Seconds a client has to complete the SignalR handshake."},
    {"keepalive-interval", 0, "HUBCAST_KEEPALIVE_INTERVAL", T_SECONDS, OFF(keepalive_s), 0, "15",
     1, 3600, "Seconds of send-idleness after which the service sends a Ping."},
    {"client-timeout", 0, "HUBCAST_CLIENT_TIMEOUT", T_SECONDS, OFF(client_timeout_s), 0, "30", 1,
     3600, "Seconds without any message from a client (after its first Ping) before closing it."},
    {"close-timeout", 0, "HUBCAST_CLOSE_TIMEOUT", T_SECONDS, OFF(close_timeout_s), 0, "5", 1, 3600,
     "Seconds a closing WebSocket or SSE connection has to write what is left and its Close "
     "message; then the socket is dropped (a peer that stopped reading never drains it)."},
    {"negotiate-timeout", 0, "HUBCAST_NEGOTIATE_TIMEOUT", T_SECONDS, OFF(negotiate_timeout_s), 0,
     "30", 1, 3600, "Seconds a negotiated connection token stays valid without a transport."},
    {"token-skew", 0, "HUBCAST_TOKEN_SKEW", T_SECONDS, OFF(token_skew_s), 0, "300", 0, 86400,
     "Clock skew in seconds allowed when checking token exp/nbf."},
    {"token-cache", 0, "HUBCAST_TOKEN_CACHE", T_SIZE, OFF(token_cache_slots), 0, "64", 0, 65536,
     "REST tokens remembered after a full signature check (0 disables); a remembered token "
     "still has its exp/nbf checked on every request."},
    {"check-token-lifetime", 0, "HUBCAST_CHECK_TOKEN_LIFETIME", T_BOOL,
     OFF(check_token_lifetime), 0, "true", 0, 0,
     "Reject expired or not-yet-valid tokens (the official emulator does not)."},
    {"strict-audience", 0, "HUBCAST_STRICT_AUDIENCE", T_BOOL, OFF(strict_audience), 0, "false", 0,
     0, "Require token audiences in the right path family (/client/ or /api/)."},
    {"stateful-reconnect", 0, "HUBCAST_STATEFUL_RECONNECT", T_BOOL, OFF(stateful_reconnect), 0,
     "true", 0, 0, "Offer stateful reconnect to clients that ask for it (negotiate "
     "useStatefulReconnect=true): a dropped WebSocket resumes without losing messages."},
    {"stateful-buffer-bytes", 0, "HUBCAST_STATEFUL_BUFFER_BYTES", T_SIZE,
     OFF(stateful_buffer_bytes), 0, "100000", 1024, 1LL << 30,
     "Unacknowledged message bytes kept per stateful connection; beyond it the connection is "
     "closed with a reason."},
    {"reconnect-window", 0, "HUBCAST_RECONNECT_WINDOW", T_SECONDS, OFF(reconnect_window_s), 0,
     "15", 1, 3600, "Seconds a stateful connection whose WebSocket dropped waits for the client "
     "to reconnect."},
    {"upstream-timeout", 0, "HUBCAST_UPSTREAM_TIMEOUT", T_SECONDS, OFF(upstream_timeout_s), 0,
     "100", 1, 3600, "Seconds one upstream webhook request may take before it fails (an "
     "invocation then completes with an error)."},
    {"upstream-concurrency", 0, "HUBCAST_UPSTREAM_CONCURRENCY", T_SIZE, OFF(upstream_concurrency),
     0, "64", 1, 4096, "Upstream requests in flight at once (each connection's events are "
     "always sent one after another)."},
    {"upstream-queue-bytes", 0, "HUBCAST_UPSTREAM_QUEUE_BYTES", T_SIZE, OFF(upstream_queue_bytes),
     0, "4194304", 4096, 1LL << 32, "Client messages waiting for the upstream, in bytes per "
     "connection; beyond it an invocation fails at once."},
    {"upstream-total-bytes", 0, "HUBCAST_UPSTREAM_TOTAL_BYTES", T_SIZE, OFF(upstream_total_bytes),
     0, "67108864", 4096, 1LL << 36, "Client messages waiting for the upstream, in bytes for "
     "all connections together; beyond it an invocation fails at once."},
    {"redis", 0, "HUBCAST_REDIS", T_STR, OFF(redis_url), SZ(redis_url), "", 0, 0,
     "Join a scale-out cluster over this Redis: redis://[:password@]host[:port][/db] (see "
     "docs/scale-out.md). Empty: a single node."},
    {"redis-prefix", 0, "HUBCAST_REDIS_PREFIX", T_STR, OFF(redis_prefix), SZ(redis_prefix),
     "hubcast", 0, 0, "Prefix of the Redis channel and keys; nodes with the same Redis and prefix "
     "form one cluster."},
    {"node-url", 0, "HUBCAST_NODE_URL", T_STR, OFF(node_url), SZ(node_url), "", 0, 0,
     "This node's own base URL as clients reach it (bypassing the load balancer): negotiate "
     "answers with a redirect to it, so the client's later requests stay on this node."},
    {"reuse-port", 0, "HUBCAST_REUSE_PORT", T_BOOL, OFF(reuse_port), 0, "false", 0, 0,
     "Listen with SO_REUSEPORT so several local nodes share one port (the kernel spreads new "
     "connections; see docs/scale-out.md)."},
    {"log-level", 0, "HUBCAST_LOG_LEVEL", T_LOGLEVEL, OFF(log_level), 0, "notice", 0, 4,
     "err, warn, notice, info or debug."},
};
#define N_OPTIONS (sizeof(OPTIONS) / sizeof(OPTIONS[0]))

static const char *LEVELS[] = {"err", "warn", "notice", "info", "debug"};

static void clear_keys(struct hcs_config *cfg)
{
    for (size_t i = 0; i < cfg->n_access_keys; i++)
        free(cfg->access_keys[i]);
    cfg->n_access_keys = 0;
}

static int add_key(struct hcs_config *cfg, const char *k, size_t len, FILE *err)
{
    if (len == 0 || len > 4096) {
        fprintf(err, "hubcast-service: access key must be 1..4096 characters\n");
        return -1;
    }
    if (cfg->n_access_keys >= HCS_MAX_KEYS) {
        fprintf(err, "hubcast-service: at most %d access keys\n", HCS_MAX_KEYS);
        return -1;
    }
    char *copy = strndup(k, len);
    if (!copy)
        return -1;
    cfg->access_keys[cfg->n_access_keys++] = copy;
    return 0;
}

static int parse_bool(const char *v, bool *out)
{
    if (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "on") ||
        !strcasecmp(v, "yes")) {
        *out = true;
        return 0;
    }
    if (!strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "off") ||
        !strcasecmp(v, "no")) {
        *out = false;
        return 0;
    }
    return -1;
}

/* Sizes accept a k/m/g suffix (powers of 1024). */
static int parse_number(const char *v, bool allow_suffix, long long *out)
{
    if (!*v)
        return -1;
    errno = 0;
    char *end = NULL;
    long long n = strtoll(v, &end, 10);
    if (errno || end == v || n < 0)
        return -1;
    if (allow_suffix && *end) {
        long long mul = 1;
        switch (tolower((unsigned char)*end)) {
        case 'k': mul = 1024; break;
        case 'm': mul = 1024 * 1024; break;
        case 'g': mul = 1024LL * 1024 * 1024; break;
        default: return -1;
        }
        end++;
        if (*end == 'b' || *end == 'B')
            end++;
        if (n > LLONG_MAX / mul)
            return -1;
        n *= mul;
    }
    if (*end)
        return -1;
    *out = n;
    return 0;
}

/* `from_flag` distinguishes repeated --access-key (append) from env (replace). */
static int apply(struct hcs_config *cfg, const struct option_row *o, const char *v,
                 const char *source, bool append_keys, FILE *err)
{
    char *base = (char *)cfg;
    long long n;
    switch (o->type) {
    case T_INT:
    case T_SIZE:
    case T_SECONDS:
        if (parse_number(v, o->type == T_SIZE, &n) || n < o->min || n > o->max) {
            fprintf(err, "hubcast-service: %s: invalid value '%s' for %s (allowed %lld..%lld)\n",
                    source, v, o->name, o->min, o->max);
            return -1;
        }
        if (o->type == T_INT)
            *(int *)(base + o->offset) = (int)n;
        else if (o->type == T_SIZE)
            *(size_t *)(base + o->offset) = (size_t)n;
        else
            *(int64_t *)(base + o->offset) = (int64_t)n;
        return 0;
    case T_BOOL:
        if (parse_bool(v, (bool *)(base + o->offset))) {
            fprintf(err, "hubcast-service: %s: invalid boolean '%s' for %s\n", source, v,
                    o->name);
            return -1;
        }
        return 0;
    case T_STR:
        if (strlen(v) >= o->size) {
            fprintf(err, "hubcast-service: %s: value for %s is too long\n", source, o->name);
            return -1;
        }
        strcpy(base + o->offset, v);
        return 0;
    case T_LOGLEVEL:
        for (int i = 0; i < 5; i++) {
            if (!strcasecmp(v, LEVELS[i])) {
                *(int *)(base + o->offset) = i;
                return 0;
            }
        }
        fprintf(err, "hubcast-service: %s: unknown log level '%s'\n", source, v);
        return -1;
    case T_TRANSPORTS: {
        unsigned mask = 0;
        const char *cur = v, *p;
        size_t tl;
        while (hcp_list_next(&cur, &p, &tl)) {
            if (tl == 10 && !strncasecmp(p, "WebSockets", tl))
                mask |= 1u;
            else if (tl == 16 && !strncasecmp(p, "ServerSentEvents", tl))
                mask |= 2u;
            else if (tl == 11 && !strncasecmp(p, "LongPolling", tl))
                mask |= 4u;
            else if (tl == 3 && !strncasecmp(p, "all", tl))
                mask |= 7u;
            else {
                fprintf(err, "hubcast-service: %s: unknown transport '%.*s' (WebSockets, "
                             "ServerSentEvents, LongPolling)\n", source, (int)tl, p);
                return -1;
            }
        }
        if (!mask) {
            fprintf(err, "hubcast-service: %s: at least one transport is required\n", source);
            return -1;
        }
        *(unsigned *)(base + o->offset) = mask;
        return 0;
    }
    case T_KEYS:
        if (!append_keys) {
            clear_keys(cfg);
            const char *p = v;
            while (*p) {
                const char *c = strchr(p, ',');
                size_t len = c ? (size_t)(c - p) : strlen(p);
                if (len && add_key(cfg, p, len, err))
                    return -1;
                p += len;
                if (*p == ',')
                    p++;
            }
            return cfg->n_access_keys ? 0 : -1;
        }
        return add_key(cfg, v, strlen(v), err);
    }
    return -1;
}

static const struct option_row *find_long(const char *name, size_t len)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (strlen(OPTIONS[i].name) == len && !strncmp(OPTIONS[i].name, name, len))
            return &OPTIONS[i];
    return NULL;
}

static const struct option_row *find_short(char c)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (OPTIONS[i].short_flag == c)
            return &OPTIONS[i];
    return NULL;
}

void hcs_config_print_help(FILE *out, const char *prog)
{
    fprintf(out,
            "Usage: %s [start] [options]\n"
            "       %s upstream init [-o DIR] [--force]   write a default settings.json\n"
            "       %s upstream list [-c FILE|DIR]        print the upstream rules\n\n"
            "hubcast-service: a local, protocol-compatible Azure SignalR Service (serverless).\n"
            "On start it prints its connection string, e.g.\n"
            "  Endpoint=http://localhost;Port=8888;AccessKey=...;Version=1.0;\n\n"
            "Options (each also settable through the environment variable shown):\n",
            prog, prog, prog);
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const struct option_row *o = &OPTIONS[i];
        char flag[64];
        if (o->short_flag)
            snprintf(flag, sizeof flag, "-%c, --%s", o->short_flag, o->name);
        else
            snprintf(flag, sizeof flag, "    --%s", o->name);
        fprintf(out, "  %-28s %s\n  %-28s [default: %s; env %s]\n", flag, o->help, "",
                o->type == T_KEYS ? "the emulator's well-known key" : (*o->def ? o->def : "none"),
                o->env ? o->env : "-");
    }
    fprintf(out, "  %-28s %s\n  %-28s %s\n", "-h, --help", "Show this help and exit.",
            "-V, --version", "Print the version and exit.");
}

void hcs_config_print_markdown(FILE *out)
{
    fprintf(out, "| flag | environment | default | meaning |\n|---|---|---|---|\n");
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const struct option_row *o = &OPTIONS[i];
        char flag[64];
        if (o->short_flag)
            snprintf(flag, sizeof flag, "`-%c`, `--%s`", o->short_flag, o->name);
        else
            snprintf(flag, sizeof flag, "`--%s`", o->name);
        fprintf(out, "| %s | `%s` | %s | %s |\n", flag, o->env ? o->env : "-",
                o->type == T_KEYS ? "emulator key" : (*o->def ? o->def : "(none)"), o->help);
    }
}

enum hcs_config_result hcs_config_load(struct hcs_config *cfg, int argc, char **argv,
                                       const char *(*get_env)(const char *name), FILE *out,
                                       FILE *err)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (apply(cfg, &OPTIONS[i], OPTIONS[i].def, "default", false, err))
            goto fail;
    if (get_env) {
        for (size_t i = 0; i < N_OPTIONS; i++) {
            const char *v = OPTIONS[i].env ? get_env(OPTIONS[i].env) : NULL;
            if (v && *v && apply(cfg, &OPTIONS[i], v, OPTIONS[i].env, false, err))
                goto fail;
        }
    }
    bool keys_from_flags = false;
    int i = 1;
    if (i < argc && !strcmp(argv[i], "start"))
        i++;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help") || !strcmp(a, "help")) {
            hcs_config_print_help(out, "hubcast-service");
            hcs_config_cleanup(cfg);
            return HCS_CONFIG_EXIT_OK;
        }
        if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
            fprintf(out, "hubcast-service %s\n", HUBCAST_VERSION);
            hcs_config_cleanup(cfg);
            return HCS_CONFIG_EXIT_OK;
        }
        const struct option_row *o = NULL;
        const char *val = NULL;
        if (a[0] == '-' && a[1] == '-') {
            const char *eq = strchr(a + 2, '=');
            size_t len = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
            o = find_long(a + 2, len);
            if (eq)
                val = eq + 1;
        } else if (a[0] == '-' && a[1] && !a[2]) {
            o = find_short(a[1]);
        }
        if (!o) {
            fprintf(err, "hubcast-service: unknown option '%s' (see --help)\n", a);
            goto fail;
        }
        if (!val) {
            if (o->type == T_BOOL && (i + 1 >= argc || argv[i + 1][0] == '-')) {
                val = "true";
            } else if (i + 1 < argc) {
                val = argv[++i];
            } else {
                fprintf(err, "hubcast-service: option --%s needs a value\n", o->name);
                goto fail;
            }
        }
        if (o->type == T_KEYS && !keys_from_flags) {
            clear_keys(cfg);
            keys_from_flags = true;
        }
        if (apply(cfg, o, val, "command line", true, err))
            goto fail;
    }
    if (cfg->n_access_keys == 0) {
        fprintf(err, "hubcast-service: at least one access key is required\n");
        goto fail;
    }
    if (!*cfg->host) {
        fprintf(err, "hubcast-service: --host must not be empty\n");
        goto fail;
    }
    if (!*cfg->tls_cert != !*cfg->tls_key) {
        fprintf(err, "hubcast-service: --tls-cert and --tls-key go together\n");
        goto fail;
    }
    return HCS_CONFIG_RUN;
fail:
    hcs_config_cleanup(cfg);
    return HCS_CONFIG_ERROR;
}

void hcs_config_cleanup(struct hcs_config *cfg)
{
    clear_keys(cfg);
}
