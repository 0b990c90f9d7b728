/*
 * hubcast-cli argument parsing: a pure function from argv to a struct (no
 * I/O), so it can be unit-tested (tests/test_cli_args.c).
 */
#ifndef HC_CLI_ARGS_H
#define HC_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>

/* Exit codes, X(NAME, value, meaning); documented in --help and docs/client-sdk.md. */
#define HC_CLI_EXIT_MAP(X)                                                                         \
    X(OK, 0, "success")                                                                            \
    X(REMOTE, 1, "the server answered with an error (invoke error, close with error)")            \
    X(USAGE, 2, "bad command line")                                                                \
    X(CONNECT, 3, "could not connect, or the connection ended and reconnecting gave up")          \
    X(TIMEOUT, 4, "--timeout elapsed")

enum hc_cli_exit {
#define HC_CLI_EXIT_ENUM_(name, value, desc) HC_CLI_EXIT_##name = value,
    HC_CLI_EXIT_MAP(HC_CLI_EXIT_ENUM_)
#undef HC_CLI_EXIT_ENUM_
};

enum hc_cli_cmd { HC_CLI_HELP, HC_CLI_VERSION, HC_CLI_LISTEN, HC_CLI_SEND, HC_CLI_INVOKE };

#define HC_CLI_MAX_METHODS 32
#define HC_CLI_MAX_HEADERS 16

struct hc_cli_args {
    enum hc_cli_cmd cmd;
    const char *url;
    const char *method;      /* send, invoke */
    const char *args_json;   /* send, invoke */
    const char *access_token;
    unsigned transports;     /* HC_TRANSPORT_* mask; 0 = all */
    const char *methods[HC_CLI_MAX_METHODS]; /* listen --method */
    size_t n_methods;
    const char *headers[HC_CLI_MAX_HEADERS]; /* "Name: value" */
    size_t n_headers;
    bool skip_negotiate;
    bool insecure;
    bool messagepack;        /* --protocol messagepack */
    bool stateful_reconnect; /* --stateful-reconnect */
    const char *ca_file;
    int verbose;             /* -v count */
    long count;              /* listen: exit after this many messages (0 = never) */
    double timeout_s;        /* 0 = none */
};

/*
 * Parse argv (argv[0] is the program). Returns 0 and fills *out, or -1 with
 * a message in err[0..cap). Pointers in *out borrow from argv.
 */
int hc_cli_parse(int argc, char **argv, struct hc_cli_args *out, char *err, size_t cap);

/* Parse "websockets", "sse", "longpolling" (also ws, lp, serversentevents;
 * case-insensitive); a comma list is allowed. Returns the mask or 0. */
unsigned hc_cli_parse_transports(const char *s);

#endif
