/* Fuzz target: MessagePack hub protocol framing, decoding, conversion to
 * JSON and back (signalr-protocol.md section 6). */
#include <string.h>

#include "fuzz.h"
#include "hcp/hcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    while (off < size) {
        size_t hdr = 0, len = 0;
        int n = hcp_msgpack_record_next(data + off, size - off, 65536, &hdr, &len);
        if (n <= 0)
            break;
        const uint8_t *rec = data + off + hdr;
        struct hcp_msg m;
        const char *reason;
        if (hcp_msgpack_msg_decode(rec, len, &m, &reason) == HCP_OK) {
            if (m.type == HCP_MSG_INVOCATION) {
                /* MessagePack -> JSON -> MessagePack must frame and decode. */
                struct hcp_buf j, p;
                hcp_buf_init(&j, 0);
                hcp_buf_init(&p, 0);
                if (hcp_json_invocation_from_msgpack(&j, rec, len) == HCP_OK) {
                    size_t jl;
                    if (hcp_json_record_next(j.data, j.len, j.len, &jl) != (int)j.len)
                        __builtin_trap();
                    if (hcp_msgpack_invocation_from_json(&p, (const char *)j.data, jl) != HCP_OK)
                        __builtin_trap();
                    size_t h2, l2;
                    struct hcp_msg m2;
                    const char *r2;
                    if (hcp_msgpack_record_next(p.data, p.len, p.len, &h2, &l2) != (int)p.len ||
                        hcp_msgpack_msg_decode(p.data + h2, l2, &m2, &r2) != HCP_OK)
                        __builtin_trap();
                    if (strcmp(m2.target, m.target) != 0)
                        __builtin_trap();
                    hcp_msg_cleanup(&m2);
                }
                hcp_buf_cleanup(&j);
                hcp_buf_cleanup(&p);
            }
            hcp_msg_cleanup(&m);
        }
        /* Any value converts to JSON or fails cleanly. */
        struct hcp_buf t;
        hcp_buf_init(&t, 0);
        if (hcp_msgpack_to_json(&t, rec, len) == HCP_OK && hcp_json_validate((const char *)t.data, t.len) != HCP_OK)
            __builtin_trap();
        hcp_buf_cleanup(&t);
        off += (size_t)n;
    }
    /* The whole input as JSON text: converts or fails, never crashes. */
    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    if (hcp_msgpack_from_json(&b, (const char *)data, size) == HCP_OK) {
        struct hcp_buf t;
        hcp_buf_init(&t, 0);
        if (hcp_msgpack_to_json(&t, b.data, b.len) != HCP_OK)
            __builtin_trap(); /* our own output converts back */
        hcp_buf_cleanup(&t);
    }
    hcp_buf_cleanup(&b);
    return 0;
}
