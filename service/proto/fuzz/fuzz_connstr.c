/* Fuzz target: connection string parsing. */
#include "fuzz.h"
#include "hcp/hcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hcp_connstr c;
    const char *reason = NULL;
    if (hcp_connstr_parse((const char *)data, size, &c, &reason) != HCP_OK && reason == NULL)
        __builtin_trap();
    return 0;
}
