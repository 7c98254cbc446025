/* A workload for validating sampled recording (docs/SAMPLING.md): twelve sites, one function each,
 * with sizes from 16 B to 1 MiB, spread within a site (log-uniform ranges, a bimodal site, a site
 * spanning the whole range) and between sites, reallocs and callocs, churn and blocks kept live
 * to the end. Deterministic: its own generator with a fixed seed, so full tracking and sampled
 * runs do exactly the same allocations.
 *
 *   sampling_sites [MiB allocated per site, default 24]
 *
 * Each site allocates until its requested bytes reach the budget; a block is kept live to the
 * end with probability 3/10, else it joins the site's ring of 64 recent blocks, whose oldest is
 * freed (or, at the realloc site, grown first). Used by Tests/EndToEndTests/SamplingTests.swift
 * and tools/bench/sampling_accuracy.sh. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RING 64

/* A marker after each site ("s1".."s12"): the kept blocks pile up, so the heap rises from marker
 * to marker (the summary's growth, and `--at`, on a sampled dump). Weak: the program also runs
 * without the recorder. */
extern void heapwise_marker(const char *name) __attribute__((weak));
static void mark(int i) {
  static const char *names[] = {"s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12"};
  if (heapwise_marker) heapwise_marker(names[i - 1]);
}

#define SPLITMIX_SEED 0x5eed5eed5eedull
#include "splitmix.h"

/* Room for every kept block: the tiny site keeps the most, about budget / 35 * 3/10. */
static void **kept;
static size_t kept_n, kept_cap;

struct ring { void *b[RING]; int at; };

/* Either kept to the end, or into the ring (freeing the block it replaces). */
static void place(struct ring *r, void *p) {
  if (!p) abort();
  ((char *)p)[0] = 1;
  if (next() % 10 < 3) {
    if (kept_n == kept_cap) abort(); /* never: see kept_cap */
    kept[kept_n++] = p;
    return;
  }
  free(r->b[r->at]);
  r->b[r->at] = p;
  r->at = (r->at + 1) % RING;
}

static void drain(struct ring *r) {
  for (int i = 0; i < RING; i++) { free(r->b[i]); r->b[i] = NULL; }
}

/* The sites: each a function of its own, so `top --by function` names it. */
#define SITE(name, size_expr)                                         \
  __attribute__((noinline)) static void name(size_t budget) {         \
    struct ring r = {{0}, 0};                                         \
    for (size_t done = 0; done < budget;) {                           \
      size_t n = (size_expr);                                         \
      place(&r, malloc(n));                                           \
      done += n;                                                      \
    }                                                                 \
    drain(&r);                                                        \
  }
SITE(site_tiny, logsize(16, 64))
SITE(site_small, logsize(64, 512))
SITE(site_medium, logsize(512, 4096))
SITE(site_page, logsize(4096, 32768))
SITE(site_large, logsize(32768, 262144))
SITE(site_huge, logsize(262144, 1048576))
SITE(site_everything, logsize(16, 1048576))
SITE(site_bimodal, next() % 10 == 0 ? 65536 : 24)
SITE(site_fixed48, 48)
SITE(site_fixed3000, 3000)

__attribute__((noinline)) static void site_calloc(size_t budget) {
  struct ring r = {{0}, 0};
  for (size_t done = 0; done < budget;) {
    size_t n = logsize(8, 128);
    place(&r, calloc(n, 16));
    done += n * 16;
  }
  drain(&r);
}

/* Grows each block by reallocs from 16 B to a few KiB: every step frees the old block. */
__attribute__((noinline)) static void site_realloc(size_t budget) {
  struct ring r = {{0}, 0};
  for (size_t done = 0; done < budget;) {
    size_t n = 16, last = logsize(256, 8192);
    char *p = malloc(n);
    done += n;
    while (n < last) {
      n = n * 2 > last ? last : n * 2;
      p = realloc(p, n);
      done += n;
    }
    place(&r, p);
  }
  drain(&r);
}

int main(int argc, char **argv) {
  size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 24;
  size_t budget = mib << 20;
  kept_cap = budget / 16 + 1024;
  kept = calloc(kept_cap, sizeof *kept);
  void (*sites[])(size_t) = {site_tiny, site_small, site_medium, site_page, site_large, site_huge,
                             site_everything, site_bimodal, site_fixed48, site_fixed3000, site_calloc, site_realloc};
  for (int i = 0; i < 12; i++) {
    sites[i](budget);
    mark(i + 1);
  }
  return kept_n > 0 ? 0 : 1; /* the kept blocks stay live: leaked at exit */
}
