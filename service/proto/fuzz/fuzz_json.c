/* Fuzz target: JSON hub protocol framing, decoding and re-encoding. */
#include <string.h>

#include "fuzz.h"
#include "hcp/hcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    while (off < size) {
        size_t len;
        int n = hcp_json_record_next(data + off, size - off, 65536, &len);
        if (n <= 0)
            break;
        struct hcp_msg m;
        const char *reason;
        if (hcp_json_msg_decode((const char *)data + off, len, &m, &reason) == HCP_OK) {
            if (m.type == HCP_MSG_INVOCATION) {
                /* Re-encode: the record must frame back to exactly itself. */
                char *args = cJSON_PrintUnformatted(m.arguments);
                struct hcp_buf b;
                hcp_buf_init(&b, 0);
                if (args != NULL &&
                    hcp_json_encode_invocation(&b, m.invocation_id, m.target, strlen(m.target),
                                               args, strlen(args)) == HCP_OK) {
                    size_t rlen;
                    if (hcp_json_record_next(b.data, b.len, b.len, &rlen) != (int)b.len)
                        __builtin_trap();
                }
                hcp_buf_cleanup(&b);
                if (args != NULL)
                    cJSON_free(args);
            }
            hcp_msg_cleanup(&m);
        }
        off += (size_t)n;
    }
    return 0;
}
