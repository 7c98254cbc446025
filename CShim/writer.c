/* writer.c: writes the dump: frames, the process stream's samples, markers raised by signal.
 *
 * WHO WRITES. Whoever holds the writer role (`role`, taken with one exchange, never waited for on
 * the recording path). While the program has one thread there is no writer thread: a thread whose
 * buffer fills takes the role and writes the frame itself (compressed into a static zstd context,
 * so no malloc), and takes the periodic sample then. A recorder thread would make the process
 * multi-threaded, and glibc's malloc takes its arena locks only then: a signal handler that calls
 * malloc while the program is inside malloc would then wait forever for a lock its own thread
 * holds. The writer thread starts when the program creates its first thread (hw_writer_spawn,
 * from the pthread_create hook), and from then on holds the role for good: it sleeps on a futex
 * until a buffer arrives or the sampling interval passes. A buffer submitted while another thread
 * holds the role is pushed on the queue, and the holder writes it before letting go.
 *
 * Each frame is one write(2) on an O_APPEND descriptor, so a frame written from a fatal-signal
 * handler at the same moment cannot interleave with it.
 */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_initStaticCCtx: compress without malloc */
#include <zstd.h>

#include "hw_format.h"
#include "hw_internal.h"

/* Level 1: the writer must keep up with several recording threads on one core; level 3 made
 * frames ~8% smaller for 2x the writer CPU on the 10M-pair benchmark. */
#define ZSTD_LEVEL 1
#define SMALL_FRAME 512 /* not worth a zstd frame header */

static int dump_fd = -1;
static pthread_t writer_thread;
static _Atomic int writer_running; /* the thread exists */
static _Atomic int writer_spawned; /* hw_writer_spawn ran (once per recording) */
static _Atomic int role;           /* 1 while someone writes: see the top of this file */
static uint64_t next_sample_ns;    /* role holder only */
static _Atomic int stop_requested;
static _Atomic uint32_t wake_word;
static _Atomic int writer_sleeping;

static ZSTD_CCtx *cctx;
static uint8_t *out;       /* frame header + compressed payload */
static size_t out_cap;

/* The process stream, owned by the writer thread (and by the exit path once it has stopped). */
static hw_buffer_t *process_buf;
static _Atomic uint32_t process_seq;

/* Markers raised by the signal handler: stamps waiting for the writer. */
#define PENDING_MAX 64
static _Atomic uint64_t pending_stamp[PENDING_MAX];
static _Atomic uint32_t pending_head, pending_tail;
static _Atomic uint32_t signal_markers;

static void futex_wait(_Atomic uint32_t *word, uint32_t expected, int timeout_ms) {
  struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
  syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, &ts, NULL, 0);
}

static void futex_wake(void) {
  atomic_fetch_add_explicit(&wake_word, 1, memory_order_release);
  if (atomic_load_explicit(&writer_sleeping, memory_order_acquire))
    syscall(SYS_futex, &wake_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void write_inline(void);

void hw_writer_wake(void) {
  if (atomic_load_explicit(&writer_running, memory_order_acquire)) futex_wake();
  else write_inline();
}

int hw_write_frame(hw_buffer_t *b, bool compress) { return hw_write_frame_to(dump_fd, b, compress); }

int hw_write_frame_to(int fd, hw_buffer_t *b, bool compress) {
  size_t raw = b->used, stored = raw;
  uint16_t flags = 0, time_flag = b->coarse_time ? HW_FRAME_FLAG_COARSE_TIME : 0;
  uint8_t *payload = out + HW_FRAME_HEADER;
  if (compress && cctx && raw >= SMALL_FRAME) {
    size_t n = ZSTD_compressCCtx(cctx, payload, out_cap - HW_FRAME_HEADER, b->data, raw, ZSTD_LEVEL);
    if (!ZSTD_isError(n) && n < raw) {
      stored = n;
      flags = HW_FRAME_FLAG_ZSTD;
    }
  }
  if (!flags) payload = b->data;
  uint8_t hdr[HW_FRAME_HEADER] = {0};
  hw_put_u32(hdr, (uint32_t)stored);
  hw_put_u32(hdr + 4, (uint32_t)raw);
  hw_put_u32(hdr + 8, b->stream);
  hw_put_u32(hdr + 12, b->seq);
  hw_put_u64(hdr + 16, b->base_ts);
  hw_put_u16(hdr + 24, flags | time_flag);
  uint32_t crc = hw_crc32c(0, hdr, 28);
  crc = hw_crc32c(crc, payload, stored);
  hw_put_u32(hdr + 28, crc);
  if (flags) { /* header and payload are contiguous in `out`: one write */
    memcpy(out, hdr, HW_FRAME_HEADER);
    return hw_write_all(fd, out, HW_FRAME_HEADER + stored);
  }
  /* Uncompressed: the payload stays in the buffer (its struct sits right before the data, so the
   * header cannot be put there): writev sends header and payload in one system call. */
  struct iovec { void *base; size_t len; } iov[2] = {{hdr, HW_FRAME_HEADER}, {payload, stored}};
  for (;;) {
    ssize_t n = syscall(SYS_writev, fd, iov, 2);
    if (n < 0 && errno == EINTR) continue;
    if (n == (ssize_t)(HW_FRAME_HEADER + stored)) return 0;
    if (n >= 0) errno = ENOSPC; /* a short write on a regular file means the disk is full */
    return -1;
  }
}

static void write_or_stop(hw_buffer_t *b) {
  if (dump_fd >= 0 && hw_write_frame(b, hw_config.compress) != 0) {
    char why[160];
    int err = errno;
    snprintf(why, sizeof why, "cannot write the dump (%s); recording stopped, the program runs on",
             strerror(err));
    hw_stop_recording(why);
  }
}

void hw_process_append(uint8_t tag, uint64_t ts, const uint8_t *body, size_t len) {
  if (!process_buf) process_buf = hw_buffer_get(0, atomic_fetch_add(&process_seq, 1), ts);
  if (!process_buf || len + 32 > process_buf->capacity) return; /* no buffer could hold it */
  if (process_buf->used + len + 32 > process_buf->capacity) {
    write_or_stop(process_buf);
    hw_buffer_release(process_buf);
    process_buf = hw_buffer_get(0, atomic_fetch_add(&process_seq, 1), ts);
    if (!process_buf) return;
  }
  /* Stream 0 has no hw_thread_t (only this thread writes it): the same record head, directly. */
  uint8_t *p = hw_put_record_head(process_buf->data + process_buf->used, tag, ts, &process_buf->last_ts, 0);
  if (tag >= HW_TAG_SKIPPABLE && tag != HW_TAG_END) p = hw_put_uvarint(p, len);
  memcpy(p, body, len);
  process_buf->used = (size_t)(p + len - process_buf->data);
}

static void process_flush(void) {
  if (process_buf && process_buf->used) {
    write_or_stop(process_buf);
    hw_buffer_release(process_buf);
    process_buf = NULL;
  }
}

static void take_sample(bool full) {
  uint8_t body[512];
  uint64_t ts = hw_now();
  uint8_t clock[HW_VARINT_MAX];
  hw_process_append(HW_TAG_CLOCK, ts, clock, (size_t)(hw_put_uvarint(clock, hw_monotonic_ns()) - clock));
  hw_process_append(HW_TAG_SAMPLE, ts, body, hw_sample_encode(body, sizeof body, full));
}

static void drain_queue(void) {
  for (hw_buffer_t *b = hw_queue_take_all(); b;) {
    hw_buffer_t *next = b->next;
    write_or_stop(b);
    hw_buffer_recycle(b);
    b = next;
  }
}

/* A named moment in the process stream (role holder): the MARKER at `ts`, then what the recorder
 * measures at every marker, and in aggregated mode the sites' counters (aggregate.c). */
void hw_writer_moment(uint64_t ts, int source, const char *name) {
  size_t len = strnlen(name, 64);
  uint8_t body[96], *p = hw_put_uvarint(body, (uint64_t)source);
  p = hw_put_bytes(p, name, len);
  hw_process_append(HW_TAG_MARKER, ts, body, (size_t)(p - body));
  if (hw_config.trim_probe) {
    uint8_t trim[64];
    hw_process_append(HW_TAG_TRIM, hw_now(), trim, hw_trim_probe_encode(trim, sizeof trim));
  }
  take_sample(true);
  if (!hw_config.aggregate) hw_residency_emit(NULL); /* aggregated dumps keep no page maps per moment */
  hw_agg_moment(ts, name);
}

static void emit_signal_markers(void) {
  uint32_t tail = atomic_load(&pending_tail);
  while (tail != atomic_load(&pending_head)) {
    /* A slot is claimed before its stamp is stored: 0 means its handler is still writing it. */
    uint64_t ts = atomic_exchange(&pending_stamp[tail % PENDING_MAX], 0);
    if (!ts) break;
    char name[32];
    snprintf(name, sizeof name, "signal-%u", atomic_fetch_add(&signal_markers, 1) + 1);
    hw_writer_moment(ts, HW_MARKER_SIGNAL, name);
    atomic_store(&pending_tail, ++tail);
  }
}

/* Async-signal-safe: a slot claimed with a CAS (two threads may take the signal at once), a stamp,
 * and a futex wake when the writer thread exists. Without it the marker waits for the next frame
 * written inline, or the end: its stamp is the signal's either way. */
void hw_writer_note_signal_marker(void) {
  uint32_t head = atomic_load(&pending_head);
  do {
    if (head - atomic_load(&pending_tail) >= PENDING_MAX) return; /* 64 unprocessed signals: drop */
  } while (!atomic_compare_exchange_weak(&pending_head, &head, head + 1));
  uint64_t ts = hw_now();
  atomic_store(&pending_stamp[head % PENDING_MAX], ts ? ts : 1);
  if (atomic_load_explicit(&writer_running, memory_order_acquire)) futex_wake();
  else atomic_store_explicit(&hw_inline_tick_due, 0, memory_order_relaxed); /* the next record writes it */
}

/* The periodic part of the writer's work, on whichever thread holds the role. */
_Atomic uint64_t hw_inline_tick_due;

static void tick(void) {
  uint64_t now = hw_monotonic_ns();
  if (now >= next_sample_ns) {
    hw_modules_sync(NULL);
    /* Aggregated mode keeps no time series: its samples go with each flush (aggregate.c). */
    if (!hw_config.aggregate) {
      take_sample(false);
      hw_residency_tick(); /* tracked mappings' resident pages, within its own CPU budget */
    }
    hw_triggers_tick(); /* RSS thresholds, read at this cadence */
    process_flush(); /* a reader sees samples within one interval, also after kill -9 */
    if (hw_config.aggregate) hw_agg_tick(now, false);
    next_sample_ns = now + (uint64_t)hw_config.interval_ms * 1000000ull;
    if (!atomic_load_explicit(&writer_running, memory_order_acquire))
      atomic_store_explicit(&hw_inline_tick_due,
                            hw_now() + hw_ticks_per_second / 1000 * (uint64_t)hw_config.interval_ms,
                            memory_order_relaxed);
  }
}


/* Set while this thread holds the role: a signal handler that calls exit() (or exec) on a thread
 * interrupted mid-write must not wait for the role its own thread holds. */
static __thread bool role_here __attribute__((tls_model("initial-exec")));

static bool take_role(void) {
  if (atomic_exchange_explicit(&role, 1, memory_order_acquire)) return false;
  role_here = true;
  return true;
}
static void drop_role(void) {
  role_here = false;
  atomic_store_explicit(&role, 0, memory_order_release);
}

/* The interval passed with no writer thread (thread.c begin()): the recording thread ticks, unless
 * another thread, or this one interrupted by a signal, is writing (take_role fails: skip; the next
 * record tries again). Never on a thread inside the real allocator: the sample's mallinfo2 would
 * take the arena lock that thread holds. */
void hw_writer_poll_slow(void) {
  if (atomic_load_explicit(&writer_running, memory_order_acquire)) {
    atomic_store_explicit(&hw_inline_tick_due, UINT64_MAX, memory_order_relaxed);
    return;
  }
  if (hw_tls_in_allocator || dump_fd < 0 || !take_role()) return;
  if (!atomic_load_explicit(&writer_running, memory_order_acquire)) {
    emit_signal_markers();
    tick();
    /* Due again when the next sample is (a signal marker only asked for this one record). */
    uint64_t now = hw_monotonic_ns(), wait_ns = next_sample_ns > now ? next_sample_ns - now : 0;
    atomic_store_explicit(&hw_inline_tick_due, hw_now() + wait_ns / 1000 * (hw_ticks_per_second / 1000000),
                          memory_order_relaxed);
  }
  drop_role();
}

static void emergency_end(int reason, int signo);

/* Waits for the role: only where waiting cannot deadlock (the writer thread starting, the exit
 * path), and a holder lets go after at most one drain. */
static void wait_role(void) {
  while (!take_role()) sched_yield();
}

/* No writer thread: the submitting thread writes what is queued, unless another thread already
 * does (it re-checks the queue after letting go, so nothing pushed meanwhile waits long). Called
 * with hw_tls_busy held, so a signal handler on this thread never re-enters it. */
static void write_inline(void) {
  if (dump_fd < 0) return;
  while (hw_queue_pending() && take_role()) {
    if (atomic_load_explicit(&writer_running, memory_order_acquire)) { /* the thread took over */
      drop_role();
      return;
    }
    drain_queue();
    emit_signal_markers();
    tick();
    drop_role();
  }
}

static void *writer_main(void *arg) {
  (void)arg;
  hw_tls_busy = 1; /* nothing this thread does is the program's allocation */
  wait_role();     /* held until hw_writer_stop */
  atomic_store_explicit(&writer_running, 1, memory_order_release);
  atomic_store_explicit(&hw_inline_tick_due, UINT64_MAX, memory_order_relaxed);
  while (!atomic_load(&stop_requested)) {
    uint32_t seen = atomic_load(&wake_word);
    drain_queue();
    emit_signal_markers();
    tick();
    /* A submit after `seen` was read changed wake_word, so the wait returns at once: no lost
     * wake-up, and producers skip the syscall while the writer is awake. */
    atomic_store(&writer_sleeping, 1);
    futex_wait(&wake_word, seen, hw_config.interval_ms);
    atomic_store(&writer_sleeping, 0);
  }
  drop_role();
  return NULL;
}

bool hw_writer_start(int fd) {
  /* The context and output buffer survive a fork: a following child reuses them. */
  if (!out) {
    size_t ctx_size = ZSTD_estimateCCtxSize(ZSTD_LEVEL);
    void *ctx_mem = hw_pages_alloc(ctx_size);
    cctx = ctx_mem ? ZSTD_initStaticCCtx(ctx_mem, ctx_size) : NULL;
    out_cap = HW_FRAME_HEADER + ZSTD_compressBound(64 * 1024);
    out = hw_pages_alloc(out_cap);
    if (!out) return false;
  }
  next_sample_ns = 0;
  dump_fd = fd;
  return true;
}

/* The program is about to create a thread: from now on a thread of ours writes. On failure
 * (no memory for a thread) the role stays shared and the recording threads write inline. */
void hw_writer_spawn(void) {
  if (dump_fd < 0 || atomic_exchange(&writer_spawned, 1)) return;
  hw_stamps_reuse(false); /* its samples would not refresh the recording threads' stamps */
  hw_tls_busy++;
  /* Signals for the process must never land on this thread. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = hw_real.pthread_create ? hw_real.pthread_create(&writer_thread, NULL, writer_main, NULL) : -1;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc == 0) {
    while (!atomic_load_explicit(&writer_running, memory_order_acquire)) sched_yield();
  }
  hw_tls_busy--;
}

/* Normal end: the writer drains and stops; then this thread writes the rest itself. */
void hw_writer_stop(int reason, int signo) {
  if (role_here) { /* re-entered from a handler on the thread that is writing: see take_role */
    emergency_end(reason, signo);
    return;
  }
  /* An _exit from a handler that interrupted the allocator: this thread may hold the lock that the
   * writer thread (or a thread writing inline) waits for in its sample's mallinfo2, so neither the
   * join nor the role would ever come. End as a fatal signal does, without waiting for anyone. */
  if (hw_allocator_maybe_interrupted()) {
    emergency_end(reason, signo);
    return;
  }
  if (atomic_load(&writer_running)) {
    atomic_store(&stop_requested, 1);
    futex_wake();
    pthread_join(writer_thread, NULL);
    atomic_store(&writer_running, 0);
  }
  wait_role(); /* another thread may be writing inline; from here this thread writes, for good */
  drain_queue();
  emit_signal_markers();
  hw_modules_sync(NULL); /* a dlclose since the last tick: its UNLOAD */
  if (hw_config.trim_probe) {
    uint8_t trim[64];
    hw_process_append(HW_TAG_TRIM, hw_now(), trim, hw_trim_probe_encode(trim, sizeof trim));
  }
  take_sample(true);
  hw_residency_emit(NULL);
  if (hw_config.aggregate) {
    process_flush(); /* the totals at exit replace the last flush's (aggregate.c) */
    hw_agg_tick(hw_monotonic_ns(), true);
  }
  uint8_t body[2 * HW_VARINT_MAX], *p = hw_put_uvarint(body, (uint64_t)reason);
  p = hw_put_uvarint(p, (uint64_t)signo);
  hw_process_append(HW_TAG_END, hw_now(), body, (size_t)(p - body));
  process_flush();
  if (dump_fd >= 0) close(dump_fd);
  dump_fd = -1;
}

/* From a fatal signal: other threads may be anywhere, the writer included. Write the stolen
 * buffers uncompressed (the compression context may be in use) and an END frame of our own. */
void hw_writer_emergency_flush(int signo) { emergency_end(HW_END_SIGNAL, signo); }

/* Uncompressed, without the context, the output buffer or the process stream, which the
 * interrupted writer may be using; the descriptor stays open for the same reason. */
static void emergency_end(int reason, int signo) {
  if (dump_fd < 0) return;
  for (hw_buffer_t *b = hw_queue_take_all(); b; b = b->next) hw_write_frame(b, false);
  uint8_t frame[sizeof(hw_buffer_t) + 64] __attribute__((aligned(16)));
  hw_buffer_t *b = (hw_buffer_t *)frame;
  uint64_t ts = hw_now();
  memset(b, 0, sizeof *b);
  b->stream = 0;
  b->seq = atomic_fetch_add(&process_seq, 1);
  b->base_ts = b->last_ts = ts; /* the END's delta is 0: it is the frame's first record */
  uint8_t *p = hw_put_record_head(b->data, HW_TAG_END, ts, &b->last_ts, 0);
  p = hw_put_uvarint(p, (uint64_t)reason);
  p = hw_put_uvarint(p, (uint64_t)signo);
  b->used = (size_t)(p - b->data);
  hw_write_frame(b, false);
}

void hw_writer_after_fork_child(void) {
  /* The writer thread does not exist in the child; its state is the parent's. */
  atomic_store(&writer_running, 0);
  atomic_store(&writer_spawned, 0);
  hw_stamps_reuse(true); /* no writer thread in the child (until it makes a thread) */
  atomic_store(&role, 0); /* its holder, if any, was another thread */
  role_here = false;
  atomic_store(&stop_requested, 0);
  atomic_store(&writer_sleeping, 0);
  atomic_store(&process_seq, 0);
  atomic_store(&pending_head, 0);
  atomic_store(&pending_tail, 0);
  for (int i = 0; i < PENDING_MAX; i++) atomic_store(&pending_stamp[i], 0);
  hw_agg_after_fork_child();
  atomic_store(&signal_markers, 0);
  atomic_store(&hw_inline_tick_due, 0); /* the child ticks inline until it starts a thread */
  next_sample_ns = 0;
  process_buf = NULL;
  dump_fd = -1;
}

int hw_writer_fd(void) { return dump_fd; }

/* aggregate.c, holding the role: the dump was replaced by a copy under the same name. */
void hw_writer_replace_fd(int fd) {
  int old = dump_fd;
  dump_fd = fd;
  if (old >= 0 && old != fd) close(old);
}

