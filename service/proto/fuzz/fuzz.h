/* Shared declaration for the hcproto fuzz targets (libFuzzer entry point). */
#ifndef HCP_FUZZ_H
#define HCP_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
