/* unwind_modules.c: the module of an address when glibc has no _dl_find_object (before 2.35), or
 * when HEAPWISE_MODULE_TABLE=1 asks for this path (its test).
 *
 * A sorted table of (start, end, .eh_frame_hdr) built from dl_iterate_phdr and kept in sync with
 * dlopen and dlclose through the loader's own counters: every lookup calls dl_iterate_phdr, whose
 * first callback carries dlpi_adds and dlpi_subs (modules ever loaded and unloaded); when they
 * equal the table's, the lookup is a binary search done inside that callback, under the loader's
 * lock, so the table is never older than the module list. When they differ, the same call
 * rebuilds it. Lookups run only when the rule cache misses (unwind.c), never per event.
 *
 * No waiting: a lookup that finds the table taken (another thread, or a signal handler on this
 * thread interrupting one) answers "busy", and unwind.c leaves that capture to libunwind without
 * caching the answer. libunwind itself calls dl_iterate_phdr from the same places. */
#include <link.h>
#include <stddef.h>

#include "hw_internal.h"
#include "unwind_cfi.h"

#define TABLE_MAX 1024 /* more modules than this: each lookup scans the list instead */

typedef struct {
  uintptr_t start, end;
  const uint8_t *eh_frame_hdr;
} module_t;

static module_t table[TABLE_MAX];
static int table_n;
static bool table_valid; /* table_n entries for the counters below, sorted by start */
static bool table_overflow;
static unsigned long long table_adds, table_subs;
static atomic_flag table_busy = ATOMIC_FLAG_INIT;
static _Atomic uint64_t lookups, busy; /* for the check mode's report */

typedef struct {
  uintptr_t pc;
  int phase; /* 0: first callback, 1: rebuilding, 2: scanning (too many modules) */
  int found; /* 1: *out set */
  hw_module_span_t *out;
} lookup_t;

/* A module's span (its PT_LOAD segments, like the loader's l_map_start..l_map_end) and its
 * PT_GNU_EH_FRAME. */
static bool describe(const struct dl_phdr_info *info, module_t *m) {
  uintptr_t lo = UINTPTR_MAX, hi = 0;
  m->eh_frame_hdr = NULL;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type == PT_LOAD) {
      uintptr_t a = (uintptr_t)info->dlpi_addr + ph->p_vaddr;
      if (a < lo) lo = a;
      if (a + ph->p_memsz > hi) hi = a + ph->p_memsz;
    } else if (ph->p_type == PT_GNU_EH_FRAME) {
      m->eh_frame_hdr = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
    }
  }
  m->start = lo, m->end = hi;
  return lo < hi;
}

static bool search(uintptr_t pc, hw_module_span_t *out) {
  int lo = 0, hi = table_n; /* the last entry with start <= pc */
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (table[mid].start <= pc) lo = mid + 1; else hi = mid;
  }
  if (lo == 0 || pc >= table[lo - 1].end) return false;
  out->start = table[lo - 1].start, out->end = table[lo - 1].end;
  out->eh_frame_hdr = table[lo - 1].eh_frame_hdr;
  return true;
}

static int visit(struct dl_phdr_info *info, size_t size, void *arg) {
  lookup_t *l = arg;
  if (l->phase == 0) {
    if (size < offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
      l->phase = 2; /* no counters: scan every time */
    } else if (table_valid && info->dlpi_adds == table_adds && info->dlpi_subs == table_subs) {
      if (table_overflow) {
        l->phase = 2;
      } else {
        l->found = search(l->pc, l->out);
        return 1;
      }
    } else {
      l->phase = 1;
      table_valid = false;
      table_overflow = false;
      table_n = 0;
      table_adds = info->dlpi_adds, table_subs = info->dlpi_subs;
    }
  }
  module_t m;
  if (!describe(info, &m)) return 0;
  if (l->phase == 2) {
    if (l->pc >= m.start && l->pc < m.end) {
      l->out->start = m.start, l->out->end = m.end, l->out->eh_frame_hdr = m.eh_frame_hdr;
      l->found = 1;
      return 1;
    }
    return 0;
  }
  if (table_n == TABLE_MAX) {
    table_overflow = true;
    return 0;
  }
  /* Insertion sort: the list is short and mostly in address order already. */
  int i = table_n++;
  while (i > 0 && table[i - 1].start > m.start) table[i] = table[i - 1], i--;
  table[i] = m;
  return 0;
}

int hw_module_table_find(uintptr_t pc, hw_module_span_t *out) {
  atomic_fetch_add_explicit(&lookups, 1, memory_order_relaxed);
  if (atomic_flag_test_and_set_explicit(&table_busy, memory_order_acquire)) {
    atomic_fetch_add_explicit(&busy, 1, memory_order_relaxed);
    return -1;
  }
  lookup_t l = {.pc = pc, .phase = 0, .found = 0, .out = out};
  dl_iterate_phdr(visit, &l);
  if (l.phase == 1) {
    table_valid = true;
    if (table_overflow) { /* the rebuild stopped filling: find it the slow way, once */
      l.phase = 2;
      dl_iterate_phdr(visit, &l);
    } else {
      /* Rebuilt under the loader's lock; the search runs after it, like any answer of
       * _dl_find_object, which a concurrent dlclose can also outdate (unwind.c's generation). */
      l.found = search(pc, out);
    }
  }
  atomic_flag_clear_explicit(&table_busy, memory_order_release);
  return l.found ? 0 : 1;
}

void hw_module_table_after_fork_child(void) { atomic_flag_clear(&table_busy); }

uint64_t hw_module_table_lookups(uint64_t *busy_out) {
  *busy_out = atomic_load(&busy);
  return atomic_load(&lookups);
}
