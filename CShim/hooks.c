/* hooks.c: the interposed functions.
 *
 * Every hook has the same shape: call the real function, then one unlikely branch to a noinline
 * recording path when (recording or a scope is open) and the thread is not inside the recorder.
 * malloc, calloc, realloc and free first try the entry, which calls the real function at once for
 * an unsampled block under sampling and for every call in an idle process (fast_unsampled,
 * fast_untracked; entry.c); otherwise they tail-call their general path (malloc_general, ...), or,
 * malloc, calloc and free, their full-tracking path when the modes word says that nothing but
 * recording is on (malloc_full, ...; hw_internal.h, "the modes word").
 *
 * Ordering (docs/FORMAT.md, "Reading rules"): a free is stamped before the real free, an
 * allocation after the real allocator returns, so a block freed on one thread and handed out again
 * on another always replays free-then-alloc.
 *
 * The recorder's own work raises hw_tls_busy, so whatever it allocates (pthread_setspecific's key
 * arrays, libunwind's caches) passes straight through and never appears in the record.
 */
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <stdarg.h>
#include <stdlib.h>
#include <malloc.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "encoder.h"
#include "hw_format.h"
#include "hw_internal.h"
#include "liveset.h"
#include "stack_hint.h"

/* hw_tls_busy and hw_tls_in_allocator are fields of hw_tls_hot (hw_internal.h, platform.c) */

/* Calls the real allocator with hw_tls_in_allocator raised (see hw_internal.h). */
#define IN_ALLOCATOR(call) (hw_tls_in_allocator++, __extension__({ __typeof__(call) r_ = (call); hw_tls_in_allocator--; r_; }))

static _Atomic int bootstrapping;

/* Before the real functions are known (dlsym running, or an allocation from another library's
 * constructor that runs before ours), resolve them once; while that runs, use the pool. */
static hw_cold bool ensure_real(void) {
  int expected = 0;
  if (atomic_compare_exchange_strong(&bootstrapping, &expected, 1)) {
    hw_bootstrap();
    atomic_store(&bootstrapping, 2);
  }
  return atomic_load(&bootstrapping) == 2 && hw_real.malloc;
}

/* hw_recording, once the configuration has been read. The hot paths read it here once per event
 * and test that value later, not the flag again: a stop (hw_stop_recording, exit) racing with the
 * event is the same race whichever of the event's reads it falls between, and the buffer the
 * record goes into is NULL once the thread's stream is handed over (thread.c). */
static inline int recording_started(void) {
  int recording = atomic_load_explicit(&hw_recording, memory_order_relaxed);
  if (hw_unlikely(recording < 0)) {
    hw_recorder_early_start();
    recording = atomic_load_explicit(&hw_recording, memory_order_relaxed);
  }
  return recording;
}

/* The stamp of a recorded event. The process's first hooked call reads the configuration first
 * (recorder.c): that decides the clock (TSC or CLOCK_MONOTONIC), which its own stamp must use.
 * Ordered (rdtscp, hw_now) both before a call that gives memory back (free, munmap) and after one
 * that obtained it, unless this thread records alone; then both are the thread's latest reading
 * while the kernel's tick stands (hw_stamp_alone). A free's stamp must follow the loads that gave
 * the thread the block (another thread's allocation, handed over) as much as it must precede the
 * real free's stores: a plain rdtsc here ran ahead of the exchange that received the pointer
 * (hw_internal.h, hw_now_unordered), and the free sorted before its own allocation. */
static inline uint64_t stamp_started(void) { return hw_recording_alone() ? hw_stamp_alone() : hw_now(); }
static inline uint64_t stamp(void) {
  recording_started();
  return stamp_started();
}

static inline bool wants_event(void) {
  return hw_unlikely((atomic_load_explicit(&hw_recording, memory_order_relaxed) |
                      atomic_load_explicit(&hw_scopes_open, memory_order_relaxed)) != 0) &&
         hw_tls_busy == 0;
}

/* current_stack in a CPython process: the memo's id for a merge seen before (pyframes.c), else the
 * merge, its sum and the intern, whose id the memo then keeps. A path of its own that returns, so
 * that the native path keeps its shape: one flag kept across the intern and tested twice cost churn
 * 2.8 instructions a pair; out of line, this cost Python ~30 a capture (a frame and its saves). An
 * allocation by the loader is never answered by the memo (nor by the path cache: its hint is
 * dropped), so that every one of them reaches the module sync below. */
static inline __attribute__((always_inline)) uint32_t python_stack(hw_thread_t *t, uint64_t ts, void *anchor,
                                                                   uintptr_t *frames, const uintptr_t *fr, int n,
                                                                   uint64_t sum) {
  bool loader = hw_loader_called((uintptr_t)anchor), is_new = false;
  uint32_t id = hw_unlikely(loader) ? 0 : hw_pyframes_known(t, n, sum);
  if (hw_likely(id)) return id;
  if (hw_unlikely(loader)) hw_stack_hint.id = NULL;
  if (fr != frames) memcpy(frames, fr, (size_t)n * sizeof frames[0]);
  n = hw_pyframes_merge(t, ts, frames, n);
  id = hw_stack_intern_summed(frames, n, hw_stack_sum(frames, n), &is_new);
  hw_pyframes_remember(id); /* nothing to keep unless hw_pyframes_known prepared it */
  if (hw_unlikely(is_new)) {
    if (n > 0) hw_pyframes_describe(t, ts, frames, n);
    hw_emit_stack(t, ts, id, frames, n);
    hw_modules_sync(t); /* a new stack may run through a module dlopen just brought in */
    if (hw_config.aggregate) hw_thread_submit(t); /* on disk by the next flush: no other record pushes it */
  } else if (hw_unlikely(loader)) {
    hw_modules_sync(t); /* see current_stack */
  }
  return id;
}

/* Captures the stack above the hook (anchored on the hook's return address, so it does not depend
 * on how the compiler inlined the recorder) and interns it; writes the STACK record when new.
 * `entry`, when not NULL, is the caller's state at the hook's entry (entry_state): the path cache then starts
 * its walk at the caller's frame and may hand back its own copy of the frames instead of filling
 * `frames` (unwind.c, hw_capture_stack_entry). */
static inline __attribute__((always_inline)) uint32_t current_stack(hw_thread_t *t, uint64_t ts, void *anchor,
                                                                    const uintptr_t *entry, bool full) {
  uintptr_t frames[HW_STACK_MAX];
  const uintptr_t *fr = frames;
  uint64_t sum;
  uint32_t id = 0; /* an entry capture's id, when the path cache knows it */
  int n = entry ? hw_capture_stack_entry(frames, hw_config.max_frames, entry, &sum, &fr, &id)
                : hw_capture_stack_above_summed(frames, hw_config.max_frames, (uintptr_t)anchor, &sum);
  if (n <= 0) return 0;
  if (!full && hw_unlikely(atomic_load_explicit(&hw_pyframes_active, memory_order_relaxed)))
    return python_stack(t, ts, anchor, frames, fr, n, sum);
  if (!entry) id = hw_stack_hint_known(sum, n); /* a path-cache hit whose id is known (stack_hint.h) */
  /* A known id is never a new stack, nor an allocation by the loader: an allocation whose hook
   * returns into the loader drops the hint below, so its path-cache leaf keeps id 0 and every
   * capture of it comes here (the path cache starts after the first module sync, which finds the
   * loader). */
  if (hw_likely(id)) return id;
  bool loader = hw_loader_called((uintptr_t)anchor), is_new = false;
  if (hw_unlikely(loader)) hw_stack_hint.id = NULL;
  id = hw_stack_intern_summed(fr, n, sum, &is_new);
  if (hw_unlikely(is_new)) {
    hw_emit_stack(t, ts, id, fr, n);
    hw_modules_sync(t); /* a new stack may run through a module dlopen just brought in */
    if (hw_config.aggregate) hw_thread_submit(t); /* on disk by the next flush: no other record pushes it */
  } else if (hw_unlikely(loader)) {
    /* The loader itself, maybe inside a dlopen from a call path seen before (a dlopen/dlclose
     * loop): the new module's slots must be redirected before its constructors run (deepbind.c). */
    hw_modules_sync(t);
  }
  return id;
}

/* `sampled`: the sampler chose this block (always true without sampling, sampling.c). A sampled
 * block is recorded only once it is in the liveset, so that its free will be matched. `full` (a
 * constant): the full-tracking path (hw_modes was 0 at the hook's entry, hw_internal.h), where
 * recording is on and no scope, sampler, live map or Python frames want anything, so that none of
 * them is tested. Inlined into
 * malloc_general and calloc_general, which return p after it: one frame, not a second one with its
 * register saves, and the function code a constant (churn -35 instructions a pair). The other hooks
 * call on_alloc (hw_hook_alloc, for C++'s operators, as a tail call: inlining gained nothing), and
 * so do malloc and calloc while a scope is open (alloc_event_in: the scopes' stacks keep their
 * shape). */
static inline __attribute__((always_inline)) void record_alloc(int fn, void *p, size_t size, void *anchor,
                                                               const uintptr_t *entry, bool sampled, bool full) {
  hw_tls_busy++;
  int recording = full ? 1 : recording_started();
  uint64_t ts = stamp_started();
  if (!full && atomic_load_explicit(&hw_scopes_open, memory_order_relaxed)) hw_scope_on_alloc(p, size);
  if (sampled && recording) {
    hw_thread_t *t = hw_thread_here();
    if (t) {
      uint32_t stack = current_stack(t, ts, anchor, entry, full);
      if (full) {
        hw_encode_alloc(t, ts, fn, (uintptr_t)p, size, stack);
      } else if (hw_sample_rate) { /* the sampler keeps the liveset; aggregate.c adds the block's weights */
        uint32_t seed = hw_config.track ? hw_sample_seed() : 0;
        bool kept = hw_live_insert((uintptr_t)p, stack, seed, size) == 0;
        hw_sampling_note(kept);
        if (kept && !hw_config.aggregate) hw_emit_alloc(t, ts, fn, (uintptr_t)p, size, stack);
        if (hw_config.track) hw_track_sampled_alloc(t, kept, size, seed, stack, ts);
      } else {
        if (!hw_config.aggregate) hw_encode_alloc(t, ts, fn, (uintptr_t)p, size, stack);
        if (hw_config.track) hw_track_alloc(t, (uintptr_t)p, size, stack, ts); /* aggregate.c */
      }
    }
  }
  hw_tls_busy--;
}
static hw_noinline void on_alloc(int fn, void *p, size_t size, void *anchor, const uintptr_t *entry, bool sampled) {
  record_alloc(fn, p, size, anchor, entry, sampled, false);
}

/* What the liveset held for a sampled block. */
typedef struct {
  uint32_t stack, seed;
  uint64_t size;
} removed_t;

/* `matched`: with sampling, the caller has already taken p out of the liveset (its values).
 * `recording`: hw_recording as the caller read it for this event (recording_started). `full`: as
 * for record_alloc (recording is then 1). */
static inline __attribute__((always_inline)) void on_free(int fn, void *p, uint64_t ts, const removed_t *matched,
                                                          int recording, bool full) {
  if (!full && atomic_load_explicit(&hw_scopes_open, memory_order_relaxed)) hw_scope_on_free(p);
  if (recording) {
    removed_t r = {0, 0, 0};
    if (full) {
      hw_buffer_t *b;
      hw_thread_t *t = hw_thread_here_buffer(&b);
      if (t) hw_encode_free_in(t, b, ts, fn, (uintptr_t)p);
      return;
    }
    if (hw_sample_rate) {
      if (matched) r = *matched;
      else if (hw_live_remove((uintptr_t)p, &r.stack, &r.seed, &r.size) != 0) return; /* not sampled */
    }
    hw_buffer_t *b;
    hw_thread_t *t = hw_thread_here_buffer(&b);
    if (t && !hw_config.aggregate) hw_encode_free_in(t, b, ts, fn, (uintptr_t)p);
    if (t && hw_config.track) {
      if (hw_sample_rate) hw_track_sampled_free(r.size, r.seed, r.stack, ts);
      else hw_track_free((uintptr_t)p, ts);
    }
  }
}

/* Every allocation hook ends here. Sampling decides first and inline (sampling.c: a TLS
 * countdown), before anything else is looked at: an unsampled block below R costs a load, a
 * compare, a TLS subtraction and the scopes' flag, and no call, stamp or stack. The countdown also
 * runs down inside the recorder's own allocations; a crossing there redraws it and records
 * nothing, which leaves every program block's chance at 1 - exp(-(s + C)/R). */
static inline __attribute__((always_inline)) void alloc_event_in(int fn, void *p, size_t size, void *anchor,
                                                                 const uintptr_t *entry, bool inline_record) {
  bool sampled = true;
  if (size < hw_sample_rate) {
    sampled = hw_sample_take(size);
    if (hw_likely(!sampled) && hw_likely(!atomic_load_explicit(&hw_scopes_open, memory_order_relaxed))) return;
  }
  if (!wants_event() || !p) return;
  bool scopes = atomic_load_explicit(&hw_scopes_open, memory_order_relaxed) != 0;
  if (!sampled && !scopes) return;
  /* With a scope open, through on_alloc always: the scopes' capture skips its own frame and
   * on_alloc's (scope.c, HW_SKIP_FRAMES), so that frames[0] is the allocator entry. */
  if (inline_record && hw_likely(!scopes))
    record_alloc(fn, p, size, anchor, entry, sampled, false);
  else
    on_alloc(fn, p, size, anchor, entry, sampled);
}
static inline __attribute__((always_inline)) void alloc_event(int fn, void *p, size_t size, void *anchor,
                                                              const uintptr_t *entry) {
  alloc_event_in(fn, p, size, anchor, entry, false);
}

/* Whether a free of p needs the slow path: with sampling, only when the liveset's filter says p
 * may be a sampled block (one multiply and one byte load; liveset.h), or a scope is open; that is
 * decided before the recording flags are read. */
static inline bool free_wanted(void *p) {
  return (hw_likely(hw_sample_rate == 0) || hw_live_maybe((uintptr_t)p) ||
          atomic_load_explicit(&hw_scopes_open, memory_order_relaxed)) && wants_event();
}

#define ANCHOR __builtin_return_address(0)

/* THE CALLER'S STATE at the hook's entry, for a capture that starts there (unwind.c,
 * hw_capture_stack_entry): the caller's rsp after the return, its rbp, and the return address, the
 * anchor. malloc and calloc tail-call their general (or full-tracking) path through a
 * three-instruction stub that passes rbp and rsp + 8 as two more arguments: a tail call leaves rsp
 * at the return address and every callee-saved register as the caller had it, so these are
 * exactly the values a walk out of the hook computes for the caller's frame. (__builtin_frame_address in the general path would
 * give them too, but it makes that frame's CFA rbp-based, and the memoized walk then compares
 * every saved rbp: workload.c +385 instructions a pair.) Used only when the slot below that rsp
 * holds the anchor: a build that did not make the tail call has the hook's own frame in between.
 * Elsewhere (not x86-64, unoptimized: the general path inlined into the hook) there is no stub,
 * and no state (sp 0). */
#if defined(__x86_64__) && defined(__OPTIMIZE__)
#define HW_ENTRY_STUBS 1
#else
#define HW_ENTRY_STUBS 0
#endif
static inline const uintptr_t *entry_state(uintptr_t e[3], uintptr_t bp, uintptr_t sp, void *anchor) {
  if (!HW_ENTRY_STUBS || ((const uintptr_t *)sp)[-1] != (uintptr_t)anchor) return NULL;
  e[0] = bp, e[1] = (uintptr_t)anchor, e[2] = sp;
  return e;
}
#if HW_ENTRY_STUBS
/* The general paths keep their names (the asm jumps to them; HeapwiseBudget's SiteSymbolizer
 * lists them) and are never cloned. */
#define HW_GENERAL_ENTRY static hw_noinline __attribute__((used, noipa))
/* One stub: passes rbp and rsp + 8 in the two argument registers after the hook's own. */
#define HW_ENTRY_STUB(name, target, bp_reg, sp_reg)                                                 \
  ".p2align 4\n.hidden " #name "\n.type " #name ", @function\n" #name ":\n.cfi_startproc\n"          \
  "\tmov %rbp, " bp_reg "\n\tlea 8(%rsp), " sp_reg "\n\tjmp " #target "\n.cfi_endproc\n"              \
  ".size " #name ", .-" #name "\n"
__asm__(".text\n" HW_ENTRY_STUB(hw_malloc_entry, malloc_general, "%rdx", "%rcx")
        HW_ENTRY_STUB(hw_calloc_entry, calloc_general, "%r8", "%r9")
        HW_ENTRY_STUB(hw_malloc_full_entry, malloc_full, "%rdx", "%rcx")
        HW_ENTRY_STUB(hw_calloc_full_entry, calloc_full, "%r8", "%r9"));
void *hw_malloc_entry(size_t size, void *anchor);
void *hw_calloc_entry(size_t n, size_t size, size_t total, void *anchor);
void *hw_malloc_full_entry(size_t size, void *anchor);
void *hw_calloc_full_entry(size_t n, size_t size, size_t total, void *anchor);
#define MALLOC_GENERAL(size, anchor) hw_malloc_entry(size, anchor)
#define CALLOC_GENERAL(n, size, total, anchor) hw_calloc_entry(n, size, total, anchor)
#define MALLOC_FULL(size, anchor) hw_malloc_full_entry(size, anchor)
#define CALLOC_FULL(n, size, total, anchor) hw_calloc_full_entry(n, size, total, anchor)
#else
#define HW_GENERAL_ENTRY HW_GENERAL
#define MALLOC_GENERAL(size, anchor) malloc_general(size, anchor, 0, 0)
#define CALLOC_GENERAL(n, size, total, anchor) calloc_general(n, size, total, anchor, 0, 0)
#define MALLOC_FULL(size, anchor) malloc_full(size, anchor, 0, 0)
#define CALLOC_FULL(n, size, total, anchor) calloc_full(n, size, total, anchor, 0, 0)
#endif

/* THE ENTRY (docs/SAMPLING.md, "The hooks' sampling entry"). With sampling on, nearly every call
 * is an unsampled block, and in an idle process (nothing records, no scope) every call goes to the
 * real function: the hooks branch off for those at their very top, before the bootstrap and
 * recording checks of the general path. malloc, calloc and realloc compare the size with
 * hw_entry_gate, charge the size and C to the thread's countdown and jump to the real allocator;
 * free looks at its counter in the table at hw_entry_filter (one hash, one byte) and jumps to the
 * real free. entry.c keeps both words: closed (every call to the general path) unless sampling or
 * idle, and closed while a scope is open. No stamp, no reentrancy count, no recording flag: whether
 * the program records does not change which blocks are sampled, and a block sampled while recording
 * is off goes down the general path, which looks. Not even the allocator flag (hw_tls_in_allocator,
 * which the general paths raise around the real call): the real function is a tail call, and what
 * the flag tells is found where it is needed, not paid for on every call. A mapping the allocator
 * makes returns into the allocator's own code (hw_allocator_called, below); a sampler that must not
 * ask the allocator for statistics from a signal handler that interrupted it looks for a signal
 * frame on its stack (hw_allocator_maybe_interrupted, sampling.c). entry.c opens the words only
 * once the real functions are known.
 *
 * On x86-64 (optimized) each test is an asm goto, because the compiler would not fold the atomic
 * loads into the compare nor the countdown into a read-modify-write: malloc's entry is then 7
 * instructions (the forwarder's, tools/bench/forward.c, 4) and free's 6 (the forwarder's 9):
 *   cmp %rdi, hw_entry_gate(%rip); jle general; mov tpoff@GOT, %rax; lea C(%rdi), %rdx;
 *   sub %rdx, %fs:(%rax); jb crossed; jmp *hw_real.malloc
 *   mov hw_entry_filter(%rip), %rcx; imul $K, %edi, %eax; shr %cl, %eax; cmpb $0, (%rcx,%rax);
 *   jne general; jmp *hw_real.free
 * Elsewhere the same tests in C. */
#if defined(__x86_64__) && defined(__OPTIMIZE__)
#define HW_ENTRY_ASM 1
#endif

/* The modes word (hw_internal.h) as a hook reads it, once: 0 is full tracking. */
static inline uint32_t modes_now(void) { return atomic_load_explicit(&hw_modes, memory_order_relaxed); }

/* Whether an allocation of `size` bytes takes the entry: below the gate, and the countdown stays
 * at or above 0 after its charge of size + C (then it is charged). The charge is compared unsigned:
 * a size of 2^63 or more passes the signed gate, and its charge is then above any countdown (a
 * charge that wraps past 2^64 is under C bytes, of an allocation that fails). A countdown that runs
 * out is left as it was, for the general path to charge and draw (sampling.c); in an idle process
 * it is refilled, and only this call goes the general way. */
#define HW_IDLE_BUDGET ((int64_t)1 << 62)
static inline __attribute__((always_inline)) bool fast_unsampled(size_t size) {
  uint64_t cost = size + HW_SAMPLE_OFFSET;
#ifdef HW_ENTRY_ASM
  __asm__ goto("cmpq %[size], %[gate]\n\t"
               "jle %l[general]\n\t"
               "subq %[cost], %[left]\n\t"
               "jb %l[crossed]"
               :
               : [gate] "m"(hw_entry_gate), [size] "r"(size), [cost] "r"(cost), [left] "m"(hw_tls_sample_left)
               : "cc", "memory"
               : general, crossed);
  return true;
crossed:
  if (hw_sample_rate) hw_tls_sample_left += (int64_t)cost; /* back to what it was */
  else hw_tls_sample_left = HW_IDLE_BUDGET;                /* idle: entry.c */
general:
  return false;
#else
  if (!((int64_t)size < atomic_load_explicit(&hw_entry_gate, memory_order_relaxed))) return false;
  if (hw_likely(cost <= (uint64_t)hw_tls_sample_left)) {
    hw_tls_sample_left -= (int64_t)cost;
    return true;
  }
  if (!hw_sample_rate) hw_tls_sample_left = HW_IDLE_BUDGET;
  return false;
#endif
}
/* Whether a free of p takes the entry: p is neither possibly a sampled block nor a pool block
 * (both have their counters raised: liveset.h, hw_live_pin_pool, entry.c), and the entry is open. */
static inline __attribute__((always_inline)) bool fast_untracked(void *p) {
  const uint8_t *table = atomic_load_explicit(&hw_entry_filter, memory_order_relaxed);
  size_t i = hw_filter_index((uintptr_t)table, (uintptr_t)p);
#ifdef HW_ENTRY_ASM
  __asm__ goto("cmpb $0, (%[table], %[i])\n\t"
               "jne %l[general]"
               :
               : [table] "r"(table), [i] "r"(i)
               : "cc", "memory"
               : general);
  return true;
general:
  return false;
#else
  return hw_likely(atomic_load_explicit((_Atomic const uint8_t *)&table[i], memory_order_relaxed) == 0);
#endif
}

/* hooks_cxx.c's operators share these recording paths. */
bool hw_hook_wants_event(void) { return wants_event(); }
void hw_hook_alloc(int fn, void *p, size_t size, void *anchor) { alloc_event(fn, p, size, anchor, NULL); }
void hw_hook_free(int fn, void *p) {
  if (!free_wanted(p)) return;
  hw_tls_busy++;
  int recording = recording_started();
  on_free(fn, p, stamp_started(), NULL, recording, false);
  hw_tls_busy--;
}

/* A hidden name for this copy's malloc: a reference to `malloc` itself would resolve to whichever
 * definition the process uses, which is what we want to compare against. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmissing-attributes" /* an alias needs none of malloc's hints */
#endif
extern __typeof__(malloc) hw_own_malloc __attribute__((alias("malloc"), visibility("hidden")));

/* dl_iterate_phdr visits objects in lookup order: does any object between the executable and this
 * library (other than the vDSO) come first? */
typedef struct {
  int state;        /* 0: at the executable, 1: after it, 2: found us, 3: something else first */
  const char *self; /* this library's name, from dladdr before the walk: the callback runs under
                       the loader's write lock, and dladdr takes the load lock (lock-order inversion
                       with a concurrent dlopen) */
} position_t;

static int find_own_position(struct dl_phdr_info *info, size_t size, void *arg) {
  position_t *p = arg;
  (void)size;
  if (p->state == 0) { p->state = 1; return 0; }
  if (p->self && info->dlpi_name && strcmp(info->dlpi_name, p->self) == 0) {
    p->state = 2;
    return 1;
  }
  if (info->dlpi_name && strstr(info->dlpi_name, "linux-vdso")) return 0;
  p->state = 3;
  return 1;
}

bool hw_hooks_are_active(void) {
  void *first = dlsym(RTLD_DEFAULT, "malloc");
  if (first == (void *)hw_own_malloc) return true;
  /* A non-PIE executable that takes malloc's address (Debian's python3.11) has a canonical PLT
   * entry for it, an undefined symbol with a value, which dlsym returns; that entry jumps to the
   * first definition after the executable: this library when it is the first object loaded. */
  Dl_info info;
  const ElfW(Sym) *sym = NULL;
  if (!first || !dladdr1(first, &info, (void **)&sym, RTLD_DL_SYMENT) || !sym || sym->st_shndx != SHN_UNDEF) return false;
  Dl_info self;
  position_t position = {0, dladdr((void *)hw_own_malloc, &self) ? self.dli_fname : NULL};
  dl_iterate_phdr(find_own_position, &position);
  return position.state == 2;
}

/* The general path of each hook is a function of its own, which the hook tail-calls: the fast
 * path then saves no registers, and the hook's frame is replaced, so the scopes' capture still sees
 * one allocator frame (scope.c: frames[0] is the allocator entry). An unoptimized build (SwiftPM's
 * debug CHeapwise) makes no tail calls: there the general paths are inlined instead. `anchor` is
 * the hook's return address, passed so that recorded stacks never depend on the tail call.
 * HeapwiseBudget's SiteSymbolizer lists these names as allocator frames. */
#if defined(__OPTIMIZE__)
#define HW_GENERAL static hw_noinline
#else
#define HW_GENERAL static inline __attribute__((always_inline))
#endif

HW_GENERAL_ENTRY void *malloc_general(size_t size, void *anchor, uintptr_t bp, uintptr_t sp) {
  if (hw_unlikely(!hw_real.malloc) && !ensure_real()) return hw_bootstrap_alloc(size, 16);
  void *p = IN_ALLOCATOR(hw_real.malloc(size));
  uintptr_t e[3];
  alloc_event_in(HW_FN_MALLOC, p, size, anchor, entry_state(e, bp, sp, anchor), true);
  return p;
}

/* FULL TRACKING'S PATH (hw_modes == 0 at the hook's entry): malloc_general's with the states the
 * modes word covers known, so that only the reentrancy count, the block and the thread's state
 * are looked at before the stamp, the capture and the record (churn, callgrind: 1,027.8 -> 967.2
 * instructions a pair). */
HW_GENERAL_ENTRY void *malloc_full(size_t size, void *anchor, uintptr_t bp, uintptr_t sp) {
  if (hw_unlikely(!hw_real.malloc) && !ensure_real()) return hw_bootstrap_alloc(size, 16);
  void *p = IN_ALLOCATOR(hw_real.malloc(size));
  if (hw_likely(p != NULL) && hw_likely(hw_tls_busy == 0)) {
    uintptr_t e[3];
    record_alloc(HW_FN_MALLOC, p, size, anchor, entry_state(e, bp, sp, anchor), true, true);
  }
  return p;
}

HW_EXPORT void *malloc(size_t size) {
  if (fast_unsampled(size)) return hw_real.malloc(size);
  if (hw_likely(modes_now() == 0)) return MALLOC_FULL(size, ANCHOR);
  return MALLOC_GENERAL(size, ANCHOR);
}

HW_GENERAL_ENTRY void *calloc_general(size_t n, size_t size, size_t total, void *anchor, uintptr_t bp, uintptr_t sp) {
  if (hw_unlikely(!hw_real.calloc) && !ensure_real()) return hw_bootstrap_alloc(total, 16);
  void *p = IN_ALLOCATOR(hw_real.calloc(n, size));
  uintptr_t e[3];
  alloc_event_in(HW_FN_CALLOC, p, total, anchor, entry_state(e, bp, sp, anchor), true);
  return p;
}

HW_GENERAL_ENTRY void *calloc_full(size_t n, size_t size, size_t total, void *anchor, uintptr_t bp, uintptr_t sp) {
  if (hw_unlikely(!hw_real.calloc) && !ensure_real()) return hw_bootstrap_alloc(total, 16);
  void *p = IN_ALLOCATOR(hw_real.calloc(n, size));
  if (hw_likely(p != NULL) && hw_likely(hw_tls_busy == 0)) {
    uintptr_t e[3];
    record_alloc(HW_FN_CALLOC, p, total, anchor, entry_state(e, bp, sp, anchor), true, true);
  }
  return p;
}

HW_EXPORT void *calloc(size_t n, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(n, size, &total)) total = SIZE_MAX;
  if (fast_unsampled(total)) return hw_real.calloc(n, size);
  if (hw_likely(modes_now() == 0)) return CALLOC_FULL(n, size, total, ANCHOR);
  return CALLOC_GENERAL(n, size, total, ANCHOR);
}

HW_GENERAL void free_general(void *p) {
  if (hw_unlikely(!p)) return;
  if (hw_unlikely(hw_bootstrap_owns(p))) return;
  if (free_wanted(p)) {
    hw_tls_busy++;
    int recording = recording_started();
    on_free(HW_FN_FREE, p, stamp_started(), NULL, recording, false);
    hw_tls_busy--;
  }
  if (hw_unlikely(!hw_real.free) && !ensure_real()) return;
  hw_tls_in_allocator++;
  hw_real.free(p);
  hw_tls_in_allocator--;
}

HW_GENERAL void free_full(void *p) {
  if (hw_unlikely(!p)) return;
  if (hw_unlikely(hw_bootstrap_owns(p))) return;
  if (hw_likely(hw_tls_busy == 0)) {
    hw_tls_busy++;
    on_free(HW_FN_FREE, p, stamp_started(), NULL, 1, true);
    hw_tls_busy--;
  }
  if (hw_unlikely(!hw_real.free) && !ensure_real()) return;
  hw_tls_in_allocator++;
  hw_real.free(p);
  hw_tls_in_allocator--;
}

HW_EXPORT void free(void *p) {
  if (fast_untracked(p)) return hw_real.free(p); /* also p == NULL, unless its counter is raised */
  if (hw_likely(modes_now() == 0)) return free_full(p);
  free_general(p);
}

/* realloc and reallocarray share this: stamp before (the free), call, stamp after (the alloc). */
/* With sampling, the old block leaves the liveset before the real call: once realloc has freed
 * it, another thread may be given the same address and insert it; on failure it goes back. */
static hw_noinline void *realloc_recorded(int fn, void *p, size_t n, size_t size, void *anchor) {
  bool old_wanted = p && free_wanted(p), matched = false;
  removed_t old = {0, 0, 0};
  hw_tls_busy++;
  uint64_t before = old_wanted ? stamp() : 0;
  if (old_wanted && hw_sample_rate && atomic_load_explicit(&hw_recording, memory_order_relaxed))
    matched = hw_live_remove((uintptr_t)p, &old.stack, &old.seed, &old.size) == 0;
  void *q = IN_ALLOCATOR((fn == HW_FN_REALLOC) ? hw_real.realloc(p, size) : hw_real.reallocarray(p, n, size));
  hw_tls_busy--;
  size_t total = size;
  bool overflow = fn == HW_FN_REALLOCARRAY && __builtin_mul_overflow(n, size, &total);
  /* Failed (also an overflowing count): p is still valid, nothing happened. Only a request for
   * zero bytes that returns NULL has freed p (glibc). */
  if (q == NULL && (overflow || !(p && total == 0))) {
    if (matched) hw_live_insert((uintptr_t)p, old.stack, old.seed, old.size);
    return q;
  }
  hw_tls_busy++;
  if (old_wanted) /* unmatched under sampling: scopes only */
    on_free(fn, p, before, matched ? &old : NULL, atomic_load_explicit(&hw_recording, memory_order_relaxed), false);
  hw_tls_busy--;
  alloc_event(fn, q, total, anchor, NULL);
  return q;
}

/* A pool block's size is not kept; copying up to the pool's end never reads outside it, and
 * whatever follows the block is harmless extra bytes in the new one. */
static void *realloc_from_pool(void *p, size_t size) {
  void *q = malloc(size);
  if (q) {
    size_t room = hw_bootstrap_room(p);
    memcpy(q, p, size < room ? size : room);
  }
  return q;
}

/* Before the real realloc is known every block is a pool block: the new one keeps its bytes. */
static hw_cold void *bootstrap_realloc(void *p, size_t size) {
  void *q = hw_bootstrap_alloc(size, 16);
  if (q && p && hw_bootstrap_owns(p)) {
    size_t room = hw_bootstrap_room(p);
    memmove(q, p, size < room ? size : room);
  }
  return q;
}

HW_GENERAL void *realloc_general(void *p, size_t size, void *anchor) {
  if (hw_unlikely(!hw_real.realloc) && !ensure_real()) return bootstrap_realloc(p, size);
  if (hw_unlikely(p && hw_bootstrap_owns(p))) return realloc_from_pool(p, size);
  if (wants_event()) return realloc_recorded(HW_FN_REALLOC, p, 1, size, anchor);
  return IN_ALLOCATOR(hw_real.realloc(p, size));
}

HW_EXPORT void *realloc(void *p, size_t size) {
  if ((!p || fast_untracked(p)) && fast_unsampled(size)) return hw_real.realloc(p, size);
  return realloc_general(p, size, ANCHOR);
}

HW_EXPORT void *reallocarray(void *p, size_t n, size_t size) {
  if (hw_unlikely(!hw_real.reallocarray) && !ensure_real()) return NULL;
  if (hw_unlikely(p && hw_bootstrap_owns(p))) {
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) return errno = ENOMEM, NULL;
    return realloc_from_pool(p, total);
  }
  if (wants_event()) return realloc_recorded(HW_FN_REALLOCARRAY, p, n, size, ANCHOR);
  return IN_ALLOCATOR(hw_real.reallocarray(p, n, size));
}

HW_EXPORT int posix_memalign(void **out, size_t align, size_t size) {
  if (hw_unlikely(!hw_real.posix_memalign) && !ensure_real()) return ENOMEM;
  int rc = IN_ALLOCATOR(hw_real.posix_memalign(out, align, size));
  if (rc == 0) alloc_event(HW_FN_POSIX_MEMALIGN, *out, size, ANCHOR, NULL);
  return rc;
}

/* The remaining aligned allocators differ only in name and function code. */
#define HW_ALIGNED_HOOK(name, code, params, args, size_expr)                  \
  HW_EXPORT void *name params {                                               \
    if (hw_unlikely(!hw_real.name) && !ensure_real()) return NULL;            \
    void *p = IN_ALLOCATOR(hw_real.name args);                                \
    alloc_event(code, p, size_expr, ANCHOR, NULL);                              \
    return p;                                                                 \
  }
HW_ALIGNED_HOOK(aligned_alloc, HW_FN_ALIGNED_ALLOC, (size_t align, size_t size), (align, size), size)
HW_ALIGNED_HOOK(memalign, HW_FN_MEMALIGN, (size_t align, size_t size), (align, size), size)
HW_ALIGNED_HOOK(valloc, HW_FN_VALLOC, (size_t size), (size), size)
HW_ALIGNED_HOOK(pvalloc, HW_FN_PVALLOC, (size_t size), (size), size)

/* ---- mappings ---- */

/* Mappings made while the recorder runs are the recorder's: libunwind maps a 256 KiB trace cache
 * per thread during our unwinding, and unmaps it from its own thread-exit destructor, outside our
 * guard. Remember such ranges so that their unmapping is not reported as the program's. munmap is
 * rare next to malloc, and the scan only runs while some are remembered. */
#define OWN_MAPPINGS 256
static _Atomic uintptr_t own_mappings[OWN_MAPPINGS];
static _Atomic int own_mappings_used;

static void remember_own_mapping(void *p) {
  for (int i = 0; i < OWN_MAPPINGS; i++) {
    uintptr_t empty = 0;
    if (atomic_compare_exchange_strong(&own_mappings[i], &empty, (uintptr_t)p)) {
      atomic_fetch_add(&own_mappings_used, 1);
      return;
    }
  }
}

static bool forget_own_mapping(void *p) {
  if (atomic_load_explicit(&own_mappings_used, memory_order_relaxed) == 0) return false;
  for (int i = 0; i < OWN_MAPPINGS; i++) {
    uintptr_t expected = (uintptr_t)p;
    if (expected && atomic_compare_exchange_strong(&own_mappings[i], &expected, 0)) {
      atomic_fetch_sub(&own_mappings_used, 1);
      return true;
    }
  }
  return false;
}

static hw_noinline void on_mmap(void *p, size_t len, int prot, int flags, int fd, void *anchor) {
  hw_tls_busy++;
  uint64_t ts = stamp();
  hw_thread_t *t = atomic_load_explicit(&hw_recording, memory_order_relaxed) ? hw_thread_current() : NULL;
  if (t) hw_emit_mmap(t, ts, (uintptr_t)p, len, prot, flags, fd, current_stack(t, ts, anchor, NULL, false));
  hw_tls_busy--;
}

/* Mappings made inside the real allocator are its arenas or extents (jemalloc's 2 MiB ones, glibc's
 * mmap'd chunks), which the blocks recorded inside them already account for: the allocator flag
 * says so on the general paths, the caller's address on the sampling entry, which raises no flag
 * (the call returns into the allocator's executable segment; glibc's malloc maps through libc's
 * internal mmap, which no hook sees). */
static inline bool allocators_mapping(void *anchor) {
  return hw_tls_in_allocator != 0 || hw_allocator_called((uintptr_t)anchor);
}
static inline bool wants_mapping_event(void *anchor) {
  return hw_unlikely(atomic_load_explicit(&hw_recording, memory_order_relaxed)) && hw_tls_busy == 0 &&
         !allocators_mapping(anchor) && !hw_config.aggregate; /* aggregated mode counts heap blocks only */
}

static void *mmap_common(void *(*real)(void *, size_t, int, int, int, off_t), void *addr, size_t len,
                         int prot, int flags, int fd, off_t off, void *anchor) {
  void *p = real ? real(addr, len, prot, flags, fd, off)
                 : (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
  if (hw_unlikely(atomic_load_explicit(&hw_recording, memory_order_relaxed)) && p != MAP_FAILED &&
      !allocators_mapping(anchor) && !hw_config.aggregate) {
    if (hw_tls_busy == 0) on_mmap(p, len, prot, flags, fd, anchor);
    else remember_own_mapping(p);
  }
  return p;
}

HW_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  return mmap_common(hw_real.mmap, addr, len, prot, flags, fd, off, ANCHOR);
}

HW_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  return mmap_common(hw_real.mmap64 ? hw_real.mmap64 : hw_real.mmap, addr, len, prot, flags, fd, off, ANCHOR);
}

HW_EXPORT int munmap(void *addr, size_t len) {
  if (!wants_mapping_event(ANCHOR))
    return hw_real.munmap ? hw_real.munmap(addr, len) : (int)syscall(SYS_munmap, addr, len);
  hw_tls_busy++;
  uint64_t ts = stamp(); /* before the call: the range may be mapped again at once elsewhere */
  int rc = hw_real.munmap ? hw_real.munmap(addr, len) : (int)syscall(SYS_munmap, addr, len);
  if (rc == 0 && !forget_own_mapping(addr)) {
    hw_thread_t *t = hw_thread_current();
    if (t) hw_emit_munmap(t, ts, (uintptr_t)addr, len);
  }
  hw_tls_busy--;
  return rc;
}

HW_EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...) {
  void *new_addr = NULL;
  if (flags & MREMAP_FIXED) {
    va_list ap;
    va_start(ap, flags);
    new_addr = va_arg(ap, void *);
    va_end(ap);
  }
  bool rec = wants_mapping_event(ANCHOR);
  if (rec) hw_tls_busy++;
  void *p = hw_real.mremap ? hw_real.mremap(old, old_len, new_len, flags, new_addr)
                           : (void *)syscall(SYS_mremap, old, old_len, new_len, flags, new_addr);
  if (rec) {
    /* One stamp, after the call: the new range matters more for ordering than the old one, which
     * another thread could only reuse through a mapping call of its own. */
    uint64_t ts = stamp();
    hw_thread_t *t = (p != MAP_FAILED) ? hw_thread_current() : NULL;
    if (t) hw_emit_mremap(t, ts, (uintptr_t)old, old_len, (uintptr_t)p, new_len, current_stack(t, ts, ANCHOR, NULL, false));
    hw_tls_busy--;
  }
  return p;
}

/* madvise and mprotect: how allocators that map their own memory (mimalloc, jemalloc, also when
 * bundled inside a library such as libarrow) commit and purge pages inside regions they reserved.
 * The analyzer counts a mapping by its resident pages, and these tell it which ones were given
 * back between two residency snapshots. No stack: the mapping's own stack names the owner. Plain
 * absolute addresses (not the frame's delta register): they are rare, and thread.c stays as is. */
static hw_noinline void on_range(uint8_t tag, void *addr, size_t len, int value) {
  hw_thread_t *t = hw_thread_current();
  if (!t) return;
  uint8_t body[3 * HW_VARINT_MAX], *p = hw_put_uvarint(body, (uintptr_t)addr);
  p = hw_put_uvarint(p, len);
  p = hw_put_uvarint(p, (uint64_t)(unsigned)value);
  hw_emit_raw(t, hw_now(), tag, body, (size_t)(p - body));
}

static inline bool purges(int advice) {
  return advice == MADV_DONTNEED || advice == MADV_FREE || advice == MADV_REMOVE;
}

HW_EXPORT int madvise(void *addr, size_t len, int advice) {
  int rc = hw_real.madvise ? hw_real.madvise(addr, len, advice) : (int)syscall(SYS_madvise, addr, len, advice);
  if (rc == 0 && hw_unlikely(purges(advice)) && wants_mapping_event(ANCHOR)) {
    hw_tls_busy++;
    on_range(HW_TAG_MADVISE, addr, len, advice);
    hw_tls_busy--;
  }
  return rc;
}

HW_EXPORT int mprotect(void *addr, size_t len, int prot) {
  int rc = hw_real.mprotect ? hw_real.mprotect(addr, len, prot) : (int)syscall(SYS_mprotect, addr, len, prot);
  if (rc == 0 && wants_mapping_event(ANCHOR)) {
    hw_tls_busy++;
    on_range(HW_TAG_MPROTECT, addr, len, prot);
    hw_tls_busy--;
  }
  return rc;
}

/* ---- process end ---- */

HW_EXPORT void _exit(int status) {
  hw_on_exit(HW_END_UNDERSCORE_EXIT, 0);
  if (hw_real._exit) hw_real._exit(status);
  syscall(SYS_exit_group, status);
  __builtin_unreachable();
}

HW_EXPORT void _Exit(int status) {
  hw_on_exit(HW_END_UNDERSCORE_EXIT, 0);
  if (hw_real._Exit) hw_real._Exit(status);
  syscall(SYS_exit_group, status);
  __builtin_unreachable();
}
