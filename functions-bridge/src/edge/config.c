/* hcb_config: see config.h. The only place that reads the environment. */
#include "config.h"

#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum type { T_INT, T_LONG, T_STR, T_BOOL };

struct opt {
    const char *name;
    enum type type;
    size_t off;
    size_t cap;
    const char *def;
    long min, max;
    const char *help;
};

#define S(f) offsetof(struct hcb_config, f), sizeof(((struct hcb_config *)0)->f)
#define N(f) offsetof(struct hcb_config, f), 0

static const struct opt OPTS[] = {
    {"port", T_INT, N(port), "7071", 0, 65535, "listen port (0 = any free port)"},
    {"host", T_STR, S(host), "127.0.0.1", 0, 0, "listen address"},
    {"hub", T_STR, S(hub), "iot", 0, 0, "SignalR hub the bridge negotiates for and sends to"},
    {"connection-string", T_STR, S(connection_string), "", 0, 0,
     "hubcast-service connection string (default: $AzureSignalRConnectionString, else the "
     "hubcast-service default)"},
    {"mqtt-url", T_STR, S(mqtt_url), "", 0, 0,
     "broker to subscribe to, mqtt://HOST:PORT or mqtts://HOST:PORT (default: no MQTT)"},
    {"mqtt-ca", T_STR, S(mqtt_ca), "", 0, 0, "CA file for mqtts://"},
    {"transform", T_STR, S(transform), "", 0, 0,
     "user transform: a plugin FILE.so or a rules FILE.json (default: broadcast 'telemetry')"},
    {"transform-config", T_STR, S(transform_config), "", 0, 0, "text passed to the plugin's init"},
    {"static", T_STR, S(static_dir), "", 0, 0, "serve files from DIR at / (index.html)"},
    {"device-registry", T_STR, S(device_registry), "", 0, 0,
     "JSON file with device keys for the device API SAS check"},
    {"device-key", T_STR, S(device_key), "", 0, 0,
     "one base64 key every device signs with (instead of / besides a registry)"},
    {"allow-any-device", T_BOOL, N(allow_any_device), "false", 0, 1,
     "development: accept device API requests without checking SAS tokens"},
    {"iothub-host", T_STR, S(iothub_host), "", 0, 0,
     "hub host name SAS tokens must name in sr (default: any)"},
    {"cors-origins", T_STR, S(cors_origins), "*", 0, 0,
     "origins allowed to call /api with credentials, comma separated; * = echo any"},
    {"user-header", T_STR, S(user_header), "x-ms-signalr-userid", 0, 0,
     "request header whose value becomes the user id in negotiate"},
    {"user-claim", T_STR, S(user_claim), "", 0, 0,
     "claim of the negotiate request's bearer ID token that becomes the user id (e.g. "
     "preferred_username); the token's signature is not checked, as App Service "
     "authentication does that in Azure"},
    {"token-lifetime", T_INT, N(token_lifetime_s), "3600", 60, 86400 * 30,
     "client token lifetime in seconds"},
    {"max-message-bytes", T_LONG, N(max_message_bytes), "262144", 1024, 64L << 20,
     "size limit of one device message"},
    {"max-batch-bytes", T_LONG, N(max_batch_bytes), "262144", 1024, 64L << 20,
     "size limit of one request / batch"},
    {"max-batch-events", T_INT, N(max_batch_events), "100", 1, 10000,
     "events handed to the transform at once"},
    {"max-queue", T_INT, N(max_queue), "10000", 1, 10000000,
     "REST calls queued for the service before new ones are dropped"},
    {"max-retries", T_INT, N(max_retries), "5", 0, 100,
     "retries of a REST call on 5xx or connection errors (with backoff)"},
    {"log-level", T_INT, N(log_level), "2", 0, 4, "0 err, 1 warn, 2 notice, 3 info, 4 debug"},
};
#define N_OPTS (sizeof OPTS / sizeof *OPTS)

static int set(struct hcb_config *cfg, const struct opt *o, const char *v, FILE *err)
{
    char *field = (char *)cfg + o->off;
    char *end;
    switch (o->type) {
    case T_STR:
        if (strlen(v) >= o->cap) {
            fprintf(err, "hubcast-bridge: --%s is too long\n", o->name);
            return -1;
        }
        strcpy(field, v);
        return 0;
    case T_BOOL:
        if (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes"))
            *(bool *)field = true;
        else if (!strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no"))
            *(bool *)field = false;
        else {
            fprintf(err, "hubcast-bridge: --%s wants true or false\n", o->name);
            return -1;
        }
        return 0;
    case T_INT:
    case T_LONG: {
        long x = strtol(v, &end, 10);
        if (!*v || *end || x < o->min || x > o->max) {
            fprintf(err, "hubcast-bridge: --%s must be an integer in %ld..%ld\n", o->name, o->min,
                    o->max);
            return -1;
        }
        if (o->type == T_INT)
            *(int *)field = (int)x;
        else
            *(long *)field = x;
        return 0;
    }
    }
    return -1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: hubcast-bridge [options]\n\n"
               "Local stand-in for the Azure Function of the IoT signaling pattern: serves\n"
               "/api/negotiate, ingests device telemetry (/api/events, the IoT Hub device\n"
               "HTTPS API, MQTT via a broker), runs the transform and calls hubcast-service's\n"
               "REST API.\n\noptions:\n");
    for (size_t i = 0; i < N_OPTS; i++)
        fprintf(f, "  --%-20s %s%s%s%s\n", OPTS[i].name, OPTS[i].help,
                *OPTS[i].def ? " [" : "", OPTS[i].def, *OPTS[i].def ? "]" : "");
    fprintf(f, "  --%-20s %s\n", "help", "this text");
}

int hcb_config_parse(struct hcb_config *cfg, int argc, char **argv, FILE *err)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < N_OPTS; i++)
        if (set(cfg, &OPTS[i], OPTS[i].def, err))
            return -1;
    const char *env = getenv("AzureSignalRConnectionString");
    if (set(cfg, &OPTS[3], env && *env ? env : HCB_DEFAULT_CONNECTION_STRING, err))
        return -1;
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            usage(stdout);
            return 1;
        }
        if (strncmp(arg, "--", 2)) {
            fprintf(err, "hubcast-bridge: unexpected argument '%s' (see --help)\n", arg);
            return -1;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t nl = eq ? (size_t)(eq - name) : strlen(name);
        const struct opt *o = NULL;
        for (size_t i = 0; i < N_OPTS; i++)
            if (strlen(OPTS[i].name) == nl && !strncmp(OPTS[i].name, name, nl))
                o = &OPTS[i];
        if (!o) {
            fprintf(err, "hubcast-bridge: unknown option '%s' (see --help)\n", arg);
            return -1;
        }
        const char *v = eq ? eq + 1 : NULL;
        if (!v && o->type == T_BOOL)
            v = "true";
        if (!v) {
            if (a + 1 >= argc) {
                fprintf(err, "hubcast-bridge: --%s needs a value\n", o->name);
                return -1;
            }
            v = argv[++a];
        }
        if (set(cfg, o, v, err))
            return -1;
    }
    return 0;
}
