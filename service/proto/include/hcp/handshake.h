/*
 * SignalR handshake codec (signalr-protocol.md section 3). The request and the
 * response are always JSON records terminated by 0x1E, whatever the hub
 * protocol.
 */
#ifndef HCP_HANDSHAKE_H
#define HCP_HANDSHAKE_H

#include "hcp/common.h"

enum hcp_protocol {
    HCP_PROTOCOL_JSON = 0,
    HCP_PROTOCOL_MSGPACK = 1,
    HCP_PROTOCOL_COUNT
};

#define HCP_PROTOCOL_BIT(p) (1u << (p))
/* Added to the `supported` mask of hcp_handshake_decode() when the transport
 * carries text only (Server-Sent Events): binary protocols are then refused
 * with ASP.NET's "Cannot use the '…' protocol on the current transport" text. */
#define HCP_HANDSHAKE_TEXT_TRANSPORT (1u << 31)

struct hcp_handshake {
    enum hcp_protocol protocol;
    int version;
};

/* Exact texts ASP.NET Core uses; clients surface them verbatim. */
#define HCP_HANDSHAKE_ERR_UNPARSABLE "An unexpected error occurred during connection handshake."
#define HCP_HANDSHAKE_ERR_CANCELED "Handshake was canceled."

/*
 * Decode a handshake request record `rec[0..len)` (without the 0x1E). Keys in
 * any order, unknown keys skipped, protocol name matched case-insensitively;
 * `protocol` (string) and `version` (integer) are required.
 *
 * `supported` is a mask of HCP_PROTOCOL_BIT()s the service implements, plus
 * HCP_HANDSHAKE_TEXT_TRANSPORT on text-only transports; `max_version` the
 * highest version accepted (versions 1..max).
 *
 * On success fills *out and returns HCP_OK. On failure returns
 * HCP_ERR_MALFORMED (not JSON, missing/mistyped keys) or HCP_ERR_UNSUPPORTED
 * (unknown or disallowed protocol, bad version) and writes the ASP.NET error
 * text into err[0..err_cap) (always NUL terminated, truncated if needed):
 *   "The protocol 'xml' is not supported."
 *   "The server does not support version 3 of the 'json' protocol."
 *   "Cannot use the 'messagepack' protocol on the current transport. The
 *    transport does not support 'Binary' transfer format." (a known protocol
 *    other than json that `supported` excludes, e.g. MessagePack over SSE)
 *   HCP_HANDSHAKE_ERR_UNPARSABLE
 * Allocation failure inside cJSON is indistinguishable from bad JSON and is
 * reported as HCP_ERR_MALFORMED.
 */
HCP_NODISCARD int hcp_handshake_decode(const char *rec, size_t len, unsigned supported,
                                       int max_version, struct hcp_handshake *out, char *err,
                                       size_t err_cap);

/* Append the success response: bytes 7B 7D 1E. */
HCP_NODISCARD int hcp_handshake_encode_ok(struct hcp_buf *b);
/* Append {"error":"<error>"} 0x1E (no "type" key). */
HCP_NODISCARD int hcp_handshake_encode_error(struct hcp_buf *b, const char *error);

/* "json" / "messagepack". */
const char *hcp_protocol_name(enum hcp_protocol p);

#endif
