/* Fuzz target: upstream settings.json parsing, matching and URL expansion,
 * and the interpretation of an upstream's answer (hcp/settings.h). The first
 * byte picks the decoder. */
#include <string.h>

#include "fuzz.h"
#include "hcp/hcp.h"
#include "hcp/settings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned mode = data[0] % 2;
    const char *s = (const char *)data + 1;
    size_t len = size - 1;

    if (mode == 0) {
        struct hcp_upstream_settings st;
        const char *reason = NULL;
        if (hcp_upstream_settings_parse(s, len, &st, &reason) == HCP_OK) {
            if (st.n_rules > HCP_SETTINGS_MAX_RULES)
                __builtin_trap();
            long i = hcp_upstream_settings_match(&st, "Chat", "messages", "broadcast");
            if (i >= (long)st.n_rules)
                __builtin_trap();
            for (size_t k = 0; k < st.n_rules && k < 8; k++) {
                struct hcp_buf b;
                hcp_buf_init(&b, 1 << 20);
                if (hcp_upstream_url_expand(&b, st.rules[k].url_template, "h{ub}%", "connections",
                                            "connected") != HCP_OK)
                    hcp_buf_reset(&b);
                (void)hcp_upstream_pattern_match(st.rules[k].hub_pattern, "chat", true);
                hcp_buf_cleanup(&b);
            }
            hcp_upstream_settings_cleanup(&st);
        } else if (reason == NULL) {
            __builtin_trap();
        }
    } else {
        /* An upstream's answer to invocation "7": status from the next byte. */
        static const long statuses[] = {200, 204, 201, 299, 400, 500, 302, 0};
        if (len < 1)
            return 0;
        long status = statuses[(uint8_t)s[0] % 8];
        struct hcp_buf out;
        enum hcp_upstream_result kind;
        hcp_buf_init(&out, 0);
        if (hcp_upstream_invocation_result(&out, "7", status, (const uint8_t *)s + 1, len - 1,
                                           false, &kind) == HCP_OK) {
            /* Exactly one framed record comes back. */
            size_t rlen;
            if (out.len == 0 || hcp_json_record_next(out.data, out.len, out.len, &rlen) !=
                                    (int)out.len)
                __builtin_trap();
        }
        hcp_buf_cleanup(&out);
    }
    return 0;
}
