/*
 * libhubcast: a C client for SignalR hubs (hubcast, Azure SignalR Service,
 * ASP.NET Core SignalR). This header is the whole public API.
 *
 * Model
 *   hc_client_new(url) makes a client for one hub URL; typed setters
 *   configure it while it is disconnected; hc_client_start() connects
 *   (negotiate, following redirects, then WebSockets with fallback to
 *   Server-Sent Events and long polling, then the hub handshake).
 *
 * Hub protocols
 *   JSON (default) or MessagePack (hc_client_set_protocol()). The API is the
 *   same either way: arguments, results and stream items are JSON text in
 *   and out; with MessagePack the library converts (JSON integers stay exact
 *   on the way out; MessagePack binaries arrive as base64 strings,
 *   timestamps as ISO-8601 strings, integers beyond 2^53 as doubles).
 *
 * Stateful reconnect
 *   With hc_client_set_stateful_reconnect(c, true) the client asks for it at
 *   negotiate; when the server agrees and WebSockets is used, a WebSocket
 *   that drops without a Close frame is reopened at once under the same
 *   connection (same connection id, no negotiate, no handshake), messages
 *   lost in flight are replayed both ways and duplicates are dropped. The
 *   state stays Connected throughout and pending invocations stay pending.
 *   If that one resume attempt fails, the connection is lost and ordinary
 *   automatic reconnect (if configured) takes over.
 *   Nothing happens on the wire unless the client is driven: either call
 *   hc_client_service() from your own loop, or hc_client_start_thread().
 *
 * Threads
 *   All callbacks run on the driving thread (the one inside
 *   hc_client_service(), or the client's own thread). hc_client_send(),
 *   hc_client_invoke(), hc_client_stream(), hc_client_stream_cancel(),
 *   hc_client_on()/off(), hc_client_stop() and hc_client_state() are
 *   thread-safe; they queue work and wake the driving thread. Setters and
 *   hc_client_free() must not race with a driving thread.
 *   A callback may call any hc_client_* function except hc_client_free(),
 *   hc_client_service() and hc_client_stop_thread().
 *
 * Ownership
 *   Strings passed in are copied before the call returns. Strings and
 *   handles passed to callbacks are borrowed for the duration of the
 *   callback only.
 *
 * Errors
 *   Functions return 0 (HC_OK) or a negative enum hc_err; hc_strerror()
 *   describes it. A call that fails never invokes the callback it was given.
 *
 * Logging
 *   The library never prints. Install hc_client_set_log_fn() to see what it
 *   does. Tokens are never logged.
 */
#ifndef HUBCAST_H
#define HUBCAST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(HC_STATIC)
#define HC_API
#elif defined(__GNUC__)
#define HC_API __attribute__((visibility("default")))
#else
#define HC_API
#endif

#if defined(__GNUC__)
#define HC_NODISCARD __attribute__((warn_unused_result))
#else
#define HC_NODISCARD
#endif

/* API version. Minor releases only add; a major release may break. */
#define HC_VERSION_MAJOR 1
#define HC_VERSION_MINOR 1
#define HC_VERSION_PATCH 0
#define HC_VERSION_NUM(maj, min, pat) (((maj) << 16) | ((min) << 8) | (pat))
#define HC_VERSION HC_VERSION_NUM(HC_VERSION_MAJOR, HC_VERSION_MINOR, HC_VERSION_PATCH)

/* HC_VERSION of the library actually loaded (compare with the header's). */
HC_API unsigned hc_version(void);
/* "1.1.0" */
HC_API const char *hc_version_string(void);

/* X(NAME, value, "description") */
#define HC_ERR_MAP(X)                                                                              \
    X(INVALID, -1, "invalid argument")                                                             \
    X(NOMEM, -2, "out of memory")                                                                  \
    X(STATE, -3, "not allowed in the client's current state")                                      \
    X(NOT_CONNECTED, -4, "the connection is not in the Connected state")                           \
    X(TOO_LARGE, -5, "size limit exceeded")                                                        \
    X(NOT_FOUND, -6, "not found")                                                                  \
    X(THREAD, -7, "thread error")                                                                  \
    X(INTERNAL, -8, "internal error (transport library)")

enum hc_err {
    HC_OK = 0,
#define HC_ERR_ENUM_(name, value, desc) HC_ERR_##name = value,
    HC_ERR_MAP(HC_ERR_ENUM_)
#undef HC_ERR_ENUM_
};

/* Static description of an hc_err; never NULL. */
HC_API const char *hc_strerror(int err);

/* Connection states (the JS client's HubConnectionState). */
enum hc_state {
    HC_STATE_DISCONNECTED = 0,
    HC_STATE_CONNECTING,
    HC_STATE_CONNECTED,
    HC_STATE_RECONNECTING,
    HC_STATE_DISCONNECTING,
};
/* "Disconnected", "Connecting", ... */
HC_API const char *hc_state_name(enum hc_state state);

/* Transport bits for hc_client_set_transports(). */
#define HC_TRANSPORT_WEBSOCKETS 1u
#define HC_TRANSPORT_SSE 2u
#define HC_TRANSPORT_LONGPOLLING 4u
#define HC_TRANSPORT_ALL 7u

/* Hub protocols for hc_client_set_protocol() (signalr-protocol.md sections 5, 6). */
enum hc_protocol {
    HC_PROTOCOL_JSON = 0,
    HC_PROTOCOL_MESSAGEPACK = 1,
};

enum hc_log_level {
    HC_LOG_ERR = 0,
    HC_LOG_WARN,
    HC_LOG_NOTICE,
    HC_LOG_INFO,
    HC_LOG_DEBUG,
};

typedef struct hc_client hc_client;
/* One received Invocation, valid only inside the handler it is passed to. */
typedef struct hc_invocation hc_invocation;

/* ---- callbacks --------------------------------------------------------------------------- */

/* A log line (no trailing newline), at `level` or more important. */
typedef void (*hc_log_fn)(void *user, enum hc_log_level level, const char *line);

/*
 * State change. `error` is the reason for a change to Reconnecting or
 * Disconnected after a failure (e.g. "Server timeout elapsed without
 * receiving a message from the server."), NULL otherwise.
 */
typedef void (*hc_state_fn)(void *user, hc_client *c, enum hc_state old_state,
                            enum hc_state new_state, const char *error);

/*
 * Access-token provider, called before every negotiate and every transport
 * connect (so it may refresh the token). Return the token (copied at once),
 * or NULL for none.
 */
typedef const char *(*hc_token_fn)(void *user, hc_client *c);

/* What a reconnect policy is told (the JS client's RetryContext). */
struct hc_retry_info {
    unsigned previous_attempts; /* reconnect attempts made so far in this outage */
    int64_t elapsed_ms;         /* since the connection was lost */
    const char *error;          /* why the last connection or attempt ended */
};
/* Return the delay in ms before the next reconnect attempt, or -1 to stop. */
typedef int64_t (*hc_retry_fn)(void *user, const struct hc_retry_info *info);

/*
 * Handler for a server→client invocation of a method registered with
 * hc_client_on(). When the server expects a result (client results,
 * hc_invocation_expects_result()), call hc_invocation_set_result() or
 * hc_invocation_set_error(); otherwise the server gets
 * "Client didn't provide a result.".
 */
typedef void (*hc_handler_fn)(void *user, hc_client *c, hc_invocation *inv);

/*
 * Completion of hc_client_invoke() or of a stream: exactly one of
 * result_json (JSON text, "null" for a void method or a finished stream) and
 * error (text) is non-NULL. Also called with an error when the connection is
 * lost before the completion arrives.
 */
typedef void (*hc_result_fn)(void *user, hc_client *c, const char *result_json,
                             const char *error);
/* One stream item (JSON text). */
typedef void (*hc_item_fn)(void *user, hc_client *c, const char *item_json);

/* ---- lifetime ---------------------------------------------------------------------------- */

/*
 * New client for a hub URL: "http://localhost:8888/client/?hub=chat",
 * "https://host/chat", or a negotiate base such as a functions app's
 * "http://localhost:7071/api" (which answers with a redirect). Schemes http,
 * https, ws, wss. Returns NULL when the URL is not usable or memory runs out.
 * The client starts Disconnected.
 */
HC_API hc_client *hc_client_new(const char *url);

/*
 * Stop (sending a Close record when connected, waiting at most ~1 s), stop
 * the background thread if any, fail pending invocations, free everything.
 * NULL is a no-op. Must not be called from a callback.
 */
HC_API void hc_client_free(hc_client *c);

/* ---- configuration (only while Disconnected, else HC_ERR_STATE) ---------------------------- */

/* A fixed access token (sent as Authorization: Bearer, and as access_token on
 * SSE URLs). NULL clears it. Overridden by hc_client_set_token_fn(). */
HC_API HC_NODISCARD int hc_client_set_access_token(hc_client *c, const char *token);
HC_API HC_NODISCARD int hc_client_set_token_fn(hc_client *c, hc_token_fn fn, void *user);
/* Add a header sent on every HTTP request and on the WebSocket upgrade. */
HC_API HC_NODISCARD int hc_client_add_header(hc_client *c, const char *name, const char *value);
/* Allowed transports (HC_TRANSPORT_* mask, default HC_TRANSPORT_ALL); tried in the order the
 * server lists them. */
HC_API HC_NODISCARD int hc_client_set_transports(hc_client *c, unsigned mask);
/* Connect the WebSocket directly, without negotiate (needs the mask to be exactly
 * HC_TRANSPORT_WEBSOCKETS, checked at start). */
HC_API HC_NODISCARD int hc_client_set_skip_negotiate(hc_client *c, bool skip);
/* CA bundle file for TLS (default: the system store). */
HC_API HC_NODISCARD int hc_client_set_ca_file(hc_client *c, const char *path);
/* Verify TLS peers (default true). false is for tests only. */
HC_API HC_NODISCARD int hc_client_set_tls_verify(hc_client *c, bool verify);
/* Timeouts in ms: handshake (default 15000), server timeout (30000, 0 = never),
 * keep-alive ping interval (15000, 0 = no pings). */
HC_API HC_NODISCARD int hc_client_set_handshake_timeout(hc_client *c, uint32_t ms);
HC_API HC_NODISCARD int hc_client_set_server_timeout(hc_client *c, uint32_t ms);
HC_API HC_NODISCARD int hc_client_set_keepalive_interval(hc_client *c, uint32_t ms);
/* HTTP timeout for negotiate and POST requests in ms (default 100000). */
HC_API HC_NODISCARD int hc_client_set_http_timeout(hc_client *c, uint32_t ms);
/*
 * Automatic reconnect delays in ms: attempt i waits delays[i]; after the last
 * one the client gives up. Default {0, 2000, 10000, 30000}. n = 0 disables
 * automatic reconnect. At most 64 entries.
 */
HC_API HC_NODISCARD int hc_client_set_reconnect_delays(hc_client *c, const uint32_t *delays_ms,
                                                       size_t n);
/* A reconnect policy callback (replaces the delay list); NULL restores the list. */
HC_API HC_NODISCARD int hc_client_set_reconnect_policy(hc_client *c, hc_retry_fn fn, void *user);
/* Largest hub message accepted from the server, and largest queued outbound
 * bytes (default 1 MiB each). */
HC_API HC_NODISCARD int hc_client_set_max_message_size(hc_client *c, size_t bytes);
/* Log callback and the most verbose level delivered (default: none). */
HC_API HC_NODISCARD int hc_client_set_log_fn(hc_client *c, hc_log_fn fn, void *user,
                                             enum hc_log_level level);
/* State-change callback. */
HC_API HC_NODISCARD int hc_client_set_state_fn(hc_client *c, hc_state_fn fn, void *user);
/*
 * Hub protocol (default HC_PROTOCOL_JSON). HC_PROTOCOL_MESSAGEPACK sends the
 * handshake {"protocol":"messagepack","version":1} (2 with stateful
 * reconnect) and then binary WebSocket frames or octet-stream long-polling
 * bodies; Server-Sent Events cannot carry binary, so it is skipped like the
 * JS client does, and hc_client_start() returns HC_ERR_INVALID when the
 * transport mask allows nothing else. Returns HC_ERR_INVALID for an unknown
 * value. Since 1.1.
 */
HC_API HC_NODISCARD int hc_client_set_protocol(hc_client *c, enum hc_protocol protocol);
/*
 * Ask for stateful reconnect (default false, like the JS client without
 * withStatefulReconnect()): negotiate carries useStatefulReconnect=true and,
 * when the server answers useStatefulReconnect:true and WebSockets is
 * chosen, the handshake has version 2. See "Stateful reconnect" above. Since
 * 1.1.
 */
HC_API HC_NODISCARD int hc_client_set_stateful_reconnect(hc_client *c, bool enable);
/*
 * Most bytes of sent messages kept until the server acknowledges them, for
 * replay after a resume (default 100000, 1024 .. 2^30). While it is full,
 * hc_client_send()/invoke()/stream() return HC_ERR_TOO_LARGE (the server
 * acknowledges about once a second). Since 1.1.
 */
HC_API HC_NODISCARD int hc_client_set_stateful_reconnect_buffer(hc_client *c, size_t bytes);

/* ---- connection -------------------------------------------------------------------------- */

/* Begin connecting (Disconnected → Connecting). Returns HC_ERR_STATE if not
 * Disconnected. The outcome arrives through the state callback. */
HC_API HC_NODISCARD int hc_client_start(hc_client *c);
/*
 * Begin a graceful stop: a Close record is sent, the transport closed,
 * pending invocations fail, the state becomes Disconnected. Also cancels a
 * pending reconnect. No-op when already Disconnected.
 */
HC_API int hc_client_stop(hc_client *c);
HC_API enum hc_state hc_client_state(hc_client *c);
/* The connection id of the current connection (negotiate's connectionId)
 * copied into buf; "" when there is none. Returns HC_ERR_TOO_LARGE if cap is too small. */
HC_API HC_NODISCARD int hc_client_connection_id(hc_client *c, char *buf, size_t cap);
/* The transport in use (one HC_TRANSPORT_* bit) or 0. */
HC_API unsigned hc_client_transport(hc_client *c);

/*
 * Drive the client: wait at most timeout_ms for network activity or timers,
 * handle it, run callbacks, and return. timeout_ms 0 polls. Returns HC_OK, or
 * HC_ERR_STATE when a background thread is driving the client.
 */
HC_API int hc_client_service(hc_client *c, int timeout_ms);
/* Start a thread that drives the client until hc_client_stop_thread(). */
HC_API HC_NODISCARD int hc_client_start_thread(hc_client *c);
/* Stop the connection (as hc_client_stop), let the thread finish that for at
 * most ~1 s, and join it. */
HC_API int hc_client_stop_thread(hc_client *c);

/* ---- hub methods ------------------------------------------------------------------------- */

/*
 * Register a handler for server→client invocations of `method` (matched
 * ASCII case-insensitively). Several handlers per method are called in
 * registration order. The method "*" registers a catch-all handler called for
 * every invocation (alongside the specific ones). Returns HC_ERR_NOMEM or
 * HC_ERR_INVALID.
 */
HC_API HC_NODISCARD int hc_client_on(hc_client *c, const char *method, hc_handler_fn fn,
                                     void *user);
/* Remove the handlers of `method` that use fn (fn NULL: all of them).
 * Returns HC_ERR_NOT_FOUND when none matched. */
HC_API int hc_client_off(hc_client *c, const char *method, hc_handler_fn fn);

/*
 * Send an invocation without waiting for a result (fire-and-forget).
 * args_json is a JSON array text ("[]" when NULL). Returns
 * HC_ERR_NOT_CONNECTED unless Connected, HC_ERR_INVALID for bad arguments,
 * HC_ERR_TOO_LARGE when the send queue (or, with stateful reconnect, the
 * replay buffer) is full. With MessagePack the arguments are converted.
 */
HC_API HC_NODISCARD int hc_client_send(hc_client *c, const char *method, const char *args_json);
/* Invoke a hub method; fn gets the result or the error exactly once. */
HC_API HC_NODISCARD int hc_client_invoke(hc_client *c, const char *method, const char *args_json,
                                         hc_result_fn fn, void *user);
/*
 * Start a server→client stream: item_fn for each item, then done_fn once
 * (result_json "null" when the stream completed, or the error). The stream id
 * is written to *out_stream_id (may be NULL) for hc_client_stream_cancel().
 */
HC_API HC_NODISCARD int hc_client_stream(hc_client *c, const char *method, const char *args_json,
                                         hc_item_fn item_fn, hc_result_fn done_fn, void *user,
                                         uint64_t *out_stream_id);
/* Cancel a stream: sends CancelInvocation; no further callbacks are made for it.
 * Returns HC_ERR_NOT_FOUND for an unknown or finished stream. */
HC_API int hc_client_stream_cancel(hc_client *c, uint64_t stream_id);

/* ---- received invocations (valid inside a hc_handler_fn only) ------------------------------- */

/* The target as the server sent it. */
HC_API const char *hc_invocation_target(const hc_invocation *inv);
/* The arguments array as JSON text. */
HC_API const char *hc_invocation_args_json(const hc_invocation *inv);
HC_API size_t hc_invocation_n_args(const hc_invocation *inv);
/* Argument i as JSON text; NULL when out of range. */
HC_API const char *hc_invocation_arg_json(hc_invocation *inv, size_t i);
/* Argument i if it is a string, else NULL. */
HC_API const char *hc_invocation_arg_string(const hc_invocation *inv, size_t i);
/* Argument i if it is a number (HC_OK) else HC_ERR_INVALID; *out untouched on error. */
HC_API HC_NODISCARD int hc_invocation_arg_number(const hc_invocation *inv, size_t i, double *out);
HC_API HC_NODISCARD int hc_invocation_arg_bool(const hc_invocation *inv, size_t i, bool *out);
/* True when the server waits for a result (the invocation carries an id). */
HC_API bool hc_invocation_expects_result(const hc_invocation *inv);
/* Answer a client-result invocation with JSON text (e.g. "42", "null", "{\"a\":1}").
 * Returns HC_ERR_INVALID for invalid JSON, HC_ERR_STATE if no result is expected. */
HC_API HC_NODISCARD int hc_invocation_set_result(hc_invocation *inv, const char *result_json);
/* Answer a client-result invocation with an error text (non-empty). */
HC_API HC_NODISCARD int hc_invocation_set_error(hc_invocation *inv, const char *error);

#ifdef __cplusplus
}
#endif

#endif
