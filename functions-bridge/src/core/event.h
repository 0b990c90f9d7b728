/*
 * hcb_event: the canonical event (iot-bridge-and-client.md section 2).
 *
 * Every input of the bridge becomes a cJSON object of this shape before the
 * transform runs: {"body", "bodyEncoding", "properties", "systemProperties",
 * and after stamping "partitionKey", "sequenceNumber", "offset",
 * "enqueuedTimeUtc"}. Pure functions: no clock (time comes in as now_ms),
 * no I/O, no logging. Depends on hcproto and cJSON only.
 */
#ifndef HCB_EVENT_H
#define HCB_EVENT_H

#include <cjson/cJSON.h>

#include "hcp/common.h"

struct hcb_limits {
    size_t max_message_bytes; /* body + system values + property names and values (256 KiB) */
    size_t max_batch_bytes;   /* one request body / batch (256 KiB) */
    size_t max_batch_events;  /* events per request (1000) */
};
void hcb_limits_default(struct hcb_limits *l);

/* True for a device or module id IoT Hub accepts: 1..128 ASCII characters,
 * letters, digits and - . % _ * ? ! ( ) , : = @ $ ' */
bool hcb_event_valid_id(const char *s, size_t len);

/*
 * Build an unstamped event from the raw bytes a device sent. `properties`
 * (application) and `sys` (system properties; must hold
 * "iothub-connection-device-id") are cJSON objects taken over in every case.
 * The body becomes parsed JSON when content-type starts with
 * application/json, the encoding is utf-8 or absent and the bytes parse;
 * otherwise a base64 string. Returns HCP_OK, HCP_ERR_TOO_LARGE (message over
 * lim->max_message_bytes), HCP_ERR_MALFORMED or HCP_ERR_NOMEM with a static
 * *out_reason; *out only on success.
 */
HCP_NODISCARD int hcb_event_from_device(const uint8_t *body, size_t len, cJSON *properties,
                                        cJSON *sys, const struct hcb_limits *lim, cJSON **out,
                                        const char **out_reason);

/*
 * Parse a POST /api/events body: one canonical event, an array of them, an
 * Event Grid Microsoft.Devices.DeviceTelemetry array or a single CloudEvent
 * (section 2.1), or a mix inside one array. *out_batch is a new non-empty
 * array of unstamped events (caller frees). HCP_ERR_MALFORMED (-> 400) or
 * HCP_ERR_TOO_LARGE (-> 413) with a static reason; nothing is returned then.
 */
HCP_NODISCARD int hcb_event_parse_request(const char *body, size_t len,
                                          const struct hcb_limits *lim, cJSON **out_batch,
                                          const char **out_reason);

/*
 * Stamp what the bridge owns (section 2): auth method (`auth_type` e.g.
 * "sas"), generation id, enqueued time (now_ms, ISO-8601 UTC with
 * milliseconds and epoch ms), message source, sequence number and offset,
 * partition key. Returns HCP_OK or HCP_ERR_NOMEM (event then partly stamped).
 */
HCP_NODISCARD int hcb_event_stamp(cJSON *ev, int64_t now_ms, int64_t sequence, int64_t offset,
                                  const char *auth_type);

/* Views into an event (NULL when absent). */
const char *hcb_event_device_id(const cJSON *ev);
const char *hcb_event_module_id(const cJSON *ev);

/* Write "YYYY-MM-DDTHH:MM:SS.mmmZ" for epoch milliseconds into out[25]. */
void hcb_event_format_time(int64_t ms, char out[25]);

/* The default transform's argument:
 * {"deviceId","moduleId","enqueuedTime","sequenceNumber","properties","body"}. */
cJSON *hcb_event_summary(const cJSON *ev);

/* The default transform: {"target":"telemetry","arguments":[summary]}.
 * Returns a new action or NULL on allocation failure. */
cJSON *hcb_event_default_action(const cJSON *ev);

#endif
