/* triggers.c: moments the recorder sets itself (docs/AGGREGATE.md, "Triggered moments").
 *
 * peak: the live heap total (aggregate.c's live map) passed the last recorded peak by the
 *   hysteresis, 1/16 of it and at least 1 MiB (the first one at 1 MiB). A program whose heap only
 *   grows gets one moment per 6.25% of growth, so at most ~180 from 1 MiB to 64 GiB, and the last
 *   one is within 6.25% (or 1 MiB) of the highest live total. The check is one relaxed load and
 *   compare per allocation; the thread that crosses claims the moment with one CAS and leaves the
 *   measuring to the writer (hw_writer_note_moment), so the hot path makes no system call.
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
static uint32_t peaks_named; /* role holder */
static uint64_t rss_threshold[RSS_MAX];
static bool rss_fired[RSS_MAX];
static int rss_count;
static int rss_pending = -1; /* the threshold whose moment is being written */

void hw_triggers_configure(void) {
  const char *v = getenv("HEAPWISE_DUMP_AT_PEAK");
  hw_config.dump_at_peak = v && strcmp(v, "1") == 0;
  atomic_store(&next_peak, hw_config.dump_at_peak ? PEAK_FIRST : UINT64_MAX);
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

void hw_triggers_enable_peak(void) {
  hw_config.dump_at_peak = true;
  atomic_store(&next_peak, PEAK_FIRST);
}

void hw_triggers_live(uint64_t live) {
  uint64_t due = atomic_load_explicit(&next_peak, memory_order_relaxed);
  if (hw_likely(live < due)) return;
  uint64_t step = live >> PEAK_SHIFT;
  if (step < PEAK_MIN_STEP) step = PEAK_MIN_STEP;
  if (atomic_compare_exchange_strong(&next_peak, &due, live + step)) hw_writer_note_moment(HW_MOMENT_PEAK);
}

void hw_triggers_tick(void) {
  if (rss_count == 0) return;
  uint64_t rss = 0;
  for (int i = 0; i < rss_count; i++) {
    if (rss_fired[i]) continue;
    if (!rss) rss = hw_rss_bytes();
    if (rss < rss_threshold[i]) continue;
    rss_fired[i] = true;
    rss_pending = i;
    char name[32];
    hw_trigger_name(HW_MOMENT_RSS, name, sizeof name);
    hw_writer_moment(hw_now(), HW_MARKER_TRIGGER, name);
  }
}

/* "rss-2GiB": the threshold in the largest binary unit that divides it (as the CLI accepts it). */
static void size_name(char *out, size_t cap, uint64_t n) {
  static const char *units[] = {"", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (u < 4 && n >= 1024 && n % 1024 == 0) n /= 1024, u++;
  snprintf(out, cap, "rss-%llu%s", (unsigned long long)n, units[u]);
}

void hw_trigger_name(int kind, char *out, size_t cap) {
  if (kind == HW_MOMENT_PEAK) snprintf(out, cap, "peak-%u", ++peaks_named);
  else if (kind == HW_MOMENT_RSS && rss_pending >= 0) size_name(out, cap, rss_threshold[rss_pending]);
  else snprintf(out, cap, "moment");
}
