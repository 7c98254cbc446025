/* residency.c: which pages of the heap and of anonymous mappings are resident, at markers, at
 * exit, and periodically from the writer's tick within a CPU budget (hw_residency_tick). With the live blocks' addresses, the analyzer can then say which surviving blocks keep
 * otherwise-free pages resident (fragmentation, named by site) instead of guessing.
 *
 * One RESIDENCY record (skippable tag 0x80) per chunk of at most CHUNK_PAGES pages, so a record
 * always fits a 64 KiB buffer: region start, page count, kind, and a bitmap (bit i of byte i/8 set
 * = page i resident), from mincore(2). Costs one /proc/self/maps read and one mincore call per
 * chunk; never per event.
 *
 * Why periodic: the analyzer counts a mapped region by its resident pages, not its length (pyarrow's
 * bundled mimalloc reserves 1 GiB it never touches). Between two snapshots it only learns of pages
 * given back (madvise, mprotect, munmap), not of pages touched, so a mapping filled after the last
 * snapshot counts 0 until the next one.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hw_format.h"
#include "hw_internal.h"

#define CHUNK_PAGES (128 * 1024) /* 16 KiB of bitmap */

enum region_kind { REGION_HEAP = 0, REGION_ANONYMOUS = 1 };

static atomic_flag busy = ATOMIC_FLAG_INIT;
static unsigned char *vec;    /* mincore output, one byte a page */
static uint8_t *body;         /* the record being built */

static uint64_t snapshot_ts; /* one stamp for every record of a snapshot: readers group by it */

/* mincore's bytes (bit 0: resident; the other bits are reserved) packed into the record's bits,
 * eight pages per multiply: byte j's bit 0 lands in bit 56 + j of the product, and no two terms
 * meet, so nothing carries. A byte-by-byte loop was a fifth of a snapshot of a Python heap. */
static void pack_pages(uint8_t *bits, const unsigned char *v, size_t pages) {
  size_t i = 0;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  for (; i + 8 <= pages; i += 8) {
    uint64_t x;
    memcpy(&x, v + i, 8);
    bits[i / 8] = (uint8_t)(((x & 0x0101010101010101ull) * 0x0102040810204080ull) >> 56);
  }
#endif
  for (; i < pages; i++)
    if (v[i] & 1) bits[i / 8] |= (uint8_t)(1u << (i % 8));
}

static void emit_chunk(hw_thread_t *t, uintptr_t start, size_t pages, int kind, size_t page_size) {
  if (mincore((void *)start, pages * page_size, vec) != 0) return; /* unmapped meanwhile */
  uint8_t *p = hw_put_uvarint(body, 1);
  p = hw_put_uvarint(p, start);
  p = hw_put_uvarint(p, pages);
  p = hw_put_uvarint(p, (uint64_t)kind);
  size_t bytes = (pages + 7) / 8;
  p = hw_put_uvarint(p, bytes);
  memset(p, 0, bytes);
  pack_pages(p, vec, pages);
  p += bytes;
  if (t) hw_emit_raw(t, snapshot_ts, HW_TAG_RESIDENCY, body, (size_t)(p - body));
  else hw_process_append(HW_TAG_RESIDENCY, snapshot_ts, body, (size_t)(p - body));
}

typedef struct {
  hw_thread_t *t;
  size_t page_size;
} visit_t;

/* One line of /proc/self/maps: "start-end perms offset dev inode   path". */
static bool visit_line(char *line, void *arg) {
  hw_thread_t *t = ((visit_t *)arg)->t;
  size_t page_size = ((visit_t *)arg)->page_size;
  char *end;
  uintptr_t start = strtoul(line, &end, 16);
  if (*end != '-') return true;
  uintptr_t stop = strtoul(end + 1, &end, 16);
  char perms[5] = {0};
  memcpy(perms, end + 1, 4);
  /* Skip offset, dev and inode to the path, if any. */
  char *path = end + 5;
  for (int field = 0; field < 3 && *path; field++) {
    while (*path == ' ') path++;
    while (*path && *path != ' ') path++;
  }
  while (*path == ' ') path++;
  int kind;
  if (strcmp(path, "[heap]") == 0) kind = REGION_HEAP;
  else if (*path == 0 && strcmp(perms, "rw-p") == 0) kind = REGION_ANONYMOUS;
  else return true;
  for (uintptr_t at = start; at < stop;) {
    size_t pages = (stop - at) / page_size;
    if (pages > CHUNK_PAGES) pages = CHUNK_PAGES;
    emit_chunk(t, at, pages, kind, page_size);
    at += pages * page_size;
  }
  return true;
}

void hw_residency_emit(hw_thread_t *t) {
  if (atomic_flag_test_and_set(&busy)) return; /* another thread is at it: one snapshot will do */
  size_t page_size = (size_t)sysconf(_SC_PAGESIZE);
  snapshot_ts = hw_now();
  if (!vec) vec = hw_pages_alloc(CHUNK_PAGES);
  if (!body) body = hw_pages_alloc(CHUNK_PAGES / 8 + 64);
  if (vec && body) {
    static char buf[64 * 1024]; /* under `busy` */
    visit_t v = {t, page_size};
    hw_maps_lines(buf, sizeof buf, visit_line, &v);
  }
  atomic_flag_clear(&busy);
}

/* The budget: a snapshot walks the page tables of every anonymous mapping (on a pandas process
 * with 1.3 GiB mapped: about 1 ms). After a snapshot that took X of CPU, the next is due no sooner
 * than 100 X later (1% of one core) and never more often than every TICK_FLOOR_NS. */
#define TICK_BUDGET_FACTOR 100
#define TICK_FLOOR_NS (100ull * 1000 * 1000)
static uint64_t tick_next_ns;

/* The snapshot's cost in this thread's CPU time (user and system: mincore is the kernel's), not
 * wall-clock time: a snapshot preempted on a loaded machine cost no more, and must not push the
 * next one far out (a start-up snapshot preempted for 4 ms delayed the next past 400 ms). */
static uint64_t thread_cpu_ns(void) {
  struct timespec t;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t) != 0) return 0;
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

void hw_residency_tick(void) {
  uint64_t start = hw_monotonic_ns();
  if (start < tick_next_ns) return;
  uint64_t cpu = thread_cpu_ns();
  hw_residency_emit(NULL);
  uint64_t took = thread_cpu_ns() - cpu;
  uint64_t wait = took * TICK_BUDGET_FACTOR;
  tick_next_ns = start + (wait > TICK_FLOOR_NS ? wait : TICK_FLOOR_NS);
}
/* A fork child: a thread of the parent may have been inside a snapshot, and is gone. */
void hw_residency_after_fork_child(void) { atomic_flag_clear(&busy); }
