/*
 * Azure SignalR connection string codec (azure-signalr-service.md section 1),
 * parsed with the .NET SDK's rules.
 */
#ifndef HCP_CONNSTR_H
#define HCP_CONNSTR_H

#include "hcp/common.h"

#define HCP_CONNSTR_FIELD_MAX 512

struct hcp_connstr {
    char endpoint[HCP_CONNSTR_FIELD_MAX]; /* scheme://host[:port][/path], trailing '/' removed,
                                             Port applied */
    char scheme[8];                       /* "http" or "https" */
    char host[256];                       /* without brackets for IPv6 */
    int port;                             /* effective port (Port key, URL port, or 80/443) */
    char access_key[HCP_CONNSTR_FIELD_MAX];
    char version[32];                     /* "" when absent */
    char client_endpoint[HCP_CONNSTR_FIELD_MAX]; /* "" when absent */
    char server_endpoint[HCP_CONNSTR_FIELD_MAX]; /* "" when absent */
    char auth_type[32];                   /* "" when absent */
};

/*
 * Parse s[0..len). Rules: split on ';', drop empty pieces, split each at the
 * first '=', trim key and value; keys case-insensitive; a repeated key is an
 * error; a piece without '=' is ignored. Endpoint is required and must be an
 * absolute http(s) URL. Port must be 1..65535. Version must be
 * 1.<digits>[suffix]. AccessKey is required unless AuthType is present.
 * Unknown keys are ignored.
 * Returns HCP_OK, or HCP_ERR_MALFORMED / HCP_ERR_TOO_LARGE with *out_reason set
 * to a static English reason (out untouched).
 */
HCP_NODISCARD int hcp_connstr_parse(const char *s, size_t len, struct hcp_connstr *out,
                                    const char **out_reason);

/* Append "Endpoint=<scheme>://<host>;Port=<port>;AccessKey=<key>;Version=1.0;" */
HCP_NODISCARD int hcp_connstr_format(struct hcp_buf *b, const char *scheme, const char *host,
                                     int port, const char *access_key);

#endif
