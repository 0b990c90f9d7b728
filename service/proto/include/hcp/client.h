/*
 * Client-side SignalR codecs (signalr-protocol.md sections 2, 3, 4.3, 5),
 * used by libhubcast: negotiate URL building and response decoding (including
 * {url, accessToken} redirects and {error}), transport URLs, URL splitting,
 * the handshake request and response, the client-only hub messages
 * (StreamInvocation, CancelInvocation) and a Server-Sent Events parser.
 *
 * Pure like the rest of hcproto: no sockets, clock, logging or globals.
 * Decoded results borrow from an owned cJSON tree released by the matching
 * cleanup function.
 */
#ifndef HCP_CLIENT_H
#define HCP_CLIENT_H

#include <cjson/cJSON.h>

#include "hcp/common.h"

/* The JS client follows at most this many negotiate redirects (spec 2.4). */
#define HCP_CLIENT_MAX_REDIRECTS 100

/* Text the JS client uses when the negotiate answer comes from the old
 * ASP.NET SignalR (it carries ProtocolVersion, spec 2.3). */
#define HCP_CLIENT_ERR_OLD_SIGNALR                                                                 \
    "Detected a connection attempt to an ASP.NET SignalR Server. This client only supports "      \
    "connecting to an ASP.NET Core SignalR Server. See https://aka.ms/signalr-core-differences "  \
    "for details."

enum hcp_negotiate_kind {
    HCP_NEGOTIATE_OK = 0,   /* a connection: id, token, transports */
    HCP_NEGOTIATE_REDIRECT, /* {"url":…,"accessToken":…}: negotiate again at url */
    HCP_NEGOTIATE_ERROR,    /* {"error":…}: the server refuses; stop with that text */
};

/* A decoded negotiate response. String fields borrow from `root`. */
struct hcp_negotiate_result {
    enum hcp_negotiate_kind kind;
    int version;                  /* negotiateVersion, 0 when absent */
    const char *connection_id;    /* OK: may be NULL for unusual servers */
    const char *connection_token; /* OK: the id= value; equals connection_id for v0 */
    unsigned transports[3];       /* OK: HCP_TRANSPORT_* bits in the server's order; only
                                     known names that list the "Text" format, no duplicates */
    size_t n_transports;
    bool stateful_reconnect; /* OK: "useStatefulReconnect":true */
    const char *url;          /* REDIRECT */
    const char *access_token; /* REDIRECT: NULL when absent */
    const char *error;        /* ERROR */
    cJSON *root;              /* owned */
};

/*
 * Decode a negotiate response body. Order of checks follows the JS client:
 * "error" (string) → ERROR; "ProtocolVersion" present → HCP_ERR_UNSUPPORTED
 * with reason HCP_CLIENT_ERR_OLD_SIGNALR; "url" (string) → REDIRECT;
 * otherwise OK, which needs "connectionId" or "connectionToken" and an
 * "availableTransports" array (entries with unknown names or without "Text"
 * are skipped). On failure returns HCP_ERR_MALFORMED / HCP_ERR_UNSUPPORTED /
 * HCP_ERR_NOMEM, sets *out_reason to a static text and leaves *out untouched.
 */
HCP_NODISCARD int hcp_client_negotiate_decode(const char *body, size_t len,
                                              struct hcp_negotiate_result *out,
                                              const char **out_reason);
void hcp_client_negotiate_cleanup(struct hcp_negotiate_result *r);

/*
 * Append the negotiate URL for `url` (spec 2.1): "negotiate" is appended to the
 * path (with a '/' when the path does not end in one), the query is kept and
 * "negotiateVersion=1" added unless present; with `stateful`,
 * "useStatefulReconnect=true" too. A fragment is dropped.
 *   http://h/client/?hub=chat → http://h/client/negotiate?hub=chat&negotiateVersion=1
 */
HCP_NODISCARD int hcp_client_negotiate_url(struct hcp_buf *b, const char *url, bool stateful);

/*
 * Append url with `key=value` added to its query ('?' or '&' as needed); the
 * value is percent-encoded. A fragment is dropped.
 */
HCP_NODISCARD int hcp_client_url_add_param(struct hcp_buf *b, const char *url, const char *key,
                                           const char *value);

/* Append url with its scheme turned into ws/wss (http→ws, https→wss; ws and
 * wss stay). Other schemes are HCP_ERR_INVALID. */
HCP_NODISCARD int hcp_client_ws_url(struct hcp_buf *b, const char *url);

/* A URL split for a socket library. */
struct hcp_url {
    char scheme[8];   /* lower-case: http, https, ws or wss */
    bool is_tls;      /* https or wss */
    char host[256];   /* without brackets for IPv6 */
    int port;         /* explicit port or 80/443 */
    struct hcp_str path; /* view from the first '/' up to the fragment (path + query);
                            "/" (static) when the URL has no path */
};

/* Split an absolute http(s)/ws(s) URL. Userinfo is refused (HCP_ERR_INVALID). */
HCP_NODISCARD int hcp_client_url_parse(const char *url, struct hcp_url *out);

/* "WebSockets", "ServerSentEvents", "LongPolling" for one HCP_TRANSPORT_* bit;
 * "Unknown" otherwise. */
const char *hcp_client_transport_name(unsigned transport);

/* {"protocol":"<protocol>","version":<version>} 0x1E (spec 3). */
HCP_NODISCARD int hcp_client_encode_handshake(struct hcp_buf *b, const char *protocol,
                                              int version);

/*
 * Decode the handshake response record rec[0..len) (without 0x1E). Returns
 * HCP_OK for a JSON object without "error" and without "type";
 * HCP_ERR_UNSUPPORTED when the server sent {"error":"…"} (the text is copied to
 * err); HCP_ERR_MALFORMED for anything else (a reason is copied to err: "Expected
 * a handshake response from the server." when the record carries "type").
 * err is always NUL-terminated (truncated to err_cap).
 */
HCP_NODISCARD int hcp_client_handshake_decode(const char *rec, size_t len, char *err,
                                              size_t err_cap);

/* {"type":4,"invocationId":"id","target":"t","arguments":[...]} 0x1E;
 * args_json must be a serialized JSON array (copied verbatim). */
HCP_NODISCARD int hcp_client_encode_stream_invocation(struct hcp_buf *b, const char *invocation_id,
                                                      const char *target, const char *args_json,
                                                      size_t args_len);
/* {"type":5,"invocationId":"id"} 0x1E */
HCP_NODISCARD int hcp_client_encode_cancel(struct hcp_buf *b, const char *invocation_id);

/* True when json[0..len) is exactly one strict JSON array (whitespace around
 * it allowed). */
bool hcp_client_args_valid(const char *json, size_t len);

/*
 * Server-Sent Events parser (spec 4.3; WHATWG event-stream rules, lenient on
 * line ends: CR LF, LF or CR). Only "data" fields matter to SignalR: each
 * complete event's data (lines joined with LF) is appended to the caller's
 * buffer; comments and other fields are skipped. A line longer than `max`
 * is HCP_ERR_TOO_LARGE.
 */
struct hcp_sse {
    struct hcp_buf line;  /* the unterminated line so far */
    struct hcp_buf data;  /* the current event's data */
    bool has_data;        /* a data field was seen in the current event */
    bool skip_lf;         /* previous chunk ended in CR: drop a leading LF */
};

void hcp_sse_init(struct hcp_sse *p, size_t max);
void hcp_sse_cleanup(struct hcp_sse *p);
/* Feed in[0..len); append the data of every event completed to `out`.
 * On error the parser must not be fed again (cleanup only). */
HCP_NODISCARD int hcp_sse_feed(struct hcp_sse *p, const char *in, size_t len, struct hcp_buf *out);

#endif
