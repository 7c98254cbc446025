/* sampling.c: `record --sample R`. Which allocations are recorded, and the records that say so.
 *
 * Every byte allocated is a point of a Poisson process with rate 1/R, per thread: a block of s
 * bytes is recorded when at least one of its bytes is sampled, with probability 1 - exp(-s/R),
 * independently of every other block. The per-thread countdown is the distance in bytes to the
 * next sampled byte, drawn from the exponential distribution with mean R; a block that crosses
 * it is recorded and the countdown is drawn afresh (the process is memoryless, so the bytes left
 * in the block do not matter). Blocks of R bytes or more are always recorded and leave the
 * countdown alone. The analyzer weighs each recorded block by 1/p (docs/SAMPLING.md).
 *
 * Recorded blocks go into the liveset (liveset.c), so their free is matched exactly; a free of
 * any other block costs the liveset's filter check, one multiply and one byte load (hooks.c).
 * The hot path (hw_sample_take in hw_internal.h) is a TLS subtraction and a compare; this file
 * holds the slow path taken once per recorded block, with no allocation and no syscall.
 */
#include <string.h>

#include "hw_format.h"
#include "hw_internal.h"
#include "liveset.h"

uint64_t hw_sample_rate;
__thread int64_t hw_tls_sample_left __attribute__((tls_model("initial-exec")));
static __thread uint64_t tls_rng __attribute__((tls_model("initial-exec")));
static __thread int tls_seeded __attribute__((tls_model("initial-exec")));

static uint64_t base_seed;
static size_t live_capacity;
static _Atomic uint64_t thread_ordinal;
static _Atomic uint64_t sampled_blocks, dropped_blocks;

static uint64_t splitmix64(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* ln(x) for x in (0, 1], without libm (the recorder links only what it must): x = m * 2^e with
 * m in [sqrt(1/2), sqrt(2)), ln m = 2 atanh(t), t = (m - 1) / (m + 1), |t| < 0.172, by its series
 * to t^13: relative error below 1e-12, far under the sampling noise. */
static double ln_unit(double x) {
  uint64_t bits;
  memcpy(&bits, &x, sizeof bits);
  int e = (int)((bits >> 52) & 0x7ff) - 1023;
  bits = (bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull; /* m in [1, 2) */
  double m;
  memcpy(&m, &bits, sizeof m);
  if (m > 1.4142135623730951) {
    m *= 0.5;
    e++;
  }
  double t = (m - 1) / (m + 1), t2 = t * t;
  double series = t * (1 + t2 * (1.0 / 3 + t2 * (1.0 / 5 + t2 * (1.0 / 7 + t2 * (1.0 / 9 + t2 * (1.0 / 11 + t2 / 13))))));
  return 2 * series + e * 0.6931471805599453;
}

/* Bytes to the next sampled byte: floor of an exponential variate with mean R. A block of s
 * bytes is then recorded when the countdown is below s: P = 1 - exp(-s/R), exactly as for the
 * continuous variate, since s is whole. */
static int64_t draw(void) {
  double u = (double)((splitmix64(&tls_rng) >> 11) + 1) * 0x1p-53; /* (0, 1] */
  double x = -ln_unit(u) * (double)hw_sample_rate;
  return x >= 0x1p62 ? (int64_t)1 << 62 : (int64_t)x;
}

bool hw_sample_take_slow(size_t size) {
  if (hw_unlikely(!tls_seeded)) {
    /* First allocation of this thread: its own stream of numbers (the seed, then the thread's
     * ordinal, so a program whose threads start in a fixed order samples reproducibly), and a
     * first countdown, against which this block is measured like any other. */
    tls_seeded = 1;
    tls_rng = base_seed ^ (atomic_fetch_add_explicit(&thread_ordinal, 1, memory_order_relaxed) * 0xD1B54A32D192ED03ull);
    hw_tls_sample_left = draw() - (int64_t)size;
    if (hw_tls_sample_left >= 0) return false;
  }
  hw_tls_sample_left = draw();
  return true;
}

int hw_sampling_init(uint64_t rate, uint64_t seed, size_t capacity) {
  if (rate == 0) return 0;
  /* hooks.c's sampling entry calls these without looking: never sample without them. */
  if (!hw_real.malloc || !hw_real.free || !hw_real.calloc || !hw_real.realloc) return -1;
  live_capacity = capacity;
  if (hw_live_init(capacity) != 0) return -1;
  base_seed = seed;
  hw_sample_rate = rate;
  return 0;
}

void hw_sampling_note(bool kept) {
  atomic_fetch_add_explicit(kept ? &sampled_blocks : &dropped_blocks, 1, memory_order_relaxed);
}

/* SAMPLING (0x54): mean bytes between samples, the seed, the live set's capacity. First record
 * of a sampled dump's first stream, before any allocation. */
void hw_sampling_emit_parameters(hw_thread_t *t) {
  if (!hw_sample_rate || !t) return;
  uint8_t body[3 * HW_VARINT_MAX], *p = hw_put_uvarint(body, hw_sample_rate);
  p = hw_put_uvarint(p, base_seed);
  p = hw_put_uvarint(p, live_capacity);
  hw_emit_raw(t, hw_now(), HW_TAG_SAMPLING, body, (size_t)(p - body));
}

/* SAMPLING_STATS (0x84, skippable), at a normal exit: blocks recorded, blocks that would have been
 * recorded but found the live set full (docs/SAMPLING.md), blocks held at the end. */
void hw_sampling_emit_stats(hw_thread_t *t) {
  if (!hw_sample_rate || !t) return;
  uint8_t body[3 * HW_VARINT_MAX], *p = hw_put_uvarint(body, atomic_load(&sampled_blocks));
  p = hw_put_uvarint(p, atomic_load(&dropped_blocks));
  p = hw_put_uvarint(p, hw_live_count());
  hw_emit_raw(t, hw_now(), HW_TAG_SAMPLING_STATS, body, (size_t)(p - body));
}
