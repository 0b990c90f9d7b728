/* hcb_json: see json.h. */
#include "json.h"

cJSON *hcb_json_parse(const char *s, size_t len)
{
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(s, len, &end, false);
    if (!j)
        return NULL;
    while (end < s + len && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
        end++;
    if (end != s + len) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

bool hcb_json_add(cJSON *obj, const char *key, cJSON *item)
{
    if (!item)
        return false;
    if (!cJSON_AddItemToObject(obj, key, item)) {
        cJSON_Delete(item);
        return false;
    }
    return true;
}
