/* aggregate.c: aggregated mode (docs/AGGREGATE.md) and the live total behind the peak trigger.
 *
 * THE LIVE MAP. With hw_config.track set, every recorded block goes into liveset.c's lock-free map
 * (address -> stack id, size), so that a free knows what it frees without the dump. The live total
 * is one atomic counter (fetch_add per event: no lock, but one shared cache line; measured in
 * docs/BENCHMARKS.md). A block that finds the map full is not counted at all, not even its free
 * (the figure `untracked` in every AGGREGATE record says how many).
 *
 * SITE COUNTERS. By stack id, in chunks of 1024 sites mapped on first use (one mmap per 1024 new
 * stacks, never per event) under a fixed table of 16384 chunk pointers: stack ids are dense and
 * below 2^24. Each counter is a relaxed fetch_add; the writer reads them without stopping anyone,
 * so one flush may see an allocation's count and not yet its bytes: the next flush agrees.
 *
 * FLUSHES. Every HEAPWISE_FLUSH_MS the writer builds one set of frames in stream HW_AGG_STREAM
 * (CLOCK, SAMPLE, the AGGREGATE records) and makes them the dump's only totals: the first flush
 * appends them; later ones copy the dump without the previous totals into "<dump>.flush", append
 * the new totals and rename() it over the dump. rename is atomic, so a process killed at any moment
 * (kill -9, the OOM killer) leaves a whole dump with the totals of its last flush, and the file
 * holds one set of totals, not one per flush: its size follows the sites, modules, threads and
 * moments, not the run time. If the replacement fails the totals are appended instead (said once).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hw_format.h"
#include "hw_internal.h"
#include "liveset.h"

#define CHUNK_BITS 10
#define CHUNK_SITES (1u << CHUNK_BITS)
#define CHUNKS (1u << (24 - CHUNK_BITS))
#define DEFAULT_LIVE_CAPACITY (1u << 20)

/* One side of a site's counters: its allocations, or its frees. With sampling, count and bytes
 * add weights, and the rest is kept too: recorded blocks and the estimates' variance terms
 * (hw_sample_weigh). */
typedef struct side_s {
  _Atomic uint64_t count, bytes;
  _Atomic uint64_t recorded, count_var, bytes_var;
} side_t;

typedef struct site_s {
  side_t alloc, freed;
  uint64_t peak_bytes, peak_blocks; /* the site's live at the last peak moment (role holder) */
  /* With sampling, the same moment's recorded blocks and variance terms (format 1.4). The live
   * blocks' terms are the allocated minus the freed, exactly, since a free subtracts the very
   * terms its allocation added (the block's rounding seed): copied at the peak like the figures
   * above, so the hooks do no more per event. */
  uint64_t peak_recorded, peak_count_var, peak_bytes_var;
  /* To 128 bytes: a shift finds a site (120 took a multiply, one instruction more per event), and
   * each site's allocation and free counters start in one cache line of its own. */
  uint64_t padding;
} site_t;
_Static_assert(sizeof(site_t) == 128, "site_t is indexed by a shift");

/* What one recorded block adds to a side, sampled (the weights) or not (one block of `size`). */
static inline void side_add(side_t *side, uint64_t count, uint64_t bytes) {
  atomic_fetch_add_explicit(&side->count, count, memory_order_relaxed);
  atomic_fetch_add_explicit(&side->bytes, bytes, memory_order_relaxed);
}
static inline void side_add_weighed(side_t *side, const hw_sample_weights_t *w) {
  side_add(side, w->count, w->bytes);
  atomic_fetch_add_explicit(&side->recorded, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&side->count_var, w->count_variance, memory_order_relaxed);
  atomic_fetch_add_explicit(&side->bytes_var, w->bytes_variance, memory_order_relaxed);
}

static _Atomic(site_t *) chunks[CHUNKS];
static _Atomic uint32_t sites_end; /* one more than the largest stack id counted */
static _Atomic uint64_t live_total;
static _Atomic uint64_t untracked;
static uint64_t peak_total; /* live_total at the last peak moment (role holder) */
static uint64_t next_flush_ns;
static char dump_path[4096];
static off_t tail_off = -1, tail_len;
static bool append_only; /* replacing failed once: append from then on */

void hw_agg_configure(void) {
  const char *v = getenv("HEAPWISE_AGGREGATE");
  hw_config.aggregate = v && strcmp(v, "1") == 0;
  const char *f = getenv("HEAPWISE_FLUSH_MS");
  long ms = f && *f ? strtol(f, NULL, 10) : 30000;
  if (ms < 10 || ms > 86400000) {
    hw_log("ignoring HEAPWISE_FLUSH_MS=%s (expected 10 to 86400000)", f);
    ms = 30000;
  }
  hw_config.flush_ms = (int)ms;
  hw_triggers_configure();
  /* Each site's peak figures come from the peak moments: aggregated mode always sets them. */
  if (hw_config.aggregate) hw_triggers_enable_peak();
  hw_config.track = hw_config.aggregate || hw_config.dump_at_peak;
  hw_modes_set(HW_MODE_TRACK, hw_config.track);
  if (!hw_config.track) return;
  const char *c = getenv("HEAPWISE_LIVE_CAPACITY");
  long cap = c && *c ? strtol(c, NULL, 10) : DEFAULT_LIVE_CAPACITY;
  if (cap < 1024 || cap > (1l << 30)) cap = DEFAULT_LIVE_CAPACITY;
  if (hw_live_init((size_t)cap) != 0) {
    hw_log("cannot map the live map (%ld blocks); aggregated mode and --dump-at-peak are off", cap);
    hw_config.aggregate = hw_config.track = hw_config.dump_at_peak = false;
    hw_modes_set(HW_MODE_TRACK, false);
  }
}

void hw_agg_set_path(const char *path) {
  snprintf(dump_path, sizeof dump_path, "%s", path);
  tail_off = -1;
  tail_len = 0;
  append_only = false;
  next_flush_ns = hw_monotonic_ns() + (uint64_t)hw_config.flush_ms * 1000000ull;
}

static hw_cold site_t *new_chunk(uint32_t c) {
  site_t *fresh = hw_pages_alloc(CHUNK_SITES * sizeof(site_t));
  if (!fresh) return NULL;
  site_t *expected = NULL;
  if (!atomic_compare_exchange_strong(&chunks[c], &expected, fresh)) {
    hw_pages_free(fresh, CHUNK_SITES * sizeof(site_t));
    return expected;
  }
  return fresh;
}

static inline site_t *site(uint32_t stack) {
  uint32_t c = stack >> CHUNK_BITS;
  if (hw_unlikely(c >= CHUNKS)) return NULL;
  site_t *chunk = atomic_load_explicit(&chunks[c], memory_order_acquire);
  if (hw_unlikely(!chunk) && !(chunk = new_chunk(c))) return NULL;
  return &chunk[stack & (CHUNK_SITES - 1)];
}

static inline void note_site(uint32_t stack) {
  uint32_t end = atomic_load_explicit(&sites_end, memory_order_relaxed);
  while (stack >= end && !atomic_compare_exchange_weak(&sites_end, &end, stack + 1)) {
  }
}

void hw_track_alloc(hw_thread_t *t, uintptr_t addr, uint64_t size, uint32_t stack, uint64_t ts) {
  if (hw_live_insert(addr, stack, 0, size) != 0) {
    atomic_fetch_add_explicit(&untracked, 1, memory_order_relaxed);
    return;
  }
  hw_track_counted_alloc(t, size, stack, ts);
}

void hw_track_counted_alloc(hw_thread_t *t, uint64_t size, uint32_t stack, uint64_t ts) {
  uint64_t live = atomic_fetch_add_explicit(&live_total, size, memory_order_relaxed) + size;
  if (hw_config.aggregate) {
    site_t *s = site(stack);
    if (s) {
      side_add(&s->alloc, 1, size);
      note_site(stack);
    } else {
      atomic_fetch_add_explicit(&untracked, 1, memory_order_relaxed); /* no memory for its chunk */
    }
    /* No records on this path: the periodic work of a program without a writer thread runs here. */
    if (hw_unlikely(ts >= atomic_load_explicit(&hw_inline_tick_due, memory_order_relaxed))) hw_writer_poll_slow();
  }
  if (hw_config.dump_at_peak) hw_triggers_live(t, ts, live);
}

/* Sampling with aggregated mode or --dump-at-peak (docs/AGGREGATE.md): the hooks keep the liveset
 * themselves (a recorded block's address, stack, size and rounding seed); these add the weights.
 * The live total then holds the estimated live heap, which the peak trigger follows. A recorded
 * block that found the liveset full (`kept` false) is counted as untracked. */
void hw_track_sampled_alloc(hw_thread_t *t, bool kept, uint64_t size, uint32_t seed, uint32_t stack, uint64_t ts) {
  if (!kept) {
    atomic_fetch_add_explicit(&untracked, 1, memory_order_relaxed);
    return;
  }
  hw_sample_weights_t w;
  hw_sample_weigh(size, seed, &w);
  uint64_t live = atomic_fetch_add_explicit(&live_total, w.bytes, memory_order_relaxed) + w.bytes;
  if (hw_config.aggregate) {
    site_t *s = site(stack);
    if (s) {
      side_add_weighed(&s->alloc, &w);
      note_site(stack);
    } else {
      atomic_fetch_add_explicit(&untracked, 1, memory_order_relaxed);
    }
    if (hw_unlikely(ts >= atomic_load_explicit(&hw_inline_tick_due, memory_order_relaxed))) hw_writer_poll_slow();
  }
  if (hw_config.dump_at_peak) hw_triggers_live(t, ts, live);
}

void hw_track_sampled_free(uint64_t size, uint32_t seed, uint32_t stack, uint64_t ts) {
  hw_sample_weights_t w;
  hw_sample_weigh(size, seed, &w);
  atomic_fetch_sub_explicit(&live_total, w.bytes, memory_order_relaxed);
  if (hw_config.aggregate) {
    site_t *s = site(stack);
    if (s) side_add_weighed(&s->freed, &w);
    if (hw_unlikely(ts >= atomic_load_explicit(&hw_inline_tick_due, memory_order_relaxed))) hw_writer_poll_slow();
  }
}

void hw_track_free(uintptr_t addr, uint64_t ts) {
  uint32_t stack;
  uint64_t size;
  if (!hw_live_maybe(addr) || hw_live_remove(addr, &stack, NULL, &size) != 0) return;
  hw_track_counted_free(size, stack, ts);
}

void hw_track_counted_free(uint64_t size, uint32_t stack, uint64_t ts) {
  atomic_fetch_sub_explicit(&live_total, size, memory_order_relaxed);
  if (hw_config.aggregate) {
    site_t *s = site(stack);
    if (s) side_add(&s->freed, 1, size);
    if (hw_unlikely(ts >= atomic_load_explicit(&hw_inline_tick_due, memory_order_relaxed))) hw_writer_poll_slow();
  }
}

/* ---- encoding: AGGREGATE records (docs/FORMAT.md), split into parts of at most PART_BODY ---- */

#define PART_BODY (16 * 1024)
#define SITE_MAX (13 * HW_VARINT_MAX)

typedef void (*emit_fn)(void *ctx, uint64_t ts, const uint8_t *body, size_t len);

/* With sampling, the sites' peak terms (1.4) follow the site list: they are written into the upper
 * half while the sites are, then moved down behind them. */
#define PEAK_AT (PART_BODY + SITE_MAX + 256)
#define PEAK_SITE_MAX (3 * HW_VARINT_MAX)
#define BODY_MAX (2 * PEAK_AT)

static void encode(uint8_t *body, int kind, const char *name, uint64_t ts, emit_fn emit, void *ctx) {
  uint32_t end = atomic_load(&sites_end), next = 1, part = 0;
  size_t name_len = strnlen(name, 64);
  uint64_t live = atomic_load(&live_total), lost = atomic_load(&untracked);
  do {
    uint8_t *p = hw_put_uvarint(body, (uint64_t)kind);
    p = hw_put_uvarint(p, part++);
    p = hw_put_bytes(p, name, name_len);
    p = hw_put_uvarint(p, hw_sample_rate); /* sample period: 0, every allocation counted */
    p = hw_put_uvarint(p, live);
    p = hw_put_uvarint(p, peak_total);
    p = hw_put_uvarint(p, lost);
    /* The site count goes in front of the sites: written last, in a fixed 3-byte uvarint. */
    uint8_t *count_at = p;
    p += 3;
    uint32_t count = 0, prev = 0;
    uint8_t *q = body + PEAK_AT;
    for (; next < end && (size_t)(p - body) + (size_t)(q - (body + PEAK_AT)) < PART_BODY; next++) {
      site_t *chunk = atomic_load(&chunks[next >> CHUNK_BITS]);
      if (!chunk) {
        next |= CHUNK_SITES - 1;
        continue;
      }
      site_t *s = &chunk[next & (CHUNK_SITES - 1)];
      uint64_t allocs = atomic_load_explicit(&s->alloc.count, memory_order_relaxed);
      if (!allocs) continue;
      p = hw_put_uvarint(p, next - prev);
      prev = next;
      p = hw_put_uvarint(p, allocs);
      p = hw_put_uvarint(p, atomic_load_explicit(&s->alloc.bytes, memory_order_relaxed));
      p = hw_put_uvarint(p, atomic_load_explicit(&s->freed.count, memory_order_relaxed));
      p = hw_put_uvarint(p, atomic_load_explicit(&s->freed.bytes, memory_order_relaxed));
      p = hw_put_uvarint(p, s->peak_bytes);
      p = hw_put_uvarint(p, s->peak_blocks);
      if (hw_sample_rate) {
        p = hw_put_uvarint(p, atomic_load_explicit(&s->alloc.recorded, memory_order_relaxed));
        p = hw_put_uvarint(p, atomic_load_explicit(&s->freed.recorded, memory_order_relaxed));
        p = hw_put_uvarint(p, atomic_load_explicit(&s->alloc.count_var, memory_order_relaxed));
        p = hw_put_uvarint(p, atomic_load_explicit(&s->alloc.bytes_var, memory_order_relaxed));
        p = hw_put_uvarint(p, atomic_load_explicit(&s->freed.count_var, memory_order_relaxed));
        p = hw_put_uvarint(p, atomic_load_explicit(&s->freed.bytes_var, memory_order_relaxed));
        q = hw_put_uvarint(q, s->peak_recorded);
        q = hw_put_uvarint(q, s->peak_count_var);
        q = hw_put_uvarint(q, s->peak_bytes_var);
      }
      count++;
    }
    /* After the sites, where a 1.3 reader, which stops at the last site, never looks. */
    size_t peak_len = (size_t)(q - (body + PEAK_AT));
    memmove(p, body + PEAK_AT, peak_len);
    p += peak_len;
    count_at[0] = (uint8_t)((count & 0x7f) | 0x80);
    count_at[1] = (uint8_t)(((count >> 7) & 0x7f) | 0x80);
    count_at[2] = (uint8_t)((count >> 14) & 0x7f); /* a part holds far fewer than 2^21 sites */
    emit(ctx, ts, body, (size_t)(p - body));
  } while (next < end);
}

static void emit_process(void *ctx, uint64_t ts, const uint8_t *body, size_t len) {
  (void)ctx;
  hw_process_append(HW_TAG_AGGREGATE, ts, body, len);
}

static void emit_thread(void *ctx, uint64_t ts, const uint8_t *body, size_t len) {
  hw_emit_raw(ctx, ts, HW_TAG_AGGREGATE, body, len);
}

/* ---- moments ---- */

static uint8_t writer_body[BODY_MAX]; /* role holder only */

void hw_agg_moment(uint64_t ts, const char *name) {
  if (hw_config.aggregate) encode(writer_body, HW_AGG_MOMENT, name, ts, emit_process, NULL);
}

/* Markers set through the C API, on any thread: one at a time (a marker is rare, never the hot
 * path; the body is too large for a small thread stack). */
static void encode_on_thread(hw_thread_t *t, uint64_t ts, const char *name) {
  static uint8_t body[BODY_MAX];
  static atomic_flag busy = ATOMIC_FLAG_INIT;
  while (atomic_flag_test_and_set(&busy)) sched_yield();
  encode(body, HW_AGG_MOMENT, name, ts, emit_thread, t);
  atomic_flag_clear(&busy);
}

/* The last peak only, as each site's peak figures in the totals: one copy of the table, however
 * many peaks the run has. Two threads' peaks at once: the second skips (they are one moment). */
static atomic_flag peak_copying = ATOMIC_FLAG_INIT;

/* What the live blocks hold of a counter: allocated minus freed (read one by one while the program
 * runs, so a free may be seen before its allocation: never below 0). */
static uint64_t live_part(_Atomic uint64_t *allocated, _Atomic uint64_t *freed) {
  uint64_t a = atomic_load_explicit(allocated, memory_order_relaxed), f = atomic_load_explicit(freed, memory_order_relaxed);
  return a > f ? a - f : 0;
}

static void copy_peak(void) {
  if (atomic_flag_test_and_set(&peak_copying)) return;
  peak_total = atomic_load(&live_total);
  uint32_t end = atomic_load(&sites_end);
  for (uint32_t i = 1; i < end; i++) {
    site_t *chunk = atomic_load(&chunks[i >> CHUNK_BITS]);
    if (!chunk) {
      i |= CHUNK_SITES - 1;
      continue;
    }
    site_t *s = &chunk[i & (CHUNK_SITES - 1)];
    uint64_t a = atomic_load_explicit(&s->alloc.count, memory_order_relaxed), f = atomic_load_explicit(&s->freed.count, memory_order_relaxed);
    uint64_t ab = atomic_load_explicit(&s->alloc.bytes, memory_order_relaxed), fb = atomic_load_explicit(&s->freed.bytes, memory_order_relaxed);
    s->peak_blocks = a > f ? a - f : 0;
    s->peak_bytes = ab > fb ? ab - fb : 0;
    if (hw_sample_rate) {
      s->peak_recorded = live_part(&s->alloc.recorded, &s->freed.recorded);
      s->peak_count_var = live_part(&s->alloc.count_var, &s->freed.count_var);
      s->peak_bytes_var = live_part(&s->alloc.bytes_var, &s->freed.bytes_var);
    }
  }
  atomic_flag_clear(&peak_copying);
}

void hw_agg_thread_moment(hw_thread_t *t, uint64_t ts, const char *name, bool peak) {
  if (!hw_config.aggregate) return;
  if (peak) copy_peak();
  else encode_on_thread(t, ts, name);
  hw_thread_submit(t); /* the marker reaches the dump by the next flush */
}

/* ---- flushes ---- */

#define TAIL_FRAME (60 * 1024) /* records per frame: a frame this size still compresses (writer.c) */

typedef struct tail_s {
  hw_buffer_t *frames[256];
  int used;
  bool failed;
  uint32_t seq; /* the next seq after the sets in the file: a replacement holds 0.., appends go on */
  uint64_t ts;
} tail_t;

static tail_t tail;

static hw_buffer_t *tail_frame(int i) {
  if (i >= 256) return NULL;
  if (!tail.frames[i]) {
    tail.frames[i] = hw_pages_alloc(sizeof(hw_buffer_t) + TAIL_FRAME + PART_BODY + 1024);
    if (!tail.frames[i]) return NULL;
    tail.frames[i]->capacity = TAIL_FRAME + PART_BODY + 1024;
  }
  hw_buffer_t *b = tail.frames[i];
  b->next = NULL;
  b->stream = HW_AGG_STREAM;
  b->seq = (uint32_t)i;
  b->base_ts = b->last_ts = tail.ts;
  b->prev_addr = 0;
  b->coarse_time = false;
  b->used = 0;
  return b;
}

static void tail_append(uint8_t tag, uint64_t ts, const uint8_t *body, size_t len) {
  hw_buffer_t *b = tail.used ? tail.frames[tail.used - 1] : NULL;
  if (!b || b->used + len + 32 > TAIL_FRAME) {
    if (!(b = tail_frame(tail.used))) {
      tail.failed = true;
      return;
    }
    tail.used++;
  }
  uint8_t *p = hw_put_record_head(b->data + b->used, tag, ts, &b->last_ts, 0);
  if (tag >= HW_TAG_SKIPPABLE) p = hw_put_uvarint(p, len);
  memcpy(p, body, len);
  b->used = (size_t)(p + len - b->data);
}

static void emit_tail(void *ctx, uint64_t ts, const uint8_t *body, size_t len) {
  (void)ctx;
  tail_append(HW_TAG_AGGREGATE, ts, body, len);
}

static int write_tail(int fd) {
  for (int i = 0; i < tail.used; i++)
    if (hw_write_frame_to(fd, tail.frames[i], hw_config.compress) != 0) return -1;
  return 0;
}

/* Copies [from, from + len) of in to the end of out. */
static int copy_range(int in, int out, off_t from, off_t len) {
  static uint8_t buf[64 * 1024];
  while (len > 0) {
    loff_t at = from;
    ssize_t n = copy_file_range(in, &at, out, NULL, (size_t)len, 0);
    if (n <= 0) { /* another file system, or no copy_file_range: read and write */
      n = pread(in, buf, (size_t)(len < (off_t)sizeof buf ? len : (off_t)sizeof buf), from);
      if (n <= 0 || hw_write_all(out, buf, (size_t)n) != 0) return -1;
    }
    from += n;
    len -= n;
  }
  return 0;
}

/* The dump without its previous totals, plus the new ones, renamed over it. */
static int replace_dump(int fd) {
  off_t end = lseek(fd, 0, SEEK_END);
  char tmp[sizeof dump_path + 8];
  snprintf(tmp, sizeof tmp, "%s.flush", dump_path);
  unlink(tmp); /* a copy left by a process killed mid-flush */
  int out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_APPEND, 0600);
  if (out < 0) return -1;
  int in = open(dump_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  off_t after = tail_off + tail_len, new_off = -1;
  bool ok = in >= 0 && copy_range(in, out, 0, tail_off) == 0 && copy_range(in, out, after, end - after) == 0 &&
            (new_off = lseek(out, 0, SEEK_END)) >= 0 && write_tail(out) == 0 && rename(tmp, dump_path) == 0;
  if (in >= 0) close(in);
  if (!ok) {
    close(out);
    unlink(tmp);
    return -1;
  }
  tail_off = new_off;
  tail_len = lseek(out, 0, SEEK_END) - new_off;
  hw_writer_replace_fd(out);
  return 0;
}

void hw_agg_tick(uint64_t now_ns, bool final) {
  if (!hw_config.aggregate || (!final && now_ns < next_flush_ns)) return;
  next_flush_ns = now_ns + (uint64_t)hw_config.flush_ms * 1000000ull;
  int fd = hw_writer_fd();
  if (fd < 0) return;
  tail.used = 0;
  tail.failed = false;
  tail.ts = hw_now();
  uint8_t body[512];
  uint8_t *p = hw_put_uvarint(body, hw_monotonic_ns());
  tail_append(HW_TAG_CLOCK, tail.ts, body, (size_t)(p - body));
  tail_append(HW_TAG_SAMPLE, tail.ts, body, hw_sample_encode(body, sizeof body, final));
  encode(writer_body, HW_AGG_TOTALS, "", tail.ts, emit_tail, NULL);
  if (tail.failed) return; /* no memory for a frame: the last flush's totals stay */
  if (tail_off >= 0 && !append_only) {
    if (replace_dump(fd) == 0) {
      tail.seq = (uint32_t)tail.used;
      return;
    }
    append_only = true;
    hw_log("cannot replace %s at a flush (%s); its totals are appended from now on", dump_path, strerror(errno));
  }
  /* Appended after the sets already in the file: their seqs go on, with neither repeat nor gap. */
  for (int i = 0; i < tail.used; i++) tail.frames[i]->seq = tail.seq + (uint32_t)i;
  off_t at = lseek(fd, 0, SEEK_END);
  if (write_tail(fd) != 0) return;
  tail.seq += (uint32_t)tail.used;
  tail_off = at;
  tail_len = lseek(fd, 0, SEEK_END) - at;
}

void hw_agg_after_fork_child(void) {
  /* The child's counters start from nothing in its own dump (if it records one: its stack ids
   * start again at 1). The live map keeps the blocks it inherited, under the parent's ids: their
   * frees are counted against whatever sites have those ids now (docs/AGGREGATE.md, "Limits"). */
  for (uint32_t c = 0; c < CHUNKS; c++) {
    site_t *chunk = atomic_load(&chunks[c]);
    if (chunk) memset(chunk, 0, CHUNK_SITES * sizeof(site_t));
  }
  atomic_store(&sites_end, 0);
  atomic_store(&untracked, 0);
  peak_total = 0;
  tail.used = 0;
  tail.seq = 0;
  tail_off = -1;
}
