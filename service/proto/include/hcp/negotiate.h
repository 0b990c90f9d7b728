/*
 * Negotiate response codec (signalr-protocol.md section 2).
 */
#ifndef HCP_NEGOTIATE_H
#define HCP_NEGOTIATE_H

#include "hcp/common.h"

/* Transport bits; the values match the asrs.s.htt claim bitmask. */
#define HCP_TRANSPORT_WEBSOCKETS 1u
#define HCP_TRANSPORT_SSE 2u
#define HCP_TRANSPORT_LONGPOLLING 4u
#define HCP_TRANSPORT_ALL 7u

struct hcp_negotiate_response {
    int version;                  /* 0 or 1 */
    const char *connection_id;    /* required */
    const char *connection_token; /* required for version >= 1, ignored for 0 */
    unsigned transports;          /* HCP_TRANSPORT_* mask, listed WS, SSE, LP */
    bool stateful_reconnect;      /* adds "useStatefulReconnect":true */
};

/*
 * Append the 200 body:
 * {"negotiateVersion":1,"connectionId":"…","connectionToken":"…",
 *  "availableTransports":[{"transport":"WebSockets","transferFormats":["Text","Binary"]},
 *  {"transport":"ServerSentEvents","transferFormats":["Text"]},
 *  {"transport":"LongPolling","transferFormats":["Text","Binary"]}]}
 * Version 0 omits connectionToken. Never writes ProtocolVersion.
 */
HCP_NODISCARD int hcp_negotiate_encode(struct hcp_buf *b, const struct hcp_negotiate_response *r);
/* {"error":"…"} */
HCP_NODISCARD int hcp_negotiate_encode_error(struct hcp_buf *b, const char *error);
/* {"url":"…","accessToken":"…"}; access_token may be NULL (key omitted). */
HCP_NODISCARD int hcp_negotiate_encode_redirect(struct hcp_buf *b, const char *url,
                                                const char *access_token);

/*
 * Parse the negotiateVersion query value and answer min(requested, 1).
 * s NULL (absent) means 0. A value that is not a non-negative decimal integer
 * is HCP_ERR_MALFORMED.
 */
HCP_NODISCARD int hcp_negotiate_version(const char *s, int *out_version);

#endif
