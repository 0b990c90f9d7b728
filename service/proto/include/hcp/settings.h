#ifndef HCP_SETTINGS_H
#define HCP_SETTINGS_H
#include "hcp/common.h"
#endif
