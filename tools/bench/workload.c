/* The recorder's benchmark workload: PAIRS malloc/free pairs of random sizes (16..4111 bytes),
 * each made ten calls deep through one of 2^10 = 1024 distinct call paths, with a window of 1000
 * blocks live at a time (so frees are not all of the block just allocated).
 * Usage: workload [pairs [path-bits]]   (default 10,000,000 pairs, 10 bits = 1024 paths; 0 bits
 * makes every allocation come from one path, a case heaptrack records completely) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define WINDOW 1000
static void *window[WINDOW];
static uint64_t rng = 0x9E3779B97F4A7C15ull;

static inline uint64_t next_random(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static __attribute__((noinline)) void leaf(uint64_t i) {
  size_t size = 16 + (next_random() & 4095);
  void **slot = &window[i % WINDOW];
  free(*slot);
  *slot = malloc(size);
  ((volatile char *)*slot)[0] = 1;
}

/* Two call sites per level: bit `level` of the path picks which one, so each of the 1024 paths
 * is a distinct stack of return addresses. The different stores after each call keep the compiler
 * from merging the two calls into one (and from making them tail calls). */
static volatile unsigned sink;
#define LEVEL(n, next)                                                        \
  static __attribute__((noinline)) void level##n(uint64_t i, unsigned path) { \
    if (path & (1u << n)) {                                                   \
      next(i, path);                                                          \
      sink = n;                                                               \
    } else {                                                                  \
      next(i, path);                                                          \
      sink = n + 100;                                                         \
    }                                                                         \
  }
static __attribute__((noinline)) void level10(uint64_t i, unsigned path) {
  (void)path;
  leaf(i);
  sink = 10;
}
LEVEL(9, level10)
LEVEL(8, level9)
LEVEL(7, level8)
LEVEL(6, level7)
LEVEL(5, level6)
LEVEL(4, level5)
LEVEL(3, level4)
LEVEL(2, level3)
LEVEL(1, level2)
LEVEL(0, level1)

int main(int argc, char **argv) {
  uint64_t pairs = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000ull;
  unsigned bits = argc > 2 ? (unsigned)atoi(argv[2]) : 10;
  unsigned mask = bits >= 10 ? 1023 : (1u << bits) - 1;
  for (uint64_t i = 0; i < pairs; i++) level0(i, (unsigned)(next_random() >> 20) & mask);
  for (int i = 0; i < WINDOW; i++) free(window[i]);
  printf("%llu pairs\n", (unsigned long long)pairs);
  return 0;
}
