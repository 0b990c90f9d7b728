/* hcb_mqtt: see mqtt.h. */
#include "mqtt.h"

#include <mosquitto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hcp/common.h"
#include "log.h"

static const char *const TOPICS[] = {"devices/+/messages/events/#",
                                     "devices/+/modules/+/messages/events/#"};

struct hcb_mqtt {
    struct mosquitto *mosq;
    pthread_mutex_t mu;
    struct hcb_mqtt_msg *head, *tail;
    size_t n, max;
    uint64_t dropped;
    int subscribed;
    int sub_mid[2];
    void (*wake)(void *);
    void *user;
};

static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
    struct hcb_mqtt *m = obj;
    if (rc) {
        hcb_log(HCB_LOG_WARN, "mqtt", "broker refused the connection: %s",
                mosquitto_connack_string(rc));
        return;
    }
    hcb_log(HCB_LOG_INFO, "mqtt", "connected; subscribing");
    pthread_mutex_lock(&m->mu);
    m->subscribed = 0;
    pthread_mutex_unlock(&m->mu);
    for (int i = 0; i < 2; i++)
        if (mosquitto_subscribe(mosq, &m->sub_mid[i], TOPICS[i], 1) != MOSQ_ERR_SUCCESS)
            hcb_log(HCB_LOG_ERR, "mqtt", "subscribe failed topic=%s", TOPICS[i]);
}

static void on_subscribe(struct mosquitto *mosq, void *obj, int mid, int n, const int *qos)
{
    (void)mosq;
    (void)mid;
    struct hcb_mqtt *m = obj;
    if (n < 1 || qos[0] > 2) {
        hcb_log(HCB_LOG_ERR, "mqtt", "broker refused a subscription");
        return;
    }
    pthread_mutex_lock(&m->mu);
    m->subscribed++;
    int s = m->subscribed;
    pthread_mutex_unlock(&m->mu);
    if (s == 2) {
        hcb_log(HCB_LOG_NOTICE, "mqtt", "subscribed to device telemetry topics");
        m->wake(m->user);
    }
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
    (void)mosq;
    struct hcb_mqtt *m = obj;
    pthread_mutex_lock(&m->mu);
    m->subscribed = 0;
    pthread_mutex_unlock(&m->mu);
    if (rc)
        hcb_log(HCB_LOG_WARN, "mqtt", "connection lost (%s); reconnecting", mosquitto_strerror(rc));
}

static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg)
{
    (void)mosq;
    struct hcb_mqtt *m = obj;
    struct hcb_mqtt_msg *q = hcp_calloc(1, sizeof *q);
    if (q) {
        q->topic = hcp_strdup(msg->topic);
        q->payload = hcp_malloc(msg->payloadlen ? (size_t)msg->payloadlen : 1);
        q->len = (size_t)msg->payloadlen;
        if (q->payload && msg->payloadlen)
            memcpy(q->payload, msg->payload, (size_t)msg->payloadlen);
    }
    pthread_mutex_lock(&m->mu);
    if (!q || !q->topic || !q->payload || m->n >= m->max) {
        m->dropped++;
        pthread_mutex_unlock(&m->mu);
        hcb_mqtt_msg_free(q);
        return;
    }
    if (m->tail)
        m->tail->next = q;
    else
        m->head = q;
    m->tail = q;
    m->n++;
    pthread_mutex_unlock(&m->mu);
    m->wake(m->user);
}

struct hcb_mqtt *hcb_mqtt_new(const char *url, const char *ca_file, size_t max_queue,
                              void (*wake)(void *user), void *user)
{
    bool tls = !strncmp(url, "mqtts://", 8);
    if (!tls && strncmp(url, "mqtt://", 7)) {
        hcb_log(HCB_LOG_ERR, "mqtt", "--mqtt-url must start with mqtt:// or mqtts://");
        return NULL;
    }
    char host[256];
    const char *h = url + (tls ? 8 : 7);
    const char *colon = strrchr(h, ':');
    int port = tls ? 8883 : 1883;
    size_t hl = colon ? (size_t)(colon - h) : strcspn(h, "/");
    if (hl == 0 || hl >= sizeof host) {
        hcb_log(HCB_LOG_ERR, "mqtt", "bad --mqtt-url host");
        return NULL;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    if (colon) {
        port = atoi(colon + 1);
        if (port <= 0 || port > 65535) {
            hcb_log(HCB_LOG_ERR, "mqtt", "bad --mqtt-url port");
            return NULL;
        }
    }
    struct hcb_mqtt *m = hcp_calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->max = max_queue;
    m->wake = wake;
    m->user = user;
    pthread_mutex_init(&m->mu, NULL);
    mosquitto_lib_init();
    char id[64];
    snprintf(id, sizeof id, "hubcast-bridge-%ld", (long)getpid());
    m->mosq = mosquitto_new(id, true, m);
    if (!m->mosq)
        goto fail;
    mosquitto_connect_callback_set(m->mosq, on_connect);
    mosquitto_subscribe_callback_set(m->mosq, on_subscribe);
    mosquitto_disconnect_callback_set(m->mosq, on_disconnect);
    mosquitto_message_callback_set(m->mosq, on_message);
    mosquitto_reconnect_delay_set(m->mosq, 1, 10, true);
    if (tls && (!ca_file || !*ca_file ||
                mosquitto_tls_set(m->mosq, ca_file, NULL, NULL, NULL, NULL) != MOSQ_ERR_SUCCESS)) {
        hcb_log(HCB_LOG_ERR, "mqtt", "mqtts:// needs a readable --mqtt-ca file");
        goto fail;
    }
    int rc = mosquitto_connect_async(m->mosq, host, port, 60);
    if (rc != MOSQ_ERR_SUCCESS)
        hcb_log(HCB_LOG_WARN, "mqtt", "cannot reach broker %s:%d yet (%s); retrying", host, port,
                mosquitto_strerror(rc));
    if (mosquitto_loop_start(m->mosq) != MOSQ_ERR_SUCCESS)
        goto fail;
    hcb_log(HCB_LOG_NOTICE, "mqtt", "broker=%s:%d tls=%s", host, port, tls ? "yes" : "no");
    return m;
fail:
    if (m->mosq)
        mosquitto_destroy(m->mosq);
    mosquitto_lib_cleanup();
    pthread_mutex_destroy(&m->mu);
    hcp_free(m);
    return NULL;
}

bool hcb_mqtt_ready(struct hcb_mqtt *m)
{
    pthread_mutex_lock(&m->mu);
    bool r = m->subscribed >= 2;
    pthread_mutex_unlock(&m->mu);
    return r;
}

struct hcb_mqtt_msg *hcb_mqtt_take(struct hcb_mqtt *m, uint64_t *out_dropped)
{
    pthread_mutex_lock(&m->mu);
    struct hcb_mqtt_msg *h = m->head;
    m->head = m->tail = NULL;
    m->n = 0;
    if (out_dropped)
        *out_dropped = m->dropped;
    pthread_mutex_unlock(&m->mu);
    return h;
}

void hcb_mqtt_msg_free(struct hcb_mqtt_msg *msg)
{
    if (!msg)
        return;
    hcp_free(msg->topic);
    hcp_free(msg->payload);
    hcp_free(msg);
}

void hcb_mqtt_free(struct hcb_mqtt *m)
{
    if (!m)
        return;
    mosquitto_disconnect(m->mosq);
    mosquitto_loop_stop(m->mosq, true);
    mosquitto_destroy(m->mosq);
    mosquitto_lib_cleanup();
    for (struct hcb_mqtt_msg *q = m->head, *nx; q; q = nx) {
        nx = q->next;
        hcb_mqtt_msg_free(q);
    }
    pthread_mutex_destroy(&m->mu);
    hcp_free(m);
}
