/* Ground truth for CShim/liveset.c, compiled into this program (the set is internal to the
 * preload library). Exits 0 and prints one "ok" line per check; any failure prints what and
 * exits 1. Run by Tests/RecorderTests/LiveSetTests.swift. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "../../CShim/liveset.c"

/* What platform.c gives the recorder: pages straight from the kernel. */
void *hw_pages_alloc(size_t size) {
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

/* What bootstrap.c gives: the pool of blocks handed out before the real functions are known, of
 * which this program pretends 48 bytes were used; hw_live_init pins their counters. */
unsigned char hw_bootstrap_pool[HW_BOOTSTRAP_POOL];
size_t hw_bootstrap_used(void) { return 48; }

#define CHECK(cond, ...)                         \
  do {                                           \
    if (!(cond)) {                               \
      printf("FAIL line %d: ", __LINE__);        \
      printf(__VA_ARGS__);                       \
      printf("\n");                              \
      exit(1);                                   \
    }                                            \
  } while (0)

static uint64_t next(uint64_t *s) { /* splitmix64 */
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
/* A plausible heap address: 16-aligned, in a 1 GiB range. */
static uintptr_t address(uint64_t *s) { return 0x7f0000000000ull + ((next(s) & ((1ull << 30) - 1)) & ~15ull); }
/* The i-th of 2^26 distinct addresses of that range, in scattered order (odd multiplier mod 2^26),
 * in the lane-th of 16 disjoint ranges. */
static uintptr_t distinct(uint64_t i, unsigned lane) {
  return 0x7f0000000000ull + ((uint64_t)lane << 34) + (((i * 0x2545F491ull) & ((1ull << 26) - 1)) << 4);
}

static size_t filter_nonzero(void) {
  size_t n = 0;
  for (size_t i = 0; i <= slot_mask; i++) n += hw_live_filter[i] != 0;
  return n;
}

/* ---- two threads hand blocks over: A inserts, B removes and checks the values ---- */
#define HANDOFF 50000
#define MAILBOX 64
static _Atomic uintptr_t mailbox[MAILBOX];
static _Atomic int handoff_errors;

static void *producer(void *arg) {
  (void)arg;
  for (int i = 0; i < HANDOFF; i++) {
    uintptr_t a = distinct((uint64_t)i, 1);
    if (hw_live_insert(a, (uint32_t)(a >> 4), (uint32_t)(a >> 5), a >> 3) != 0) atomic_fetch_add(&handoff_errors, 1);
    _Atomic uintptr_t *slot = &mailbox[i % MAILBOX];
    uintptr_t expected = 0;
    while (!atomic_compare_exchange_weak(slot, &expected, a)) expected = 0;
  }
  return NULL;
}

static void *consumer(void *arg) {
  (void)arg;
  for (int i = 0; i < HANDOFF; i++) {
    _Atomic uintptr_t *slot = &mailbox[i % MAILBOX];
    uintptr_t a;
    while (!(a = atomic_exchange(slot, 0))) {
    }
    uint32_t st, tg;
    uint64_t sz;
    if (!hw_live_maybe(a) || hw_live_remove(a, &st, &tg, &sz) != 0 || st != (uint32_t)(a >> 4) || tg != (uint32_t)(a >> 5) || sz != a >> 3)
      atomic_fetch_add(&handoff_errors, 1);
  }
  return NULL;
}

/* ---- churners: each inserts and removes its own addresses, some kept for a while ---- */
#define CHURN 200000
#define KEEP 256
static void *churner(void *arg) {
  unsigned lane = (unsigned)(uintptr_t)arg;
  uint64_t s = lane, made = 0; /* s picks slots, made numbers addresses */
  uintptr_t kept[KEEP] = {0};
  for (int i = 0; i < CHURN; i++) {
    int k = (int)(next(&s) % KEEP);
    if (kept[k]) {
      uint64_t sz;
      uint32_t st;
      if (hw_live_remove(kept[k], &st, NULL, &sz) != 0 || sz != kept[k] || st != (uint32_t)k)
        atomic_fetch_add(&handoff_errors, 1);
      kept[k] = 0;
    } else {
      uintptr_t a = distinct(made++, lane);
      if (hw_live_insert(a, (uint32_t)k, 0, a) == 0) kept[k] = a;
      else atomic_fetch_add(&handoff_errors, 1);
    }
  }
  for (int k = 0; k < KEEP; k++)
    if (kept[k] && hw_live_remove(kept[k], NULL, NULL, NULL) != 0) atomic_fetch_add(&handoff_errors, 1);
  return NULL;
}

int main(void) {
  /* Before start-up: nothing is present and nothing can be inserted. */
  CHECK(hw_live_maybe(0x1000) == 0 && hw_live_insert(0x1000, 1, 0, 1) == -1 && hw_live_remove(0x1000, NULL, NULL, NULL) == -1,
        "uninitialised set");
  CHECK(hw_live_init(65536) == 0, "init");
  CHECK(hw_live_init(65536) == 0, "second init is a no-op");
  for (int off = 0; off < 48; off += 16) /* the pool's blocks: never "certainly absent" (hooks.c's free) */
    CHECK(hw_live_maybe((uintptr_t)(hw_bootstrap_pool + off)), "pool block at +%d not pinned", off);
  /* The filter's address is its shift mod 32 (liveset.h): every index it gives is inside it. */
  unsigned bits = 0;
  while (((size_t)1 << bits) <= slot_mask) bits++;
  CHECK(((uintptr_t)hw_live_filter & 31) == 32 - bits, "filter at %p for %u bits", (void *)hw_live_filter, bits);
  uint64_t s1 = 5;
  for (int i = 0; i < 100000; i++) CHECK(hw_live_filter_index(address(&s1) ^ (uintptr_t)next(&s1)) <= slot_mask, "index out of the filter");
  size_t pinned = filter_nonzero(); /* stays raised: no remove matches a pin */
  CHECK(pinned >= 1 && pinned <= 3, "%zu counters pinned for 3 pool blocks", pinned);
  printf("ok init memory=%zu\n", hw_live_memory());

  /* Exact values back, once. */
  enum { N = 20000 };
  static uintptr_t addrs[N];
  for (int i = 0; i < N; i++) addrs[i] = distinct((uint64_t)i, 0);
  for (int i = 0; i < N; i++) CHECK(hw_live_insert(addrs[i], (uint32_t)i + 1, (uint32_t)i * 7, (uint64_t)i * 1000 + 16) == 0, "insert %d", i);
  CHECK(hw_live_count() == N, "count %zu", hw_live_count());
  for (int i = 0; i < N; i++) CHECK(hw_live_maybe(addrs[i]), "maybe of a present address %d", i);

  /* The fast negative check: with N of 131072 counters raised, random absent addresses pass it
   * rarely (expected about N/131072, 15%), and most frees of unsampled blocks stop there. */
  uint64_t s2 = 99;
  int passed = 0, probes = 100000;
  for (int i = 0; i < probes; i++) passed += hw_live_maybe(address(&s2) | ((uintptr_t)1 << 40)) != 0; /* never inserted */
  double fp = (double)passed / probes;
  CHECK(fp < 0.2, "false positive rate %.3f", fp);
  printf("ok filter false-positive rate %.3f with %d blocks held\n", fp, N);

  /* A present address inserted again replaces its values; the count does not change. */
  CHECK(hw_live_insert(addrs[7], 4242, 9, 77) == 0 && hw_live_count() == N, "reinsert");
  for (int i = 0; i < N; i++) {
    uint32_t st, tg;
    uint64_t sz;
    CHECK(hw_live_remove(addrs[i], &st, &tg, &sz) == 0, "remove %d", i);
    if (i == 7) CHECK(st == 4242 && tg == 9 && sz == 77, "replaced values");
    else CHECK(st == (uint32_t)i + 1 && tg == (uint32_t)i * 7 && sz == (uint64_t)i * 1000 + 16, "values of %d: %u %llu", i, st, (unsigned long long)sz);
    CHECK(hw_live_remove(addrs[i], &st, &tg, &sz) == -1, "second remove of %d", i);
  }
  CHECK(hw_live_count() == 0, "empty again");
  CHECK(filter_nonzero() == pinned, "every counter back to zero but the pool's");
  printf("ok exact values, removed once\n");

  /* Threads: hand-over between two, and four churners, at once. */
  pthread_t th[6];
  pthread_create(&th[0], NULL, producer, (void *)(uintptr_t)1);
  pthread_create(&th[1], NULL, consumer, NULL);
  for (int i = 0; i < 4; i++) pthread_create(&th[2 + i], NULL, churner, (void *)(uintptr_t)(2 + i));
  for (int i = 0; i < 6; i++) pthread_join(th[i], NULL);
  CHECK(atomic_load(&handoff_errors) == 0, "%d errors across threads", atomic_load(&handoff_errors));
  CHECK(hw_live_count() == 0 && filter_nonzero() == pinned, "threads left %zu blocks", hw_live_count());
  printf("ok threads\n");

  /* Full: insert until -1. It holds at least its capacity, and what it took is all there. */
  static uintptr_t more[400000];
  int held_n = 0;
  for (; held_n < 400000; held_n++) {
    more[held_n] = 0x100000000000ull + (uintptr_t)held_n * 16;
    if (hw_live_insert(more[held_n], 5, 0, 6) != 0) break;
  }
  CHECK(held_n >= 65536 && held_n < 400000, "held %d before full", held_n);
  for (int i = 0; i < held_n; i++) CHECK(hw_live_remove(more[i], NULL, NULL, NULL) == 0, "full set lost %d", i);
  CHECK(hw_live_remove(more[held_n], NULL, NULL, NULL) == -1, "the refused block is absent");
  CHECK(hw_live_count() == 0 && filter_nonzero() == pinned, "empty after full");
  printf("ok full after %d blocks (capacity 65536)\n", held_n);
  return 0;
}
