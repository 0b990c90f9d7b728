/* hubcast-cli argument parsing (see cli_args.h). Pure: no I/O. */
#include "cli_args.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hcp/client.h"
#include "hcp/negotiate.h"
#include "hcp/text.h"

unsigned hc_cli_parse_transports(const char *s)
{
    unsigned mask = 0;
    while (s && *s) {
        size_t n = strcspn(s, ",");
        if (hcp_strn_ieq(s, n, "websockets") || hcp_strn_ieq(s, n, "ws"))
            mask |= HCP_TRANSPORT_WEBSOCKETS;
        else if (hcp_strn_ieq(s, n, "sse") || hcp_strn_ieq(s, n, "serversentevents"))
            mask |= HCP_TRANSPORT_SSE;
        else if (hcp_strn_ieq(s, n, "longpolling") || hcp_strn_ieq(s, n, "lp"))
            mask |= HCP_TRANSPORT_LONGPOLLING;
        else
            return 0;
        s += n;
        if (*s == ',')
            s++;
    }
    return mask;
}

static int fail(char *err, size_t cap, const char *fmt, const char *arg)
    __attribute__((format(printf, 3, 0)));
static int fail(char *err, size_t cap, const char *fmt, const char *arg)
{
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(err, cap, fmt, arg ? arg : "");
#pragma GCC diagnostic pop
    return -1;
}

int hc_cli_parse(int argc, char **argv, struct hc_cli_args *out, char *err, size_t cap)
{
    struct hc_cli_args a;
    memset(&a, 0, sizeof a);
    const char *pos[4];
    size_t n_pos = 0;
    bool cmd_set = false;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(s, "-h") || !strcmp(s, "--help") || (!cmd_set && !strcmp(s, "help"))) {
            a.cmd = HC_CLI_HELP;
            *out = a;
            return 0;
        }
        if (!strcmp(s, "-V") || !strcmp(s, "--version")) {
            a.cmd = HC_CLI_VERSION;
            *out = a;
            return 0;
        }
        if (!strcmp(s, "-v") || !strcmp(s, "--verbose") || !strcmp(s, "-vv")) {
            a.verbose += s[2] == 'v' ? 2 : 1;
            continue;
        }
        if (!strcmp(s, "--skip-negotiate")) {
            a.skip_negotiate = true;
            continue;
        }
        if (!strcmp(s, "--insecure") || !strcmp(s, "-k")) {
            a.insecure = true;
            continue;
        }
        if (!strcmp(s, "--stateful-reconnect")) {
            a.stateful_reconnect = true;
            continue;
        }
        bool takes = !strcmp(s, "--access-token") || !strcmp(s, "--transport") ||
                     !strcmp(s, "--method") || !strcmp(s, "--header") || !strcmp(s, "-H") ||
                     !strcmp(s, "--ca-file") || !strcmp(s, "--count") ||
                     !strcmp(s, "--timeout") || !strcmp(s, "--protocol");
        if (takes) {
            if (val == NULL)
                return fail(err, cap, "option %s needs a value", s);
            i++;
            if (!strcmp(s, "--access-token")) {
                a.access_token = val;
            } else if (!strcmp(s, "--transport")) {
                a.transports = hc_cli_parse_transports(val);
                if (a.transports == 0)
                    return fail(err, cap,
                                "unknown transport '%s' (websockets, sse or longpolling)", val);
            } else if (!strcmp(s, "--method")) {
                if (a.n_methods == HC_CLI_MAX_METHODS || !*val)
                    return fail(err, cap, "too many or empty --method (%s)", val);
                a.methods[a.n_methods++] = val;
            } else if (!strcmp(s, "--header") || !strcmp(s, "-H")) {
                const char *colon = strchr(val, ':');
                if (colon == NULL || colon == val || a.n_headers == HC_CLI_MAX_HEADERS)
                    return fail(err, cap, "bad --header '%s' (want 'Name: value')", val);
                a.headers[a.n_headers++] = val;
            } else if (!strcmp(s, "--ca-file")) {
                a.ca_file = val;
            } else if (!strcmp(s, "--protocol")) {
                if (hcp_str_ieq(val, "json"))
                    a.messagepack = false;
                else if (hcp_str_ieq(val, "messagepack") || hcp_str_ieq(val, "msgpack"))
                    a.messagepack = true;
                else
                    return fail(err, cap, "unknown protocol '%s' (json or messagepack)", val);
            } else if (!strcmp(s, "--count")) {
                char *end;
                a.count = strtol(val, &end, 10);
                if (*end || a.count < 1)
                    return fail(err, cap, "bad --count '%s'", val);
            } else {
                char *end;
                a.timeout_s = strtod(val, &end);
                if (*end || !(a.timeout_s > 0))
                    return fail(err, cap, "bad --timeout '%s'", val);
            }
            continue;
        }
        if (s[0] == '-' && s[1] != '\0')
            return fail(err, cap, "unknown option '%s'", s);
        if (!cmd_set) {
            cmd_set = true;
            if (!strcmp(s, "listen"))
                a.cmd = HC_CLI_LISTEN;
            else if (!strcmp(s, "send"))
                a.cmd = HC_CLI_SEND;
            else if (!strcmp(s, "invoke"))
                a.cmd = HC_CLI_INVOKE;
            else
                return fail(err, cap, "unknown command '%s' (listen, send, invoke)", s);
            continue;
        }
        if (n_pos == 3)
            return fail(err, cap, "unexpected argument '%s'", s);
        pos[n_pos++] = s;
    }
    if (!cmd_set)
        return fail(err, cap, "missing command (listen, send or invoke)%s", NULL);
    size_t want = a.cmd == HC_CLI_LISTEN ? 1 : 3;
    if (n_pos != want)
        return fail(err, cap, "wrong number of arguments%s (see --help)", NULL);
    a.url = pos[0];
    struct hcp_url u;
    if (hcp_client_url_parse(a.url, &u) != 0)
        return fail(err, cap, "not an http(s) or ws(s) URL: '%s'", a.url);
    if (a.cmd != HC_CLI_LISTEN) {
        if (a.n_methods)
            return fail(err, cap, "--method is for listen only%s", NULL);
        a.method = pos[1];
        a.args_json = pos[2];
        if (!*a.method)
            return fail(err, cap, "empty method name%s", NULL);
        if (!hcp_client_args_valid(a.args_json, strlen(a.args_json)))
            return fail(err, cap, "arguments must be a JSON array, got '%s'", a.args_json);
    }
    if (a.skip_negotiate && a.transports != 0 && a.transports != HCP_TRANSPORT_WEBSOCKETS)
        return fail(err, cap, "--skip-negotiate needs --transport websockets%s", NULL);
    /* Server-Sent Events is text-only (signalr-protocol.md section 6). */
    if (a.messagepack && a.transports == HCP_TRANSPORT_SSE)
        return fail(err, cap, "--protocol messagepack cannot use Server-Sent Events%s", NULL);
    *out = a;
    return 0;
}
