/*
 * hcb_json: two cJSON helpers every core module needs. cJSON_AddItemToObject
 * leaks the item when copying the key fails, and cJSON_ParseWithLength
 * accepts trailing garbage; these close both holes.
 */
#ifndef HCB_JSON_H
#define HCB_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

/* Parse exactly s[0..len) (trailing whitespace allowed); NULL on error. */
cJSON *hcb_json_parse(const char *s, size_t len);
/* Add `item` (taken in every case; NULL means failure) under `key`. */
bool hcb_json_add(cJSON *obj, const char *key, cJSON *item);

#endif
