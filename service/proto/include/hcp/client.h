#ifndef HCP_CLIENT_H
#define HCP_CLIENT_H
#include "hcp/common.h"
#endif
