// Small C kernels for the reader, where Swift has no spelling for the instruction that does the
// job: CRC-32C in hardware.
#ifndef HEAPWISE_KERNELS_H
#define HEAPWISE_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/// True when this CPU has a CRC-32C instruction that `hw_crc32c_raw` uses.
int hw_crc32c_hardware(void);

/// Raw CRC-32C update (no pre- or post-inversion) with the CPU's instruction. Only call it when
/// `hw_crc32c_hardware()` is true.
uint32_t hw_crc32c_raw(uint32_t crc, const void *bytes, size_t count);

#endif
