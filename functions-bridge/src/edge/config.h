/*
 * hcb_config: the bridge's one immutable configuration, built at start from
 * defaults < environment (AzureSignalRConnectionString, HUBCAST_BRIDGE_*) <
 * flags. One table drives parsing and --help (docs/bridge.md mirrors it).
 */
#ifndef HCB_CONFIG_H
#define HCB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define HCB_DEFAULT_CONNECTION_STRING                                                              \
    "Endpoint=http://localhost;Port=8888;AccessKey=ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH;"  \
    "Version=1.0;"

struct hcb_config {
    int port;
    char host[128];
    char hub[129];
    char connection_string[2048];
    char mqtt_url[512];
    char mqtt_ca[1024];
    char transform[1024];
    char transform_config[2048];
    char static_dir[1024];
    char device_registry[1024];
    char device_key[256];
    bool allow_any_device;
    char iothub_host[256];
    char cors_origins[2048];
    char user_header[128];
    char user_claim[128];
    int token_lifetime_s;
    long max_message_bytes;
    long max_batch_bytes;
    int max_batch_events;
    int max_queue;
    int max_retries;
    int log_level;
};

/* Parse argv (and the environment). Returns 0 to run, 1 after printing help
 * or the version (exit 0), -1 after printing an error to `err` (exit 2). */
int hcb_config_parse(struct hcb_config *cfg, int argc, char **argv, FILE *err);

#endif
