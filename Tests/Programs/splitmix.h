/* splitmix.h: the sampling programs' deterministic sizes (sampling_sites.c, sampled_peak.c).
 * The includer defines SPLITMIX_SEED first, so each program keeps its own sequence. */
#ifndef SPLITMIX_H
#define SPLITMIX_H
#include <stddef.h>
#include <stdint.h>

static uint64_t rng = SPLITMIX_SEED;
static uint64_t next(void) { /* splitmix64 */
  uint64_t z = (rng += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static double unit(void) { return (double)(next() >> 11) * 0x1p-53; }
/* Log-uniform in [lo, hi]: as many blocks per octave. */
static size_t logsize(size_t lo, size_t hi) {
  double l = __builtin_log((double)lo), h = __builtin_log((double)hi);
  return (size_t)__builtin_exp(l + (h - l) * unit());
}
#endif
