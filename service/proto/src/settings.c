/* hcproto: settings codec (being written) */
#include "hcp/common.h"
