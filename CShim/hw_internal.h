/* hw_internal.h: the recorder's internal interfaces, grouped by the file that defines them.
 *
 * Data flow inside the target process:
 *   hooks.c (interposed malloc/free/mmap/...) -> unwind.c (capture) -> stacks.c (intern)
 *   -> thread.c (per-thread buffer, encode; encoder.h: ALLOC/FREE inline in the hooks)
 *   -> queue -> writer.c (compress, write, sample)
 * recorder.c owns the lifecycle (configuration, start, fork, exit, signals, markers);
 * platform.c owns every /proc read, raw syscall and clock; bootstrap.c the real functions; entry.c
 * the two words that let the hooks' entry skip the general path (sampling, idle).
 *
 * Naming: exported symbols are heapwise_*, internal cross-file symbols hw_* with hidden
 * visibility (the Makefile builds with -fvisibility=hidden), file-local ones static.
 */
#ifndef HW_INTERNAL_H
#define HW_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "hw_format.h" /* HW_COARSE_SHIFT */

#define hw_likely(x) __builtin_expect(!!(x), 1)
#define hw_unlikely(x) __builtin_expect(!!(x), 0)
#define hw_noinline __attribute__((noinline))
#define hw_cold __attribute__((cold, noinline))
#define HW_EXPORT __attribute__((visibility("default")))

/* ---- bootstrap.c: the real functions, and a pool for allocations made before we have them ---- */

/* Every hooked function once: X(return type, name, parameters). The table of real functions
 * (hw_real_t) and its dlsym bootstrap are generated from this list; a hook added to hooks.c without
 * an entry here has no real function to call and does not compile. */
#define HW_HOOKED_FUNCTIONS(X)                                                             \
  X(void *, malloc, (size_t))                                                              \
  X(void *, calloc, (size_t, size_t))                                                      \
  X(void *, realloc, (void *, size_t))                                                     \
  X(void *, reallocarray, (void *, size_t, size_t))                                        \
  X(void, free, (void *))                                                                  \
  X(int, posix_memalign, (void **, size_t, size_t))                                        \
  X(void *, aligned_alloc, (size_t, size_t))                                               \
  X(void *, memalign, (size_t, size_t))                                                    \
  X(void *, valloc, (size_t))                                                              \
  X(void *, pvalloc, (size_t))                                                             \
  X(void *, mmap, (void *, size_t, int, int, int, off_t))                                  \
  X(void *, mmap64, (void *, size_t, int, int, int, off_t))                                \
  X(int, munmap, (void *, size_t))                                                         \
  X(void *, mremap, (void *, size_t, size_t, int, ...))                                    \
  X(int, madvise, (void *, size_t, int))                                                   \
  X(int, mprotect, (void *, size_t, int))                                                  \
  X(void, _exit, (int))                                                                    \
  X(void, _Exit, (int))                                                                    \
  X(int, pthread_create, (pthread_t *, const pthread_attr_t *, void *(*)(void *), void *))  \
  X(int, execve, (const char *, char *const *, char *const *))                             \
  X(int, execv, (const char *, char *const *))                                             \
  X(int, execvp, (const char *, char *const *))                                            \
  X(int, execvpe, (const char *, char *const *, char *const *))                            \
  X(int, fexecve, (int, char *const *, char *const *))

/* Deliberately not hooked:
 * - dlopen/dlclose: glibc finds the caller's RUNPATH and $ORIGIN from dlopen's return address, so
 *   a wrapper would change which library a program loads. modules.c notices new and closed modules
 *   through dl_iterate_phdr's adds/subs counters instead (on every new stack, allocation by the
 *   loader, and writer tick).
 *   (unwind.c wraps dlclose, which has no such caller dependence, only to invalidate its cache of
 *   unwind rules.)
 * - fork: pthread_atfork covers every fork, also those glibc makes internally. */

typedef struct hw_real_s {
#define HW_REAL_FIELD(ret, name, params) ret(*name) params;
  HW_HOOKED_FUNCTIONS(HW_REAL_FIELD)
#undef HW_REAL_FIELD
} hw_real_t;

extern hw_real_t hw_real __attribute__((visibility("hidden"))); /* hidden: one rip-relative load in the hooks, not a GOT entry */
/* Resolves hw_real with dlsym(RTLD_NEXT); returns false if malloc or free cannot be found. */
bool hw_bootstrap(void);
/* Serves allocations made while dlsym runs; hw_bootstrap_owns tells free() to ignore them. */
void *hw_bootstrap_alloc(size_t size, size_t align);
/* Inline: free() asks this on every call, and a call into another file cost 8 instructions. */
#define HW_BOOTSTRAP_POOL (64 * 1024)
extern unsigned char hw_bootstrap_pool[HW_BOOTSTRAP_POOL] __attribute__((visibility("hidden")));
static inline bool hw_bootstrap_owns(const void *p) {
  return (uintptr_t)p - (uintptr_t)hw_bootstrap_pool < HW_BOOTSTRAP_POOL;
}
size_t hw_bootstrap_room(const void *p); /* bytes from p to the pool's end */
size_t hw_bootstrap_used(void);           /* bytes handed out so far (liveset.c pins them) */

/* ---- platform.c: clocks, /proc, raw memory; each call returns 0 on success ---------------- */

/* Timestamp for event ordering: rdtscp on x86-64 (monotonic across CPUs with an invariant TSC,
 * and it waits for earlier loads, which the free-before-reuse ordering needs), else
 * CLOCK_MONOTONIC in ns. Measured here: clock_gettime 23.5 ns, a malloc/free pair 18.6 ns. */
extern bool hw_use_tsc __attribute__((visibility("hidden"))); /* set at start when the kernel itself uses the TSC as its clocksource */
uint64_t hw_monotonic_ns(void);
/* In units of 16 TSC ticks (4-16 ns): the low bits are noise that cost the dump ~1 byte per
 * malloc/free pair (measured on tools/bench/workload), and no ordering depends on them. A block freed
 * on one core and handed out on another needs at least one cache-line transfer between the two
 * stamps (>= ~40 ns on any x86), longer than one unit. */
#define HW_TSC_SHIFT 4
/* The per-thread words the hooks touch on every event, in one TLS object: each initial-exec
 * variable of a shared library costs a load of its offset from the GOT at every use, and these
 * are used together. The names below are the fields; what each means is said where it is declared
 * in its own section: every reading of the clock on this thread (stamp), the latest one made for
 * anything but an event's stamp (other: samples, markers, CLOCK, END), the coarse clock at the
 * latest reading (tick): see hw_stamp_alone; whether the thread has a stream (registered:
 * hw_recording_alone); hw_tls_busy, hw_tls_in_allocator (thread.c's section); the thread's state
 * (thread, encoder.h). platform.c defines it. */
typedef struct hw_tls_hot_s {
  uint64_t stamp, other, tick;
  struct hw_thread_s *thread;
  int busy, in_allocator;
  bool registered;
} hw_tls_hot_t;
extern __thread hw_tls_hot_t hw_tls_hot __attribute__((tls_model("initial-exec")));
#define hw_tls_stamp (hw_tls_hot.stamp)
#define hw_tls_stamp_other (hw_tls_hot.other)
#define hw_tls_stamp_tick (hw_tls_hot.tick)
#define hw_tls_registered (hw_tls_hot.registered)
#define hw_tls_busy (hw_tls_hot.busy)
#define hw_tls_in_allocator (hw_tls_hot.in_allocator)
#if defined(__x86_64__)
static inline uint64_t hw_rdtsc(void) {
  uint32_t lo, hi;
  __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi)::"memory");
  return (((uint64_t)hi << 32) | lo) >> HW_TSC_SHIFT;
}
#endif
static inline uint64_t hw_now(void) {
#if defined(__x86_64__)
  if (hw_likely(hw_use_tsc)) {
    uint32_t lo, hi, aux;
    __asm__ __volatile__("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux)::"memory");
    return hw_tls_stamp = hw_tls_stamp_other = (((uint64_t)hi << 32) | lo) >> HW_TSC_SHIFT;
  }
#endif
  return hw_monotonic_ns();
}
/* The same clock read with rdtsc, which does not wait for earlier instructions: ~30% cheaper
 * here (measured in a loop: rdtsc 0.72x rdtscp's time), and right only where no other thread's
 * event must sort before the stamp: a thread that records alone (hw_stamp_alone). Every other
 * event's stamp is ordered (hw_now), a free's too: it precedes the real free's stores either way
 * (x86 stores become visible only after retirement), but it must also follow the loads that gave
 * the thread the block, and rdtsc does not wait for them. Measured here (AMD EPYC, 2 vCPUs): a
 * thread that took a value out of a slot with an exchange and then read rdtsc read a TSC earlier
 * than the one the writer had read before storing it in 7-19% of 2 million handovers, by up to
 * 741 ticks; with rdtscp in none (a free then sorted before the allocation it freed, in about one
 * run of threads.c in ten). */
static inline uint64_t hw_now_unordered(void) {
#if defined(__x86_64__)
  if (hw_likely(hw_use_tsc)) return hw_tls_stamp = hw_tls_stamp_other = hw_rdtsc();
#endif
  return hw_monotonic_ns();
}
/* STAMPS WHILE ONE THREAD RECORDS in a program without threads (docs/RECORDER.md, "Ordering").
 * An event's stamp is the thread's latest TSC reading, read again only when
 * - the kernel's coarse clock (CLOCK_MONOTONIC_COARSE through the vDSO: loads, 6.4 ns here against
 *   26 ns for rdtsc) has moved since: so a stamp is never later than its event and at most one
 *   kernel tick earlier (clock_getres, 4 ms here; used only up to 10 ms), or
 * - the latest reading is not in a later coarse-time unit (frames of one recording thread count
 *   2^HW_COARSE_SHIFT units, docs/FORMAT.md) than the latest reading made for anything else on
 *   this thread (hw_tls_stamp_other): so an event after a sample, marker or END in program order
 *   is stamped in the same unit as it, as before, or in a later one, and one before it earlier; the
 *   streams merge in exactly the order they did with a reading per event.
 * hw_coarse_words is NULL (a reading per event) unless the TSC is the clock, the vDSO has the
 * coarse clock, and no writer thread runs (hw_writer_spawn clears it before the program's first
 * thread exists: samples are then taken on another thread, whose readings are not this one's).
 * Only for a thread that hw_recording_alone: every block it orders against is its own. When set,
 * it points at the two words of the vvar page the vDSO itself reads the coarse clock from
 * (seconds, nanoseconds), found at start by their value (platform.c, hw_stamps_init: no kernel
 * layout is assumed): the test is then two loads, not a call (~7 ns a call here, twice a pair).
 * They serve only to notice that the kernel ticked; a torn read (the kernel between its two
 * stores) reads as a tick, which costs one TSC read. Each noticed tick is checked against the vDSO
 * (hw_stamp_after_tick). Where the words were not found, or disagreed with the vDSO once, it
 * points at two words that never equal a tick (platform.c, vdso_words), and every stamp asks the
 * vDSO in hw_stamp_after_tick: so a stamp tests one pointer inline, and a program without the
 * vDSO (valgrind) pays that test alone before its reading (docs/BENCHMARKS.md: +22 instructions a
 * pair when the vDSO's call was inline here too, which kept the stamps from being inlined). */
extern _Atomic(const volatile uint64_t *) hw_coarse_words __attribute__((visibility("hidden")));
uint64_t hw_stamp_after_tick(uint64_t tick); /* the words moved: checks them, reads the TSC */
static inline uint64_t hw_stamp_alone(void) {
#if defined(__x86_64__)
  const volatile uint64_t *w = atomic_load_explicit(&hw_coarse_words, memory_order_relaxed);
  if (hw_likely(w != NULL)) {
    uint64_t tick = w[0] << 30 | w[1], last = hw_tls_stamp;
    if (hw_likely(tick == hw_tls_stamp_tick) &&
        hw_likely(last >> HW_COARSE_SHIFT > hw_tls_stamp_other >> HW_COARSE_SHIFT))
      return last;
    return hw_stamp_after_tick(tick);
  }
#endif
  return hw_now_unordered();
}
void hw_stamps_init(void);          /* at start, once hw_use_tsc is known: resolves the vDSO clock */
void hw_stamps_reuse(bool on);      /* off: the writer thread starts; on: a fork child (no writer),
                                     * which rechecks the vvar words (it may be in a new time namespace) */
bool hw_clock_is_tsc(void);
uint64_t hw_realtime_ns(void);
/* Page-aligned anonymous memory straight from the kernel, never through the hooks. */
void *hw_pages_alloc(size_t size);
void hw_pages_free(void *p, size_t size);
/* Calls `visit` with each line of /proc/self/maps (NUL-terminated, no newline) until it returns
 * false, reading through `buf` (a line longer than `cap` - 1 is skipped); false if unreadable. */
bool hw_maps_lines(char *buf, size_t cap, bool (*visit)(char *line, void *arg), void *arg);
/* Reads a small /proc file into buf (NUL-terminated); returns bytes read or -1. */
ssize_t hw_read_file(const char *path, char *buf, size_t size);
/* Writes all of buf or returns -1 with errno set. */
int hw_write_all(int fd, const void *buf, size_t size);
pid_t hw_gettid(void);
/* Parses "Key:   123 kB" lines of smaps_rollup; returns bytes or 0. */
uint64_t hw_proc_kb_field(const char *text, const char *key);
/* Prints "heapwise: <message>" on stderr without allocating. */
void hw_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- unwind.c: the one capture interface (its own .eh_frame walker, unwind_cfi.c, the module
 * table of unwind_modules.c before glibc 2.35, and libunwind for the rest) ------------------------ */

#define HW_MAX_FRAMES 64
/* Fills frames with return addresses minus one, innermost first, after skipping `skip` frames of
 * the caller's own; returns the count (0 if unwinding failed). */
int hw_capture_stack(uintptr_t *frames, int max, int skip);
/* The same, starting at the frame whose return address is `anchor` (a hook's
 * __builtin_return_address(0)): robust to however the recorder's own frames were inlined. */
int hw_capture_stack_above(uintptr_t *frames, int max, uintptr_t anchor);
/* The same, and *sum = hw_stack_sum(frames, count), computed only for the frames that differ
 * from the thread's previous capture (the unchanged outer part keeps its partial sum). */
int hw_capture_stack_above_summed(uintptr_t *frames, int max, uintptr_t anchor, uint64_t *sum);
/* The same for a hook that knows its caller's state at entry (hooks.c, entry_state: entry[0] the
 * caller's rbp, entry[1] its return address, the anchor, entry[2] its rsp after the return): the path cache walks from
 * the caller's state, not through the recorder's own frames. *out is where the frames are: `frames`,
 * or the path cache's own copy (valid until the thread's next capture). *id is the stack's id when
 * the path cache knows it (stack_hint.h), else 0. */
int hw_capture_stack_entry(uintptr_t *frames, int max, const uintptr_t *entry, uint64_t *sum, const uintptr_t **out,
                           uint32_t *id);
void hw_unwind_init(void);
/* HEAPWISE_UNWIND_CHECK=1 or 2: every capture is checked both ways (unwind.c), and the Python
 * memo's answers against a merge (pyframes.c). One reading of the setting for both. */
bool hw_check_mode_asked(void);

/* ---- stacks.c: each distinct stack once ---------------------------------------------------- */

/* Returns the stack's id (>= 1); *is_new is set when this call interned it, and the caller then
 * writes the STACK record. Lock-free; never allocates through malloc. */
uint32_t hw_stack_intern(const uintptr_t *frames, int count, bool *is_new);
/* A stack's hash is a function of the sum of hw_frame_mix(frame, position from the outermost
 * frame, 1-based) over its frames, so a capture whose outer frames are unchanged adds only the
 * new inner ones (unwind.c). hw_stack_intern_summed takes that sum, = hw_stack_sum(frames, count). */
static inline uint64_t hw_frame_mix(uint64_t frame, uint64_t position) {
  /* Not linear in the address: a plain sum of address * per-position constant gave the same hash
   * to stacks whose addresses differ by the same amounts at other positions (100000 paths through
   * a binary tree of calls, tools/bench/many_stacks.c, got 714 ids). */
  uint64_t x = (frame ^ (position * 0x9E3779B97F4A7C15ull)) * 0xff51afd7ed558ccdull;
  x ^= x >> 32;
  return x * 0xc4ceb9fe1a85ec53ull;
}
uint64_t hw_stack_sum(const uintptr_t *frames, int count);
uint32_t hw_stack_intern_summed(const uintptr_t *frames, int count, uint64_t sum, bool *is_new);
size_t hw_stacks_memory(void);
uint32_t hw_stacks_count(void);
void hw_stacks_reset(void); /* fork child with a new dump: every stack must be written again */

/* ---- pyframes.c: Python frames merged into native stacks (CPython 3.11+) ----------------- */

#define HW_PY_MAX_FRAMES 128                       /* Python frames per stack, beyond the native ones */
#define HW_STACK_MAX (HW_MAX_FRAMES + HW_PY_MAX_FRAMES) /* a merged stack */
#define HW_PY_FRAME_TAG (1ull << 63)               /* a Python frame in a frames array (FORMAT.md) */

struct hw_thread_s;
/* Nonzero in a CPython process while hw_pyframes_merge has work (relaxed read per new event). */
extern _Atomic int hw_pyframes_active __attribute__((visibility("hidden")));
void hw_pyframes_init(void);  /* at start: is this CPython, which layout, are Python frames wanted */
void hw_pyframes_modules_changed(void); /* modules.c: a libpython loaded later (dlopen) */
void hw_pyframes_reset(void); /* fork child with a new dump */
/* Replaces each evaluation-loop frame of `frames` (room for HW_STACK_MAX) by the Python frames it
 * runs; returns the new count. The Python values are only good for interning until... */
int hw_pyframes_merge(struct hw_thread_s *t, uint64_t ts, uintptr_t *frames, int n);
/* The memo, around them in current_stack: the id of the merged stack this capture (its native
 * count and sum) comes to when this thread merged the same before, else 0; then, after the merge
 * and the intern, hw_pyframes_remember keeps the id for the next time. */
uint32_t hw_pyframes_known(struct hw_thread_s *t, int n, uint64_t sum);
void hw_pyframes_remember(uint32_t id);
/* ...hw_pyframes_describe gives them their dump form (code ids, PYCODE records) for a new stack. */
void hw_pyframes_describe(struct hw_thread_s *t, uint64_t ts, uintptr_t *frames, int n);
/* For scope sites (scope.c): merges and describes in one step, keeping at most `cap` values;
 * `cut` says the native capture stopped at its limit. frames has room for HW_STACK_MAX. */
int hw_pyframes_merge_site(uintptr_t *frames, int n, bool cut, int cap);

/* ---- thread.c: per-thread state and buffers -------------------------------------------------- */

typedef struct hw_buffer_s hw_buffer_t;
typedef struct hw_thread_s hw_thread_t;

/* The calling thread's state; initial-exec TLS, so the first touch does not allocate. */
/* hw_tls_busy (a field of hw_tls_hot): > 0 while the recorder runs */
/* > 0 while this thread is inside the real allocator through a hook's general path (hooks.c): a
 * signal handler that records then must not ask the allocator for statistics, and mappings made
 * meanwhile are its own. The sampling entry does not raise it (hw_allocator_maybe_interrupted). */
/* (hw_tls_in_allocator: a field of hw_tls_hot) */

hw_thread_t *hw_thread_current(void); /* creates the stream on first use; NULL if recording stopped */
/* Streams registered so far (never decreases while recording), and whether the calling thread has
 * one: together they say the calling thread is the only one that ever recorded. Then a block it
 * obtains was freed by itself or by a thread whose free was not recorded, and a block it frees was
 * allocated by itself (a thread that hands it a block registered before allocating it, and the
 * count is read after the pointer was), so its stamps need no ordering against another stream
 * (hw_now_unordered). Read after the allocation returned:
 * a thread that freed the block registered before that free (x86 loads are not reordered with
 * each other), so a count of 1 cannot miss it. */
extern _Atomic uint32_t hw_streams_registered __attribute__((visibility("hidden")));
static inline bool hw_recording_alone(void) {
  return hw_tls_registered && atomic_load_explicit(&hw_streams_registered, memory_order_acquire) == 1;
}
void hw_thread_flush_all(void);        /* at exit: hand every thread's partial buffer to the writer */
void hw_thread_after_fork_child(void);
void hw_thread_init(void);
size_t hw_threads_memory(void);

/* Record emitters (the encoder). Each appends one record to the thread's buffer. */
void hw_emit_alloc(hw_thread_t *t, uint64_t ts, int fn, uintptr_t addr, size_t size, uint32_t stack);
void hw_emit_free(hw_thread_t *t, uint64_t ts, int fn, uintptr_t addr);
void hw_emit_mmap(hw_thread_t *t, uint64_t ts, uintptr_t addr, size_t len, int prot, int flags, int fd,
                  uint32_t stack);
void hw_emit_munmap(hw_thread_t *t, uint64_t ts, uintptr_t addr, size_t len);
void hw_emit_mremap(hw_thread_t *t, uint64_t ts, uintptr_t old_addr, size_t old_len, uintptr_t new_addr,
                    size_t new_len, uint32_t stack);
void hw_emit_stack(hw_thread_t *t, uint64_t ts, uint32_t id, const uintptr_t *frames, int count);
void hw_emit_marker(hw_thread_t *t, uint64_t ts, int source, const char *name);
/* Generic: tag plus a preformatted body (modules, samples, trim probes). */
void hw_emit_raw(hw_thread_t *t, uint64_t ts, uint8_t tag, const uint8_t *body, size_t len);

/* ---- queue.c: buffers handed from threads to the writer -------------------------------------- */

struct hw_buffer_s {
  hw_buffer_t *next;     /* queue link */
  uint32_t stream, seq;  /* frame identity */
  uint64_t base_ts;      /* timestamp the first delta is relative to */
  uint64_t last_ts;
  uintptr_t prev_addr;   /* encoder register */
  bool coarse_time;      /* HW_FRAME_FLAG_COARSE_TIME */
  size_t used, capacity;
  size_t touched;        /* high-water mark of `used` over the buffer's life (queue.c's memory figure) */
  uint8_t data[];
};
hw_buffer_t *hw_buffer_get(uint32_t stream, uint32_t seq, uint64_t base_ts); /* may wait: back-pressure */
void hw_buffer_submit(hw_buffer_t *b);    /* to the writer; b's owner lets go of it */
hw_buffer_t *hw_queue_take_all(void);     /* writer: everything submitted so far, oldest first */
void hw_buffer_recycle(hw_buffer_t *b); /* a submitted buffer, once written */
void hw_buffer_release(hw_buffer_t *b); /* one never submitted (the writer's own, an unused fresh one) */
size_t hw_buffers_memory(void);
size_t hw_queue_backlog(void);
bool hw_queue_pending(void); /* something submitted and not yet taken */
void hw_queue_after_fork_child(void);

/* ---- writer.c: the writer thread --------------------------------------------------------------- */

/* Prepares writing into fd; frames are written inline (by the thread whose buffer filled) until
 * hw_writer_spawn starts the writer thread, when the program creates its first thread. */
bool hw_writer_start(int fd);
void hw_writer_spawn(void);
void hw_writer_wake(void);
void hw_writer_stop(int reason, int signo); /* drain everything, sample, write END, close */
void hw_writer_emergency_flush(int signo);  /* from a fatal signal: uncompressed, no locks */
void hw_writer_after_fork_child(void);
void hw_writer_note_signal_marker(void);    /* async-signal-safe */
/* While no writer thread runs, nothing wakes up to sample an idle program: instead the first
 * event record (thread.c begin(): tags below STACK) stamped at or after hw_inline_tick_due (hw_now() units) runs the periodic tick on the
 * recording thread (thread.c begin()). UINT64_MAX once the writer thread runs. One relaxed load and
 * compare per record. */
extern _Atomic uint64_t hw_inline_tick_due __attribute__((visibility("hidden")));
void hw_writer_poll_slow(void);
/* Appends a record to the process stream (stream 0). Only by the writer role's holder: the writer
 * thread, a thread writing inline, or the exit path once the writer has stopped. */
void hw_process_append(uint8_t tag, uint64_t ts, const uint8_t *body, size_t len);
/* Encodes one frame from b into the dump (compressing when possible). */
int hw_write_frame(hw_buffer_t *b, bool compress);
int hw_write_frame_to(int fd, hw_buffer_t *b, bool compress);
/* Role holder: MARKER `name` at ts in the process stream, its sample, residency and (aggregated)
 * the sites' counters: signal markers and RSS moments. */
void hw_writer_moment(uint64_t ts, int source, const char *name);
void hw_writer_replace_fd(int fd); /* aggregate.c replaced the dump under the same name */

/* ---- triggers.c: moments at a new peak of live bytes and when RSS crosses a threshold ------- */

void hw_triggers_configure(void);
void hw_triggers_enable_peak(void);
bool hw_triggers_watch_rss(void); /* --dump-at-rss given */
void hw_triggers_tick(void); /* role holder, at the sampling cadence: RSS thresholds */
/* A recording thread: the live total after an allocation (only when dump_at_peak). */
void hw_triggers_live(hw_thread_t *t, uint64_t ts, uint64_t live);

/* ---- aggregate.c: the live map, per-site counters and their periodic frames -------------------- */

void hw_agg_configure(void);                 /* reads the environment, before the dump starts */
void hw_agg_set_path(const char *path);      /* the dump's name, for replacing it at each flush */
/* The hooks, with hw_config.track set and no sampling: a block became live / is about to be freed. */
void hw_track_alloc(hw_thread_t *t, uintptr_t addr, uint64_t size, uint32_t stack, uint64_t ts);
void hw_track_free(uintptr_t addr, uint64_t ts);
/* The same without the live map, for a caller that did the insert or remove itself. */
void hw_track_counted_alloc(hw_thread_t *t, uint64_t size, uint32_t stack, uint64_t ts);
void hw_track_counted_free(uint64_t size, uint32_t stack, uint64_t ts);
/* With sampling: a recorded block (kept: it is in the liveset) and its free, weighted (sampling.c). */
void hw_track_sampled_alloc(hw_thread_t *t, bool kept, uint64_t size, uint32_t seed, uint32_t stack, uint64_t ts);
void hw_track_sampled_free(uint64_t size, uint32_t seed, uint32_t stack, uint64_t ts);
/* Role holder: flush when due (or `final`, at exit); a moment's snapshot. */
void hw_agg_tick(uint64_t now_ns, bool final);
void hw_agg_moment(uint64_t ts, const char *name);
/* A marker set on a recording thread (the C API, a peak): its snapshot in t's stream; a peak's
 * sets each site's peak figures instead (the last peak only is kept). */
void hw_agg_thread_moment(hw_thread_t *t, uint64_t ts, const char *name, bool peak);
void hw_agg_after_fork_child(void);
/* thread.c: hand the thread's partial buffer to the writer (aggregated mode, after a new stack). */
void hw_thread_submit(hw_thread_t *t);

/* ---- sampler.c: memory samples ------------------------------------------------------------- */

/* Builds a SAMPLE body into out; returns its length. `full` also reads smaps_rollup, which
 * periodic samples do only within a CPU budget. */
size_t hw_sample_encode(uint8_t *out, size_t cap, bool full);
/* malloc_trim(0) between two RSS readings; encodes a TRIM body. */
size_t hw_trim_probe_encode(uint8_t *out, size_t cap);
uint64_t hw_rss_bytes(void);

/* ---- residency.c: resident pages of the heap and anonymous mappings (markers, ticks, exit) -- */

/* Writes RESIDENCY records into t's stream or, with t NULL, the process stream. */
void hw_residency_emit(hw_thread_t *t);
/* The periodic snapshot (process stream, by whoever holds the writer role: writer.c tick()), within a CPU budget:
 * after a snapshot that took X, none before 100 X has passed (at most 1% of a core). */
void hw_residency_tick(void);
void hw_residency_after_fork_child(void);

/* ---- modules.c: the module map ----------------------------------------------------------- */

/* Writes MODULE records for modules not yet written and UNLOAD for those gone, into t's stream or,
 * with t NULL, the process stream (writer thread only). Cheap when nothing changed. */
void hw_modules_sync(hw_thread_t *t);
void hw_modules_reset(void);
/* The loader's executable segment (ld.so), known after the first sync; empty before. An
 * allocation whose hook returns into it syncs even when its stack is not new (hooks.c): the loader
 * allocating inside a dlopen, after relocating the new module and before its constructors. */
extern uintptr_t hw_loader_text_start __attribute__((visibility("hidden"))), hw_loader_text_size __attribute__((visibility("hidden")));
static inline bool hw_loader_called(uintptr_t return_address) {
  return return_address - hw_loader_text_start < hw_loader_text_size;
}

/* ---- deepbind.c: GOT slots bound straight to the real allocator, redirected to the hooks ---- */

struct dl_phdr_info;
/* A module seen for the first time (modules.c, under its busy flag): note its allocation slots. */
void hw_deepbind_prepare(void); /* before dl_iterate_phdr: it calls dlsym, which the callback must not */
void hw_deepbind_watch(const struct dl_phdr_info *info, uint32_t id, uint64_t name_hash);
/* Every sync: redirect the noted slots that now hold the real function; hash is modules.c's. */
void hw_deepbind_patch(uint64_t (*hash)(const char *));
void hw_deepbind_forget(uint32_t id); /* the module was unloaded */

/* ---- entry.c: the hooks' entry words (docs/SAMPLING.md, "The hooks' sampling entry") ---------- */

/* An allocation of `size` bytes may skip the general path when (int64_t)size < hw_entry_gate and
 * the thread's countdown pays for it: R with sampling on and no scope open, INT64_MAX in an idle
 * process, INT64_MIN (closed) otherwise. A free may skip it when its counter in the table at
 * hw_entry_filter is zero (liveset.h, hw_filter_index): the liveset's filter with sampling on, an
 * idle table, or a closed one whose counters are never zero. */
extern _Atomic int64_t hw_entry_gate __attribute__((visibility("hidden")));
extern _Atomic(const uint8_t *) hw_entry_filter __attribute__((visibility("hidden")));
/* Recomputes both from the scope count, hw_recording and the rate; call after changing any. Takes
 * a lock: never from a signal handler. */
void hw_entry_update(void);
void hw_entry_after_fork_child(void);
/* The idle table's counter of a bootstrap pool block, raised for good (bootstrap.c). */
void hw_entry_pin_pool(uintptr_t addr);

/* ---- sampling.c: `record --sample R` (docs/SAMPLING.md) ------------------------------------ */

/* Mean bytes between sampled bytes; 0 = every block is recorded. Set once before recording. */
extern uint64_t hw_sample_rate __attribute__((visibility("hidden")));
/* Bytes of this thread's allocations until the next sampled byte, minus what was since (in an idle
 * process, the entry's budget: entry.c). */
extern __thread int64_t hw_tls_sample_left __attribute__((tls_model("initial-exec")));
bool hw_sample_take_slow(size_t size);
/* C, the bytes every allocation below R adds to the countdown besides its own (format 1.4): a
 * block of s bytes is then recorded with p = 1 - exp(-(s + C)/R), so tiny blocks, which hold few
 * bytes but many of a site's allocations, are sampled often enough for counts (docs/SAMPLING.md,
 * "Why C"). A compile-time constant: the entry pays one immediate subtraction, no load. The dump
 * says C (SAMPLING_OFFSET), so a build with another C still reads right. */
#ifndef HW_SAMPLE_OFFSET
#define HW_SAMPLE_OFFSET 512
#endif
/* Whether a block of `size` bytes is recorded (sampling on). Costs a TLS subtraction and a
 * compare unless the countdown runs out; blocks of R bytes or more are always taken. */
static inline bool hw_sample_take(size_t size) {
  if (size >= hw_sample_rate) return true;
  if (hw_likely((hw_tls_sample_left -= (int64_t)size + HW_SAMPLE_OFFSET) >= 0)) return false;
  return hw_sample_take_slow(size);
}
int hw_sampling_init(uint64_t rate, uint64_t seed, size_t capacity); /* 0 ok; also the liveset */
void hw_sampling_note(bool kept); /* a sampled block went into the liveset, or found it full */
void hw_sampling_emit_parameters(struct hw_thread_s *t); /* SAMPLING, at the start of a dump */
void hw_sampling_emit_stats(struct hw_thread_s *t);      /* SAMPLING_STATS, at exit */
/* Sampled aggregation (docs/AGGREGATE.md): what one recorded block of `size` bytes adds to its
 * site's counters, Horvitz-Thompson weights and their variance terms rounded without bias in
 * integers, the rounding fixed by `seed` (drawn once per block by hw_sample_seed, kept in the
 * liveset) so that the block's free subtracts the same. bytes_variance is in units of R bytes^2. */
typedef struct hw_sample_weights_s {
  uint64_t count, bytes, count_variance, bytes_variance;
} hw_sample_weights_t;
uint32_t hw_sample_seed(void);
void hw_sample_weigh(uint64_t size, uint32_t seed, hw_sample_weights_t *out);
/* The sampling entry of the hooks calls the real allocator without hw_tls_in_allocator (its cost
 * was a third of the entry's). What the flag told is found otherwise: a mapping call made by the
 * allocator returns into the allocator's executable segment (set with sampling on; empty else)... */
extern uintptr_t hw_allocator_text_start __attribute__((visibility("hidden"))), hw_allocator_text_end __attribute__((visibility("hidden")));
static inline bool hw_allocator_called(uintptr_t return_address) {
  return return_address - hw_allocator_text_start < hw_allocator_text_end - hw_allocator_text_start;
}
/* ...and whether this thread may be inside the allocator: the flag, or (sampling on) a signal frame
 * on its stack, or a stack the unwinder cannot walk to its end. For the allocator's statistics. */
bool hw_allocator_maybe_interrupted(void);

/* ---- recorder.c: lifecycle ------------------------------------------------------------------ */

typedef struct hw_config_s {
  int max_frames;        /* HEAPWISE_MAX_FRAMES, default 64 */
  int interval_ms;       /* HEAPWISE_INTERVAL_MS, default 20 */
  int marker_signal;     /* HEAPWISE_MARKER_SIGNAL, default SIGUSR2; 0 disables */
  bool follow_fork;      /* HEAPWISE_FOLLOW_FORK=1: a forked child writes its own dump */
  bool follow_exec;      /* HEAPWISE_FOLLOW_EXEC=1: exec'd children are recorded too */
  bool trim_probe;       /* HEAPWISE_TRIM_PROBE=1 */
  bool compress;         /* HEAPWISE_COMPRESS=0 turns zstd off */
  /* aggregate.c / triggers.c (docs/AGGREGATE.md) */
  bool aggregate;        /* HEAPWISE_AGGREGATE=1: per-site counters instead of events */
  bool track;            /* the live map is kept: aggregated mode or HEAPWISE_DUMP_AT_PEAK=1 */
  bool dump_at_peak;     /* HEAPWISE_DUMP_AT_PEAK=1 */
  int flush_ms;          /* HEAPWISE_FLUSH_MS, default 30000 */
} hw_config_t;

extern hw_config_t hw_config __attribute__((visibility("hidden"))); /* hidden: read in the hooks, rip-relative */
/* Nonzero while events are recorded. Read on every event (relaxed). */
extern _Atomic int hw_recording __attribute__((visibility("hidden"))); /* -1 before the configuration is read (first hooked call) */
void hw_recorder_early_start(void);
/* THE MODES WORD: the states the hooks test on every event, one bit each (a count for the scopes),
 * so that full tracking's common case (recording; no scope open, no sampling, no live map, no
 * Python frames) is one load and one compare: hw_modes == 0. Then malloc, calloc and free take
 * their full-tracking paths (hooks.c, malloc_full), which test none of these states again; any
 * other value goes the general paths, which read the states themselves as before. Each bit is
 * kept by the writer of its state, after it changes the state (a state turned on is seen by the
 * general paths first, which read it directly); the start-time modes are set before recording
 * starts, so the word is 0 only once they are. A hook that read 0 while another thread changed
 * a state is the race of an event with that change, whichever of the event's reads it falls
 * between (hooks.c, recording_started). */
enum {
  HW_MODE_UNDECIDED = 1u, /* hw_recording < 0 (recorder.c) */
  HW_MODE_OFF = 2u,       /* hw_recording == 0 (recorder.c) */
  HW_MODE_SAMPLING = 4u,  /* hw_sample_rate != 0 (sampling.c) */
  HW_MODE_TRACK = 8u,     /* hw_config.track: aggregated mode or --dump-at-peak (aggregate.c) */
  HW_MODE_PYFRAMES = 16u, /* hw_pyframes_active (pyframes.c) */
  HW_MODE_SCOPE = 256u,   /* added per open scope: hw_scopes_open * HW_MODE_SCOPE (scope.c) */
};
extern _Atomic uint32_t hw_modes __attribute__((visibility("hidden")));
void hw_modes_set(uint32_t bits, bool on);                      /* a start-time mode: one writer */
void hw_modes_follow(const _Atomic int *state, uint32_t bit); /* bit = (*state != 0), writers may race */
/* exec.c around the real exec: END (reason exec) before; after a failure, a new ".execN" dump. */
void hw_before_exec(void);
void hw_after_failed_exec(void);
extern uint64_t hw_start_ticks;
extern uint64_t hw_ticks_per_second; /* hw_now() units per second, as the header states */
void hw_stop_recording(const char *why); /* an I/O failure: say it once, let the program run on */
int hw_writer_fd(void);
/* hooks.c: true when the process's malloc is this copy's (not the program's own, nor another
 * copy of these hooks linked into the program ahead of the preloaded one). */
bool hw_hooks_are_active(void);
/* hooks.c's recording paths, for the hooks in hooks_cxx.c: an allocation after the real call
 * returned p (anchor: the hook's return address), a free before the real one. */
bool hw_hook_wants_event(void);
void hw_hook_alloc(int fn, void *p, size_t size, void *anchor);
void hw_hook_free(int fn, void *p);
void hw_on_exit(int reason, int signo);
/* A moment on the calling thread, in its stream: MARKER, trim probe, sample, residency. */
void hw_thread_moment(hw_thread_t *t, uint64_t ts, int source, const char *name);

/* ---- scope.c: in-process allocation scopes (HeapwiseBudget) ----------------------------------- */

/* Nonzero while any scope is open; the hooks read it (relaxed) on every event. */
extern _Atomic int hw_scopes_open __attribute__((visibility("hidden")));
/* Called by the hooks with hw_tls_busy held, after a successful allocation / before a free. */
void hw_scope_on_alloc(void *p, size_t size);
void hw_scope_on_free(void *p);

#endif /* HW_INTERNAL_H */
