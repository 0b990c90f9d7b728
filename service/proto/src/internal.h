/*
 * Helpers shared between hcproto source files; not part of the public API.
 */
#ifndef HCP_INTERNAL_H
#define HCP_INTERNAL_H

#include <cjson/cJSON.h>

#include "hcp/common.h"

/*
 * Parse text[0..len) as UTF-8 JSON whose top level is an object. Returns
 * HCP_OK and the tree in *out_root (free with cJSON_Delete), or
 * HCP_ERR_MALFORMED / HCP_ERR_NOMEM with a static reason.
 */
int hcp__parse_object(const char *text, size_t len, cJSON **out_root, const char **out_reason);

/* True if item is a JSON number holding an integer in [min, max]; writes it. */
/* Value of one hexadecimal digit, or -1. */
static inline int hcp__hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool hcp__json_int(const cJSON *item, int64_t min, int64_t max, int64_t *out);

#endif
