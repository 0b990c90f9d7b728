/*
 * Upstream request headers and settings files. See upstream_req.h.
 */
#include "upstream_req.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"

const char HCS_UPSTREAM_DEFAULT_SETTINGS[] =
    "{\n"
    "  \"UpstreamSettings\": {\n"
    "    \"Templates\": [\n"
    "      {\n"
    "        \"UrlTemplate\": \"http://localhost:7071/runtime/webhooks/signalr\",\n"
    "        \"EventPattern\": \"*\",\n"
    "        \"CategoryPattern\": \"*\",\n"
    "        \"HubPattern\": \"*\"\n"
    "      }\n"
    "    ]\n"
    "  }\n"
    "}\n";

static int header(struct hcp_buf *out, const char *name, const char *value)
{
    if (hcp_buf_append_str(out, name) || hcp_buf_append(out, ": ", 2) ||
        hcp_upstream_header_value(out, value) || hcp_buf_append_byte(out, '\0'))
        return -1;
    return 0;
}

int hcs_upstream_req_headers(struct hcp_buf *out, const struct hcs_upstream_event *ev,
                             const char *const *keys, size_t n_keys, const char *content_type)
{
    if (header(out, "Content-Type", content_type) ||
        header(out, "X-ASRS-Connection-Id", ev->conn_id) || header(out, "X-ASRS-Hub", ev->hub) ||
        header(out, "X-ASRS-Category", ev->category) || header(out, "X-ASRS-Event", ev->event))
        return -1;
    if (ev->user_id && *ev->user_id && header(out, "X-ASRS-User-Id", ev->user_id))
        return -1;

    /* Claims: built aside so that an empty list omits the header. */
    struct hcp_buf tmp;
    hcp_buf_init(&tmp, 0);
    int rc = -1;
    if (hcp_upstream_claims_header(&tmp, ev->claims))
        goto done;
    if (tmp.len && header(out, "X-ASRS-User-Claims", hcp_buf_cstr(&tmp)))
        goto done;

    hcp_buf_reset(&tmp);
    if (hcp_buf_append_byte(&tmp, '?') || hcp_buf_append_str(&tmp, ev->query ? ev->query : "") ||
        header(out, "X-ASRS-Client-Query", hcp_buf_cstr(&tmp)))
        goto done;

    /* One HMAC-SHA256 of the connection id per access key, primary first
     * (azure-signalr-service.md section 5.3). */
    hcp_buf_reset(&tmp);
    for (size_t i = 0; i < n_keys; i++) {
        char hex[65];
        if (hcs_auth_hmac_sha256_hex(keys[i], ev->conn_id, strlen(ev->conn_id), hex) != 0)
            goto done;
        if ((i && hcp_buf_append_byte(&tmp, ',')) || hcp_buf_append_str(&tmp, "sha256=") ||
            hcp_buf_append_str(&tmp, hex))
            goto done;
    }
    if (n_keys && header(out, "X-ASRS-Signature", hcp_buf_cstr(&tmp)))
        goto done;
    rc = 0;
done:
    hcp_buf_cleanup(&tmp);
    return rc;
}

int hcs_upstream_settings_path(const char *config_path, char *out, size_t cap)
{
    const char *p = (config_path && *config_path) ? config_path : "./settings.json";
    struct stat st;
    int n;
    if (config_path && *config_path && stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
        size_t len = strlen(p);
        n = snprintf(out, cap, "%s%ssettings.json", p, (len && p[len - 1] == '/') ? "" : "/");
    } else {
        n = snprintf(out, cap, "%s", p);
    }
    return (n < 0 || (size_t)n >= cap) ? -1 : 0;
}

int hcs_upstream_settings_read(const char *path, struct hcp_upstream_settings *out,
                               struct stat *out_st, bool *out_missing, char *err, size_t err_cap)
{
    *out_missing = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *out_missing = errno == ENOENT;
        snprintf(err, err_cap, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    char *text = NULL;
    int rc = -1;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, err_cap, "%s is not a regular file", path);
        goto done;
    }
    if (st.st_size > HCP_SETTINGS_MAX_BYTES) {
        snprintf(err, err_cap, "%s is larger than %d bytes", path, HCP_SETTINGS_MAX_BYTES);
        goto done;
    }
    size_t size = (size_t)st.st_size;
    text = hcp_malloc(size + 1);
    if (!text) {
        snprintf(err, err_cap, "out of memory reading %s", path);
        goto done;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, text + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    const char *reason = NULL;
    if (hcp_upstream_settings_parse(text, got, out, &reason) != HCP_OK) {
        snprintf(err, err_cap, "%s: %s", path, reason);
        goto done;
    }
    *out_st = st;
    rc = 0;
done:
    hcp_free(text);
    close(fd);
    return rc;
}

void hcs_upstream_settings_print(FILE *f, const struct hcp_upstream_settings *s)
{
    if (s->n_rules == 0) {
        fprintf(f, "No upstream rules: client invocations fail, events are not sent.\n");
        return;
    }
    for (size_t i = 0; i < s->n_rules; i++) {
        const struct hcp_upstream_rule *r = &s->rules[i];
        fprintf(f, "[%zu] %s (hub: '%s', category: '%s', event: '%s')\n", i, r->url_template,
                r->hub_pattern, r->category_pattern, r->event_pattern);
    }
    if (s->has_auth)
        fprintf(f, "Note: \"auth\" settings are ignored; requests are signed with the access "
                   "keys only.\n");
}
