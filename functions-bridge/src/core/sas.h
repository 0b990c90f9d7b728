/*
 * hcb_sas: IoT Hub SAS tokens (iot-bridge-and-client.md section 5) and the
 * device registry they are checked against. Pure: time comes in as now_s.
 * HMAC-SHA256 through OpenSSL libcrypto.
 */
#ifndef HCB_SAS_H
#define HCB_SAS_H

#include "hcp/common.h"

/* Views into the token text. */
struct hcb_sas_token {
    struct hcp_str sr;  /* still encoded, exactly as in the token */
    struct hcp_str sig; /* still encoded */
    struct hcp_str skn; /* ptr NULL when absent */
    int64_t se;
};

/* Parse "SharedAccessSignature sr=..&sig=..&se=..[&skn=..]" (pairs in any
 * order). HCP_ERR_MALFORMED with a static reason. */
HCP_NODISCARD int hcb_sas_parse(const char *text, size_t len, struct hcb_sas_token *out,
                                const char **out_reason);

/*
 * Verify a parsed token for device_id (and module_id, NULL or "" for a
 * device) at time now_s against a base64 key: HMAC-SHA256 over the encoded
 * sr + "\n" + se compared in constant time with the decoded sig; se not in
 * the past; decoded sr = "<host>/devices/<id>[/modules/<m>]" (a segment
 * prefix of the endpoint). `host` NULL accepts any host, else compared
 * case-insensitively. Returns HCP_OK or HCP_ERR_INVALID with a static reason.
 */
HCP_NODISCARD int hcb_sas_verify(const struct hcb_sas_token *t, const char *key_b64,
                                 const char *device_id, const char *module_id, const char *host,
                                 int64_t now_s, const char **out_reason);

/* Build a token the way device SDKs do (sr = url-encoded resource, upper-case
 * hex). For tests and the sample simulator. Appends to b. */
HCP_NODISCARD int hcb_sas_build(struct hcp_buf *b, const char *resource, const char *key_b64,
                                int64_t expiry);

/* Device registry: {"devices":[{"deviceId":"d","moduleId":"m"?,
 * "primaryKey":"<b64>","secondaryKey":"<b64>"?}, ...]}. */
struct hcb_registry;
HCP_NODISCARD int hcb_registry_parse(const char *json, size_t len, struct hcb_registry **out,
                                     const char **out_reason);
void hcb_registry_free(struct hcb_registry *r);
/* Key `index` (0 primary, 1 secondary) of a device/module; NULL if none. */
const char *hcb_registry_key(const struct hcb_registry *r, const char *device_id,
                             const char *module_id, int index);

#endif
