/* Fuzz target: the SDK's negotiate response, handshake response and URL
 * decoders (hcp/client.h). The first byte picks the decoder. */
#include <string.h>

#include "fuzz.h"
#include "hcp/hcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned mode = data[0] % 3;
    const char *s = (const char *)data + 1;
    size_t len = size - 1;

    if (mode == 0) {
        struct hcp_negotiate_result r;
        const char *reason = NULL;
        if (hcp_client_negotiate_decode(s, len, &r, &reason) == HCP_OK) {
            if (r.n_transports > 3)
                __builtin_trap();
            for (size_t i = 0; i < r.n_transports; i++)
                (void)hcp_client_transport_name(r.transports[i]);
            if (r.kind == HCP_NEGOTIATE_REDIRECT && r.url != NULL) {
                struct hcp_buf b;
                hcp_buf_init(&b, 1 << 16);
                if (hcp_client_negotiate_url(&b, r.url, r.stateful_reconnect) != HCP_OK)
                    hcp_buf_reset(&b);
                if (hcp_client_ws_url(&b, r.url) != HCP_OK)
                    hcp_buf_reset(&b);
                hcp_buf_cleanup(&b);
            }
            hcp_client_negotiate_cleanup(&r);
        } else if (reason == NULL) {
            __builtin_trap();
        }
    } else if (mode == 1) {
        char err[128];
        int rc = hcp_client_handshake_decode(s, len, err, sizeof err);
        if (rc != HCP_OK && rc != HCP_ERR_MALFORMED && rc != HCP_ERR_UNSUPPORTED &&
            rc != HCP_ERR_NOMEM)
            __builtin_trap();
        if (memchr(err, '\0', sizeof err) == NULL)
            __builtin_trap();
    } else {
        /* URL functions take NUL-terminated strings. */
        char url[2048];
        size_t n = len < sizeof url - 1 ? len : sizeof url - 1;
        memcpy(url, s, n);
        url[n] = '\0';
        struct hcp_url u;
        if (hcp_client_url_parse(url, &u) == HCP_OK) {
            if (u.port <= 0 || u.port > 65535 || memchr(u.host, '\0', sizeof u.host) == NULL)
                __builtin_trap();
        }
        struct hcp_buf b;
        hcp_buf_init(&b, 1 << 16);
        if (hcp_client_url_add_param(&b, url, "access_token", url) != HCP_OK)
            hcp_buf_reset(&b);
        if (hcp_client_negotiate_url(&b, url, true) != HCP_OK)
            hcp_buf_reset(&b);
        hcp_buf_cleanup(&b);
    }
    return 0;
}
