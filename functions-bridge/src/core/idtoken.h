/*
 * hcb_idtoken: read one claim from a bearer ID token (a JWT) for negotiate's
 * user id. The signature is NOT checked: in Azure, App Service
 * authentication validates the ID token before the function runs; locally
 * the bridge stands in for that trust boundary (documented in docs/bridge.md).
 * Pure: bytes in, value out.
 */
#ifndef HCB_IDTOKEN_H
#define HCB_IDTOKEN_H

#include "hcp/common.h"

/*
 * Copy claim `claim` of the JWT token[0..len) into out (NUL-terminated). A
 * string claim is copied as is, a number as its decimal text. Returns HCP_OK,
 * HCP_ERR_NOT_FOUND (claim absent or neither string nor number),
 * HCP_ERR_MALFORMED (not a JWT with a JSON object payload) or
 * HCP_ERR_TOO_LARGE (value does not fit).
 */
HCP_NODISCARD int hcb_idtoken_claim(const char *token, size_t len, const char *claim, char *out,
                                    size_t cap);

#endif
