/*
 * hcb_mqtt: the bridge's MQTT subscription (libmosquitto) to the broker the
 * devices publish to (iot-bridge-and-client.md section 4). libmosquitto runs
 * its own network thread; each telemetry publish is copied into a bounded,
 * locked queue and the loop thread is woken (`wake`) to drain it. Connection
 * losses are retried by libmosquitto with backoff.
 */
#ifndef HCB_MQTT_H
#define HCB_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hcb_mqtt;

struct hcb_mqtt_msg {
    struct hcb_mqtt_msg *next;
    char *topic;
    uint8_t *payload;
    size_t len;
};

/* url: mqtt://host[:port] or mqtts://host[:port] (ca_file required for the
 * latter). NULL with a logged reason on failure. */
struct hcb_mqtt *hcb_mqtt_new(const char *url, const char *ca_file, size_t max_queue,
                              void (*wake)(void *user), void *user);
/* True once subscribed to both telemetry topics. */
bool hcb_mqtt_ready(struct hcb_mqtt *m);
/* Take every queued message (oldest first); free each with hcb_mqtt_msg_free. */
struct hcb_mqtt_msg *hcb_mqtt_take(struct hcb_mqtt *m, uint64_t *out_dropped);
void hcb_mqtt_msg_free(struct hcb_mqtt_msg *msg);
void hcb_mqtt_free(struct hcb_mqtt *m);

#endif
