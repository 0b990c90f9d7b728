/* hcb_iothub: see iothub.h. */
#include "iothub.h"

#include <string.h>
#include <strings.h>

#include "b64.h"
#include "hcp/text.h"
#include "json.h"

bool hcb_iothub_valid_token(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            continue;
        if (c == '\0' || !strchr("!#$%&'*+-.^_`|~", c))
            return false;
    }
    return true;
}

/* Next '/'-separated segment of [*p, end), percent-decoded into out. */
static int next_seg(const char **p, const char *end, char *out, size_t cap)
{
    const char *s = *p;
    const char *e = memchr(s, '/', (size_t)(end - s));
    if (!e)
        e = end;
    size_t n = 0;
    int rc = hcp_url_decode(s, (size_t)(e - s), false, out, cap, &n);
    if (rc)
        return rc;
    *p = e < end ? e + 1 : end;
    return (int)n;
}

int hcb_iothub_match_path(const char *path, size_t len, char device[HCB_ID_MAX],
                          char module[HCB_ID_MAX])
{
    const char *p = path, *end = path + len;
    char a[HCB_ID_MAX * 3];
    if (len < 9 || strncmp(path, "/devices/", 9))
        return HCP_ERR_NOT_FOUND;
    p += 9;
    int n = next_seg(&p, end, a, sizeof a);
    if (n <= 0 || (size_t)n >= HCB_ID_MAX || !hcb_event_valid_id(a, (size_t)n))
        return n == HCP_ERR_NOT_FOUND ? n : HCP_ERR_MALFORMED;
    char dev[HCB_ID_MAX], mod[HCB_ID_MAX] = "";
    memcpy(dev, a, (size_t)n + 1);
    size_t rest = (size_t)(end - p);
    if (rest >= 8 && !strncmp(p, "modules/", 8)) {
        p += 8;
        n = next_seg(&p, end, a, sizeof a);
        if (n <= 0 || (size_t)n >= HCB_ID_MAX || !hcb_event_valid_id(a, (size_t)n))
            return HCP_ERR_MALFORMED;
        memcpy(mod, a, (size_t)n + 1);
        rest = (size_t)(end - p);
    }
    if (!((rest == 15 && !strncmp(p, "messages/events", 15)) ||
          (rest == 16 && !strncmp(p, "messages/events/", 16))))
        return HCP_ERR_NOT_FOUND;
    memcpy(device, dev, sizeof dev);
    memcpy(module, mod, sizeof mod);
    return HCP_OK;
}

static bool add_str(cJSON *o, const char *k, size_t klen, const char *v, size_t vlen)
{
    char *key = hcp_strndup(k, klen);
    char *val = v ? hcp_strndup(v, vlen) : NULL;
    cJSON *item = v ? (val ? cJSON_CreateString(val) : NULL) : cJSON_CreateNull();
    bool ok = key && item && (!v || val);
    if (ok) {
        cJSON_DeleteItemFromObjectCaseSensitive(o, key);
        ok = hcb_json_add(o, key, item);
    } else {
        cJSON_Delete(item);
    }
    hcp_free(key);
    hcp_free(val);
    return ok;
}

/* Section 3 header table (names compared case-insensitively). */
static const struct {
    const char *header;
    const char *key;
} SYS_HEADERS[] = {
    {"iothub-messageid", "message-id"},
    {"iothub-correlationid", "correlation-id"},
    {"iothub-userid", "user-id"},
    {"iothub-contenttype", "content-type"},
    {"iothub-contentencoding", "content-encoding"},
    {"iothub-creation-time-utc", "iothub-creation-time-utc"},
    {"iothub-app-iothub-creation-time-utc", "iothub-creation-time-utc"},
    {"iothub-interface-id", "iothub-interface-id"},
    {"dt-subject", "dt-subject"},
};

int hcb_iothub_map_header(const char *name, size_t nlen, const char *value, size_t vlen,
                          cJSON *props, cJSON *sys, const char **out_reason)
{
    for (size_t i = 0; i < sizeof SYS_HEADERS / sizeof *SYS_HEADERS; i++) {
        if (hcp_strn_ieq(name, nlen, SYS_HEADERS[i].header)) {
            if (!add_str(sys, SYS_HEADERS[i].key, strlen(SYS_HEADERS[i].key), value, vlen)) {
                *out_reason = "out of memory";
                return HCP_ERR_NOMEM;
            }
            return HCP_OK;
        }
    }
    if (nlen > 11 && !strncasecmp(name, "iothub-app-", 11)) {
        const char *k = name + 11;
        size_t klen = nlen - 11;
        if (!hcb_iothub_valid_token(k, klen) || !hcb_iothub_valid_token(value, vlen)) {
            *out_reason = "application property names and values may contain only ASCII "
                          "letters, digits and !#$%&'*+-.^_`|~";
            return HCP_ERR_MALFORMED;
        }
        /* Header names arrive lower-cased from most stacks; keep them as sent. */
        if (!add_str(props, k, klen, value, vlen)) {
            *out_reason = "out of memory";
            return HCP_ERR_NOMEM;
        }
    }
    return HCP_OK;
}

int hcb_iothub_parse_batch(const char *body, size_t len, const cJSON *sys,
                           const struct hcb_limits *lim, cJSON **out_batch,
                           const char **out_reason)
{
    if (len > lim->max_batch_bytes) {
        *out_reason = "batch exceeds the size limit";
        return HCP_ERR_TOO_LARGE;
    }
    cJSON *root = hcb_json_parse(body, len);
    if (!cJSON_IsArray(root) || cJSON_GetArraySize(root) == 0) {
        cJSON_Delete(root);
        *out_reason = "a batch must be a non-empty JSON array";
        return HCP_ERR_MALFORMED;
    }
    if ((size_t)cJSON_GetArraySize(root) > lim->max_batch_events) {
        cJSON_Delete(root);
        *out_reason = "too many messages in one batch";
        return HCP_ERR_TOO_LARGE;
    }
    cJSON *batch = cJSON_CreateArray();
    int rc = batch ? HCP_OK : HCP_ERR_NOMEM;
    *out_reason = "out of memory";
    struct hcp_buf bytes;
    hcp_buf_init(&bytes, 0);
    const cJSON *el;
    cJSON_ArrayForEach(el, root)
    {
        if (rc)
            break;
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(el, "body");
        const cJSON *pr = cJSON_GetObjectItemCaseSensitive(el, "properties");
        if (!cJSON_IsObject(el) || !cJSON_IsString(b) || (pr && !cJSON_IsObject(pr))) {
            *out_reason = "each batch element needs a base64 \"body\" string";
            rc = HCP_ERR_MALFORMED;
            break;
        }
        hcp_buf_reset(&bytes);
        rc = hcb_b64_decode(&bytes, b->valuestring, strlen(b->valuestring));
        if (rc) {
            *out_reason = rc == HCP_ERR_NOMEM ? "out of memory" : "batch body is not base64";
            break;
        }
        cJSON *props = cJSON_CreateObject();
        cJSON *s = cJSON_Duplicate(sys, true);
        const cJSON *p;
        cJSON_ArrayForEach(p, pr)
        {
            if (!cJSON_IsString(p)) {
                *out_reason = "batch property values must be strings";
                rc = HCP_ERR_MALFORMED;
                break;
            }
            if (!props || !s) {
                rc = HCP_ERR_NOMEM;
                break;
            }
            rc = hcb_iothub_map_header(p->string, strlen(p->string), p->valuestring,
                                       strlen(p->valuestring), props, s, out_reason);
            if (rc)
                break;
        }
        if (rc) {
            cJSON_Delete(props);
            cJSON_Delete(s);
            break;
        }
        cJSON *ev = NULL;
        rc = hcb_event_from_device(bytes.data ? bytes.data : (const uint8_t *)"", bytes.len,
                                   props, s, lim, &ev, out_reason);
        if (rc)
            break;
        cJSON_AddItemToArray(batch, ev);
    }
    hcp_buf_cleanup(&bytes);
    cJSON_Delete(root);
    if (rc) {
        cJSON_Delete(batch);
        return rc;
    }
    *out_batch = batch;
    return HCP_OK;
}

/* Section 4 bag keys. */
static const struct {
    const char *bag;
    const char *key; /* NULL: ignored for device-to-cloud */
} BAG_KEYS[] = {
    {"$.mid", "message-id"},     {"$.cid", "correlation-id"}, {"$.uid", "user-id"},
    {"$.ct", "content-type"},    {"$.ce", "content-encoding"}, {"$.exp", NULL},
    {"$.to", NULL},              {"$.on", "iothub-outputname"}, {"$.sub", "dt-subject"},
    {"$.ifid", "iothub-interface-id"}, {"$.ctime", "iothub-creation-time-utc"},
};

static int parse_bag(const char *p, const char *end, cJSON *props, cJSON *sys,
                     const char **out_reason)
{
    char key[1024], val[4096];
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        if (pe > p) {
            const char *eq = memchr(p, '=', (size_t)(pe - p));
            size_t klen = 0, vlen = 0;
            if (hcp_url_decode(p, (size_t)((eq ? eq : pe) - p), false, key, sizeof key, &klen) ||
                (eq && hcp_url_decode(eq + 1, (size_t)(pe - eq - 1), false, val, sizeof val,
                                      &vlen))) {
                *out_reason = "malformed property bag in topic";
                return HCP_ERR_MALFORMED;
            }
            bool done = false;
            if (klen > 2 && key[0] == '$' && key[1] == '.') {
                for (size_t i = 0; i < sizeof BAG_KEYS / sizeof *BAG_KEYS; i++) {
                    if (!strcmp(key, BAG_KEYS[i].bag)) {
                        done = true;
                        if (BAG_KEYS[i].key && eq &&
                            !add_str(sys, BAG_KEYS[i].key, strlen(BAG_KEYS[i].key), val, vlen))
                            goto nomem;
                        break;
                    }
                }
            }
            if (!done && klen && !add_str(props, key, klen, eq ? val : NULL, vlen))
                goto nomem;
        }
        p = amp ? amp + 1 : end;
    }
    return HCP_OK;
nomem:
    *out_reason = "out of memory";
    return HCP_ERR_NOMEM;
}

int hcb_iothub_parse_topic(const char *topic, size_t len, cJSON **out_props, cJSON **out_sys,
                           const char **out_reason)
{
    const char *p = topic, *end = topic + len;
    char dev[HCB_ID_MAX], mod[HCB_ID_MAX] = "";
    *out_reason = "not a telemetry topic (devices/{id}/messages/events/...)";
    if (len < 8 || strncmp(topic, "devices/", 8))
        return HCP_ERR_MALFORMED;
    p += 8;
    /* Ids in topics are not percent-encoded (MQTT topics carry UTF-8). */
    const char *s = memchr(p, '/', (size_t)(end - p));
    if (!s || (size_t)(s - p) >= HCB_ID_MAX || !hcb_event_valid_id(p, (size_t)(s - p)))
        return HCP_ERR_MALFORMED;
    memcpy(dev, p, (size_t)(s - p));
    dev[s - p] = '\0';
    p = s + 1;
    if ((size_t)(end - p) > 8 && !strncmp(p, "modules/", 8)) {
        p += 8;
        s = memchr(p, '/', (size_t)(end - p));
        if (!s || (size_t)(s - p) >= HCB_ID_MAX || !hcb_event_valid_id(p, (size_t)(s - p)))
            return HCP_ERR_MALFORMED;
        memcpy(mod, p, (size_t)(s - p));
        mod[s - p] = '\0';
        p = s + 1;
    }
    if ((size_t)(end - p) < 15 || strncmp(p, "messages/events", 15))
        return HCP_ERR_MALFORMED;
    p += 15;
    if (p < end) {
        if (*p != '/')
            return HCP_ERR_MALFORMED;
        p++;
    }
    cJSON *props = cJSON_CreateObject();
    cJSON *sys = cJSON_CreateObject();
    int rc = HCP_ERR_NOMEM;
    *out_reason = "out of memory";
    if (!props || !sys || !cJSON_AddStringToObject(sys, "iothub-connection-device-id", dev) ||
        !(mod[0] ? cJSON_AddStringToObject(sys, "iothub-connection-module-id", mod)
                 : cJSON_AddNullToObject(sys, "iothub-connection-module-id")))
        goto fail;
    rc = parse_bag(p, end, props, sys, out_reason);
    if (rc)
        goto fail;
    *out_props = props;
    *out_sys = sys;
    return HCP_OK;
fail:
    cJSON_Delete(props);
    cJSON_Delete(sys);
    return rc;
}
