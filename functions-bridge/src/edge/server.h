/*
 * hcb_server: the bridge's event loop. One thread owns the lws context, the
 * listener (raw sockets, HTTP/1.1 parsed by hcb_http), the sequence numbers
 * and the transform; REST calls leave through hcb_restout's thread and MQTT
 * arrives through libmosquitto's thread (both via locked queues).
 */
#ifndef HCB_SERVER_H
#define HCB_SERVER_H

#include <stdio.h>

#include "config.h"

/* Run until SIGINT/SIGTERM. Prints one line on `out` when ready:
 * "hubcast-bridge listening on http://HOST:PORT/api hub=HUB". Returns the
 * process exit code. */
int hcb_server_run(const struct hcb_config *cfg, FILE *out);

#endif
