/*
 * Upstream settings and the pure parts of the upstream wire protocol
 * (azure-signalr-service.md section 5). See hcp/settings.h.
 *
 * Invariants: nothing here does I/O or keeps state between calls; every
 * allocation goes through hcp_malloc (cJSON through the same hooks).
 */
#include "hcp/settings.h"

#include <stdio.h>
#include <string.h>

#include "hcp/json.h"
#include "hcp/text.h"
#include "internal.h"

#define RS 0x1E

/* ---- settings.json ---- */

static void rule_cleanup(struct hcp_upstream_rule *r)
{
    hcp_free(r->url_template);
    hcp_free(r->hub_pattern);
    hcp_free(r->category_pattern);
    hcp_free(r->event_pattern);
}

void hcp_upstream_settings_cleanup(struct hcp_upstream_settings *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_rules; i++)
        rule_cleanup(&s->rules[i]);
    hcp_free(s->rules);
    s->rules = NULL;
    s->n_rules = 0;
    s->has_auth = false;
}

static bool is_blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t')
            return false;
    return true;
}

/* A pattern member: absent, null or blank → "*"; a string → copied. */
static int pattern_member(const cJSON *item, const char *name, char **out, const char **reason)
{
    const cJSON *v = cJSON_GetObjectItem(item, name); /* case-insensitive */
    const char *s = "*";
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsString(v)) {
            *reason = "A pattern is not a string.";
            return HCP_ERR_MALFORMED;
        }
        if (!is_blank(v->valuestring))
            s = v->valuestring;
    }
    *out = hcp_strdup(s);
    return *out ? HCP_OK : HCP_ERR_NOMEM;
}

/* An absolute http(s) URL without spaces or control characters: curl must
 * never be pointed at file:// or another scheme by a settings file. */
static bool url_ok(const char *u)
{
    size_t skip;
    if (hcp_strn_ieq(u, 7, "http://") && strlen(u) >= 7)
        skip = 7;
    else if (hcp_strn_ieq(u, 8, "https://") && strlen(u) >= 8)
        skip = 8;
    else
        return false;
    if (!u[skip])
        return false;
    for (const unsigned char *p = (const unsigned char *)u; *p; p++)
        if (*p <= 0x20 || *p == 0x7F)
            return false;
    return true;
}

static const cJSON *find_templates(const cJSON *root, const char **reason, bool *found)
{
    const cJSON *sec = cJSON_GetObjectItem(root, "UpstreamSettings");
    const char *member = "Templates";
    if (!sec || cJSON_IsNull(sec)) {
        sec = cJSON_GetObjectItem(root, "upstream");
        if (!sec || cJSON_IsNull(sec)) {
            const cJSON *props = cJSON_GetObjectItem(root, "properties");
            sec = cJSON_IsObject(props) ? cJSON_GetObjectItem(props, "upstream") : NULL;
        }
    }
    *found = false;
    if (!sec || cJSON_IsNull(sec))
        return NULL;
    if (!cJSON_IsObject(sec)) {
        *reason = "The upstream section is not an object.";
        return NULL;
    }
    const cJSON *t = cJSON_GetObjectItem(sec, member);
    if (!t || cJSON_IsNull(t))
        return NULL;
    if (!cJSON_IsArray(t)) {
        *reason = "Templates is not an array.";
        return NULL;
    }
    *found = true;
    return t;
}

int hcp_upstream_settings_parse(const char *text, size_t len, struct hcp_upstream_settings *out,
                                const char **out_reason)
{
    const char *reason = "Settings file is not valid JSON.";
    if (!text || len == 0) {
        *out_reason = "Settings file is empty.";
        return HCP_ERR_MALFORMED;
    }
    if (len > HCP_SETTINGS_MAX_BYTES) {
        *out_reason = "Settings file is too large.";
        return HCP_ERR_TOO_LARGE;
    }
    if (len >= 3 && (unsigned char)text[0] == 0xEF && (unsigned char)text[1] == 0xBB &&
        (unsigned char)text[2] == 0xBF) {
        text += 3; /* UTF-8 byte order mark, as Windows editors write it */
        len -= 3;
    }
    if (!hcp_utf8_valid((const uint8_t *)text, len) || memchr(text, '\0', len)) {
        *out_reason = "Settings file is not valid UTF-8 text.";
        return HCP_ERR_MALFORMED;
    }
    /* .NET configuration files may hold comments: minify a copy first. */
    char *copy = hcp_strndup(text, len);
    if (!copy) {
        *out_reason = "Out of memory.";
        return HCP_ERR_NOMEM;
    }
    cJSON_Minify(copy);
    struct hcp_upstream_settings s = {0};
    int rc = HCP_ERR_MALFORMED;
    cJSON *root = cJSON_ParseWithOpts(copy, NULL, true);
    if (!root)
        goto fail;
    if (!cJSON_IsObject(root)) {
        reason = "Settings file is not a JSON object.";
        goto fail;
    }
    bool found = false;
    reason = NULL;
    const cJSON *templates = find_templates(root, &reason, &found);
    if (reason)
        goto fail;
    size_t n = found ? (size_t)cJSON_GetArraySize(templates) : 0;
    if (n > HCP_SETTINGS_MAX_RULES) {
        reason = "Too many upstream templates.";
        rc = HCP_ERR_TOO_LARGE;
        goto fail;
    }
    if (n) {
        s.rules = hcp_calloc(n, sizeof(*s.rules));
        if (!s.rules)
            goto nomem;
    }
    const cJSON *item;
    const cJSON *list = found ? templates : NULL;
    cJSON_ArrayForEach(item, list)
    {
        if (!cJSON_IsObject(item)) {
            reason = "A template is not an object.";
            goto fail;
        }
        struct hcp_upstream_rule *r = &s.rules[s.n_rules];
        const cJSON *u = cJSON_GetObjectItem(item, "UrlTemplate");
        if (!cJSON_IsString(u) || !url_ok(u->valuestring)) {
            reason = "UrlTemplate must be an absolute http:// or https:// URL.";
            goto fail;
        }
        s.n_rules++; /* from here on cleanup frees this rule's members */
        r->url_template = hcp_strdup(u->valuestring);
        if (!r->url_template)
            goto nomem;
        if ((rc = pattern_member(item, "HubPattern", &r->hub_pattern, &reason)) != HCP_OK ||
            (rc = pattern_member(item, "CategoryPattern", &r->category_pattern, &reason)) !=
                HCP_OK ||
            (rc = pattern_member(item, "EventPattern", &r->event_pattern, &reason)) != HCP_OK) {
            if (rc == HCP_ERR_NOMEM)
                goto nomem;
            goto fail;
        }
        const cJSON *auth = cJSON_GetObjectItem(item, "auth");
        if (auth && !cJSON_IsNull(auth))
            s.has_auth = true;
    }
    cJSON_Delete(root);
    hcp_free(copy);
    *out = s;
    return HCP_OK;
nomem:
    reason = "Out of memory.";
    rc = HCP_ERR_NOMEM;
fail:
    if (rc == HCP_OK)
        rc = HCP_ERR_MALFORMED;
    hcp_upstream_settings_cleanup(&s);
    cJSON_Delete(root);
    hcp_free(copy);
    *out_reason = reason ? reason : "Settings file is not valid JSON.";
    return rc;
}

/* ---- matching ---- */

bool hcp_upstream_pattern_match(const char *pattern, const char *value, bool ignore_case)
{
    if (!pattern || !value)
        return false;
    size_t vlen = strlen(value);
    const char *p = pattern;
    for (;;) {
        const char *e = strchr(p, ',');
        const char *end = e ? e : p + strlen(p);
        const char *b = p;
        while (b < end && (*b == ' ' || *b == '\t'))
            b++;
        const char *t = end;
        while (t > b && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        size_t n = (size_t)(t - b);
        if (n == 1 && *b == '*')
            return true;
        if (n == vlen && n > 0 &&
            (ignore_case ? hcp_strn_ieq(b, n, value) : memcmp(b, value, n) == 0))
            return true;
        if (!e)
            return false;
        p = e + 1;
    }
}

long hcp_upstream_settings_match(const struct hcp_upstream_settings *s, const char *hub,
                                 const char *category, const char *event)
{
    if (!s)
        return -1;
    for (size_t i = 0; i < s->n_rules; i++) {
        const struct hcp_upstream_rule *r = &s->rules[i];
        if (hcp_upstream_pattern_match(r->hub_pattern, hub, true) &&
            hcp_upstream_pattern_match(r->category_pattern, category, false) &&
            hcp_upstream_pattern_match(r->event_pattern, event, false))
            return (long)i;
    }
    return -1;
}

/* ---- URL templates ---- */

int hcp_upstream_url_expand(struct hcp_buf *b, const char *tmpl, const char *hub,
                            const char *category, const char *event)
{
    static const char *const names[] = {"{hub}", "{category}", "{event}"};
    const char *vals[] = {hub ? hub : "", category ? category : "", event ? event : ""};
    const char *p = tmpl;
    while (*p) {
        const char *o = strchr(p, '{');
        if (!o)
            return hcp_buf_append_str(b, p);
        int rc = hcp_buf_append(b, p, (size_t)(o - p));
        if (rc)
            return rc;
        size_t i;
        for (i = 0; i < 3; i++) {
            size_t n = strlen(names[i]);
            if (hcp_strn_ieq(o, strnlen(o, n), names[i]) && strnlen(o, n) == n)
                break;
        }
        if (i == 3) {
            if ((rc = hcp_buf_append_byte(b, '{')) != 0)
                return rc;
            p = o + 1;
            continue;
        }
        if ((rc = hcp_url_encode(b, vals[i], strlen(vals[i]))) != 0)
            return rc;
        p = o + strlen(names[i]);
    }
    return HCP_OK;
}

/* ---- headers ---- */

int hcp_upstream_header_value(struct hcp_buf *b, const char *s)
{
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        int rc = hcp_buf_append_byte(b, (c < 0x20 || c == 0x7F) ? ' ' : c);
        if (rc)
            return rc;
    }
    return HCP_OK;
}

static bool claim_omitted(const char *name)
{
    static const char *const registered[] = {"aud", "exp", "iat", "nbf", "iss"};
    if (!strncmp(name, "asrs.s.", 7))
        return true;
    for (size_t i = 0; i < sizeof(registered) / sizeof(registered[0]); i++)
        if (!strcmp(name, registered[i]))
            return true;
    return false;
}

static int claim_entry(struct hcp_buf *b, const char *name, const cJSON *v, bool *first)
{
    if (cJSON_IsNull(v) || cJSON_IsInvalid(v))
        return HCP_OK;
    int rc;
    if (!*first && (rc = hcp_buf_append(b, ", ", 2)) != 0)
        return rc;
    *first = false;
    if ((rc = hcp_upstream_header_value(b, name)) != 0 || (rc = hcp_buf_append(b, ": ", 2)) != 0)
        return rc;
    if (cJSON_IsString(v))
        return hcp_upstream_header_value(b, v->valuestring);
    char *text = cJSON_PrintUnformatted(v);
    if (!text)
        return HCP_ERR_NOMEM;
    rc = hcp_upstream_header_value(b, text);
    cJSON_free(text);
    return rc;
}

int hcp_upstream_claims_header(struct hcp_buf *b, const cJSON *claims)
{
    if (!cJSON_IsObject(claims))
        return HCP_OK;
    bool first = true;
    const cJSON *c;
    cJSON_ArrayForEach(c, claims)
    {
        const char *name = c->string;
        if (!name || claim_omitted(name))
            continue;
        if (!strncmp(name, "asrs.u.", 7))
            name += 7;
        if (!*name)
            continue;
        int rc = HCP_OK;
        if (cJSON_IsArray(c)) {
            /* .NET turns a JSON array claim into one claim per element. */
            const cJSON *e;
            cJSON_ArrayForEach(e, c)
            {
                if ((rc = claim_entry(b, name, e, &first)) != 0)
                    return rc;
            }
            continue;
        }
        if ((rc = claim_entry(b, name, c, &first)) != 0)
            return rc;
    }
    return HCP_OK;
}

/* ---- invocation results ---- */

static int error_completion(struct hcp_buf *out, const char *id, const char *text)
{
    return hcp_json_encode_completion(out, id, NULL, 0, text);
}

/* Is body[0..len) (len > 0, ends in 0x1E) one record holding a Completion for `id`? */
static bool framed_completion(const uint8_t *body, size_t len, const char *id)
{
    if (memchr(body, RS, len) != body + len - 1)
        return false;
    struct hcp_msg m;
    const char *reason = NULL;
    if (hcp_json_msg_decode((const char *)body, len - 1, &m, &reason) != 0)
        return false;
    bool ok = m.type == HCP_MSG_COMPLETION && m.invocation_id && !strcmp(m.invocation_id, id);
    hcp_msg_cleanup(&m);
    return ok;
}

int hcp_upstream_invocation_result(struct hcp_buf *out, const char *invocation_id, long status,
                                   const uint8_t *body, size_t len, bool too_large,
                                   enum hcp_upstream_result *out_kind)
{
    static const char invalid[] = "Invocation failed, invalid response from upstream.";
    char text[64];
    if (too_large) {
        *out_kind = HCP_UPSTREAM_TOO_LARGE;
        return error_completion(out, invocation_id, "Invocation failed, response too large.");
    }
    if (status < 200 || status > 299) {
        *out_kind = HCP_UPSTREAM_STATUS;
        snprintf(text, sizeof(text), "Invocation failed, status code %ld", status);
        return error_completion(out, invocation_id, text);
    }
    if (len == 0 || status == 204) {
        *out_kind = HCP_UPSTREAM_EMPTY;
        return hcp_json_encode_completion(out, invocation_id, NULL, 0, NULL);
    }
    *out_kind = HCP_UPSTREAM_INVALID;
    if (body[len - 1] == RS) {
        if (!framed_completion(body, len, invocation_id))
            return error_completion(out, invocation_id, invalid);
        *out_kind = HCP_UPSTREAM_RELAYED;
        return hcp_buf_append(out, body, len);
    }
    /* Not framed: accept any JSON value as the result (re-serialized, so no
     * raw control character can break the framing). */
    cJSON *v = NULL;
    if (hcp_utf8_valid(body, len) && !memchr(body, '\0', len)) {
        const char *end = NULL;
        v = cJSON_ParseWithLengthOpts((const char *)body, len, &end, false);
        for (const char *p = end; v && p && p < (const char *)body + len; p++) {
            if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
                cJSON_Delete(v);
                v = NULL;
            }
        }
    }
    if (!v)
        return error_completion(out, invocation_id, invalid);
    char *json = cJSON_PrintUnformatted(v);
    cJSON_Delete(v);
    if (!json)
        return HCP_ERR_NOMEM;
    *out_kind = HCP_UPSTREAM_WRAPPED;
    int rc = hcp_json_encode_completion(out, invocation_id, json, strlen(json), NULL);
    cJSON_free(json);
    return rc;
}
