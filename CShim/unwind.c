/* unwind.c: the one place that captures stacks.
 *
 * Our own walker does the common case: each frame's rule (CFA = rsp/rbp + offset, return address at
 * CFA-8, rbp kept or saved) is decoded once per address from .eh_frame (unwind_cfi.c) and kept in a
 * lock-free table. Anything else (a signal frame, an expression, no unwind info, a stack outside
 * the thread's bounds) hands the whole capture to libunwind, the reference: the result is either
 * exactly libunwind's or libunwind's own. HEAPWISE_UNWIND_CHECK=1 captures every stack both ways.
 *
 * MEMOIZED SUFFIX. A walk is a pure function of the start registers and the stack slots it reads.
 * Each thread keeps its previous walk: every frame's (pc, rsp, rbp) and where rbp was saved. When
 * the new walk reaches a state equal to a cached one (same pc, rsp and rbp), every later state of
 * the cached walk follows from the slots it read, which are at the same addresses: if each still
 * holds the cached value (one load and compare per slot), the cached frames are the ones a full
 * walk would produce, by construction. A slot that differs ends the reuse there and the walk goes on
 * from the new value, reusing again where it meets the old walk. No guess: rsp, rbp and every value
 * read are compared. A capture at another depth starts with the cached inner frames moved by one
 * rsp delta (shifted reuse, walk_from): taken over where their CFA is rsp-based, slot by slot.
 *
 * PATH CACHE. A thread that captures often also keeps its walks as a trie from the innermost state
 * outward, each node a pc with its rule decoded, each leaf the capture's frames' place, sum and
 * stack id (below, "the path cache"): a lookup is the same exact walk with no rule lookups, and
 * hands the stack id to stacks.c with no hashing or table probe (stack_hint.h).
 *
 * unw_backtrace with UNW_CACHE_PER_THREAD costs about 20-70 ns a frame on this machine; a
 * unw_step loop is 10-20x slower and glibc's backtrace() too. */
#define UNW_LOCAL_ONLY
#include <dlfcn.h>
#include <libunwind.h>
#include <limits.h>
#include <link.h>
#include <stddef.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <emmintrin.h>
#endif

#include "hw_internal.h"
#include "unwind_cfi.h"
#include "stack_hint.h"

/* Our own frames above the hook: hw_capture_stack_above, current_stack, on_alloc and the hook. */
#define HW_SLACK 8
/* Our walks start one frame further in than unw_backtrace's (in walk() itself). */
#define WALK_MAX (HW_MAX_FRAMES + HW_SLACK + 2)

enum { MODE_OWN, MODE_LIBUNWIND, MODE_OFF };
static int mode = MODE_LIBUNWIND; /* until hw_unwind_init has found _dl_find_object */
static bool check;
static bool check_verbose; /* HEAPWISE_UNWIND_CHECK=2: also say why libunwind was needed */

/* ---- libunwind: the reference, and the fallback ---------------------------------------------- */

/* unw_backtrace reports instruction pointers; every frame but the innermost is a return address,
 * which points after the call. Minus one lands inside the call, so symbolization finds the
 * calling line (and the right function when the call is the last instruction). */
static int copy_frames(uintptr_t *frames, int max, void **raw, int n, int from) {
  int count = 0;
  for (int i = from; i < n && count < max; i++) frames[count++] = (uintptr_t)raw[i] - 1;
  return count;
}

#define HW_INLINE static inline __attribute__((always_inline))

static _Atomic uint32_t generation = 1;

/* libunwind's fast trace (unw_backtrace) keeps a per-thread cache of frame rules by address that
 * nothing ever flushes: after a dlclose, a module loaded where the closed one was gets the closed
 * one's rules (measured: `unwindcheck dlopen` with same-layout plugins, truncated stacks). So once
 * any module was unloaded, libunwind is asked through unw_step, which finds the unwind info afresh
 * (its register-state cache is flushed by the dlclose wrapper below). Same frames, 10-20x slower:
 * only the captures the own walker hands over, and the check mode's reference. */
static _Atomic int modules_unloaded; /* a dlclose unmapped something (the loader's dlpi_subs moved) */
HW_INLINE int lu_raw(void **raw, int size) {
  if (hw_likely(!atomic_load_explicit(&modules_unloaded, memory_order_relaxed))) return unw_backtrace(raw, size);
  unw_context_t uc;
  unw_cursor_t cursor;
  unw_word_t ip;
  int n = 0;
  if (unw_getcontext(&uc) < 0 || unw_init_local(&cursor, &uc) < 0) return 0;
  /* The first entry is this frame, the caller of what unw_backtrace would have been. */
  if (unw_get_reg(&cursor, UNW_REG_IP, &ip) < 0) return 0;
  raw[n++] = (void *)ip;
  while (n < size && unw_step(&cursor) > 0 && unw_get_reg(&cursor, UNW_REG_IP, &ip) >= 0) raw[n++] = (void *)ip;
  return n;
}

/* Inlined, so unw_backtrace's first entry is the public capture function, as it always was. */
HW_INLINE int lu_capture(uintptr_t *frames, int max, int skip) {
  void *raw[HW_MAX_FRAMES + HW_SLACK + 2];
  int n = lu_raw(raw, max + skip + 1);
  /* +1: unw_backtrace's first entry is its caller, this function. */
  return n > skip + 1 ? copy_frames(frames, max, raw, n, skip + 1) : 0;
}

HW_INLINE int lu_capture_above(uintptr_t *frames, int max, uintptr_t anchor) {
  void *raw[HW_MAX_FRAMES + HW_SLACK];
  int n = lu_raw(raw, max + HW_SLACK);
  for (int i = 0; i < n && i < HW_SLACK; i++)
    if ((uintptr_t)raw[i] == anchor) return copy_frames(frames, max, raw, n, i);
  /* The anchor is always among the first frames unless the hook was tail-called; then the
   * innermost frame outside the recorder is the best we know. */
  return n > 3 ? copy_frames(frames, max, raw, n, 3) : 0;
}

/* ---- the module generation: cached rules are only valid for the modules they came from ---------- */

/* Bumped after every dlclose: a rule decoded under an older generation is decoded again, since
 * another module may now sit at its address. (Not hooked: glibc's own internal unloads, which
 * only ever happen to a dlopen that failed before its code ran.) */
#define GEN_BITS 20

/* Modules unloaded so far, as the loader counts them. */
static int first_module_subs(struct dl_phdr_info *info, size_t size, void *arg) {
  if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) *(unsigned long long *)arg = info->dlpi_subs;
  else *(unsigned long long *)arg = ~0ull; /* unknown: count every dlclose as an unload */
  return 1;
}
static unsigned long long loader_subs(void) {
  unsigned long long subs = ~0ull;
  dl_iterate_phdr(first_module_subs, &subs);
  return subs;
}

/* Most dlcloses unload nothing (a handle from dlopen(RTLD_NOLOAD), like the sampler's of libc, or
 * a library still needed by another): those leave libunwind on its fast trace. Measured before
 * this check: the sampler's first dlclose of libc put every libunwind capture through unw_step,
 * 20x slower (churn with HEAPWISE_UNWIND=libunwind: 2.2 s of CPU for 200,000 pairs). */
HW_EXPORT int dlclose(void *handle) {
  static int (*real)(void *);
  if (!real) *(void **)&real = dlsym(RTLD_NEXT, "dlclose");
  if (!real) return -1;
  unsigned long long subs = loader_subs();
  atomic_fetch_add(&generation, 1);
  int r = real(handle);
  atomic_fetch_add(&generation, 1);
  if (subs == ~0ull || loader_subs() != subs) atomic_store(&modules_unloaded, 1);
  unw_flush_cache(unw_local_addr_space, 0, 0);
  return r;
}

/* ---- the rule cache: one (pc, rule) pair per return address, shared by all threads ------------ */

typedef struct {
  _Atomic uint64_t pc;
  _Atomic uint64_t rule; /* hw_rule_t.bits; 0 until the claimer stores it */
} entry_t;

#define CACHE_BITS 14 /* 16 Ki addresses, 256 KiB of address space, touched as filled */
#define CACHE_PROBES 16
static entry_t *cache;

/* *keep is cleared when the rule must not be cached (decoded while the module table was busy). */
static hw_rule_t decode(uintptr_t pc, uint32_t gen, bool *keep) {
  bool transient;
  hw_rule_t r = hw_cfi_decode_once(pc, &transient);
  *keep = !transient;
  r = hw_rule_with_gen(r, gen);
  return r;
}

/* The rule at pc (a return address minus one, or the innermost pc). Lock-free: a slot's pc is
 * claimed once by CAS and never changes; its rule may be rewritten, always with a rule that is
 * right for that pc under the generation it carries. */
static hw_noinline hw_rule_t rule_at_slow(uintptr_t pc, uint32_t gen) {
  bool keep;
  if (hw_unlikely(gen >= (1u << GEN_BITS))) return decode(pc, gen, &keep); /* generation wrapped */
  uint64_t h = (pc * 0x9E3779B97F4A7C15ull) >> (64 - CACHE_BITS);
  for (int probe = 0; probe < CACHE_PROBES; probe++) {
    entry_t *e = &cache[(h + (uint64_t)probe) & ((1u << CACHE_BITS) - 1)];
    uint64_t k = atomic_load_explicit(&e->pc, memory_order_acquire);
    if (hw_likely(k == pc)) {
      hw_rule_t r = {.bits = atomic_load_explicit(&e->rule, memory_order_acquire)};
      if (hw_likely(hw_rule_kind(r) != HW_RULE_NONE && hw_rule_gen(r) == gen)) return r;
      r = decode(pc, gen, &keep);
      if (keep) atomic_store_explicit(&e->rule, r.bits, memory_order_release);
      return r;
    }
    if (k == 0) {
      hw_rule_t r = decode(pc, gen, &keep);
      if (!keep) return r;
      uint64_t expected = 0;
      if (atomic_compare_exchange_strong(&e->pc, &expected, pc) || expected == pc)
        atomic_store_explicit(&e->rule, r.bits, memory_order_release);
      return r;
    }
  }
  return decode(pc, gen, &keep); /* the neighbourhood is full: correct, only slower */
}

/* The common case inline: the rule in its first slot, decoded under this generation (a wrapped
 * generation never matches a slot's 20 bits, so it takes the slow path as before). */
HW_INLINE hw_rule_t rule_at(uintptr_t pc, uint32_t gen) {
  entry_t *e = &cache[(pc * 0x9E3779B97F4A7C15ull) >> (64 - CACHE_BITS)];
  if (hw_likely(atomic_load_explicit(&e->pc, memory_order_acquire) == pc)) {
    hw_rule_t r = {.bits = atomic_load_explicit(&e->rule, memory_order_acquire)};
    if (hw_likely(hw_rule_kind(r) != HW_RULE_NONE && hw_rule_gen(r) == gen)) return r;
  }
  return rule_at_slow(pc, gen);
}

/* ---- per-thread state: stack bounds and the previous walk ------------------------------------- */

/* A walk's states, one per frame: the registers the walk knows there, and where rbp was saved
 * (the slot at the next state's rsp + rbp_off; 0: rbp kept). Arrays, not structs: the checks
 * and the copy into the caller's frames run down one array each. */
typedef struct {
  uintptr_t pc[WALK_MAX + 1], sp[WALK_MAX + 1], bp[WALK_MAX + 1]; /* + 1: the sentinel, below */
  int16_t rbp_off[WALK_MAX + 1];
  uint8_t cfa_rbp[WALK_MAX + 1]; /* the state's rule computes the CFA from rbp */
} states_t;

enum { END_LAST, END_LOW, END_LIMIT };

typedef struct {
  uint32_t gen; /* 0: nothing cached */
  int n;        /* states cached */
  int end;      /* why the cached walk stopped after state n-1 */
  uintptr_t tail_slot, tail_value; /* END_LOW: the return-address slot that held a value < 0x4000 */
  /* Stack-id sums (hw_stack_sum), by position from the outermost state (1 = state n - 1): for
   * p = 1..hvalid, hsum[p] is the sum of hw_frame_mix(pc - 1, p') over positions p' = 1..p. A walk
   * that reuses the cached one to its natural end keeps the positions of the states it moved, so
   * their sums hold without being moved; any other walk keeps none. */
  int hvalid;
  bool rbp_free; /* no state of the cached walk reads rbp (no rbp-based CFA, not cut at the limit) */
  uint64_t hsum[WALK_MAX + 1];
  states_t s;
} memo_t;

#define TLS __attribute__((tls_model("initial-exec")))
static __thread memo_t memo TLS;
/* The top of the running thread's stack, without a lock or a syscall. pthread_getattr_np would
 * do, but it takes the thread's lock and then calls realloc: the first capture of a thread made
 * inside it (Rust's runtime asks it for every thread) would wait for itself. glibc puts a thread's
 * descriptor, pthread_self(), at the top of its stack block (also of a stack the program supplied),
 * so everything from rsp up to it is mapped; the initial thread's stack ends at __libc_stack_end.
 * An rsp farther than SPAN below either is on some other stack (sigaltstack, a coroutine): the
 * capture is then libunwind's. */
extern void *__libc_stack_end;
#define SPAN ((uintptr_t)256 << 20)

static inline uintptr_t stack_top(uintptr_t sp) {
  uintptr_t self = (uintptr_t)pthread_self(), initial = (uintptr_t)__libc_stack_end;
  if (self > sp && self - sp <= SPAN) return self;
  if (initial > sp && initial - sp <= SPAN) return initial;
  return 0;
}

/* stack_top for the path cache's lookups, with the thread's pthread_self() it keeps: the same
 * bound in one unsigned compare each (top - sp - 1 < SPAN is top > sp && top - sp <= SPAN: a top
 * at or below sp wraps round to a huge value), __libc_stack_end read only when the thread's own
 * top does not hold. 4 instructions a lookup fewer; in walk_from the same form cost 4-5 a walk
 * (tree.c, callgrind: GCC laid the function out otherwise), so stack_top keeps its own. */
HW_INLINE bool stack_top_of(uintptr_t self, uintptr_t sp, uintptr_t *top) {
  if (hw_likely(self - sp - 1 < SPAN)) return *top = self, true;
  uintptr_t initial = (uintptr_t)__libc_stack_end;
  return initial - sp - 1 < SPAN && (*top = initial, true);
}

/* Statistics for the check mode only (atomics on every capture would be a cost otherwise). */
static _Atomic uint64_t n_sum_differ, n_summed_frames, n_sum_frames;
static _Atomic uint64_t n_compared, n_differ, n_own, n_fallback, n_reused_frames, n_walked_frames, n_shifted_frames;

/* Check mode only: the first few reasons libunwind had to take a capture. */
static hw_cold int fallback(const char *why, uintptr_t pc) {
  static _Atomic int said;
  if (check_verbose && atomic_fetch_add(&said, 1) < 20) hw_log("unwind check: libunwind for %s at %#lx", why, (unsigned long)pc);
  return -1;
}

/* ---- the walk ---------------------------------------------------------------------------------- */

/* A stack slot may be read only when it lies between the current rsp and the thread's stack top:
 * the walker never touches memory that is not mapped. The walk only moves outward (each CFA at
 * least 8 above the previous rsp, each saved-rbp slot at or above it), so a slot at or above the
 * current rsp is above the capture's own, and only its top needs a compare. */
#define LOAD(a) (*(const uintptr_t *)(a))

/* Walks the stack from inside this function: on success the memo holds the new walk, at most
 * `limit` states, m->s[0] inside walk() and the rest at return addresses, and the count is
 * returned. -1 when libunwind must do it (the memo is then empty).
 *
 * The new states are written over the cached ones in place while the new walk is no deeper than
 * the cached one at the same point (index n <= cursor j: everything the walk may still read lies
 * at j or beyond); a deeper one continues in a local copy. */
/* One memmove per array: a run of states moves when the walk is deeper or shallower than the
 * cached one where they meet (tree.c's recursion: every capture), and glibc's vector moves beat
 * an element loop over five arrays (tree.c, callgrind: 80 fewer instructions a pair). Within
 * one array (to == from) memmove keeps an overlapping move right. */
static inline void copy_states(states_t *to, int at, const states_t *from, int first, int count) {
  if (count <= 0) return;
  size_t c = (size_t)count;
  memmove(&to->pc[at], &from->pc[first], c * sizeof to->pc[0]);
  memmove(&to->sp[at], &from->sp[first], c * sizeof to->sp[0]);
  memmove(&to->bp[at], &from->bp[first], c * sizeof to->bp[0]);
  memmove(&to->rbp_off[at], &from->rbp_off[first], c * sizeof to->rbp_off[0]);
  memmove(&to->cfa_rbp[at], &from->cfa_rbp[first], c * sizeof to->cfa_rbp[0]);
}

/* Does the cached walk from state j on read state j's rbp? Through an rbp-based CFA at j or
 * further out, before some frame reloads rbp from a saved slot; at the walk's last state, only
 * if it ended on a low return address read through an rbp-based CFA, or at the limit (what lies
 * beyond is unknown). A state whose rbp is not read equals a cached one whatever rbp holds: at
 * -O2, rbp is an ordinary register that carries a caller's loop counter through every frame below
 * it, and comparing it made every capture of such a loop walk from scratch. Asked only when rbp
 * differs. */
static inline bool rbp_needed(const states_t *s, int j, int n, int end) {
  for (int k = j; k < n - 1; k++) {
    if (s->cfa_rbp[k]) return true;
    if (s->rbp_off[k]) return false;
  }
  return end == END_LIMIT || (end == END_LOW && s->cfa_rbp[n - 1]);
}

/* A confirmed run copied to s[at..at+count) whose first state has rbp `bp` in this walk, which
 * the cached one did not need: rbp keeps that value out to the first frame that reloads it from
 * a saved slot (which the run checked against the cached value). Keeps the states' rbp the walk's
 * own, for the steps that follow and for the next capture's comparisons. */
static inline void carry_bp(states_t *s, int at, int count, uintptr_t bp) {
  s->bp[at] = bp;
  for (int k = 1; k < count && s->rbp_off[at + k - 1] == 0; k++) s->bp[at + k] = bp;
}

/* A cached state whose return-address slot now holds another address ra, with every other value the
 * walk reads unchanged: the same function called from another site (churn's forks, a loop body that
 * calls the same function from two places). When ra's rule is the same STEP rule as the cached
 * address's, the state has the same rsp and rbp and the step out of it computes the same CFA and
 * reads the same slots, so the cached walk beyond it still holds slot for slot: only its pc
 * changes. The check loop below goes on comparing instead of re-walking from there. */
HW_INLINE bool same_rule(uintptr_t ra, uintptr_t cached_ra, uint32_t gen) {
  hw_rule_t r = rule_at(ra - 1, gen);
  return hw_rule_kind(r) == HW_RULE_STEP && rule_at(cached_ra - 1, gen).bits == r.bits;
}

/* From state t on, the states whose return-address slot and saved-rbp slot (if any) still hold
 * the cached values: the loop that runs once per frame of nearly every capture, on one index (the
 * compiler's own version kept four induction variables, 16 instructions a frame).
 * In a cached walk that never reads rbp (rbp_free: no rbp-based CFA anywhere), a saved rbp is not
 * compared but taken, with the kept ones carried from it: each state gets the rbp this walk gives
 * it, which later walks may need. At -O2 a caller's loop counter often lives in rbp and every
 * frame saves it: compared, each capture of workload.c left this loop at every frame. */
HW_INLINE int unchanged_run(states_t *s, int t, bool rbp_free) {
  size_t i = (size_t)t;
  if (rbp_free) {
    uintptr_t bp = s->bp[i];
    for (;;) {
      uintptr_t sp1 = s->sp[i + 1];
      if (LOAD(sp1 - 8) != s->pc[i + 1]) return (int)i;
      int off = s->rbp_off[i];
      if (off != 0) bp = LOAD(sp1 + off);
      s->bp[i + 1] = bp;
      i++;
    }
  }
  for (;;) {
    uintptr_t sp1 = s->sp[i + 1];
    if (LOAD(sp1 - 8) != s->pc[i + 1]) return (int)i;
    int off = s->rbp_off[i];
    if (off != 0 && LOAD(sp1 + off) != s->bp[i + 1]) return (int)i;
    i++;
  }
}

HW_INLINE int confirm_run(states_t *old, int t, int old_n, int end, bool rbp_free, uint32_t gen, int *sums_kept) {
  for (;;) {
    /* The common frame first, in a loop of its own: every slot unchanged. */
    t = unchanged_run(old, t, rbp_free);
    uintptr_t ra = LOAD(old->sp[t + 1] - 8);
    bool moved = ra != old->pc[t + 1];
    if (hw_unlikely(moved) && (t + 1 >= old_n || ra < 0x4000 || !same_rule(ra, old->pc[t + 1], gen))) return t;
    if (old->rbp_off[t] != 0) {
      uintptr_t reloaded = LOAD(old->sp[t + 1] + old->rbp_off[t]);
      if (hw_unlikely(reloaded != old->bp[t + 1])) {
        /* Another rbp (at -O2 often a caller's loop counter, saved by every frame that uses
         * rbp): the cached states from t+1 on hold as long as none of them reads rbp before a
         * frame reloads it, which the slot checks further out then cover. They take the new
         * value, as a walk from here would give them. */
        if (rbp_needed(old, t + 1, old_n, end)) return t;
        old->bp[t + 1] = reloaded;
        for (int k = t + 2; k < old_n && old->rbp_off[k - 1] == 0; k++) old->bp[k] = reloaded;
      }
    }
    if (hw_unlikely(moved)) {
      /* Another call site with the same rule (see same_rule): state t+1 becomes this walk's. */
      old->pc[t + 1] = ra;
      if (old_n - 2 - t < *sums_kept) *sums_kept = old_n - 2 - t;
    }
    t++;
  }
}

/* A sentinel after the cached walk: a "slot" that never holds the "return address" 1, so the
 * check loop needs no bound. Nothing writes at old_n while a check can still run (see walk_from). */
static const uintptr_t never = 0;

/* The general walk from state 0 = (pc, sp, bp), walk()'s own frame, which stays live meanwhile.
 * sums_kept: what walk()'s fast path already patched (confirm_run). */
static hw_noinline int walk_from(int limit, memo_t *m, uintptr_t pc, uintptr_t sp, uintptr_t bp, int sums_kept) {
  const uint32_t gen = atomic_load_explicit(&generation, memory_order_acquire);
  const int old_n = m->gen == gen ? m->n : 0;
  m->gen = 0; /* invalid until this walk completes */
  const uintptr_t hi = stack_top(sp);
  if (hw_unlikely(!hi)) return fallback("a stack outside the thread's", sp);
  const uintptr_t last_slot = hi - sizeof(uintptr_t); /* the highest slot that may be read */

  states_t fresh;
  states_t *const old = &m->s;
  states_t *out = &m->s;
  int n = 0;           /* states written; the current one, (pc, sp, bp), becomes index n */
  int j = 0;           /* cursor into the cached walk: its first state not below sp */
  int end = END_LIMIT; /* why this walk stops */
  uintptr_t tail_slot = 0, tail_value = 0;
  uint64_t reused = 0, shifted = 0;
  int hvalid = 0; /* positions whose sums survive this walk */
  old->sp[old_n] = (uintptr_t)&never + 8;
  old->pc[old_n] = 1;

  /* The loop's common case is a new frame below every cached state still ahead (sp < next_sp)
   * with room to write it (n < room_to): then nothing of the cached walk can be met or
   * overwritten, and the step goes straight on. Both bounds are recomputed (RESYNC) whenever
   * j or out changes; then the loop head below does the full tests. */
  uintptr_t next_sp = old_n > 0 ? old->sp[0] : UINTPTR_MAX;
  int room_to = old_n > 0 ? 0 : INT_MAX;
#define RESYNC() \
  (next_sp = j < old_n ? old->sp[j] : UINTPTR_MAX, room_to = out == old && j < old_n ? j : INT_MAX)

  /* SHIFTED REUSE. A capture from another depth (sqlite3's and Python's allocations, one after
   * the other from different callers) starts at walk()'s state 0 as the cached walk did, at
   * another rsp: the same chain of inner frames (the recorder's own, the hook, the allocator's
   * wrappers) often lies there again, shifted by delta. A state with the cached state i's pc has
   * its rule, so where that rule's CFA is rsp-based, the next rsp is the cached one + delta; its
   * return-address slot is loaded and compared with the cached pc, a saved rbp is loaded (not
   * compared: no state of the run computes its CFA from rbp), and the slots' bounds are checked
   * as a walk checks them. The states so made are what the walk would compute, without a rule
   * lookup; at the first state whose rule reads rbp, or whose slot holds another address, the
   * walk goes on as usual (and may still meet the cached walk at the same rsp further out).
   * Written in place when shallower (delta > 0: no cached state below the run is met again);
   * deeper, in the local copy, since the cached states stay to be met. */
  if (old_n > 1 && sp != old->sp[0] && pc == old->pc[0]) {
    const uintptr_t delta = sp - old->sp[0]; /* modulo 2^64 */
    if ((intptr_t)delta < 0) out = &fresh;
    const int stop = old_n - 1 < limit - 1 ? old_n - 1 : limit - 1;
    int i = 0;
    while (i < stop && !old->cfa_rbp[i]) {
      uintptr_t sp1 = old->sp[i + 1] + delta;
      if (hw_unlikely(sp1 - 8 > last_slot) || LOAD(sp1 - 8) != old->pc[i + 1]) break;
      int off = old->rbp_off[i];
      uintptr_t bp1 = bp;
      if (off != 0) {
        uintptr_t slot = sp1 + (intptr_t)off;
        if (hw_unlikely(slot > last_slot)) break;
        bp1 = LOAD(slot);
      }
      out->pc[i] = pc, out->sp[i] = sp, out->bp[i] = bp;
      out->rbp_off[i] = (int16_t)off, out->cfa_rbp[i] = 0;
      pc = old->pc[i + 1], sp = sp1, bp = bp1;
      i++;
    }
    n = i; /* states 0..i-1 made; state i is the loop's current state */
    shifted = (uint64_t)i;
    RESYNC();
  }

  for (;;) {
    if (hw_unlikely(sp >= next_sp || n >= room_to)) {
      while (j < old_n && old->sp[j] < sp) j++;
      if (hw_unlikely(out == old && j < old_n && (n > j || (n == j && old->sp[j] != sp)))) {
        /* Deeper than the cached walk here: writing on would overwrite a state still to be read. */
        copy_states(&fresh, 0, old, 0, n);
        out = &fresh;
      }
      if (j < old_n && old->sp[j] == sp && old->pc[j] == pc && (old->bp[j] == bp || !rbp_needed(old, j, old_n, m->end)) &&
          (j == 0) == (n == 0)) {
        /* Equal states. The cached walk's next states hold as long as the slots it read do. */
        int t = confirm_run(old, j, old_n, m->end, m->rbp_free, gen, &sums_kept);
        int room = limit - 1 - n; /* states still wanted after the current one */
        if (t + 1 == old_n && old_n - 1 - j <= room &&
            (m->end == END_LAST || (m->end == END_LOW && LOAD(m->tail_slot) == m->tail_value))) {
          /* The rest of the cached walk, to its natural end: moved, not re-walked. */
          int len = old_n - j;
          if (n != j) copy_states(old, n, old, j, len);
          /* The moved states keep their positions from the end, hence their sums. */
          hvalid = m->hvalid < old_n - j ? m->hvalid : old_n - j;
          if (sums_kept < hvalid) hvalid = sums_kept;
          if (out == &fresh) copy_states(old, 0, &fresh, 0, n);
          out = old;
          if (old->bp[n] != bp) carry_bp(old, n, len, bp);
          n += len;
          end = m->end;
          tail_slot = m->tail_slot;
          tail_value = m->tail_value;
          reused += (uint64_t)len;
          goto done;
        }
        /* A confirmed run j..t (capped at the limit); then on from state t. */
        if (t - j > room) t = j + room;
        if (out != old || n != j) copy_states(out, n, old, j, t - j + 1);
        if (out->bp[n] != bp) carry_bp(out, n, t - j + 1, bp);
        n += t - j + 1;
        reused += (uint64_t)(t - j + 1);
        j = t;
        pc = out->pc[n - 1], sp = out->sp[n - 1], bp = out->bp[n - 1];
        if (n >= limit) goto done;
        if (t + 1 < old_n) {
          /* State t equals the cached one, so its CFA is state t+1's rsp: step with the new slot. */
          uintptr_t cfa = old->sp[t + 1];
          uintptr_t ra = LOAD(cfa - 8);
          if (old->rbp_off[t]) bp = LOAD(cfa + old->rbp_off[t]);
          sp = cfa;
          if (ra < 0x4000) { end = END_LOW, tail_slot = cfa - 8, tail_value = ra; goto done; }
          pc = ra;
          /* A new state at the cached state t+1's rsp, which is thereby used up: written at n <= t+1
           * without the checks at the top of the loop, which it could not pass anyway. */
          j = t + 1;
          out->pc[n] = pc, out->sp[n] = sp, out->bp[n] = bp;
          n++;
          RESYNC();
          goto step;
        }
        RESYNC();
        goto step; /* the cached walk ended here for a reason that no longer holds: walk on */
      }
      RESYNC();
    }
    out->pc[n] = pc, out->sp[n] = sp, out->bp[n] = bp;
    n++;
  step:
    if (n >= limit) break;
    hw_rule_t r = rule_at(pc - 1, gen); /* state 0's pc is one past walk()'s own instruction */
    if (hw_unlikely(hw_rule_kind(r) != HW_RULE_STEP)) {
      if (hw_rule_kind(r) == HW_RULE_LAST) { end = END_LAST; out->rbp_off[n - 1] = 0; out->cfa_rbp[n - 1] = 0; break; }
      return fallback("a frame rule", pc);
    }
    uintptr_t cfa = (hw_rule_cfa_rbp(r) ? bp : sp) + (intptr_t)hw_rule_cfa_off(r);
    /* The return address lies at or above rsp (a call pushed it), so the walk only moves outward
     * and every slot it reads, cached ones included, is above the capture's own rsp. */
    if (hw_unlikely(cfa < sp + 8 || cfa - 8 > last_slot)) return fallback("a CFA out of bounds", pc);
    uintptr_t ra = LOAD(cfa - 8);
    out->rbp_off[n - 1] = hw_rule_rbp_off(r); /* 0 when rbp is not saved */
    out->cfa_rbp[n - 1] = (uint8_t)hw_rule_cfa_rbp(r);
    if (hw_rule_rbp_saved(r)) {
      uintptr_t slot = cfa + (intptr_t)hw_rule_rbp_off(r);
      if (hw_unlikely(slot < sp || slot > last_slot)) return fallback("an rbp slot out of bounds", pc);
      bp = LOAD(slot);
    }
    sp = cfa;
    if (ra < 0x4000) { end = END_LOW, tail_slot = cfa - 8, tail_value = ra; break; }
    pc = ra;
  }

#undef RESYNC
done:
  if (out == &fresh) copy_states(old, 0, &fresh, 0, n);
  m->n = n;
  m->end = end;
  m->tail_slot = tail_slot;
  m->tail_value = tail_value;
  m->hvalid = hvalid;
  /* Eight flags a load: this runs once per walk that was not the fast path's. */
  uint64_t rbp_read = end == END_LIMIT;
  int k = 0;
  for (; k + 8 <= n; k += 8) {
    uint64_t w;
    memcpy(&w, &old->cfa_rbp[k], 8);
    rbp_read |= w;
  }
  for (; k < n; k++) rbp_read |= old->cfa_rbp[k];
  m->rbp_free = !rbp_read;
  m->gen = gen;
  if (check) {
    atomic_fetch_add_explicit(&n_reused_frames, reused, memory_order_relaxed);
    atomic_fetch_add_explicit(&n_shifted_frames, shifted, memory_order_relaxed);
    atomic_fetch_add_explicit(&n_walked_frames, (uint64_t)n, memory_order_relaxed);
  }
  return n;
}

/* State 0 of a walk, taken in the calling function itself (a macro, not a function: the values
 * belong to the caller's frame). One asm, so the three belong to the same instruction, whose rule
 * is looked up next. pc is kept as if it were a return address, one past the instruction, so that
 * every state's rule is looked up at its pc - 1 (no test for state 0 in a walk's loop); state 0 is
 * never output. False where there is no walker (not x86-64). */
#if defined(__x86_64__)
#define HERE(pc, sp, bp)                                                                            \
  (__extension__({                                                                                  \
    __asm__ volatile("lea 0(%%rip), %0\n\tmov %%rsp, %1\n\tmov %%rbp, %2" : "=r"(pc), "=r"(sp), "=r"(bp)); \
    (pc) += 1;                                                                                      \
    true;                                                                                           \
  }))
#else
#define HERE(pc, sp, bp) ((void)(pc), (void)(sp), (void)(bp), false)
#endif

/* Walks the stack from inside this function (state 0); see walk_from. First the common case in
 * a few instructions a frame: the capture starts at the cached walk's state 0 (the same rsp: a
 * loop that allocates at one depth) and confirm_run finds the whole cached walk still holding, to
 * its natural end. Then nothing moves: the memo is already this walk, and only the states
 * confirm_run patched differ from the previous capture. Anything else is walk_from's, which
 * starts over (finding the patched states equal) and is told what the patches cost the sums. */
static hw_noinline int walk(int limit, memo_t *m) {
  uintptr_t pc, sp, bp;
  if (!HERE(pc, sp, bp)) return -1;
  const uint32_t gen = atomic_load_explicit(&generation, memory_order_acquire);
  int sums_kept = WALK_MAX;
  states_t *const s = &m->s;
  const int old_n = m->n;
  if (m->gen == gen && old_n <= limit && s->sp[0] == sp && s->pc[0] == pc &&
      (s->bp[0] == bp || !rbp_needed(s, 0, old_n, m->end))) {
    s->sp[old_n] = (uintptr_t)&never + 8;
    s->pc[old_n] = 1;
    int t = confirm_run(s, 0, old_n, m->end, m->rbp_free, gen, &sums_kept);
    if (t + 1 == old_n && (m->end == END_LAST || (m->end == END_LOW && LOAD(m->tail_slot) == m->tail_value))) {
      if (s->bp[0] != bp) carry_bp(s, 0, old_n, bp);
      if (sums_kept < m->hvalid) m->hvalid = sums_kept;
      if (hw_unlikely(check)) {
        atomic_fetch_add_explicit(&n_reused_frames, (uint64_t)old_n, memory_order_relaxed);
        atomic_fetch_add_explicit(&n_walked_frames, (uint64_t)old_n, memory_order_relaxed);
      }
      return old_n;
    }
  }
  int n = walk_from(limit, m, pc, sp, bp, sums_kept);
  /* Not a tail call: this frame is the walk's state 0 and must stay where it was read. */
  __asm__ volatile("" : "+r"(n));
  return n;
}

/* ---- the capture interface ---------------------------------------------------------------------- */

/* frames[k] = pcs[k] - 1, two at a time (SSE2 is part of x86-64): a loop the compiler leaves
 * scalar at -O2, ~5 instructions a frame, on every capture. */
HW_INLINE void return_addresses_to_frames(uintptr_t *frames, const uintptr_t *pcs, int count) {
  int k = 0;
#if defined(__x86_64__)
  const __m128i one = _mm_set1_epi64x(1);
  for (; k + 2 <= count; k += 2)
    _mm_storeu_si128((__m128i *)(frames + k), _mm_sub_epi64(_mm_loadu_si128((const __m128i *)(pcs + k)), one));
#endif
  for (; k < count; k++) frames[k] = pcs[k] - 1;
}

/* ---- the path cache: whole walks, by their frames from the innermost outward ------------------ */

/* A loop that allocates from a few call paths in turn (churn.c's 16, picked at random) breaks the
 * memoized suffix at a new level each time: the walk itself is then cheap (confirm_run), but the
 * frames are copied out, the changed part of the stack-id sum is mixed again and the id is looked
 * up in the stack table, about 350 instructions a capture on churn. The path cache keeps the
 * thread's walks as a trie of states from state 0 outward: a node is a state's pc with the rule at
 * that pc decoded, its children the states met after it, keyed by their pc; a walk that ended at
 * an outermost frame (HW_RULE_LAST) leaves a leaf with what its capture returned (the anchor, the
 * frames' place in the path, their sum and the stack id).
 *
 * A lookup IS a walk: from its own frame it computes each CFA from the node's rule and the
 * registers, reads the return-address slot and the saved-rbp slot there (bounds checked as the
 * walk checks them) and goes to the child whose pc is the value read. Every node's rule is the one
 * the walk would look up at that pc, decoded under the module generation the cache carries, so the
 * states are the walk's own; reaching a leaf means the walk ends as the cached one did. Anything
 * that has no node (another value read, a bound, a rule not cached) is a miss, and the capture is
 * the memoized walk's as before, which then adds its path. Exact for the same reason the walk is.
 *
 * Memory: 352 KiB of address space a thread (the entry trie's frames up to 128 KiB of it), touched as
 * filled, and only for a thread that made PATHS_AFTER captures (most threads never do: 1,000 idle threads cost nothing); taken back
 * at thread exit for the next thread. A cache whose hit rate over a window is under one half
 * (tree.c's 8,191 stacks, too many paths to keep) is cleared and switched off for a growing number
 * of captures. Cleared whenever the module generation (dlclose) or the stack table's epoch (a
 * forked child's new dump) changed, or when full. */
#define PATH_NODES 4096
/* Leaves, and the entry trie's leaves' frames after each (four a slot): one region, so that a
 * cache of a few paths touches one page of it, as when leaves were all it held. */
#define PATH_SLOTS (1024 + 16384 / 4)
#define PATHS_AFTER 2048
#define PATH_WINDOW 1024
#define PATH_OFF_MIN (8 * PATH_WINDOW)
#define PATH_OFF_MAX (1u << 22)

typedef struct pnode_s {
  uintptr_t pc;                /* the state's pc: a return address (the root: path_walk's own, plus 1) */
  const struct pnode_s *child; /* the first state met after this one (node 0, the sentinel: none) */
  const struct pnode_s *sibling; /* the parent's next child (NULL: none) */
  intptr_t cfa_off;            /* the rule at pc - 1: CFA = (cfa_rbp ? rbp : rsp) + cfa_off
                                  (a word: added straight from the node in trie_walk's loop) */
  int16_t rbp_off;             /* rbp saved at CFA + rbp_off (0: kept) */
  uint8_t cfa_rbp, last;       /* last: the outermost state (HW_RULE_LAST), cfa_off PATH_END */
  uint8_t rbp_below;           /* this node or one further out computes its CFA from rbp */
  struct pleaf_s *leaf;        /* on a last node that ended a capture, its leaf (NULL: none); a
                                  pointer, not an index: no address to build on a hit */
} pnode_t;
_Static_assert(sizeof(pnode_t) == 48, "a node is 48 bytes (docs/RECORDER.md: the cache's memory)");
/* A last node's cfa_off: rsp plus this is above any stack top (SPAN), ending trie_walk's loop. */
#define PATH_END (1 << 30)

typedef struct pleaf_s {
  uintptr_t anchor;       /* the capture's anchor */
  uint64_t sum;           /* hw_stack_sum of its frames */
  uint32_t id;            /* its stack id, 0 until interned (stack_hint.h) */
  uint16_t first, count;  /* its frames: the path's pcs [first, first + count), minus one */
  const uintptr_t *frames; /* an entry trie's leaf: its frames, in the slots after it (path_frames) */
} pleaf_t;
typedef union {
  pleaf_t leaf;
  uintptr_t frames[4];
} pslot_t;
#define SLOT_FRAMES ((uint32_t)(sizeof(pslot_t) / sizeof(uintptr_t)))
_Static_assert(sizeof(pslot_t) % sizeof(uintptr_t) == 0, "a slot holds whole frames");

typedef struct paths_s {
  uint32_t gen, epoch;    /* the module generation and stack-table epoch of every node and leaf */
  uint32_t n_nodes, n_slots;
  uint32_t window_left, window_hits, off_left, off_len;
  uintptr_t pc0, pc1;     /* path_walk's state 0 and its return address (learned when empty) */
  uintptr_t self;         /* the owning thread's pthread_self(), for stack_top */
  struct paths_s *next_free;
  /* The entry trie (hw_capture_stack_entry): walks that start at a hook's caller, whose state the
   * hook's entry gives (hooks.c, entry_state); its root's children are the anchors. Its leaves keep their frames,
   * so that a hit copies nothing. */
  pnode_t entry_root;
  pnode_t nodes[PATH_NODES];
  pslot_t slots[PATH_SLOTS]; /* leaves (a last node's `leaf` points at one), and entry leaves' frames */
} paths_t;

static __thread paths_t *paths TLS;

/* An entry leaf's frames: consecutive slots from `at` on, one array of words. */
static inline uintptr_t *path_frames(paths_t *P, uint32_t at) { return (uintptr_t *)(void *)&P->slots[at]; }
static uint32_t paths_after = PATHS_AFTER; /* HEAPWISE_PATH_CACHE_AFTER; 0: no path cache */
static __thread uint32_t paths_captures TLS; /* made without a cache */
static __thread bool paths_never TLS;        /* the thread has exited (or its cache could not be had) */
static pthread_key_t paths_key;
static _Atomic int paths_key_ready;
static paths_t *paths_free;
static atomic_flag paths_lock = ATOMIC_FLAG_INIT; /* thread exit and a cache's first use only */
static _Atomic uint64_t n_path_hits;

static void path_reset(paths_t *P, uint32_t gen, uint32_t epoch) {
  P->gen = gen, P->epoch = epoch;
  P->n_nodes = 1, P->n_slots = 0; /* node 0: index 0 means none; a last node without a leaf */
  memset(&P->nodes[0], 0, sizeof P->nodes[0]);
  P->nodes[0].last = 1, P->nodes[0].cfa_off = PATH_END;
  memset(&P->entry_root, 0, sizeof P->entry_root);
  P->entry_root.child = &P->nodes[0];
  P->pc0 = 0;
  hw_stack_hint.id = NULL;         /* it may point at a leaf */
}

/* Thread exit (the key's destructor): the cache goes to the next thread that wants one. Never
 * waits: a list found busy (or a lock a forked child inherited) unmaps instead. */
static void paths_release(void *arg) {
  paths_t *P = arg;
  if (paths == P) paths = NULL, hw_stack_hint.id = NULL;
  paths_never = true;
  if (!P) return;
  if (atomic_flag_test_and_set_explicit(&paths_lock, memory_order_acquire)) {
    hw_pages_free(P, sizeof *P);
    return;
  }
  P->next_free = paths_free;
  paths_free = P;
  atomic_flag_clear_explicit(&paths_lock, memory_order_release);
}

static hw_cold void paths_acquire(void) {
  if (!atomic_load_explicit(&paths_key_ready, memory_order_acquire)) { /* no way to give it back */
    paths_never = true;
    return;
  }
  paths_t *P = NULL;
  if (!atomic_flag_test_and_set_explicit(&paths_lock, memory_order_acquire)) {
    if ((P = paths_free)) paths_free = P->next_free;
    atomic_flag_clear_explicit(&paths_lock, memory_order_release);
  }
  if (!P && !(P = hw_pages_alloc(sizeof *P))) {
    paths_never = true;
    return;
  }
  path_reset(P, 0, 0); /* generation 0 never matches: reset again at first use */
  P->self = (uintptr_t)pthread_self();
  P->window_left = PATH_WINDOW, P->window_hits = 0, P->off_left = 0, P->off_len = 0;
  if (pthread_setspecific(paths_key, P) != 0) {
    paths_release(P);
    return;
  }
  paths = P;
}

/* A capture without the cache: once the thread has one that is switched off, the captures left
 * until it is on again; before, its captures counted up to paths_after. */
HW_INLINE void paths_idle(paths_t *P) {
  if (hw_likely(P != NULL)) {
    if (--P->off_left == 0) P->window_left = PATH_WINDOW, P->window_hits = 0;
  } else if (!paths_never && paths_after && ++paths_captures >= paths_after) {
    paths_acquire();
  }
}

/* Every PATH_WINDOW captures: under half of them found in the cache, it costs more than it saves. */
static hw_cold void path_window(paths_t *P) {
  if (P->window_hits < PATH_WINDOW / 2) {
    P->off_len = P->off_len ? (P->off_len < PATH_OFF_MAX ? P->off_len * 2 : PATH_OFF_MAX) : PATH_OFF_MIN;
    P->off_left = P->off_len;
    path_reset(P, P->gen, P->epoch);
  } else {
    P->off_len = 0;
  }
  P->window_left = PATH_WINDOW, P->window_hits = 0;
}

/* The child of nd whose pc is ra, or NULL. Node 0 (no child) is a last node without a leaf. */
HW_INLINE const pnode_t *path_child(const pnode_t *nd, uintptr_t ra) {
  const pnode_t *x = nd->child;
  while (hw_unlikely(x->pc != ra))
    if (!(x = x->sibling)) return NULL;
  return x;
}

/* The walk through a trie from node nd, whose state has rsp sp and rbp bp: the leaf the walk ends
 * at, or NULL (a miss). Two loops: while some node further out computes a CFA from rbp, rbp is
 * followed as the walk follows it; once none does (rbp_below clear: most -O2 code), every CFA is
 * rsp + a constant of at least 8 and every saved-rbp slot lies between rsp and the return
 * address's slot (path_node), so only the return-address slots are read: the walk's other reads
 * could neither fail its bounds nor change its result. `keep` (a constant, path_walk's): each
 * return address read is stored at ++w; the entry trie's walk stores nothing (its leaves keep the
 * frames). A flag, not a test of w: the compiler does not carry w's non-nullness round the loop. */
HW_INLINE const pleaf_t *trie_walk(paths_t *P, const pnode_t *nd, uintptr_t sp, uintptr_t bp, const bool keep,
                                   uintptr_t *w) {
  uintptr_t hi; /* the bound the memoized walk uses (stack_top) */
  if (hw_unlikely(!stack_top_of(P->self, sp, &hi))) return NULL;
  while (nd->rbp_below) {
    if (nd->last) goto leaf;
    uintptr_t cfa = (nd->cfa_rbp ? bp : sp) + (intptr_t)nd->cfa_off;
    if (hw_unlikely(cfa < sp + 8 || cfa > hi)) return NULL;
    uintptr_t ra = LOAD(cfa - 8);
    if (nd->rbp_off) {
      uintptr_t slot = cfa + (intptr_t)nd->rbp_off;
      if (hw_unlikely(slot < sp)) return NULL; /* not above the return address's: path_node */
      bp = LOAD(slot);
    }
    sp = cfa;
    if (!(nd = path_child(nd, ra))) return NULL;
    if (keep) *++w = ra;
  }
  /* rsp as at = rsp - (hi + 1), modulo 2^64 (rsp <= hi: the bounds above): the step and the bound
   * test are one add and its carry, which is rsp + cfa_off > hi (a last node's PATH_END too: every
   * offset here is at least 8, path_node), and the slot is hi + 1 - 8 + at, one addressing mode:
   * 6 instructions a frame, not 7. */
  const uintptr_t end = hi + 1;
  uintptr_t at = sp - end;
  for (;;) {
    if (hw_unlikely(__builtin_add_overflow(at, (uintptr_t)nd->cfa_off, &at))) break;
    uintptr_t ra = LOAD(end - 8 + at);
    if (!(nd = path_child(nd, ra))) return NULL;
    if (keep) *++w = ra;
  }
  if (!nd->last) return NULL;
leaf:
  return nd->leaf; /* NULL: a last node whose capture was not kept */
}

/* A hit: its sum, and the hint of its id for the intern that follows (stack_hint.h). */
HW_INLINE int path_hit(const pleaf_t *L, uint64_t *sum) {
  *sum = L->sum;
  hw_stack_hint.id = (uint32_t *)&L->id, hw_stack_hint.sum = L->sum, hw_stack_hint.count = L->count;
  return L->count;
}

/* The walk through the cache, from this function's own frame (state 0, as walk() is for the
 * memoized walk): the frames and sum of the capture, and the hint of its id, or -1. */
static hw_noinline int path_walk(paths_t *P, uintptr_t *frames, uintptr_t anchor, uint64_t *sum) {
  uintptr_t pc, sp, bp;
  if (!HERE(pc, sp, bp)) return -1;
  if (hw_unlikely(P->n_nodes < 2)) {
    P->pc0 = pc, P->pc1 = (uintptr_t)__builtin_return_address(0);
    return -1;
  }
  const pnode_t *nd = &P->nodes[1];
  if (hw_unlikely(nd->pc != pc)) return -1;
  uintptr_t pcs[WALK_MAX];
  pcs[0] = pc;
  const pleaf_t *L = trie_walk(P, nd, sp, bp, true, pcs);
  if (!L || hw_unlikely(L->anchor != anchor)) return -1;
  return_addresses_to_frames(frames, pcs + L->first, L->count);
  return path_hit(L, sum);
}

/* The walk through the entry trie, from the state of the hook's caller that the hook passed
 * (hw_capture_stack_entry): trie_walk from the anchor's node, with no frame of its own (no state
 * of the walk is in it) and no copy, the leaf keeping the frames. The recorder's own frames, four
 * states of every path_walk, are not walked. A leaf whose id is known hands it back in *id (no
 * hint to write and read back; with the loader's test below a known id, churn 942.1 -> 932.5
 * instructions a pair); else *id is 0, and the hint will store the id the table gives. */
HW_INLINE int entry_walk(paths_t *P, const uintptr_t *entry, uint64_t *sum, const uintptr_t **out, uint32_t *id) {
  const pnode_t *nd = path_child(&P->entry_root, entry[1]);
  if (hw_unlikely(!nd)) return -1;
  const pleaf_t *L = trie_walk(P, nd, entry[2], entry[0], false, NULL);
  if (!L) return -1;
  *out = L->frames;
  if (hw_likely((*id = L->id) != 0)) return *sum = L->sum, L->count;
  return path_hit(L, sum);
}

/* A node for the state at pc, its rule decoded as the walk decodes it; false for a rule the
 * cache does not keep (then the path is not added). */
static bool path_node(paths_t *P, pnode_t *nd, uintptr_t pc, bool last) {
  hw_rule_t r = rule_at(pc - 1, P->gen);
  memset(nd, 0, sizeof *nd);
  nd->pc = pc;
  nd->child = &P->nodes[0];
  if (last) {
    nd->last = 1, nd->cfa_off = PATH_END;
    return hw_rule_kind(r) == HW_RULE_LAST;
  }
  if (hw_rule_kind(r) != HW_RULE_STEP) return false;
  nd->cfa_off = hw_rule_cfa_off(r);
  nd->cfa_rbp = (uint8_t)hw_rule_cfa_rbp(r);
  nd->rbp_below = nd->cfa_rbp;
  if (hw_rule_rbp_saved(r)) {
    nd->rbp_off = hw_rule_rbp_off(r);
    if (nd->rbp_off > -8) return false; /* so that the slot lies below the return address's */
  }
  /* What trie_walk's rsp-only loop takes for granted: the CFA above rsp, the rbp slot in between. */
  if (!nd->cfa_rbp && (nd->cfa_off < 8 || (nd->rbp_off && nd->cfa_off + nd->rbp_off < 0))) return false;
  return true;
}

/* After a capture that the memoized walk made: its path into the cache, and the hint that will
 * store its stack id there. Only walks that ended at an outermost frame, below the limit. */
static hw_noinline void path_insert(paths_t *P, const memo_t *m, uintptr_t anchor, int first, int count, uint64_t sum) {
  const int n = m->n;
  if (m->end != END_LAST || n < 3 || n > WALK_MAX || first < 2 || P->pc0 == 0 || P->pc1 == anchor || m->gen != P->gen) return;
  if (P->n_nodes + (uint32_t)n + 1 > PATH_NODES || P->n_slots >= PATH_SLOTS) {
    uintptr_t pc0 = P->pc0, pc1 = P->pc1;
    path_reset(P, P->gen, P->epoch);
    P->pc0 = pc0, P->pc1 = pc1;
  }
  pnode_t *const nodes = P->nodes;
  if (P->n_nodes < 2) {
    if (!path_node(P, &nodes[1], P->pc0, false)) return;
    P->n_nodes = 2;
  }
  pnode_t *k = &nodes[1], *on_path[WALK_MAX];
  on_path[0] = k;
  for (int d = 1; d < n; d++) {
    uintptr_t pc = d == 1 ? P->pc1 : m->s.pc[d];
    pnode_t *c = (pnode_t *)path_child(k, pc);
    if (!c || c == &nodes[0]) {
      c = &nodes[P->n_nodes];
      if (!path_node(P, c, pc, d == n - 1)) return;
      /* Before the node is reachable: every node on the way to an rbp-based CFA says so. */
      if (c->rbp_below)
        for (int e = d - 1; e >= 0 && !on_path[e]->rbp_below; e--) on_path[e]->rbp_below = 1;
      P->n_nodes++;
      c->sibling = k->child == &nodes[0] ? NULL : k->child;
      k->child = c;
    }
    k = c;
    on_path[d] = c;
  }
  if (!k->last) return;
  if (!k->leaf) k->leaf = &P->slots[P->n_slots++].leaf;
  pleaf_t *L = k->leaf;
  L->anchor = anchor, L->sum = sum, L->id = 0, L->first = (uint16_t)first, L->count = (uint16_t)count;
  hw_stack_hint.id = &L->id, hw_stack_hint.sum = sum, hw_stack_hint.count = count;
}

/* After a miss of the entry trie that the memoized walk answered: the path from the anchor's state
 * (state i of the walk, which must have the entry's rsp and pc) outward, a leaf with a copy of
 * the capture's frames. Only walks that ended at an outermost frame, not cut at `max`. */
static hw_noinline void path_insert_entry(paths_t *P, const memo_t *m, const uintptr_t *entry, int i,
                                          const uintptr_t *frames, int count, uint64_t sum) {
  const int n = m->n;
  if (m->end != END_LAST || count != n - i || n > WALK_MAX || m->gen != P->gen ||
      m->s.sp[i] != entry[2] || m->s.pc[i] != entry[1])
    return;
  const uint32_t need = 1 + ((uint32_t)count + SLOT_FRAMES - 1) / SLOT_FRAMES; /* the leaf's slot, its frames' */
  if (P->n_nodes + (uint32_t)count + 1 > PATH_NODES || P->n_slots + need > PATH_SLOTS) {
    uintptr_t pc0 = P->pc0, pc1 = P->pc1;
    path_reset(P, P->gen, P->epoch);
    P->pc0 = pc0, P->pc1 = pc1;
  }
  pnode_t *const nodes = P->nodes;
  pnode_t *k = &P->entry_root, *on_path[WALK_MAX + 1];
  on_path[0] = k;
  for (int d = i; d < n; d++) {
    uintptr_t pc = m->s.pc[d];
    pnode_t *c = (pnode_t *)path_child(k, pc);
    if (!c || c == &nodes[0]) {
      c = &nodes[P->n_nodes];
      if (!path_node(P, c, pc, d == n - 1)) return;
      if (c->rbp_below)
        for (int e = d - i; e >= 1 && !on_path[e]->rbp_below; e--) on_path[e]->rbp_below = 1;
      P->n_nodes++;
      c->sibling = k->child == &nodes[0] ? NULL : k->child;
      k->child = c;
    }
    k = c;
    on_path[d - i + 1] = c;
  }
  if (!k->last) return;
  pleaf_t *L;
  if (k->leaf) {
    L = k->leaf;
  } else {
    L = k->leaf = &P->slots[P->n_slots].leaf;
    uintptr_t *copy = path_frames(P, P->n_slots + 1);
    P->n_slots += need;
    memcpy(copy, frames, (size_t)count * sizeof frames[0]);
    L->frames = copy;
  }
  L->anchor = entry[1], L->sum = sum, L->id = 0, L->first = 0, L->count = (uint16_t)count;
  hw_stack_hint.id = &L->id, hw_stack_hint.sum = sum, hw_stack_hint.count = count;
}

/* Inlined too: walk()'s caller is then the public capture function, state 1. */
HW_INLINE int own_capture_above(uintptr_t *frames, int max, uintptr_t anchor) {
  int n = walk(max + HW_SLACK + 1, &memo);
  /* State 0 is walk() and state 1 its return into hw_capture_stack_above: unw_backtrace's first. */
  const uintptr_t *pcs = memo.s.pc;
  for (int i = 1; i < n && i <= HW_SLACK; i++)
    if (pcs[i] == anchor) {
      int count = n - i < max ? n - i : max;
      return_addresses_to_frames(frames, pcs + i, count);
      return count;
    }
  return -1;
}

/* own_capture_above, and the stack-id sum of its frames: the sums of the states the walk moved
 * unchanged are kept, the others are added from there inward and kept for the next capture.
 * A capture cut at `max` frames counts positions from its own outermost frame, not the walk's:
 * then the frames are summed afresh. */
/* With `entry` (hw_capture_stack_entry; a constant NULL for the others, folded away), the path
 * cache is the entry trie and a hit's frames are its leaf's own, in *out. */
HW_INLINE int own_capture_above_summed(uintptr_t *frames, int max, uintptr_t anchor, uint64_t *sum,
                                       const uintptr_t *entry, const uintptr_t **out, uint32_t *id, bool looked) {
  const int limit = max + HW_SLACK + 1;
  paths_t *const P = paths;
  if (looked) {
    /* hw_capture_stack_entry's fast path has asked the cache already, and missed */
  } else if (hw_likely(P != NULL) && hw_likely(P->off_left == 0)) {
    uint32_t gen = atomic_load_explicit(&generation, memory_order_acquire);
    uint32_t epoch = atomic_load_explicit(&hw_stacks_epoch, memory_order_relaxed);
    if (hw_unlikely(P->gen != gen || P->epoch != epoch)) path_reset(P, gen, epoch);
    int c = entry ? entry_walk(P, entry, sum, out, id) : path_walk(P, frames, anchor, sum);
    if (hw_unlikely(--P->window_left == 0)) P->window_hits += c >= 0, path_window(P);
    else if (c >= 0) P->window_hits++;
    if (c >= 0) {
      if (hw_unlikely(check)) atomic_fetch_add_explicit(&n_path_hits, 1, memory_order_relaxed);
      return c;
    }
  } else {
    paths_idle(P);
  }
  int n = walk(limit, &memo);
  const uintptr_t *pcs = memo.s.pc;
  for (int i = 1; i < n && i <= HW_SLACK; i++)
    if (pcs[i] == anchor) {
      int count = n - i < max ? n - i : max;
      return_addresses_to_frames(frames, pcs + i, count);
      if (count < n - i) {
        *sum = hw_stack_sum(frames, count);
        return count;
      }
      /* Position p is frame count - p, state n - p. */
      int p = memo.hvalid < count ? memo.hvalid : count;
      uint64_t acc = p > 0 ? memo.hsum[p] : 0;
      if (hw_unlikely(check)) {
        atomic_fetch_add_explicit(&n_summed_frames, (uint64_t)(count - p), memory_order_relaxed);
        atomic_fetch_add_explicit(&n_sum_frames, (uint64_t)count, memory_order_relaxed);
      }
      while (p < count) {
        p++;
        acc += hw_frame_mix(frames[count - p], (uint64_t)p);
        memo.hsum[p] = acc;
      }
      memo.hvalid = count;
      *sum = acc;
      if (P && P->off_left == 0) {
        if (entry) path_insert_entry(P, &memo, entry, i, frames, count, acc);
        else path_insert(P, &memo, anchor, i, count, acc);
      }
      return count;
    }
  return -1;
}

HW_INLINE int own_capture(uintptr_t *frames, int max, int skip) {
  if (max + skip + 2 > WALK_MAX) return -1;
  int n = walk(max + skip + 2, &memo);
  if (n < 0) return -1;
  int count = 0;
  for (int k = skip + 2; k < n && count < max; k++) frames[count++] = memo.s.pc[k] - 1;
  return count;
}

static hw_cold void report_difference(const uintptr_t *own, int n_own_frames, const uintptr_t *ref, int n_ref) {
  uint64_t seen = atomic_fetch_add(&n_differ, 1);
  if (seen >= 5) return;
  int i = 0;
  while (i < n_own_frames && i < n_ref && own[i] == ref[i]) i++;
  hw_log("unwind check: stacks differ at frame %d of %d/%d: own %#lx, libunwind %#lx", i, n_own_frames, n_ref,
         i < n_own_frames ? (unsigned long)own[i] : 0ul, i < n_ref ? (unsigned long)ref[i] : 0ul);
}

/* Check mode: the incremental stack-id sum against one computed afresh from the frames. */
static hw_cold void report_sum_difference(void) {
  if (atomic_fetch_add(&n_sum_differ, 1) < 5) hw_log("unwind check: an incremental stack sum differs from the full one");
}

static hw_cold void compare(const uintptr_t *own, int n, const uintptr_t *ref, int n_ref) {
  atomic_fetch_add(&n_compared, 1);
  if (n >= 0) atomic_fetch_add(&n_own, 1); else atomic_fetch_add(&n_fallback, 1);
  if (n >= 0 && (n != n_ref || memcmp(own, ref, (size_t)n * sizeof(uintptr_t)) != 0))
    report_difference(own, n, ref, n_ref);
}

int hw_capture_stack(uintptr_t *frames, int max, int skip) {
  if (max > HW_MAX_FRAMES) max = HW_MAX_FRAMES;
  if (hw_unlikely(mode != MODE_OWN)) return mode == MODE_OFF ? 0 : lu_capture(frames, max, skip);
  int n = own_capture(frames, max, skip);
  if (hw_unlikely(check)) {
    uintptr_t ref[HW_MAX_FRAMES] = {0};
    int n_ref = lu_capture(ref, max, skip);
    compare(frames, n, ref, n_ref);
    if (n < 0) memcpy(frames, ref, (size_t)(n = n_ref) * sizeof(uintptr_t));
  }
  return n >= 0 ? n : lu_capture(frames, max, skip);
}

int hw_capture_stack_above(uintptr_t *frames, int max, uintptr_t anchor) {
  if (max > HW_MAX_FRAMES) max = HW_MAX_FRAMES;
  if (hw_unlikely(mode != MODE_OWN)) return mode == MODE_OFF ? 0 : lu_capture_above(frames, max, anchor);
  int n = own_capture_above(frames, max, anchor);
  if (hw_unlikely(check)) {
    uintptr_t ref[HW_MAX_FRAMES] = {0};
    int n_ref = lu_capture_above(ref, max, anchor);
    compare(frames, n, ref, n_ref);
    if (n < 0) memcpy(frames, ref, (size_t)(n = n_ref) * sizeof(uintptr_t));
  }
  return n >= 0 ? n : lu_capture_above(frames, max, anchor);
}

/* The end of an own capture, for both entry points: check mode compares it with libunwind's (and
 * takes libunwind's when the own walk gave up), else a walk that gave up (n < 0) falls back to
 * libunwind. The frames are at *out (a path-cache leaf, or `frames`); a fallback writes `frames`. */
static inline __attribute__((always_inline)) int settle_capture(uintptr_t *frames, const uintptr_t **out, int n,
                                                                int max, uintptr_t anchor, uint64_t *sum) {
  if (hw_unlikely(check)) {
    uintptr_t ref[HW_MAX_FRAMES] = {0};
    int n_ref = lu_capture_above(ref, max, anchor);
    compare(*out, n, ref, n_ref);
    if (n >= 0) {
      uint64_t full = hw_stack_sum(*out, n);
      if (full != *sum) report_sum_difference(), *sum = full;
      return n;
    }
    *out = frames;
    memcpy(frames, ref, (size_t)(n = n_ref) * sizeof(uintptr_t));
  } else if (hw_likely(n >= 0)) {
    return n;
  } else {
    *out = frames;
    n = lu_capture_above(frames, max, anchor);
  }
  *sum = hw_stack_sum(frames, n > 0 ? n : 0);
  return n;
}

int hw_capture_stack_above_summed(uintptr_t *frames, int max, uintptr_t anchor, uint64_t *sum) {
  if (max > HW_MAX_FRAMES) max = HW_MAX_FRAMES;
  if (hw_unlikely(mode != MODE_OWN)) {
    int n = mode == MODE_OFF ? 0 : lu_capture_above(frames, max, anchor);
    *sum = hw_stack_sum(frames, n > 0 ? n : 0);
    return n;
  }
  int n = own_capture_above_summed(frames, max, anchor, sum, NULL, NULL, NULL, false);
  const uintptr_t *out = frames;
  return settle_capture(frames, &out, n, max, anchor, sum);
}

/* hw_capture_stack_above_summed for a hook's entry state (hw_internal.h): the same frames, the
 * same fallbacks, the same check; only the path cache differs (the entry trie). `looked`: the
 * fast path below asked the cache and missed. */
static hw_noinline int capture_entry(uintptr_t *frames, int max, const uintptr_t *entry, uint64_t *sum,
                                     const uintptr_t **out, uint32_t *id, bool looked) {
  const uintptr_t anchor = entry[1];
  *out = frames, *id = 0;
  if (max > HW_MAX_FRAMES) max = HW_MAX_FRAMES;
  if (hw_unlikely(mode != MODE_OWN)) {
    int n = mode == MODE_OFF ? 0 : lu_capture_above(frames, max, anchor);
    *sum = hw_stack_sum(frames, n > 0 ? n : 0);
    return n;
  }
  int n = looked ? own_capture_above_summed(frames, max, anchor, sum, entry, out, id, true)
                 : own_capture_above_summed(frames, max, anchor, sum, entry, out, id, false);
  if (n >= 0 && hw_unlikely(check)) {
    uint64_t own_sum = *sum;
    n = settle_capture(frames, out, n, max, anchor, sum);
    if (*sum != own_sum) *id = 0; /* the check corrected the sum: the leaf's id is not this stack's */
    return n;
  }
  return settle_capture(frames, out, n, max, anchor, sum);
}

/* The common case in a function with few registers to save: the own walker, no check mode, a
 * cache that is on (all three checked by the caller) and current, and a hit. Everything else is
 * capture_entry's. A leaf's count
 * is at most `max`: only captures not cut at max are kept (path_insert_entry). */
static hw_noinline int capture_entry_hit(uintptr_t *frames, int max, const uintptr_t *entry, uint64_t *sum,
                                         const uintptr_t **out, uint32_t *id) {
  paths_t *const P = paths; /* on, and no check mode: hw_capture_stack_entry */
  if (hw_likely(P->gen == atomic_load_explicit(&generation, memory_order_acquire)) &&
      hw_likely(P->epoch == atomic_load_explicit(&hw_stacks_epoch, memory_order_relaxed))) {
    int c = entry_walk(P, entry, sum, out, id);
    if (hw_unlikely(--P->window_left == 0)) P->window_hits += c >= 0, path_window(P);
    else if (c >= 0) P->window_hits++;
    if (hw_likely(c >= 0)) return c;
    return capture_entry(frames, max, entry, sum, out, id, P->off_left == 0);
  }
  return capture_entry(frames, max, entry, sum, out, id, false);
}

int hw_capture_stack_entry(uintptr_t *frames, int max, const uintptr_t *entry, uint64_t *sum, const uintptr_t **out,
                           uint32_t *id) {
  if (hw_unlikely(mode == MODE_OFF)) { /* the floor: no frame set up for it */
    *out = frames, *sum = 0, *id = 0; /* hw_stack_sum of no frames */
    return 0;
  }
  /* A cache that is on: its lookup; off or absent (tree.c's and workload.c's many paths), the
   * walk without the lookup's frame in between. */
  const paths_t *const P = paths;
  if (hw_likely(P != NULL) && hw_likely(P->off_left == 0) && hw_likely(mode == MODE_OWN) && hw_likely(!check))
    return capture_entry_hit(frames, max, entry, sum, out, id);
  return capture_entry(frames, max, entry, sum, out, id, false);
}

/* ---- setup -------------------------------------------------------------------------------------- */

static void check_report(void) {
  if (!check) return;
  hw_log("unwind check: %llu stacks compared, %llu differ, %llu by our walker (%llu of %llu frames reused), "
         "%llu by libunwind, %llu stack sums differ (%llu of %llu frames summed), %llu frames taken shifted",
         (unsigned long long)n_compared, (unsigned long long)n_differ, (unsigned long long)n_own,
         (unsigned long long)n_reused_frames, (unsigned long long)n_walked_frames,
         (unsigned long long)n_fallback, (unsigned long long)n_sum_differ,
         (unsigned long long)n_summed_frames, (unsigned long long)n_sum_frames,
         (unsigned long long)n_shifted_frames);
  hw_log("unwind check: %llu captures from the path cache", (unsigned long long)n_path_hits);
  if (hw_cfi_uses_module_table()) {
    uint64_t busy, lookups = hw_module_table_lookups(&busy);
    hw_log("unwind check: module table (no _dl_find_object): %llu lookups, %llu found it busy",
           (unsigned long long)lookups, (unsigned long long)busy);
  }
}

/* After the recorder's own destructor (a lower priority runs later), so every event is counted. */
__attribute__((destructor(101))) static void unwind_fini(void) { check_report(); }

bool hw_check_mode_asked(void) {
  const char *c = getenv("HEAPWISE_UNWIND_CHECK");
  return c && (strcmp(c, "1") == 0 || strcmp(c, "2") == 0);
}

void hw_unwind_init(void) {
  unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
  static _Atomic int done;
  if (atomic_exchange(&done, 1)) return;
  const char *choice = getenv("HEAPWISE_UNWIND");
  const char *c = getenv("HEAPWISE_UNWIND_CHECK");
  check = hw_check_mode_asked();
  check_verbose = c && strcmp(c, "2") == 0;
  if (choice && strcmp(choice, "off") == 0) {
    mode = MODE_OFF;
    check = false;
    return;
  }
  if (choice && strcmp(choice, "libunwind") == 0) { check = false; return; }
  if (choice && *choice && strcmp(choice, "own") != 0) hw_log("ignoring HEAPWISE_UNWIND=%s (expected own, libunwind or off)", choice);
  const char *after = getenv("HEAPWISE_PATH_CACHE_AFTER"); /* tests: 1; 0 switches it off */
  if (after && *after) paths_after = (uint32_t)strtoul(after, NULL, 10);
  if (pthread_key_create(&paths_key, paths_release) == 0) atomic_store(&paths_key_ready, 1);
  if (!hw_cfi_init() || !(cache = hw_pages_alloc(sizeof(entry_t) << CACHE_BITS))) {
    check = false;
    return;
  }
  mode = MODE_OWN;
}
