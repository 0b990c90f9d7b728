/*
 * hcb_iothub: IoT Hub device-side wire facts (iot-bridge-and-client.md
 * sections 3 and 4): the HTTPS route and headers, the batch body, and the
 * MQTT telemetry topic with its percent-encoded property bag. Pure; results
 * are cJSON objects the caller owns.
 */
#ifndef HCB_IOTHUB_H
#define HCB_IOTHUB_H

#include <cjson/cJSON.h>

#include "event.h"
#include "hcp/common.h"

#define HCB_ID_MAX 129 /* 128 characters + NUL */

/* HTTPS property names/values: ASCII letters, digits and ! # $ % & ' * + - . ^ _ ` | ~ */
bool hcb_iothub_valid_token(const char *s, size_t len);

/*
 * Match POST /devices/{id}/messages/events or
 * /devices/{id}/modules/{m}/messages/events (path without query; segments
 * percent-decoded here). Writes the ids (module "" when absent). Returns
 * HCP_OK, HCP_ERR_NOT_FOUND (other path) or HCP_ERR_MALFORMED (bad id).
 */
HCP_NODISCARD int hcb_iothub_match_path(const char *path, size_t len, char device[HCB_ID_MAX],
                                        char module[HCB_ID_MAX]);

/*
 * Map one HTTPS request header onto application properties (`iothub-app-*`)
 * or system properties (table in section 3). Other headers are ignored.
 * HCP_ERR_MALFORMED with a static reason for characters outside the allowed
 * set in an application property.
 */
HCP_NODISCARD int hcb_iothub_map_header(const char *name, size_t nlen, const char *value,
                                        size_t vlen, cJSON *props, cJSON *sys,
                                        const char **out_reason);

/*
 * Parse a batch body (Content-Type application/vnd.microsoft.iothub.json):
 * [{"body":"<base64>","properties":{"iothub-app-k":"v"}}, ...]. Each element
 * becomes an unstamped event carrying a copy of `sys` (identity and the
 * request's system properties). *out_batch only on success.
 */
HCP_NODISCARD int hcb_iothub_parse_batch(const char *body, size_t len, const cJSON *sys,
                                         const struct hcb_limits *lim, cJSON **out_batch,
                                         const char **out_reason);

/*
 * Parse an MQTT telemetry topic devices/{id}/messages/events/{bag} or
 * devices/{id}/modules/{m}/messages/events/{bag}. Keys and values are
 * percent-decoded; `$.` keys map to system properties (section 4 table),
 * others to application properties (a key without '=' has a null value).
 * On success *out_props and *out_sys are new objects (sys holds the device
 * and module ids) and HCP_OK is returned.
 */
HCP_NODISCARD int hcb_iothub_parse_topic(const char *topic, size_t len, cJSON **out_props,
                                         cJSON **out_sys, const char **out_reason);

#endif
