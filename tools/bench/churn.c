/* The tight churn loop: PAIRS malloc/free pairs, each made ten calls deep through one of 16 call
 * paths (the path picks the call site at levels 2, 4, 6 and 8, so consecutive stacks share some
 * inner and some outer frames, and differ in between). Plain, a pair costs ~25 ns here: this is
 * the worst case for a recorder's per-event cost.
 * Usage: churn [pairs]   (default 10,000,000) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static volatile unsigned sink;

static __attribute__((noinline)) void leaf(unsigned path) {
  void *p = malloc(32 + (path & 15) * 8);
  ((volatile char *)p)[0] = 1;
  free(p);
  sink = 10;
}

/* A level that always calls the next one from the same site. */
#define FIXED(n, next)                                                      \
  static __attribute__((noinline)) void level##n(unsigned path) {           \
    next(path);                                                             \
    sink = n;                                                               \
  }
/* A level whose call site depends on one bit of the path. */
#define FORK(n, bit, next)                                                  \
  static __attribute__((noinline)) void level##n(unsigned path) {           \
    if (path & (1u << bit)) {                                               \
      next(path);                                                           \
      sink = n;                                                             \
    } else {                                                                \
      next(path);                                                           \
      sink = n + 100;                                                       \
    }                                                                       \
  }
FIXED(9, leaf)
FORK(8, 3, level9)
FIXED(7, level8)
FORK(6, 2, level7)
FIXED(5, level6)
FORK(4, 1, level5)
FIXED(3, level4)
FORK(2, 0, level3)
FIXED(1, level2)
FIXED(0, level1)

int main(int argc, char **argv) {
  uint64_t pairs = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000ull;
  for (uint64_t i = 0; i < pairs; i++) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    level0((unsigned)(rng >> 40) & 15);
  }
  printf("%llu pairs\n", (unsigned long long)pairs);
  return 0;
}
