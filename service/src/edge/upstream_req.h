/*
 * hcs_upstream_req: the request side of upstream webhooks that needs no
 * event loop: the X-ASRS-* header block of one event, locating and reading
 * settings.json, the default settings file and the rule listing used by the
 * CLI (azure-signalr-service.md sections 5.1, 5.3 and 7).
 *
 * Depends on hcproto (codecs) and hcs_auth (HMAC) only; no lws, no curl, no
 * threads, so it is unit-tested directly (service/tests/test_upstream_req.c).
 */
#ifndef HCS_UPSTREAM_REQ_H
#define HCS_UPSTREAM_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "hcp/common.h"
#include "hcp/settings.h"

/* What the official emulator's `upstream init` writes: one rule sending
 * every event of every hub to the local Azure Functions host. */
extern const char HCS_UPSTREAM_DEFAULT_SETTINGS[];

/* One event as the headers describe it. All fields borrowed. */
struct hcs_upstream_event {
    const char *hub;
    const char *conn_id;
    const char *user_id;  /* NULL or "": header omitted */
    const cJSON *claims;  /* token payload or NULL */
    const char *query;    /* client query without access_token / id, no '?'; NULL = "" */
    const char *category; /* "connections" or "messages" */
    const char *event;    /* "connected", "disconnected" or the invocation target */
};

/*
 * Append the request headers for `ev` to `out` as "Name: value" lines, each
 * terminated by a NUL byte (walk them with strlen): Content-Type (given),
 * X-ASRS-Connection-Id, -Hub, -Category, -Event, -User-Id (when there is
 * one), -User-Claims (when any claim remains), -Client-Query (with a
 * leading '?'), -Signature ("sha256=<HEX>" per key, primary first, joined
 * by ","). Control characters in values are replaced by spaces. Returns 0,
 * or -1 on allocation failure / HMAC failure (out then holds a prefix).
 */
int hcs_upstream_req_headers(struct hcp_buf *out, const struct hcs_upstream_event *ev,
                             const char *const *keys, size_t n_keys, const char *content_type);

/*
 * Resolve the settings file: `config_path` naming a directory means
 * <dir>/settings.json, a file means itself, "" means ./settings.json.
 * Writes the path into out (cap bytes). Returns 0, or -1 if it does not fit.
 */
int hcs_upstream_settings_path(const char *config_path, char *out, size_t cap);

/*
 * Read and parse the settings file at `path`. Returns 0 and fills *out
 * (release with hcp_upstream_settings_cleanup) and *out_st (the file's stat
 * at read time), or -1 with errno-style ENOENT in *out_missing = true when
 * the file does not exist, and an English message in err otherwise.
 */
int hcs_upstream_settings_read(const char *path, struct hcp_upstream_settings *out,
                               struct stat *out_st, bool *out_missing, char *err, size_t err_cap);

/* Print the rules, one per line, as `upstream list` shows them. */
void hcs_upstream_settings_print(FILE *f, const struct hcp_upstream_settings *s);

#endif
