/* sampling.c: `record --sample R`. Which allocations are recorded, and the records that say so.
 *
 * Every byte allocated is a point of a Poisson process with rate 1/R, per thread: a block of s
 * bytes below R counts as s + C bytes (C = HW_SAMPLE_OFFSET, hw_internal.h: virtual bytes that
 * let tiny blocks be sampled often enough for counts) and is recorded when at least one of those
 * is sampled, with probability 1 - exp(-(s + C)/R), independently of every other block. The
 * per-thread countdown is the distance in bytes to the next sampled byte, drawn from the
 * exponential distribution with mean R; a block that crosses it is recorded and the countdown is
 * drawn afresh (the process is memoryless, so the bytes left in the block do not matter). Blocks
 * of R bytes or more are always recorded and leave the countdown alone. The analyzer weighs each
 * recorded block by 1/p (docs/SAMPLING.md).
 *
 * Recorded blocks go into the liveset (liveset.c), so their free is matched exactly; a free of
 * any other block costs the liveset's filter check, one multiply and one byte load (hooks.c).
 * The hot path (hw_sample_take in hw_internal.h) is a TLS subtraction and a compare; this file
 * holds the slow path taken once per recorded block, with no allocation and no syscall.
 */
#include <link.h>
#include <string.h>
#define UNW_LOCAL_ONLY
#include <libunwind.h>

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
 * bytes is then recorded when the countdown is below s + C: P = 1 - exp(-(s + C)/R), exactly as
 * for the continuous variate, since s + C is whole. */
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
    hw_tls_sample_left = draw() - (int64_t)size - HW_SAMPLE_OFFSET;
    if (hw_tls_sample_left >= 0) return false;
  }
  hw_tls_sample_left = draw();
  return true;
}

/* ---- weights for the counters of sampled aggregation (docs/AGGREGATE.md) ---- */

/* 1 - exp(-t) for t >= 0, without libm: the series near 0 (where 1 - exp would cancel), else
 * exp(-t) = 2^-k exp(-r) with r in [0, ln 2). Relative error below 1e-13. */
static double one_minus_exp_neg(double t) {
  if (t < 0.5) {
    double term = t, sum = t;
    for (int n = 2; n < 20; n++) sum += (term *= -t / n);
    return sum;
  }
  if (t > 700) return 1;
  int k = (int)(t / 0.6931471805599453);
  double r = t - k * 0.6931471805599453, term = 1, e = 1;
  for (int n = 1; n < 22; n++) e += (term *= -r / n);
  uint64_t bits = (uint64_t)(1023 - k) << 52; /* 2^-k, k <= 1010 */
  double scale;
  memcpy(&scale, &bits, sizeof scale);
  return 1 - e * scale;
}

/* A uniform number in [0, 1) from (seed, which): the same block always rounds the same way, so
 * its free takes away exactly what its allocation added. */
static double unit(uint32_t seed, uint64_t which) {
  uint64_t s = ((uint64_t)seed << 8 | which) * 0x9E3779B97F4A7C15ull;
  return (double)(splitmix64(&s) >> 11) * 0x1p-53;
}

/* x rounded down or up with the probability that keeps its expectation: unbiased, in integers. */
static uint64_t round_unbiased(double x, uint32_t seed, uint64_t which) {
  if (!(x > 0)) return 0;
  if (x >= 0x1p62) return (uint64_t)1 << 62;
  uint64_t whole = (uint64_t)x;
  return whole + (unit(seed, which) < x - (double)whole);
}

/* Derived from the thread's generator without advancing it, so that aggregation samples the same
 * blocks as an event recording with the same seed: each recorded block below R has just drawn a
 * countdown, so the state differs from one such block to the next (blocks of R or more are exact
 * and need no rounding). */
uint32_t hw_sample_seed(void) {
  uint64_t s = tls_rng ^ 0xA0761D6478BD642Full;
  return (uint32_t)(splitmix64(&s) >> 32);
}

void hw_sample_weigh(uint64_t size, uint32_t seed, hw_sample_weights_t *out) {
  if (size >= hw_sample_rate) { /* always recorded: exact */
    *out = (hw_sample_weights_t){.count = 1, .bytes = size};
    return;
  }
  double p = one_minus_exp_neg((double)(size + HW_SAMPLE_OFFSET) / (double)hw_sample_rate);
  double w = p > 0 ? 1 / p : 1, s = (double)size, v = w * (w - 1);
  out->count = round_unbiased(w, seed, 1);
  out->bytes = round_unbiased(w * s, seed, 2);
  out->count_variance = round_unbiased(v, seed, 3);
  out->bytes_variance = round_unbiased(v * s * s / (double)hw_sample_rate, seed, 4); /* in units of R bytes^2 */
}

/* ---- what the allocator flag told, for calls that the sampling entry makes without it ---- */

uintptr_t hw_allocator_text_start, hw_allocator_text_end;

/* The executable segment that holds the real malloc. Only compares numbers: the callback runs
 * under the loader's lock (hw_internal.h, deepbind.c). */
static int find_allocator_text(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  uintptr_t target = (uintptr_t)arg;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
    uintptr_t start = info->dlpi_addr + ph->p_vaddr, end = start + ph->p_memsz;
    if (target - start < end - start) {
      hw_allocator_text_start = start;
      hw_allocator_text_end = end;
      return 1;
    }
  }
  return 0;
}

/* The sampling entry (hooks.c) calls the real allocator without raising hw_tls_in_allocator, so
 * a sampler that must not ask the allocator for statistics from inside it (sampler.c) cannot learn
 * that from the flag. It looks at its own stack instead: a signal frame on it means a handler may
 * have interrupted the allocator, and so does a stack whose end the unwinder cannot reach (the
 * check would otherwise miss a signal frame beyond it). Only ever yes when in doubt. Called once
 * per sample, not per event (~1-10 us: the samples' 20 ms cadence makes that under 0.05%). */
static bool signal_frame_or_unknown(void) {
  unw_context_t context;
  unw_cursor_t cursor;
  if (unw_getcontext(&context) != 0 || unw_init_local(&cursor, &context) != 0) return true;
  for (int i = 0; i < 1024; i++) {
    if (unw_is_signal_frame(&cursor) > 0) return true;
    int step = unw_step(&cursor);
    if (step == 0) return false; /* the outermost frame: _start, or the thread's clone */
    if (step < 0) return true;
  }
  return true;
}

bool hw_allocator_maybe_interrupted(void) {
  if (hw_tls_in_allocator) return true;
  return hw_sample_rate != 0 && signal_frame_or_unknown();
}

int hw_sampling_init(uint64_t rate, uint64_t seed, size_t capacity) {
  if (rate == 0) return 0;
  /* hooks.c's sampling entry calls these without looking: never sample without them. */
  if (!hw_real.malloc || !hw_real.free || !hw_real.calloc || !hw_real.realloc) return -1;
  /* The mapping hooks tell the allocator's own mappings by their caller (hooks.c). */
  dl_iterate_phdr(find_allocator_text, (void *)hw_real.malloc);
  live_capacity = capacity;
  if (hw_live_init(capacity) != 0) return -1;
  base_seed = seed;
  hw_sample_rate = rate;
  hw_modes_set(HW_MODE_SAMPLING, true);
  hw_entry_update(); /* last: the entry opens with everything ready */
  return 0;
}

void hw_sampling_note(bool kept) {
  atomic_fetch_add_explicit(kept ? &sampled_blocks : &dropped_blocks, 1, memory_order_relaxed);
}

/* SAMPLING_OFFSET (0x55, format 1.4): mean bytes between samples, the seed, the live set's
 * capacity and C; SAMPLING (0x54) without C when C is 0, as before 1.4. First record of a sampled
 * dump's first stream, before any allocation. Both tags are non-skippable: a reader that does not
 * know C must not weigh the blocks as if it were 0. */
void hw_sampling_emit_parameters(hw_thread_t *t) {
  if (!hw_sample_rate || !t) return;
  uint8_t body[4 * HW_VARINT_MAX], *p = hw_put_uvarint(body, hw_sample_rate);
  p = hw_put_uvarint(p, base_seed);
  p = hw_put_uvarint(p, live_capacity);
  if (HW_SAMPLE_OFFSET) p = hw_put_uvarint(p, HW_SAMPLE_OFFSET);
  hw_emit_raw(t, hw_now(), HW_SAMPLE_OFFSET ? HW_TAG_SAMPLING_OFFSET : HW_TAG_SAMPLING, body, (size_t)(p - body));
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
