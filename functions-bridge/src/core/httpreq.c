/* hcb_http: see httpreq.h. RFC 9112 sections 3 and 5. */
#include "httpreq.h"

#include <string.h>

#include "hcp/text.h"

static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

int hcb_http_parse_head(const char *buf, size_t len, size_t max_head, struct hcb_http_head *out)
{
    /* Find the end of the head first, so a partial head costs nothing. */
    size_t end = 0;
    for (size_t i = 0; i + 1 < len; i++) {
        if (buf[i] == '\n' && buf[i + 1] == '\n') {
            end = i + 2;
            break;
        }
        if (i + 3 < len && buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' &&
            buf[i + 3] == '\n') {
            end = i + 4;
            break;
        }
        if (i >= max_head)
            return HCP_ERR_TOO_LARGE;
    }
    if (!end)
        return len > max_head ? HCP_ERR_TOO_LARGE : HCP_ERR_INCOMPLETE;
    if (end > max_head)
        return HCP_ERR_TOO_LARGE;

    struct hcb_http_head h;
    memset(&h, 0, sizeof h);
    const char *p = buf, *e = buf + end;
    /* Tolerate empty lines before the request line (RFC 9112 section 2.2). */
    while (p < e && (*p == '\r' || *p == '\n'))
        p++;
    const char *sp1 = memchr(p, ' ', (size_t)(e - p));
    if (!sp1 || sp1 == p)
        return HCP_ERR_MALFORMED;
    for (const char *c = p; c < sp1; c++)
        if (!is_tchar((unsigned char)*c))
            return HCP_ERR_MALFORMED;
    h.method = (struct hcp_str){p, (size_t)(sp1 - p)};
    const char *t = sp1 + 1;
    const char *sp2 = memchr(t, ' ', (size_t)(e - t));
    const char *eol = memchr(t, '\n', (size_t)(e - t));
    if (!sp2 || !eol || sp2 > eol || sp2 == t || *t != '/')
        return HCP_ERR_MALFORMED;
    for (const char *c = t; c < sp2; c++)
        if ((unsigned char)*c <= 0x20 || *c == 0x7f)
            return HCP_ERR_MALFORMED;
    const char *q = memchr(t, '?', (size_t)(sp2 - t));
    h.path = (struct hcp_str){t, (size_t)((q ? q : sp2) - t)};
    if (q)
        h.query = (struct hcp_str){q + 1, (size_t)(sp2 - q - 1)};
    const char *v = sp2 + 1;
    size_t vl = (size_t)(eol - v);
    if (vl && v[vl - 1] == '\r')
        vl--;
    if (vl != 8 || strncmp(v, "HTTP/1.", 7) || (v[7] != '0' && v[7] != '1'))
        return HCP_ERR_MALFORMED;
    h.minor_version = v[7] - '0';
    p = eol + 1;
    while (p < e) {
        const char *nl = memchr(p, '\n', (size_t)(e - p));
        size_t ll = (size_t)(nl - p);
        if (ll && p[ll - 1] == '\r')
            ll--;
        if (ll == 0)
            break;
        if (*p == ' ' || *p == '\t')
            return HCP_ERR_MALFORMED; /* obsolete line folding */
        const char *colon = memchr(p, ':', ll);
        if (!colon || colon == p)
            return HCP_ERR_MALFORMED;
        for (const char *c = p; c < colon; c++)
            if (!is_tchar((unsigned char)*c))
                return HCP_ERR_MALFORMED;
        const char *vs = colon + 1, *ve = p + ll;
        while (vs < ve && (*vs == ' ' || *vs == '\t'))
            vs++;
        while (ve > vs && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        for (const char *c = vs; c < ve; c++)
            if ((*c == '\0' || *c == '\r' || *c == '\n'))
                return HCP_ERR_MALFORMED;
        if (h.n_headers == HCB_HTTP_MAX_HEADERS)
            return HCP_ERR_TOO_LARGE;
        h.headers[h.n_headers].name = (struct hcp_str){p, (size_t)(colon - p)};
        h.headers[h.n_headers].value = (struct hcp_str){vs, (size_t)(ve - vs)};
        h.n_headers++;
        p = nl + 1;
    }
    *out = h;
    return (int)end;
}

const struct hcp_str *hcb_http_header(const struct hcb_http_head *h, const char *name)
{
    for (size_t i = 0; i < h->n_headers; i++)
        if (hcp_strn_ieq(h->headers[i].name.ptr, h->headers[i].name.len, name))
            return &h->headers[i].value;
    return NULL;
}
