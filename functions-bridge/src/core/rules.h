/*
 * hcb_rules: the declarative transform (rules.json). Pure.
 *
 *   {"rules": [ {"match": {"deviceId": "thermo-*", "moduleId": "m?",
 *                          "properties": {"alert": "true"},
 *                          "body": {"kind": "door"}},
 *                "target": "alert",
 *                "to": {"group": "device:{deviceId}"},     (or user / connection / all)
 *                "project": {"id": "deviceId", "t": "body.temperature"},
 *                "stop": true} ],
 *    "unmatched": "drop" | "telemetry"}
 *
 * Every rule whose match holds (all given conditions; globs with * and ? on
 * ids; exact strings on properties; JSON equality on body paths) emits one
 * message, in file order, until a matching rule has "stop": true. The
 * argument is the projection (name -> path) or, without "project", the
 * default telemetry summary. Paths: deviceId, moduleId, enqueuedTime,
 * sequenceNumber, properties[.k], systemProperties[.k], body[.a.b.0].
 * Templates replace {path} by the value's text. Events no rule matched are
 * dropped or, with "unmatched": "telemetry", get the default transform.
 */
#ifndef HCB_RULES_H
#define HCB_RULES_H

#include <cjson/cJSON.h>

#include "hcp/common.h"

struct hcb_rules;

/* Parse and validate; HCP_ERR_MALFORMED with a static reason. */
HCP_NODISCARD int hcb_rules_parse(const char *json, size_t len, struct hcb_rules **out,
                                  const char **out_reason);
void hcb_rules_free(struct hcb_rules *r);

/* Append the actions for one stamped event to `actions` (a cJSON array).
 * Returns the number appended, or HCP_ERR_NOMEM. */
HCP_NODISCARD int hcb_rules_apply(const struct hcb_rules *r, const cJSON *event, cJSON *actions);

/* Resolve a path (see above) in an event; NULL when absent. Borrowed. */
const cJSON *hcb_rules_resolve(const cJSON *event, const char *path);

#endif
