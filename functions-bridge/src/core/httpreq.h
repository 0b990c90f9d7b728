/*
 * hcb_http: an HTTP/1.1 request-head parser for the bridge's listener.
 *
 * libwebsockets 4.1 cannot enumerate unknown request headers, and the IoT Hub
 * device API carries application properties as arbitrary `iothub-app-*`
 * headers, so the bridge reads requests as raw bytes and parses them here.
 * Pure; results are views into the caller's buffer. Bodies are framed by the
 * caller (Content-Length, or hcp_chunked_decode).
 */
#ifndef HCB_HTTPREQ_H
#define HCB_HTTPREQ_H

#include "hcp/common.h"

#define HCB_HTTP_MAX_HEADERS 100

struct hcb_http_header {
    struct hcp_str name;
    struct hcp_str value; /* surrounding whitespace trimmed */
};

struct hcb_http_head {
    struct hcp_str method;
    struct hcp_str path;  /* request-target before '?', still percent-encoded */
    struct hcp_str query; /* after '?', without it; ptr NULL when absent */
    int minor_version;    /* HTTP/1.x */
    struct hcb_http_header headers[HCB_HTTP_MAX_HEADERS];
    size_t n_headers;
};

/*
 * Parse a request head from buf[0..len). Returns the number of bytes of the
 * head (through the empty line) on success; HCP_ERR_INCOMPLETE when no full
 * head is present yet (and len <= max_head); HCP_ERR_TOO_LARGE when the head
 * exceeds max_head bytes or has too many headers; HCP_ERR_MALFORMED.
 * *out is written only on success.
 */
HCP_NODISCARD int hcb_http_parse_head(const char *buf, size_t len, size_t max_head,
                                      struct hcb_http_head *out);

/* Value of the first header called `name` (case-insensitive), or NULL. */
const struct hcp_str *hcb_http_header(const struct hcb_http_head *h, const char *name);

#endif
