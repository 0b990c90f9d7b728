/*
 * Strict JSON scanner; see hcp/jsonscan.h. Iterative (an explicit stack of
 * container kinds) so hostile nesting cannot exhaust the C stack.
 */
#include "hcp/jsonscan.h"

#include <string.h>

#include "hcp/text.h"

struct scan {
    const char *p;
    const char *end;
};

static void skip_ws(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* At a '"': consume the string. *has_escape tells whether it had escapes. */
static int scan_string(struct scan *s, bool *has_escape)
{
    if (s->p >= s->end || *s->p != '"')
        return HCP_ERR_MALFORMED;
    s->p++;
    if (has_escape)
        *has_escape = false;
    while (s->p < s->end) {
        unsigned char c = (unsigned char)*s->p;
        if (c == '"') {
            s->p++;
            return HCP_OK;
        }
        if (c < 0x20)
            return HCP_ERR_MALFORMED;
        if (c == '\\') {
            if (has_escape)
                *has_escape = true;
            if (s->end - s->p < 2)
                return HCP_ERR_MALFORMED;
            char e = s->p[1];
            if (e == 'u') {
                if (s->end - s->p < 6 || !is_hex(s->p[2]) || !is_hex(s->p[3]) || !is_hex(s->p[4]) ||
                    !is_hex(s->p[5]))
                    return HCP_ERR_MALFORMED;
                s->p += 6;
                continue;
            }
            if (!strchr("\"\\/bfnrt", e) || e == '\0')
                return HCP_ERR_MALFORMED;
            s->p += 2;
            continue;
        }
        s->p++;
    }
    return HCP_ERR_MALFORMED;
}

static int scan_number(struct scan *s)
{
    const char *start = s->p;
    if (s->p < s->end && *s->p == '-')
        s->p++;
    if (s->p >= s->end)
        return HCP_ERR_MALFORMED;
    if (*s->p == '0') {
        s->p++;
    } else if (*s->p >= '1' && *s->p <= '9') {
        while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
            s->p++;
    } else {
        return HCP_ERR_MALFORMED;
    }
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (s->p >= s->end || *s->p < '0' || *s->p > '9')
            return HCP_ERR_MALFORMED;
        while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
            s->p++;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (s->p >= s->end || *s->p < '0' || *s->p > '9')
            return HCP_ERR_MALFORMED;
        while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
            s->p++;
    }
    return s->p > start ? HCP_OK : HCP_ERR_MALFORMED;
}

static int scan_literal(struct scan *s, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n))
        return HCP_ERR_MALFORMED;
    s->p += n;
    return HCP_OK;
}

/* Consume one value of any kind. */
static int scan_value(struct scan *s)
{
    /* stack[i]: 1 = inside an object, 0 = inside an array */
    unsigned char stack[HCP_JSON_MAX_DEPTH];
    int depth = 0;
    int rc;
value:
    skip_ws(s);
    if (s->p >= s->end)
        return HCP_ERR_MALFORMED;
    switch (*s->p) {
    case '{':
    case '[':
        if (depth >= HCP_JSON_MAX_DEPTH)
            return HCP_ERR_MALFORMED;
        stack[depth++] = *s->p == '{';
        s->p++;
        skip_ws(s);
        if (s->p < s->end && *s->p == (stack[depth - 1] ? '}' : ']')) {
            s->p++;
            depth--;
            goto after_value;
        }
        if (stack[depth - 1])
            goto member;
        goto value;
    case '"':
        rc = scan_string(s, NULL);
        break;
    case 't':
        rc = scan_literal(s, "true");
        break;
    case 'f':
        rc = scan_literal(s, "false");
        break;
    case 'n':
        rc = scan_literal(s, "null");
        break;
    default:
        rc = scan_number(s);
        break;
    }
    if (rc)
        return rc;
after_value:
    if (depth == 0)
        return HCP_OK;
    skip_ws(s);
    if (s->p >= s->end)
        return HCP_ERR_MALFORMED;
    if (*s->p == ',') {
        s->p++;
        if (stack[depth - 1])
            goto member;
        goto value;
    }
    if (*s->p == (stack[depth - 1] ? '}' : ']')) {
        s->p++;
        depth--;
        goto after_value;
    }
    return HCP_ERR_MALFORMED;
member:
    skip_ws(s);
    if ((rc = scan_string(s, NULL)))
        return rc;
    skip_ws(s);
    if (s->p >= s->end || *s->p != ':')
        return HCP_ERR_MALFORMED;
    s->p++;
    goto value;
}

int hcp_json_validate(const char *json, size_t len)
{
    struct scan s = {json, json + len};
    int rc = scan_value(&s);
    if (rc)
        return rc;
    skip_ws(&s);
    return s.p == s.end ? HCP_OK : HCP_ERR_MALFORMED;
}

int hcp_json_member_span(const char *json, size_t len, const char *key, bool icase,
                         struct hcp_str *out)
{
    struct scan s = {json, json + len};
    struct hcp_str found = {NULL, 0};
    size_t klen = strlen(key);
    skip_ws(&s);
    if (s.p >= s.end || *s.p != '{')
        return HCP_ERR_MALFORMED;
    s.p++;
    skip_ws(&s);
    if (s.p < s.end && *s.p == '}') {
        s.p++;
    } else {
        for (;;) {
            skip_ws(&s);
            const char *name = s.p + 1;
            bool esc = false;
            if (scan_string(&s, &esc))
                return HCP_ERR_MALFORMED;
            size_t nlen = (size_t)(s.p - 1 - name);
            skip_ws(&s);
            if (s.p >= s.end || *s.p != ':')
                return HCP_ERR_MALFORMED;
            s.p++;
            skip_ws(&s);
            const char *vstart = s.p;
            if (scan_value(&s))
                return HCP_ERR_MALFORMED;
            if (!found.ptr && !esc && nlen == klen &&
                (icase ? hcp_strn_ieq(name, nlen, key) : !memcmp(name, key, klen))) {
                found.ptr = vstart;
                found.len = (size_t)(s.p - vstart);
            }
            skip_ws(&s);
            if (s.p < s.end && *s.p == ',') {
                s.p++;
                continue;
            }
            if (s.p < s.end && *s.p == '}') {
                s.p++;
                break;
            }
            return HCP_ERR_MALFORMED;
        }
    }
    skip_ws(&s);
    if (s.p != s.end)
        return HCP_ERR_MALFORMED;
    *out = found;
    return HCP_OK;
}
