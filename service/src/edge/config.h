/*
 * hcs_config: the service's one immutable configuration, built at start from
 * defaults < environment (HUBCAST_*) < command-line flags, validated whole,
 * then passed around by const pointer. One table (config.c) drives parsing,
 * `--help` and docs/configuration.md. No getenv() anywhere else.
 */
#ifndef HCS_CONFIG_H
#define HCS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define HCS_MAX_KEYS 8
#define HCS_DEFAULT_ACCESS_KEY "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH"

struct hcs_config {
    int port;
    char host[256];
    char *access_keys[HCS_MAX_KEYS]; /* primary first */
    size_t n_access_keys;
    char config_path[1024];          /* -c: upstream settings.json (file or directory) */
    char public_url[512];            /* advertised base URL, "" = derived from host:port */
    char cors_origins[1024];         /* "*" = any origin (echoed), else comma list */
    char tls_cert[1024];             /* PEM certificate file; "" = plain http */
    char tls_key[1024];              /* PEM private key file (with tls_cert) */
    unsigned transports;             /* HCP_TRANSPORT_* offered by negotiate */
    int64_t long_poll_timeout_s;     /* hold time of an empty long poll */
    size_t max_message_bytes;
    size_t max_body_bytes;
    size_t max_header_bytes;
    size_t max_queue_bytes;
    size_t max_connections;
    int64_t handshake_timeout_s;
    int64_t keepalive_s;
    int64_t client_timeout_s;
    int64_t negotiate_timeout_s;
    int64_t close_timeout_s;     /* a closing WebSocket/SSE gets this long to flush */
    int64_t token_skew_s;
    size_t token_cache_slots; /* REST verdict cache (auth.h), 0 = off */
    bool check_token_lifetime;
    bool strict_audience;
    int log_level; /* 0 err .. 4 debug */
    /* Stateful reconnect (signalr-protocol.md section 9). */
    bool stateful_reconnect;      /* answer useStatefulReconnect=true at negotiate */
    size_t stateful_buffer_bytes; /* unacknowledged bytes kept per connection */
    int64_t reconnect_window_s;   /* a dropped stateful WebSocket may resume this long */
    /* Upstream webhooks (upstream.c). */
    int64_t upstream_timeout_s;   /* one upstream request, connect to last byte */
    size_t upstream_concurrency;  /* upstream requests in flight at once */
    size_t upstream_queue_bytes;  /* pending message bytes per connection */
    size_t upstream_total_bytes;  /* pending message bytes for all connections */
    /* Scale-out (backplane.c, docs/scale-out.md). */
    char redis_url[512];          /* redis://[:password@]host[:port][/db]; "" = single node */
    char redis_prefix[128];       /* channel and key prefix shared by the cluster */
    char node_url[512];           /* this node's own base URL for negotiate redirects; "" = none */
    bool reuse_port;              /* SO_REUSEPORT: several nodes share one port */
};

enum hcs_config_result {
    HCS_CONFIG_RUN = 0,     /* start the service */
    HCS_CONFIG_EXIT_OK = 1, /* --help / --version printed */
    HCS_CONFIG_ERROR = -1,  /* message printed to err */
};

/*
 * Build the configuration from defaults, `envp`-style lookups through
 * `get_env` (NULL = no environment), and argv. Accepts an optional leading
 * verb `start`. Prints help/version to `out` and errors to `err`.
 * Free with hcs_config_cleanup().
 */
enum hcs_config_result hcs_config_load(struct hcs_config *cfg, int argc, char **argv,
                                       const char *(*get_env)(const char *name), FILE *out,
                                       FILE *err);
void hcs_config_cleanup(struct hcs_config *cfg);
void hcs_config_print_help(FILE *out, const char *prog);
/* Markdown table of every option (for docs/configuration.md). */
void hcs_config_print_markdown(FILE *out);

#endif
