/* hcproto: the pure SignalR / Azure SignalR codecs shared by the service, the
 * client SDK and the bridge. Include this umbrella header or the parts. */
#ifndef HCP_HCP_H
#define HCP_HCP_H

#include "hcp/client.h"
#include "hcp/common.h"
#include "hcp/connstr.h"
#include "hcp/handshake.h"
#include "hcp/json.h"
#include "hcp/jsonscan.h"
#include "hcp/msgpack.h"
#include "hcp/http.h"
#include "hcp/negotiate.h"
#include "hcp/rest.h"
#include "hcp/settings.h"
#include "hcp/text.h"

#endif
