/* triggers.c: moments the recorder sets itself (docs/AGGREGATE.md, "Triggered moments").
 *
 * peak-N: the live heap total (aggregate.c's live map) passed the last recorded peak by the
 *   hysteresis: 1/16 of it and at least 256 KiB (the first one at 256 KiB). A program whose heap
 *   only grows gets one moment per 6.25% of growth, so at most ~200 from 256 KiB to 64 GiB, and
 *   the last one is within 6.25% (or 256 KiB) of the highest live total. The check is one relaxed
 *   load and compare per allocation. The thread whose allocation crosses claims the moment with
 *   one CAS and writes it in its own stream, right after that allocation, as a marker set through
 *   the C API is (so the replay places it exactly, and its sample and residency are taken then):
 *   a few system calls, at most once per 6.25% of growth.
 * rss-SIZE: RSS (statm) at or above SIZE, read at the writer's sampling cadence, never per event;
 *   each threshold fires once, the first time it is crossed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw_format.h"
#include "hw_internal.h"

#define PEAK_FIRST (256ull << 10)
#define PEAK_MIN_STEP (256ull << 10)
#define PEAK_SHIFT 4 /* next = last + last/16 */
#define RSS_MAX 8

static _Atomic uint64_t next_peak = UINT64_MAX;
static _Atomic uint32_t peaks_named;
static uint64_t rss_threshold[RSS_MAX];
static bool rss_fired[RSS_MAX];
static int rss_count;

/* With sampling the live total is an estimate that moves in steps of about R (each recorded small
 * block stands for ~R bytes) with a noise of about sqrt(R x live): a step of at least 4 R keeps
 * single recorded blocks from making peaks (docs/AGGREGATE.md, "Combined with sampling"). */
static uint64_t min_step = PEAK_MIN_STEP;

void hw_triggers_configure(void) {
  const char *v = getenv("HEAPWISE_DUMP_AT_PEAK");
  hw_config.dump_at_peak = v && strcmp(v, "1") == 0;
  min_step = hw_sample_rate > PEAK_MIN_STEP / 4 ? 4 * hw_sample_rate : PEAK_MIN_STEP;
  atomic_store(&next_peak, hw_config.dump_at_peak ? (min_step > PEAK_FIRST ? min_step : PEAK_FIRST) : UINT64_MAX);
  rss_count = 0;
  const char *r = getenv("HEAPWISE_DUMP_AT_RSS"); /* bytes, comma-separated */
  while (r && *r && rss_count < RSS_MAX) {
    char *end;
    unsigned long long n = strtoull(r, &end, 10);
    if (end == r || n == 0) {
      hw_log("ignoring HEAPWISE_DUMP_AT_RSS=%s (expected byte counts separated by commas)", getenv("HEAPWISE_DUMP_AT_RSS"));
      rss_count = 0;
      break;
    }
    rss_fired[rss_count] = false;
    rss_threshold[rss_count++] = n;
    r = *end == ',' ? end + 1 : end;
  }
}

bool hw_triggers_watch_rss(void) { return rss_count > 0; }

void hw_triggers_enable_peak(void) {
  hw_config.dump_at_peak = true;
  atomic_store(&next_peak, min_step > PEAK_FIRST ? min_step : PEAK_FIRST);
}

void hw_triggers_live(hw_thread_t *t, uint64_t ts, uint64_t live) {
  uint64_t due = atomic_load_explicit(&next_peak, memory_order_relaxed);
  if (hw_likely(live < due)) return;
  uint64_t step = live >> PEAK_SHIFT;
  if (step < min_step) step = min_step;
  if (!atomic_compare_exchange_strong(&next_peak, &due, live + step)) return;
  char name[32];
  snprintf(name, sizeof name, "peak-%u", atomic_fetch_add(&peaks_named, 1) + 1);
  (void)ts; /* the moment is stamped after the allocation's own stamp: it sorts after it */
  uint64_t now = hw_now();
  hw_thread_moment(t, now, HW_MARKER_TRIGGER, name);
  hw_agg_thread_moment(t, now, name, true);
}

/* "rss-2GiB": the threshold in the largest binary unit that divides it (as the CLI accepts it). */
static void size_name(char *out, size_t cap, uint64_t n) {
  static const char *units[] = {"", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (u < 4 && n >= 1024 && n % 1024 == 0) n /= 1024, u++;
  snprintf(out, cap, "rss-%llu%s", (unsigned long long)n, units[u]);
}


void hw_triggers_tick(void) {
  if (rss_count == 0) return;
  uint64_t rss = 0;
  for (int i = 0; i < rss_count; i++) {
    if (rss_fired[i]) continue;
    if (!rss) rss = hw_rss_bytes();
    if (rss < rss_threshold[i]) continue;
    rss_fired[i] = true;
    char name[32];
    size_name(name, sizeof name, rss_threshold[i]);
    hw_writer_moment(hw_now(), HW_MARKER_TRIGGER, name);
  }
}
