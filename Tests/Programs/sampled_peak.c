/* A workload whose last peak moment is known, for the peak figures of sampled aggregated dumps
 * (docs/AGGREGATE.md, "Combined with sampling"): eight sites of small and mixed sizes build a live
 * set with churn, then one block as large as everything allocated so far makes the last peak (it
 * passes any estimate of the heap before it by far more than the hysteresis, with or without
 * sampling), a marker follows it at once, and then half of the sites free what they kept. So at
 * the last peak moment, in a full recording and in a sampled one alike, each site's true live set
 * is its kept blocks, and a full recording's `top --at peak` gives it.
 *
 *   sampled_peak [MiB allocated per site, default 4]
 *
 * Deterministic (its own generator with a fixed seed). Used by
 * Tests/EndToEndTests/SampledAggregateTests.swift and tools/bench/aggregate_peak_accuracy.py. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RING 64
#define SITES 8

extern void heapwise_marker(const char *name) __attribute__((weak));

#define SPLITMIX_SEED 0x9ea4c0ffeeull
#include "splitmix.h"

/* What each site keeps to the peak: a list that grows by doubling (from the real allocator, so
 * its own blocks are a site too, the program's and tiny). */
struct kept { void **b; size_t n, cap; };
static struct kept kept[SITES];

static void keep(struct kept *k, void *p) {
  if (k->n == k->cap) {
    k->cap = k->cap ? 2 * k->cap : 1024;
    k->b = realloc(k->b, k->cap * sizeof *k->b);
    if (!k->b) abort();
  }
  k->b[k->n++] = p;
}

/* A block is kept with probability 3/10, else it replaces the oldest of the site's ring. */
#define SITE(name, idx, size_expr)                                    \
  __attribute__((noinline)) static void name(size_t budget) {         \
    void *ring[RING] = {0};                                           \
    int at = 0;                                                       \
    for (size_t done = 0; done < budget;) {                           \
      size_t n = (size_expr);                                         \
      char *p = malloc(n);                                            \
      if (!p) abort();                                                \
      p[0] = 1;                                                       \
      done += n;                                                      \
      if (next() % 10 < 3) {                                          \
        keep(&kept[idx], p);                                          \
        continue;                                                     \
      }                                                               \
      free(ring[at]);                                                 \
      ring[at] = p;                                                   \
      at = (at + 1) % RING;                                           \
    }                                                                 \
    for (int i = 0; i < RING; i++) free(ring[i]);                     \
  }
SITE(site_tiny, 0, logsize(16, 64))
SITE(site_small, 1, logsize(64, 512))
SITE(site_medium, 2, logsize(512, 4096))
SITE(site_page, 3, logsize(4096, 32768))
SITE(site_bimodal, 4, next() % 8 ? 24 : 65536)
SITE(site_everything, 5, logsize(16, 1 << 20))

/* Sites whose blocks live at the peak are not like the rest of what they allocate: what a 1.3
 * dump's approximation (the variance per byte of a site's allocations) gets wrong. Shifting keeps
 * small blocks and frees 1 MiB ones at once (nearly all of its bytes allocated, none live at the
 * peak); reverse churns small blocks and keeps a 1 MiB block now and then. Both sizes come from one
 * malloc call, so they are one site. Blocks of 1 MiB are at least R at every rate used here: exact.
 * Only the small blocks count towards the budget. */
__attribute__((noinline)) static void site_shifting(size_t budget) {
  for (size_t done = 0, i = 0; done < budget; i++) {
    int large = i % 64 == 63;
    size_t n = large ? (size_t)1 << 20 : logsize(16, 512);
    char *p = malloc(n);
    if (!p) abort();
    p[0] = 1;
    if (large) {
      free(p);
      continue;
    }
    keep(&kept[6], p);
    done += n;
  }
}
__attribute__((noinline)) static void site_reverse(size_t budget) {
  void *ring[RING] = {0};
  int at = 0;
  for (size_t done = 0, i = 0; done < budget; i++) {
    int large = i % 8192 == 0; /* about 1 MiB kept per 1.2 MB of small blocks */
    size_t n = large ? (size_t)1 << 20 : logsize(16, 512);
    char *p = malloc(n);
    if (!p) abort();
    p[0] = 1;
    if (large) {
      keep(&kept[7], p);
      continue;
    }
    done += n;
    free(ring[at]);
    ring[at] = p;
    at = (at + 1) % RING;
  }
  for (int i = 0; i < RING; i++) free(ring[i]);
}

__attribute__((noinline)) static void *site_peak(size_t n) { return malloc(n); }

int main(int argc, char **argv) {
  size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 4;
  size_t budget = mib << 20;
  site_tiny(budget);
  site_small(budget);
  site_medium(budget);
  site_page(budget);
  site_bimodal(budget);
  site_everything(budget);
  site_shifting(budget);
  site_reverse(budget);
  /* Four times everything kept so far (about 3.7 budgets): far past any estimate of the heap before
   * it. Never touched: its pages are not resident. */
  void *big = site_peak(2 * SITES * budget);
  if (!big) abort();
  if (heapwise_marker) heapwise_marker("after-peak");
  for (int s = 0; s < SITES; s += 2) {
    for (size_t i = 0; i < kept[s].n; i++) free(kept[s].b[i]);
    kept[s].n = 0;
  }
  free(big);
  return 0;
}
