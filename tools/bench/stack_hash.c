/* stack_hash.c: the recorder's stack hash before and after it stopped being linear in the return
 * addresses (CShim/stacks.c), on a 20-frame stack: ns per hash. cc -O2 -o stack_hash tools/bench/stack_hash.c */
#include <stdint.h>
#include <stdio.h>
#include <time.h>
static inline uint64_t old_hash(const uintptr_t *frames, int count) {
  uint64_t a = (uint64_t)count, b = 0; int i = 0;
  for (; i + 1 < count; i += 2) {
    a += (frames[i] ^ 0x9E3779B97F4A7C15ull) * (0xff51afd7ed558ccdull + 2 * (uint64_t)i);
    b += (frames[i + 1] ^ 0xC2B2AE3D27D4EB4Full) * (0xc4ceb9fe1a85ec53ull + 2 * (uint64_t)i);
  }
  if (i < count) a += (frames[i] ^ 0x165667B19E3779F9ull) * 0xd6e8feb86659fd93ull;
  uint64_t h = a ^ (b >> 29) ^ (b << 35); h ^= h >> 32; h *= 0x9FB21C651E98DF25ull; h ^= h >> 29; return h ? h : 1;
}
static inline uint64_t frame_mix(uint64_t frame, uint64_t position) {
  uint64_t x = (frame ^ (position * 0x9E3779B97F4A7C15ull)) * 0xff51afd7ed558ccdull; x ^= x >> 32; return x * 0xc4ceb9fe1a85ec53ull;
}
static inline uint64_t new_hash(const uintptr_t *frames, int count) {
  uint64_t a = (uint64_t)count, b = 0; int i = 0;
  for (; i + 1 < count; i += 2) { a += frame_mix(frames[i], (uint64_t)i + 1); b += frame_mix(frames[i + 1], (uint64_t)i + 2); }
  if (i < count) a += frame_mix(frames[i], (uint64_t)i + 1);
  uint64_t h = a ^ (b >> 29) ^ (b << 35); h ^= h >> 32; h *= 0x9FB21C651E98DF25ull; h ^= h >> 29; return h ? h : 1;
}
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
int main(void) {
  uintptr_t f[20]; for (int i = 0; i < 20; i++) f[i] = 0x55550000 + i * 0x1234;
  volatile uint64_t sink = 0; const int N = 20000000;
  for (int r = 0; r < 5; r++) {
    double t0 = now(); for (int k = 0; k < N; k++) { f[k & 15] += 1; sink += old_hash(f, 20); }
    double t1 = now(); for (int k = 0; k < N; k++) { f[k & 15] += 1; sink += new_hash(f, 20); }
    double t2 = now();
    printf("20 frames: old %.1f ns, new %.1f ns per hash\n", (t1 - t0) / N * 1e9, (t2 - t1) / N * 1e9);
  }
  return (int)(sink & 1);
}
