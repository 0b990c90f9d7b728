/* Fuzz target: the strict JSON scanner (hcp/jsonscan.h). A member span must
 * lie inside the input and validate on its own; cJSON must accept what the
 * scanner accepts (the scanner is the stricter of the two). */
#include <string.h>

#include "fuzz.h"
#include "hcp/hcp.h"
#include "hcp/jsonscan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct hcp_str v;
    int ok = hcp_json_validate(s, size) == HCP_OK;

    if (hcp_json_member_span(s, size, "target", true, &v) == HCP_OK && v.ptr != NULL) {
        if (v.ptr < s || v.ptr + v.len > s + size)
            __builtin_trap();
        if (hcp_json_validate(v.ptr, v.len) != HCP_OK)
            __builtin_trap();
    }
    if (hcp_json_member_span(s, size, "arguments", false, &v) == HCP_OK && v.ptr != NULL &&
        (v.ptr < s || v.ptr + v.len > s + size))
        __builtin_trap();
    /* cJSON refuses lone UTF-16 surrogates in \u escapes, which the scanner
     * (by design) leaves to hcp_utf8_valid: skip inputs with escapes. */
    if (ok && size < 4096 && memchr(s, '\0', size) == NULL && memchr(s, '\\', size) == NULL) {
        cJSON *j = cJSON_ParseWithLength(s, size);
        if (j == NULL)
            __builtin_trap();
        cJSON_Delete(j);
    }
    return 0;
}
