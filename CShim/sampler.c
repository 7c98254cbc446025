/* sampler.c: what a SAMPLE record holds: the kernel's view of the process (statm, smaps_rollup),
 * the allocator's own statistics, and the recorder's footprint, so the analyzer can split RSS and
 * never blame the recorder's memory on the program.
 *
 * The allocator is whatever the hooks forward to: found once from the real malloc's module.
 * glibc: mallinfo2. Facts measured on glibc 2.36 that the analyzer must correct for: uordblks
 * counts chunk sizes (malloc(64) adds 80) and keeps tcache'd free chunks as in use; fordblks still
 * counts free pages that malloc_trim already gave back. jemalloc: mallctl("stats.*") after bumping
 * "epoch". tcmalloc: MallocExtension_GetNumericProperty. Anything else: statistics unavailable.
 *
 * Samples are encoded by the writer thread, by a program thread writing inline, and by markers on
 * any thread, possibly at once: the allocator is detected once (the first caller, others skip the
 * statistics meanwhile) and the smaps_rollup budget is one atomic. The allocator's statistics take
 * its locks, so they are skipped when this thread is inside the allocator (a signal handler that
 * interrupted malloc, then recorded): asking then could wait for a lock this thread holds
 * (hw_allocator_maybe_interrupted: the allocator flag, or with sampling a signal frame). That check
 * is made only for a sample that is about to ask: with sampling on it is a libunwind walk of the
 * thread's stack, and glibc's statistics are asked for only on their budget.
 */
#include <dlfcn.h>
#include <malloc.h>
#include <string.h>
#include <unistd.h>

#include "hw_format.h"
#include "hw_internal.h"

enum allocator { ALLOC_UNKNOWN = 0, ALLOC_GLIBC = 1, ALLOC_JEMALLOC = 2, ALLOC_TCMALLOC = 3 };

static _Atomic int allocator = -1; /* -1 unknown, -2 being detected */
static struct mallinfo2 (*glibc_mallinfo2)(void);
static int (*glibc_malloc_trim)(size_t);
static int (*je_mallctl)(const char *, void *, size_t *, void *, size_t);
static int (*tc_property)(const char *, size_t *);

static int find_allocator(void) {
  Dl_info info;
  if (!hw_real.malloc || !dladdr((void *)hw_real.malloc, &info) || !info.dli_fname) return ALLOC_UNKNOWN;
  void *lib = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD);
  if (!lib) return ALLOC_UNKNOWN;
  int found = ALLOC_UNKNOWN;
  if ((je_mallctl = (int (*)(const char *, void *, size_t *, void *, size_t))dlsym(lib, "mallctl")))
    found = ALLOC_JEMALLOC;
  else if ((tc_property = (int (*)(const char *, size_t *))dlsym(lib, "MallocExtension_GetNumericProperty")))
    found = ALLOC_TCMALLOC;
  else if (strstr(info.dli_fname, "libc.so")) {
    glibc_mallinfo2 = (struct mallinfo2(*)(void))dlsym(lib, "mallinfo2");
    glibc_malloc_trim = (int (*)(size_t))dlsym(lib, "malloc_trim");
    if (glibc_mallinfo2) found = ALLOC_GLIBC;
  }
  dlclose(lib);
  return found;
}

/* The allocator, once known; ALLOC_UNKNOWN while another thread is still finding it out. */
static int current_allocator(void) {
  int a = atomic_load_explicit(&allocator, memory_order_acquire);
  if (hw_likely(a >= 0)) return a;
  int expected = -1;
  if (a == -1 && atomic_compare_exchange_strong(&allocator, &expected, -2)) {
    a = find_allocator(); /* the function pointers are published by the release below */
    atomic_store_explicit(&allocator, a, memory_order_release);
    return a;
  }
  return ALLOC_UNKNOWN;
}

uint64_t hw_rss_bytes(void) {
  char buf[128];
  if (hw_read_file("/proc/self/statm", buf, sizeof buf) <= 0) return 0;
  unsigned long long size = 0, resident = 0;
  if (sscanf(buf, "%llu %llu", &size, &resident) != 2) return 0;
  return resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static uint8_t *put(uint8_t *p, unsigned *count, uint64_t key, uint64_t value) {
  (*count)++;
  p = hw_put_uvarint(p, key);
  return hw_put_uvarint(p, value);
}

/* smaps_rollup makes the kernel walk every page of the process: on a 170 MB Python process, reading
 * it every 20 ms was 16% of the run, and one read took 1.4 ms. So it is read on a budget: after a
 * read that took X, not again before ROLLUP_BUDGET_FACTOR X has passed (0.05% of a core), and
 * always when `full` (markers, exit). At 200 X it was still the largest part of a sampled Python
 * run's periodic work (0.5-0.7% of its CPU: docs/BENCHMARKS.md, "What sampling costs a Python run,
 * part by part"); the analyzer reads its figures from the markers' and the exit's samples, which
 * are full, and uses a periodic one's only where statm is missing. */
#define ROLLUP_BUDGET_FACTOR 2000
static _Atomic uint64_t rollup_next_ns;

static bool rollup_due(bool full) {
  return full || hw_monotonic_ns() >= atomic_load_explicit(&rollup_next_ns, memory_order_relaxed);
}

/* mallinfo2 walks every free chunk of every arena under the arena's lock: on a Python process with
 * PYTHONMALLOC=malloc (pytest --heapwise) each call took tens of ms, every 20 ms tick, and the
 * program's own mallocs waited on the lock meanwhile (a whole pytest run went from 1 to 5 minutes,
 * 94% of its CPU in int_mallinfo). A budget: 200 X after a call that took X, and always when
 * `full`. X includes the check that this thread is not inside the allocator, made just before
 * (with sampling a libunwind walk, 10-40 us on a Python stack): the cost of asking, all of it. */
static _Atomic uint64_t mallinfo_next_ns;

size_t hw_sample_encode(uint8_t *out, size_t cap, bool full) {
  int kind = current_allocator();
  uint8_t pairs[480], *p = pairs;
  unsigned n = 0;
  char buf[4096];
  uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
  unsigned long long size, resident, shared;
  if (hw_read_file("/proc/self/statm", buf, sizeof buf) > 0 &&
      sscanf(buf, "%llu %llu %llu", &size, &resident, &shared) == 3) {
    p = put(p, &n, HW_SAMPLE_VSIZE, size * page);
    p = put(p, &n, HW_SAMPLE_RSS, resident * page);
    p = put(p, &n, HW_SAMPLE_RSS_FILE, shared * page);
  }
  uint64_t rollup_start = 0;
  if (rollup_due(full) && (rollup_start = hw_monotonic_ns()) &&
      hw_read_file("/proc/self/smaps_rollup", buf, sizeof buf) > 0) {
    uint64_t took = hw_monotonic_ns() - rollup_start;
    atomic_store_explicit(&rollup_next_ns, rollup_start + ROLLUP_BUDGET_FACTOR * took, memory_order_relaxed);
    static const char *keys[] = {"Rss", "Pss", "Anonymous", "Private_Dirty", "Swap"};
    static const int codes[] = {HW_SAMPLE_ROLLUP_RSS, HW_SAMPLE_ROLLUP_PSS, HW_SAMPLE_ROLLUP_ANON,
                                HW_SAMPLE_ROLLUP_PRIVATE_DIRTY, HW_SAMPLE_ROLLUP_SWAP};
    for (int i = 0; i < 5; i++) p = put(p, &n, (uint64_t)codes[i], hw_proc_kb_field(buf, keys[i]));
  }
  uint64_t mallinfo_start = hw_monotonic_ns();
  /* Statistics from inside the allocator could deadlock: without them then. Checked last, once
   * they are due (with sampling the check walks the stack). */
  if (kind == ALLOC_GLIBC &&
      (full || mallinfo_start >= atomic_load_explicit(&mallinfo_next_ns, memory_order_relaxed)) &&
      !hw_allocator_maybe_interrupted()) {
    struct mallinfo2 mi = glibc_mallinfo2();
    atomic_store_explicit(&mallinfo_next_ns, mallinfo_start + 200 * (hw_monotonic_ns() - mallinfo_start),
                          memory_order_relaxed);
    size_t values[] = {mi.arena, mi.ordblks, mi.hblks, mi.hblkhd, mi.uordblks, mi.fordblks, mi.keepcost, mi.fsmblks};
    for (int i = 0; i < 8; i++) p = put(p, &n, (uint64_t)(HW_SAMPLE_MALLINFO_ARENA + i), values[i]);
  } else if (kind == ALLOC_JEMALLOC && !hw_allocator_maybe_interrupted()) {
    uint64_t epoch = 1;
    size_t len = sizeof epoch;
    je_mallctl("epoch", &epoch, &len, &epoch, len);
    static const char *keys[] = {"stats.allocated", "stats.active", "stats.resident",
                                 "stats.mapped", "stats.retained", "stats.metadata"};
    for (int i = 0; i < 6; i++) {
      size_t v = 0;
      len = sizeof v;
      if (je_mallctl(keys[i], &v, &len, NULL, 0) == 0)
        p = put(p, &n, (uint64_t)(HW_SAMPLE_JEMALLOC_ALLOCATED + i), v);
    }
  } else if (kind == ALLOC_TCMALLOC && !hw_allocator_maybe_interrupted()) {
    static const char *keys[] = {"generic.current_allocated_bytes", "generic.heap_size",
                                 "tcmalloc.pageheap_free_bytes", "tcmalloc.pageheap_unmapped_bytes"};
    for (int i = 0; i < 4; i++) {
      size_t v = 0;
      if (tc_property(keys[i], &v)) p = put(p, &n, (uint64_t)(HW_SAMPLE_TCMALLOC_ALLOCATED + i), v);
    }
  }
  p = put(p, &n, HW_SAMPLE_ALLOCATOR, (uint64_t)kind);
  p = put(p, &n, HW_SAMPLE_RECORDER_BYTES, hw_buffers_memory() + hw_stacks_memory() + hw_threads_memory());
  p = put(p, &n, HW_SAMPLE_STACKS, hw_stacks_count());
  p = put(p, &n, HW_SAMPLE_BACKLOG, hw_queue_backlog());
  uint8_t *o = hw_put_uvarint(out, n);
  size_t len = (size_t)(p - pairs);
  if ((size_t)(o - out) + len > cap) return 0;
  memcpy(o, pairs, len);
  return (size_t)(o - out) + len;
}

/* Opt-in (HEAPWISE_TRIM_PROBE=1): proof of how much freed memory the allocator kept resident and
 * could give back. It changes the program's heap, which is why it is never on by default. */
size_t hw_trim_probe_encode(uint8_t *out, size_t cap) {
  bool glibc = current_allocator() == ALLOC_GLIBC && !hw_allocator_maybe_interrupted();
  if (cap < 3 * HW_VARINT_MAX) return 0;
  uint64_t before = hw_rss_bytes();
  int result = glibc && glibc_malloc_trim ? glibc_malloc_trim(0) : 0;
  uint64_t after = hw_rss_bytes();
  uint8_t *p = hw_put_uvarint(out, before);
  p = hw_put_uvarint(p, after);
  p = hw_put_uvarint(p, (uint64_t)result);
  return (size_t)(p - out);
}
