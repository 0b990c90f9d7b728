/* hcproto: client codec (being written) */
#include "hcp/common.h"
