/*
 * hcb_event: canonical events (see event.h). Input shapes follow
 * iot-bridge-and-client.md sections 2 and 2.1.
 */
#include "event.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "b64.h"
#include "hcp/text.h"
#include "json.h"

#define KEY_DEVICE "iothub-connection-device-id"
#define KEY_MODULE "iothub-connection-module-id"

void hcb_limits_default(struct hcb_limits *l)
{
    l->max_message_bytes = 256 * 1024;
    l->max_batch_bytes = 256 * 1024;
    l->max_batch_events = 1000;
}

bool hcb_event_valid_id(const char *s, size_t len)
{
    if (!s || len == 0 || len > 128)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            continue;
        if (!strchr("-.%_*?!(),:=@$'", c) || c == '\0')
            return false;
    }
    return true;
}

/* System properties a producer may set (section 2.1 a); everything else in
 * systemProperties is the bridge's to stamp. */
static const char *const DEVICE_SETTABLE[] = {
    "message-id", "correlation-id", "user-id", "content-type", "content-encoding",
    "iothub-creation-time-utc", "dt-subject", "iothub-interface-id", "iothub-outputname",
};

static bool is_settable(const char *k)
{
    for (size_t i = 0; i < sizeof DEVICE_SETTABLE / sizeof *DEVICE_SETTABLE; i++)
        if (!strcmp(k, DEVICE_SETTABLE[i]))
            return true;
    return false;
}

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

const char *hcb_event_device_id(const cJSON *ev)
{
    return str_of(cJSON_GetObjectItemCaseSensitive(ev, "systemProperties"), KEY_DEVICE);
}

const char *hcb_event_module_id(const cJSON *ev)
{
    return str_of(cJSON_GetObjectItemCaseSensitive(ev, "systemProperties"), KEY_MODULE);
}

static bool is_json_type(const char *ct, const char *ce)
{
    if (!ct || strncasecmp(ct, "application/json", 16) != 0)
        return false;
    if (ct[16] != '\0' && ct[16] != ';' && ct[16] != ' ')
        return false;
    return !ce || !*ce || hcp_str_ieq(ce, "utf-8") || hcp_str_ieq(ce, "utf8");
}

/* Bytes counted against the message limit: property names and values and
 * system property values (section 2, "Limits"). */
static size_t props_size(const cJSON *props, bool with_names)
{
    size_t n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, props)
    {
        if (with_names)
            n += strlen(it->string);
        if (cJSON_IsString(it))
            n += strlen(it->valuestring);
    }
    return n;
}

static cJSON *make_event(cJSON *body, bool is_b64, cJSON *props, cJSON *sys)
{
    cJSON *ev = cJSON_CreateObject();
    if (!ev) {
        cJSON_Delete(body);
        cJSON_Delete(props);
        cJSON_Delete(sys);
        return NULL;
    }
    bool ok = hcb_json_add(ev, "body", body);
    ok = hcb_json_add(ev, "properties", props) && ok;
    ok = hcb_json_add(ev, "systemProperties", sys) && ok;
    if (!ok || !cJSON_AddStringToObject(ev, "bodyEncoding", is_b64 ? "base64" : "json")) {
        cJSON_Delete(ev);
        return NULL;
    }
    return ev;
}

int hcb_event_from_device(const uint8_t *body, size_t len, cJSON *properties, cJSON *sys,
                          const struct hcb_limits *lim, cJSON **out, const char **out_reason)
{
    int rc = HCP_ERR_MALFORMED;
    cJSON *b = NULL;
    struct hcp_buf tmp;
    hcp_buf_init(&tmp, 0);
    const char *dev = str_of(sys, KEY_DEVICE);
    if (!properties || !sys) {
        rc = HCP_ERR_NOMEM;
        *out_reason = "out of memory";
        goto fail;
    }
    if (!dev || !hcb_event_valid_id(dev, strlen(dev))) {
        *out_reason = "invalid device id";
        goto fail;
    }
    if (len + props_size(properties, true) + props_size(sys, false) > lim->max_message_bytes) {
        rc = HCP_ERR_TOO_LARGE;
        *out_reason = "message exceeds the size limit";
        goto fail;
    }
    bool is_b64 = true;
    if (is_json_type(str_of(sys, "content-type"), str_of(sys, "content-encoding")) &&
        hcp_utf8_valid(body, len)) {
        const char *end = NULL;
        b = cJSON_ParseWithLengthOpts((const char *)body, len, &end, false);
        if (b) {
            /* Trailing whitespace is fine; anything else makes it opaque bytes. */
            while (end && end < (const char *)body + len &&
                   (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t'))
                end++;
            if (end == (const char *)body + len)
                is_b64 = false;
            else {
                cJSON_Delete(b);
                b = NULL;
            }
        }
    }
    if (is_b64) {
        if (hcb_b64_encode(&tmp, body, len)) {
            rc = HCP_ERR_NOMEM;
            *out_reason = "out of memory";
            goto fail;
        }
        b = cJSON_CreateString(hcp_buf_cstr(&tmp));
    }
    hcp_buf_cleanup(&tmp);
    cJSON *ev = make_event(b, is_b64, properties, sys);
    if (!ev) {
        *out_reason = "out of memory";
        return HCP_ERR_NOMEM;
    }
    *out = ev;
    return HCP_OK;
fail:
    hcp_buf_cleanup(&tmp);
    cJSON_Delete(b);
    cJSON_Delete(properties);
    cJSON_Delete(sys);
    return rc;
}

/* Copy an application property object: string or null values only. */
static int copy_props(const cJSON *in, cJSON **out, const char **reason)
{
    cJSON *p = cJSON_CreateObject();
    if (!p) {
        *reason = "out of memory";
        return HCP_ERR_NOMEM;
    }
    if (in && !cJSON_IsNull(in)) {
        if (!cJSON_IsObject(in)) {
            cJSON_Delete(p);
            *reason = "\"properties\" must be an object of strings";
            return HCP_ERR_MALFORMED;
        }
        const cJSON *it;
        cJSON_ArrayForEach(it, in)
        {
            if (!cJSON_IsString(it) && !cJSON_IsNull(it)) {
                cJSON_Delete(p);
                *reason = "property values must be strings or null";
                return HCP_ERR_MALFORMED;
            }
            if (!hcb_json_add(p, it->string, cJSON_Duplicate(it, false))) {
                cJSON_Delete(p);
                *reason = "out of memory";
                return HCP_ERR_NOMEM;
            }
        }
    }
    *out = p;
    return HCP_OK;
}

/* Common tail of every input shape: identity, settable system properties,
 * body and its encoding, then the size check. `sp_in` may spell content type
 * and encoding the Event Grid way (iothub-content-type). */
static int normalise(const cJSON *sp_in, const char *device, const char *module,
                     const cJSON *props_in, const cJSON *body_in, int encoding /* 0 auto, 1 json,
                     2 base64 */, const struct hcb_limits *lim, cJSON **out, const char **reason)
{
    if (!device || !hcb_event_valid_id(device, strlen(device))) {
        *reason = "missing or invalid device id (systemProperties[\"iothub-connection-device-id\"])";
        return HCP_ERR_MALFORMED;
    }
    if (module && !hcb_event_valid_id(module, strlen(module))) {
        *reason = "invalid module id";
        return HCP_ERR_MALFORMED;
    }
    cJSON *props = NULL;
    int rc = copy_props(props_in, &props, reason);
    if (rc)
        return rc;
    cJSON *sys = cJSON_CreateObject();
    if (!sys || !cJSON_AddStringToObject(sys, KEY_DEVICE, device) ||
        !(module ? cJSON_AddStringToObject(sys, KEY_MODULE, module)
                 : cJSON_AddNullToObject(sys, KEY_MODULE)))
        goto nomem;
    const cJSON *it;
    cJSON_ArrayForEach(it, sp_in)
    {
        const char *k = it->string;
        if (!strcmp(k, "iothub-content-type"))
            k = "content-type";
        else if (!strcmp(k, "iothub-content-encoding"))
            k = "content-encoding";
        if (!is_settable(k) || cJSON_IsNull(it))
            continue;
        if (!cJSON_IsString(it)) {
            cJSON_Delete(props);
            cJSON_Delete(sys);
            *reason = "system property values must be strings";
            return HCP_ERR_MALFORMED;
        }
        if (cJSON_GetObjectItemCaseSensitive(sys, k))
            continue;
        if (!cJSON_AddStringToObject(sys, k, it->valuestring))
            goto nomem;
    }
    bool is_b64 = encoding == 2;
    if (encoding == 0)
        is_b64 = cJSON_IsString(body_in) &&
                 !is_json_type(str_of(sys, "content-type"), str_of(sys, "content-encoding")) &&
                 str_of(sys, "content-type") != NULL;
    size_t body_len = 0;
    if (is_b64) {
        if (!cJSON_IsString(body_in)) {
            cJSON_Delete(props);
            cJSON_Delete(sys);
            *reason = "a base64 body must be a string";
            return HCP_ERR_MALFORMED;
        }
        struct hcp_buf dec;
        hcp_buf_init(&dec, 0);
        int drc = hcb_b64_decode(&dec, body_in->valuestring, strlen(body_in->valuestring));
        body_len = dec.len;
        hcp_buf_cleanup(&dec);
        if (drc) {
            cJSON_Delete(props);
            cJSON_Delete(sys);
            *reason = drc == HCP_ERR_NOMEM ? "out of memory" : "body is not valid base64";
            return drc;
        }
    } else if (body_in) {
        char *txt = cJSON_PrintUnformatted(body_in);
        if (!txt)
            goto nomem;
        body_len = strlen(txt);
        cJSON_free(txt);
    }
    if (body_len + props_size(props, true) + props_size(sys, false) > lim->max_message_bytes) {
        cJSON_Delete(props);
        cJSON_Delete(sys);
        *reason = "message exceeds the size limit";
        return HCP_ERR_TOO_LARGE;
    }
    cJSON *body = body_in ? cJSON_Duplicate(body_in, true) : cJSON_CreateNull();
    cJSON *ev = make_event(body, is_b64, props, sys);
    if (!ev) {
        *reason = "out of memory";
        return HCP_ERR_NOMEM;
    }
    *out = ev;
    return HCP_OK;
nomem:
    cJSON_Delete(props);
    cJSON_Delete(sys);
    *reason = "out of memory";
    return HCP_ERR_NOMEM;
}

static int parse_canonical(const cJSON *o, const struct hcb_limits *lim, cJSON **out,
                           const char **reason)
{
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(o, "systemProperties");
    if (!cJSON_IsObject(sp)) {
        *reason = "an event needs \"systemProperties\" with \"iothub-connection-device-id\"";
        return HCP_ERR_MALFORMED;
    }
    const cJSON *enc = cJSON_GetObjectItemCaseSensitive(o, "bodyEncoding");
    int encoding = 1;
    if (enc && !cJSON_IsNull(enc)) {
        if (cJSON_IsString(enc) && !strcmp(enc->valuestring, "base64"))
            encoding = 2;
        else if (!cJSON_IsString(enc) || strcmp(enc->valuestring, "json")) {
            *reason = "\"bodyEncoding\" must be \"json\" or \"base64\"";
            return HCP_ERR_MALFORMED;
        }
    }
    const cJSON *mod = cJSON_GetObjectItemCaseSensitive(sp, KEY_MODULE);
    if (mod && !cJSON_IsNull(mod) && !cJSON_IsString(mod)) {
        *reason = "invalid module id";
        return HCP_ERR_MALFORMED;
    }
    return normalise(sp, str_of(sp, KEY_DEVICE), str_of(sp, KEY_MODULE),
                     cJSON_GetObjectItemCaseSensitive(o, "properties"),
                     cJSON_GetObjectItemCaseSensitive(o, "body"), encoding, lim, out, reason);
}

/* Event Grid (eventType + data) and CloudEvents (specversion + data). The
 * device comes from data.systemProperties, else from subject
 * "devices/{id}[/modules/{m}]". */
static int parse_grid(const cJSON *o, const struct hcb_limits *lim, cJSON **out,
                      const char **reason)
{
    const char *type = str_of(o, "eventType");
    if (!type)
        type = str_of(o, "type");
    if (!type || strcmp(type, "Microsoft.Devices.DeviceTelemetry")) {
        *reason = "only Microsoft.Devices.DeviceTelemetry events are accepted";
        return HCP_ERR_MALFORMED;
    }
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(o, "data");
    if (!cJSON_IsObject(data)) {
        *reason = "an Event Grid event needs a \"data\" object";
        return HCP_ERR_MALFORMED;
    }
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(data, "systemProperties");
    if (sp && !cJSON_IsObject(sp)) {
        *reason = "\"data.systemProperties\" must be an object";
        return HCP_ERR_MALFORMED;
    }
    const char *device = str_of(sp, KEY_DEVICE);
    const char *module = str_of(sp, KEY_MODULE);
    char dev_buf[129], mod_buf[129];
    const char *subject = str_of(o, "subject");
    if (!device && subject && !strncmp(subject, "devices/", 8)) {
        const char *d = subject + 8;
        const char *slash = strchr(d, '/');
        size_t dl = slash ? (size_t)(slash - d) : strlen(d);
        if (dl < sizeof dev_buf) {
            memcpy(dev_buf, d, dl);
            dev_buf[dl] = '\0';
            device = dev_buf;
        }
        if (slash && !strncmp(slash, "/modules/", 9) && strlen(slash + 9) < sizeof mod_buf) {
            snprintf(mod_buf, sizeof mod_buf, "%s", slash + 9);
            module = mod_buf;
        }
    }
    return normalise(sp, device, module, cJSON_GetObjectItemCaseSensitive(data, "properties"),
                     cJSON_GetObjectItemCaseSensitive(data, "body"), 0, lim, out, reason);
}

static int parse_one(const cJSON *o, const struct hcb_limits *lim, cJSON **out,
                     const char **reason)
{
    if (!cJSON_IsObject(o)) {
        *reason = "each event must be a JSON object";
        return HCP_ERR_MALFORMED;
    }
    if (cJSON_GetObjectItemCaseSensitive(o, "eventType") ||
        cJSON_GetObjectItemCaseSensitive(o, "specversion"))
        return parse_grid(o, lim, out, reason);
    return parse_canonical(o, lim, out, reason);
}

int hcb_event_parse_request(const char *body, size_t len, const struct hcb_limits *lim,
                            cJSON **out_batch, const char **out_reason)
{
    if (len > lim->max_batch_bytes) {
        *out_reason = "request body exceeds the batch size limit";
        return HCP_ERR_TOO_LARGE;
    }
    if (!hcp_utf8_valid((const uint8_t *)body, len)) {
        *out_reason = "body is not valid UTF-8";
        return HCP_ERR_MALFORMED;
    }
    cJSON *root = hcb_json_parse(body, len);
    if (!root) {
        *out_reason = "body is not valid JSON";
        return HCP_ERR_MALFORMED;
    }
    cJSON *batch = cJSON_CreateArray();
    int rc = HCP_OK;
    if (!batch) {
        *out_reason = "out of memory";
        rc = HCP_ERR_NOMEM;
        goto done;
    }
    if (cJSON_IsArray(root)) {
        int n = cJSON_GetArraySize(root);
        if (n == 0) {
            *out_reason = "empty batch";
            rc = HCP_ERR_MALFORMED;
            goto done;
        }
        if ((size_t)n > lim->max_batch_events) {
            *out_reason = "too many events in one batch";
            rc = HCP_ERR_TOO_LARGE;
            goto done;
        }
    }
    const cJSON *it = cJSON_IsArray(root) ? root->child : root;
    for (; it; it = cJSON_IsArray(root) ? it->next : NULL) {
        cJSON *ev = NULL;
        rc = parse_one(it, lim, &ev, out_reason);
        if (rc)
            goto done;
        cJSON_AddItemToArray(batch, ev);
    }
done:
    cJSON_Delete(root);
    if (rc) {
        cJSON_Delete(batch);
        return rc;
    }
    *out_batch = batch;
    return HCP_OK;
}

void hcb_event_format_time(int64_t ms, char out[25])
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 25, "%.19s.%03uZ", date, (unsigned)(ms % 1000) % 1000u);
}

static bool put(cJSON *o, const char *k, cJSON *v)
{
    if (!v)
        return false;
    cJSON_DeleteItemFromObjectCaseSensitive(o, k);
    return hcb_json_add(o, k, v);
}

int hcb_event_stamp(cJSON *ev, int64_t now_ms, int64_t sequence, int64_t offset,
                    const char *auth_type)
{
    cJSON *sys = cJSON_GetObjectItemCaseSensitive(ev, "systemProperties");
    const char *dev = hcb_event_device_id(ev);
    if (!sys || !dev)
        return HCP_ERR_INVALID;
    char when[25], off[24], auth[128];
    hcb_event_format_time(now_ms, when);
    snprintf(off, sizeof off, "%lld", (long long)offset);
    snprintf(auth, sizeof auth, "{\"scope\":\"%s\",\"type\":\"%s\",\"issuer\":\"iothub\"}",
             hcb_event_module_id(ev) ? "module" : "device", auth_type);
    bool ok = put(sys, "iothub-connection-auth-method", cJSON_CreateString(auth)) &&
              put(sys, "iothub-connection-auth-generation-id", cJSON_CreateString("0")) &&
              put(sys, "iothub-enqueuedtime", cJSON_CreateString(when)) &&
              put(sys, "iothub-message-source", cJSON_CreateString("Telemetry")) &&
              put(sys, "x-opt-sequence-number", cJSON_CreateNumber((double)sequence)) &&
              put(sys, "x-opt-offset", cJSON_CreateString(off)) &&
              put(sys, "x-opt-enqueued-time", cJSON_CreateNumber((double)now_ms)) &&
              put(ev, "partitionKey", cJSON_CreateString(dev)) &&
              put(ev, "sequenceNumber", cJSON_CreateNumber((double)sequence)) &&
              put(ev, "offset", cJSON_CreateString(off)) &&
              put(ev, "enqueuedTimeUtc", cJSON_CreateString(when));
    return ok ? HCP_OK : HCP_ERR_NOMEM;
}

static bool add_copy(cJSON *o, const char *k, const cJSON *v)
{
    return hcb_json_add(o, k, v ? cJSON_Duplicate(v, true) : cJSON_CreateNull());
}

cJSON *hcb_event_summary(const cJSON *ev)
{
    cJSON *a = cJSON_CreateObject();
    const cJSON *sys = cJSON_GetObjectItemCaseSensitive(ev, "systemProperties");
    if (!a || !add_copy(a, "deviceId", cJSON_GetObjectItemCaseSensitive(sys, KEY_DEVICE)) ||
        !add_copy(a, "moduleId", cJSON_GetObjectItemCaseSensitive(sys, KEY_MODULE)) ||
        !add_copy(a, "enqueuedTime", cJSON_GetObjectItemCaseSensitive(ev, "enqueuedTimeUtc")) ||
        !add_copy(a, "sequenceNumber", cJSON_GetObjectItemCaseSensitive(ev, "sequenceNumber")) ||
        !add_copy(a, "properties", cJSON_GetObjectItemCaseSensitive(ev, "properties")) ||
        !add_copy(a, "body", cJSON_GetObjectItemCaseSensitive(ev, "body"))) {
        cJSON_Delete(a);
        return NULL;
    }
    return a;
}

cJSON *hcb_event_default_action(const cJSON *ev)
{
    cJSON *act = cJSON_CreateObject();
    cJSON *args = cJSON_CreateArray();
    cJSON *sum = hcb_event_summary(ev);
    if (!act || !args || !sum || !cJSON_AddStringToObject(act, "target", "telemetry")) {
        cJSON_Delete(act);
        cJSON_Delete(args);
        cJSON_Delete(sum);
        return NULL;
    }
    cJSON_AddItemToArray(args, sum);
    if (!hcb_json_add(act, "arguments", args)) {
        cJSON_Delete(act);
        return NULL;
    }
    return act;
}
