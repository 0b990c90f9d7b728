/*
 * hcs_server: the libwebsockets edge. Owns the lws context, the event loop,
 * the 1 s timer and signal handling; turns HTTP requests and WebSocket
 * frames into core calls and core output into writes. Thin by design: the
 * protocol logic lives in hcproto and hcs_core.
 */
#ifndef HCS_SERVER_H
#define HCS_SERVER_H

#include <stdio.h>

#include "config.h"

/*
 * Run the service until SIGINT/SIGTERM, then shut down gracefully (clients
 * get a Close with allowReconnect). Prints the connection string to `out`
 * once listening. Returns the process exit code.
 */
int hcs_server_run(const struct hcs_config *cfg, FILE *out);

#endif
