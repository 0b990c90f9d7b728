/*
 * hcb_b64: standard base64 (RFC 4648 section 4, with padding) for message
 * bodies and SAS keys. Pure; no allocation except through hcp_buf.
 */
#ifndef HCB_B64_H
#define HCB_B64_H

#include "hcp/common.h"

/* Append the base64 of in[0..len) to b. */
HCP_NODISCARD int hcb_b64_encode(struct hcp_buf *b, const uint8_t *in, size_t len);

/* Decode in[0..len) (padding optional, no whitespace) appending the bytes to
 * b. HCP_ERR_MALFORMED for characters outside the alphabet or bad length. */
HCP_NODISCARD int hcb_b64_decode(struct hcp_buf *b, const char *in, size_t len);

#endif
