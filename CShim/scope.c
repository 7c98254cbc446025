/* scope.c: in-process allocation scopes (HeapwiseBudget). The public contract is in
 * include/heapwise_scope.h; this file says how it is kept.
 *
 * Scopes live in a static pool of HW_SCOPE_MAX structs that is never unmapped. The hooks scan
 * pool[0 .. high water) on every event while a scope is open, pick the scopes whose owner matches
 * the event (thread key, Swift task, or everyone), and account under that scope's spinlock.
 *
 * Why a per-scope spinlock and not a lock-free table: a scope's blocks are freed by its owner
 * almost always, but a block handed to another thread may be freed there, and that free must
 * still leave the leak table. With one short lock per scope the table needs no tombstones or
 * cross-thread migration (a plain linear-probing table with backward-shift deletion), and a
 * stale reader is harmless: everything it might touch is re-checked under the lock, and the
 * struct it points at is never unmapped, only reused. The lock is uncontended on the owner's
 * path (two atomic operations); other threads take it only when the scope's Bloom filter says the
 * block they free may be the scope's.
 *
 * Cost while a scope is open: per event, a scan of the open slots; per counted allocation, one
 * table insert and, with HEAPWISE_SCOPE_SITES, one stack capture (the dominant cost, about 1 us
 * for 16 frames with libunwind). With no scope open the hooks only read hw_scopes_open.
 *
 * Nothing here allocates through malloc: tables come from hw_pages_alloc.
 */
#ifndef HEAPWISE_BUILDING
#define HEAPWISE_BUILDING 1
#endif
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "heapwise_scope.h"
#include "hw_internal.h"

#define HW_SCOPE_MAX 64             /* scopes open at once: a generous bound on parallel tests */
#define HW_SITES_CAP 1024           /* distinct stacks per scope; more go to the "other" site */
#define HW_BLOCKS_MIN (1u << 10)    /* first leak table: 1024 entries, 24 KiB */
#define HW_BLOCKS_MAX (1u << 24)    /* last one: 16 M entries, 384 MiB of address space */
#define HW_BLOOM_BITS (1u << 16)    /* 8 KiB: "may this block be the scope's?" for foreign frees */
#define HW_SKIP_FRAMES 2            /* hw_scope_on_alloc and the hooks' on_alloc */
#define HW_IGNORED_MAX 64           /* functions whose allocations are the runtime's own */
#define HW_SITE_IGNORED UINT32_MAX  /* a block's site when its allocation was not counted */

enum { SLOT_FREE, SLOT_BUSY, SLOT_OPEN, SLOT_STOPPED };

typedef struct block_s {
  uintptr_t addr; /* 0: empty */
  uint64_t size;
  uint32_t site;
  uint32_t pad;
} block_t;

typedef struct site_s {
  uint64_t hash; /* 0: empty */
  heapwise_scope_site s;
} site_t;

struct heapwise_scope {
  _Atomic int state;          /* SLOT_*; OPEN is re-checked under the lock */
  atomic_flag lock;
  _Atomic uintptr_t owner;    /* thread key or task; 0 for PROCESS */
  int mode, flags;
  heapwise_scope_stats st;    /* counters, under the lock */
  uint64_t live;              /* the scope's own blocks live now; st.peak_bytes is its maximum */
  block_t *blocks;            /* leak table, power-of-two capacity, under the lock */
  uint32_t blocks_cap, blocks_used;
  site_t *sites;              /* HW_SITES_CAP entries when SITES; entry 0 is "other" */
  _Atomic uint64_t bloom[HW_BLOOM_BITS / 64]; /* set by inserts, read lock-free by other threads */
};

_Atomic int hw_scopes_open;
static struct heapwise_scope pool[HW_SCOPE_MAX];
static _Atomic int pool_high; /* slots ever used: the hooks scan no further */
static _Atomic int task_scopes; /* open TASK scopes: only then do the hooks ask for the task */
/* > 0 between heapwise_scope_ignore_begin and its end on this thread. */
static __thread int thread_ignoring __attribute__((tls_model("initial-exec")));

/* The address of a TLS byte names the thread without a system call. */
static __thread char thread_anchor __attribute__((tls_model("initial-exec")));

/* The Swift runtime's current task (swiftcall, no arguments): weak, so that a C program without
 * the Swift concurrency library links and runs, counting by thread. With no arguments and a
 * pointer result, swiftcall and the C convention agree on x86-64 and arm64, so a compiler that
 * lacks the attribute (gcc, for the preload library) still calls it correctly. */
#if defined(__has_attribute) && __has_attribute(swiftcall)
#define HW_SWIFTCALL __attribute__((swiftcall))
#else
#define HW_SWIFTCALL
#endif
extern void *swift_task_getCurrent(void) __attribute__((weak)) HW_SWIFTCALL;

static inline uintptr_t thread_key(void) { return (uintptr_t)&thread_anchor; }

static inline uintptr_t task_key(void) {
  void *task = swift_task_getCurrent ? swift_task_getCurrent() : NULL;
  return task ? (uintptr_t)task : thread_key();
}

static inline void hw_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

static void lock(struct heapwise_scope *s) {
  for (int spins = 0; atomic_flag_test_and_set_explicit(&s->lock, memory_order_acquire); spins++) {
    if (spins < 100) hw_cpu_relax();
    else sched_yield(); /* the holder was preempted: 2 cores, many test threads */
  }
}

static inline void unlock(struct heapwise_scope *s) {
  atomic_flag_clear_explicit(&s->lock, memory_order_release);
}

static inline uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return x;
}

/* ---- the leak table: linear probing, backward-shift deletion, owned by the scope's lock ---- */

static inline uint32_t block_slot(uintptr_t addr, uint32_t cap) {
  return (uint32_t)(mix(addr >> 4) & (cap - 1));
}

static inline void bloom_set(struct heapwise_scope *s, uintptr_t addr) {
  uint32_t bit = (uint32_t)(mix(addr >> 4) >> 40) & (HW_BLOOM_BITS - 1);
  _Atomic uint64_t *w = &s->bloom[bit / 64];
  uint64_t old = atomic_load_explicit(w, memory_order_relaxed);
  if (!(old & (1ull << (bit % 64))))
    atomic_store_explicit(w, old | (1ull << (bit % 64)), memory_order_relaxed); /* under the lock */
}

static inline bool bloom_may_hold(struct heapwise_scope *s, uintptr_t addr) {
  uint32_t bit = (uint32_t)(mix(addr >> 4) >> 40) & (HW_BLOOM_BITS - 1);
  return (atomic_load_explicit(&s->bloom[bit / 64], memory_order_relaxed) >> (bit % 64)) & 1;
}

static void blocks_put(block_t *t, uint32_t cap, uintptr_t addr, uint64_t size, uint32_t site) {
  uint32_t i = block_slot(addr, cap);
  while (t[i].addr) i = (i + 1) & (cap - 1);
  t[i] = (block_t){addr, size, site, 0};
}

/* Doubles the table (it is kept at most half full); false when out of room or memory. */
static hw_cold bool blocks_grow(struct heapwise_scope *s) {
  uint32_t cap = s->blocks_cap ? s->blocks_cap * 2 : HW_BLOCKS_MIN;
  if (cap > HW_BLOCKS_MAX) return false;
  block_t *t = hw_pages_alloc((size_t)cap * sizeof(block_t));
  if (!t) return false;
  for (uint32_t i = 0; i < s->blocks_cap; i++)
    if (s->blocks[i].addr) blocks_put(t, cap, s->blocks[i].addr, s->blocks[i].size, s->blocks[i].site);
  if (s->blocks) hw_pages_free(s->blocks, (size_t)s->blocks_cap * sizeof(block_t));
  s->blocks = t;
  s->blocks_cap = cap;
  return true;
}

static void blocks_insert(struct heapwise_scope *s, uintptr_t addr, uint64_t size, uint32_t site) {
  if (hw_unlikely((s->blocks_used + 1) * 2 > s->blocks_cap) && !blocks_grow(s)) {
    s->st.flags |= HEAPWISE_SCOPE_BLOCKS_TRUNCATED;
    return;
  }
  blocks_put(s->blocks, s->blocks_cap, addr, size, site);
  s->blocks_used++;
  bloom_set(s, addr);
}

/* Removes addr; returns its entry's index + 1 in *found's copy, or false if absent. */
static bool blocks_remove(struct heapwise_scope *s, uintptr_t addr, block_t *found) {
  if (!s->blocks_used) return false;
  uint32_t mask = s->blocks_cap - 1, i = block_slot(addr, s->blocks_cap);
  block_t *t = s->blocks;
  while (t[i].addr != addr) {
    if (!t[i].addr) return false;
    i = (i + 1) & mask;
  }
  *found = t[i];
  /* Backward shift: pull later entries of the run into the hole unless they sit at or after
   * their home between the hole and themselves (Knuth 6.4, algorithm R). */
  for (uint32_t j = (i + 1) & mask;; j = (j + 1) & mask) {
    if (!t[j].addr) break;
    uint32_t home = block_slot(t[j].addr, s->blocks_cap);
    bool stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
    if (stays) continue;
    t[i] = t[j];
    i = j;
  }
  t[i].addr = 0;
  s->blocks_used--;
  return true;
}

/* ---- sites ---- */

static uint64_t stack_hash(const uintptr_t *frames, int n) {
  uint64_t h = 0x9e3779b97f4a7c15ull ^ (uint64_t)n;
  for (int i = 0; i < n; i++) h = mix(h ^ frames[i]) + 0x9e3779b97f4a7c15ull;
  return h | 1; /* never 0, which marks an empty entry */
}

/* Index of the site for this stack, adding it if new; 0 ("other") when the table is full. */
static uint32_t site_find(struct heapwise_scope *s, const uintptr_t *frames, int n) {
  if (n <= 0) return 0;
  uint64_t h = stack_hash(frames, n);
  uint32_t mask = HW_SITES_CAP - 1, i = (uint32_t)(h & mask);
  if (i == 0) i = 1;
  for (uint32_t probes = 0; probes < HW_SITES_CAP; probes++) {
    site_t *e = &s->sites[i];
    if (e->hash == h && e->s.depth == (uint32_t)n && !memcmp(e->s.frames, frames, n * sizeof *frames))
      return i;
    if (!e->hash) {
      if (s->st.sites + 1 >= HW_SITES_CAP / 2) break; /* keep probes short */
      e->hash = h;
      e->s.depth = (uint32_t)n;
      memcpy(e->s.frames, frames, n * sizeof *frames);
      s->st.sites++;
      return i;
    }
    i = (i + 1) & mask;
    if (i == 0) i = 1;
  }
  s->st.flags |= HEAPWISE_SCOPE_SITES_TRUNCATED;
  return 0;
}

/* ---- ignored callers ----------------------------------------------------------------------
 * Some allocations are frame memory, not the program's data: the Swift concurrency runtime takes
 * a slab whenever a task's async frames outgrow the current one (where depends on how deep the
 * test harness's frames are), and in unoptimized builds a coroutine accessor mallocs its frame
 * when it exceeds the caller's buffer. HeapwiseBudget finds such functions by symbolizing a
 * stack and registers them here; from then on their allocations are tracked (so their frees are
 * recognised) but not counted, peak included. */

static struct { uintptr_t start, end; int frame; } ignored[HW_IGNORED_MAX];
static _Atomic int ignored_count;

static inline bool is_ignored_caller(const uintptr_t *frames, int depth) {
  int n = atomic_load_explicit(&ignored_count, memory_order_acquire);
  /* frames[0] is the allocator entry point; frames[1] its caller, frames[2] one more. */
  for (int f = 1; f < depth && f <= 2; f++)
    for (int i = 0; i < n; i++)
      if (f <= ignored[i].frame && frames[f] >= ignored[i].start && frames[f] < ignored[i].end) return true;
  return false;
}

HEAPWISE_API int heapwise_scope_ignore_caller(uintptr_t address, int frame) {
  static atomic_flag registering;
  unw_proc_info_t pi;
  if (frame < 1 || frame > 2) return -1;
  if (unw_get_proc_info_by_ip(unw_local_addr_space, (unw_word_t)address, &pi, NULL) != 0) return -1;
  while (atomic_flag_test_and_set_explicit(&registering, memory_order_acquire)) sched_yield();
  int n = atomic_load_explicit(&ignored_count, memory_order_relaxed), rc = 0;
  for (int i = 0; i < n; i++)
    if (ignored[i].start == pi.start_ip) goto out;
  if (n == HW_IGNORED_MAX) {
    rc = -1;
    goto out;
  }
  ignored[n].start = pi.start_ip;
  ignored[n].end = pi.end_ip;
  ignored[n].frame = frame;
  atomic_store_explicit(&ignored_count, n + 1, memory_order_release);
out:
  atomic_flag_clear_explicit(&registering, memory_order_release);
  return rc;
}

/* A thread's work that is the runtime's own whatever the call stack says: the first import of a
 * Python module fills sys.modules, the import system's caches and the module's globals for the
 * rest of the process, so whichever test imports first would pay for it. The heapwise Python
 * package brackets each first import with these. Tracked like an ignored caller's: its frees
 * are recognised and not counted either. */
HEAPWISE_API void heapwise_scope_ignore_begin(void) { thread_ignoring++; }

HEAPWISE_API void heapwise_scope_ignore_end(void) {
  if (thread_ignoring > 0) thread_ignoring--;
}

/* ---- the hooks' side ---------------------------------------------------------------------- */

/* Whether s counts events of this thread/task; keys are computed once per event by the caller. */
static inline bool owns(const struct heapwise_scope *s, uintptr_t tkey, uintptr_t ckey) {
  switch (s->mode) {
  case HEAPWISE_SCOPE_PROCESS: return true;
  case HEAPWISE_SCOPE_TASK: return atomic_load_explicit(&s->owner, memory_order_relaxed) == ckey;
  default: return atomic_load_explicit(&s->owner, memory_order_relaxed) == tkey;
  }
}

/* Native frames captured for a site in a CPython process: the evaluation loop is usually 5 to 10
 * frames above malloc, and each of its frames becomes the Python frames it ran. */
#define HW_SITE_NATIVE_PY 32

void hw_scope_on_alloc(void *p, size_t size) {
  uintptr_t frames[HW_STACK_MAX];
  int depth = -1; /* not captured yet: one capture serves every scope that wants it */
  /* Between ignore_begin and end every scope leaves this thread's allocations out, sites or
   * not, and no stack is needed to tell. */
  bool by_thread = thread_ignoring > 0;
  bool ignore = by_thread;
  uintptr_t tkey = thread_key();
  uintptr_t ckey = atomic_load_explicit(&task_scopes, memory_order_relaxed) ? task_key() : tkey;
  int high = atomic_load_explicit(&pool_high, memory_order_acquire);
  for (int i = 0; i < high; i++) {
    struct heapwise_scope *s = &pool[i];
    if (atomic_load_explicit(&s->state, memory_order_acquire) != SLOT_OPEN || !owns(s, tkey, ckey)) continue;
    /* Only scopes with sites pay for a stack, and only they can tell the runtime's own. */
    if (!by_thread && (s->flags & HEAPWISE_SCOPE_SITES) && depth < 0) {
      bool python = atomic_load_explicit(&hw_pyframes_active, memory_order_relaxed);
      int limit = python ? HW_SITE_NATIVE_PY : HEAPWISE_SCOPE_SITE_FRAMES;
      depth = hw_capture_stack(frames, limit, HW_SKIP_FRAMES);
      ignore = is_ignored_caller(frames, depth);
      if (python && depth > 0) depth = hw_pyframes_merge_site(frames, depth, depth >= limit, HEAPWISE_SCOPE_SITE_FRAMES);
      else if (depth > HEAPWISE_SCOPE_SITE_FRAMES) depth = HEAPWISE_SCOPE_SITE_FRAMES;
    }
    lock(s);
    if (atomic_load_explicit(&s->state, memory_order_relaxed) == SLOT_OPEN && owns(s, tkey, ckey)) {
      if (by_thread || (ignore && s->sites)) {
        s->st.ignored_allocations++;
        s->st.ignored_bytes += size;
        blocks_insert(s, (uintptr_t)p, size, HW_SITE_IGNORED);
        unlock(s);
        continue;
      }
      uint32_t site = s->sites ? site_find(s, frames, depth) : 0;
      s->st.allocations++;
      s->st.bytes_allocated += size;
      s->live += size;
      if (s->live > s->st.peak_bytes) s->st.peak_bytes = s->live;
      if (s->sites) {
        s->sites[site].s.allocations++;
        s->sites[site].s.bytes += size;
      }
      blocks_insert(s, (uintptr_t)p, size, site);
    }
    unlock(s);
  }
}

void hw_scope_on_free(void *p) {
  uintptr_t tkey = thread_key();
  uintptr_t ckey = atomic_load_explicit(&task_scopes, memory_order_relaxed) ? task_key() : tkey;
  int high = atomic_load_explicit(&pool_high, memory_order_acquire);
  for (int i = 0; i < high; i++) {
    struct heapwise_scope *s = &pool[i];
    if (atomic_load_explicit(&s->state, memory_order_acquire) != SLOT_OPEN) continue;
    bool mine = owns(s, tkey, ckey);
    /* Another thread's free concerns s only if the block is s's: the filter rules most out. */
    if (!mine && !bloom_may_hold(s, (uintptr_t)p)) continue;
    lock(s);
    if (atomic_load_explicit(&s->state, memory_order_relaxed) == SLOT_OPEN) {
      /* An ignoring thread's frees still take the scope's blocks out of the table (they are
       * gone), but are not counted as the owner's frees. */
      mine = owns(s, tkey, ckey) && thread_ignoring == 0;
      block_t b;
      if (blocks_remove(s, (uintptr_t)p, &b)) {
        if (b.site != HW_SITE_IGNORED) {
          s->live -= b.size;
          if (s->sites) s->sites[b.site].s.frees++;
          if (mine) s->st.frees++;
        }
      } else if (mine) {
        s->st.frees++;
        s->st.older_frees++;
        s->st.older_bytes_freed += malloc_usable_size(p);
      }
    }
    unlock(s);
  }
}

/* ---- the public side ---------------------------------------------------------------------- */

/* libunwind's default global cache takes a lock and, under it, the loader's lock (through
 * dl_iterate_phdr); a thread that allocates inside a dl_iterate_phdr callback holds the loader's
 * lock and then wants libunwind's: a deadlock, seen here with two threads in a process scope.
 * The per-thread cache has no global lock. The recorder sets it when it starts; a process that
 * only uses scopes sets it here. */
static void unwind_setup_once(void) {
  static _Atomic int state; /* 0 unset, 1 being set, 2 set */
  int expected = 0;
  if (atomic_compare_exchange_strong(&state, &expected, 1)) {
    hw_tls_busy++;
    hw_unwind_init();
    hw_tls_busy--;
    atomic_store(&state, 2);
  }
  while (atomic_load(&state) != 2) sched_yield();
}

/* A forked child has one thread: scopes of the parent mean nothing there, and a scope lock held
 * by another parent thread at the fork would never be released. Close them all. */
static void scopes_after_fork_child(void) {
  for (int i = 0; i < HW_SCOPE_MAX; i++) {
    atomic_flag_clear(&pool[i].lock);
    atomic_store(&pool[i].state, SLOT_FREE); /* their tables stay mapped: a small, one-time leak */
    pool[i].blocks = NULL;
    pool[i].sites = NULL;
    pool[i].blocks_cap = pool[i].blocks_used = 0;
  }
  atomic_store(&task_scopes, 0);
  atomic_store(&hw_scopes_open, 0);
  atomic_fetch_and(&hw_modes, HW_MODE_SCOPE - 1);
  hw_entry_after_fork_child();
}

static void fork_handler_once(void) {
  static atomic_flag done;
  if (atomic_flag_test_and_set(&done)) return;
  hw_tls_busy++; /* pthread_atfork may allocate */
  pthread_atfork(NULL, NULL, scopes_after_fork_child);
  hw_tls_busy--;
}

HEAPWISE_API heapwise_scope *heapwise_scope_begin(int mode, int flags) {
  if (mode < HEAPWISE_SCOPE_THREAD || mode > HEAPWISE_SCOPE_PROCESS) return NULL;
  fork_handler_once();
  if (flags & HEAPWISE_SCOPE_SITES) {
    unwind_setup_once();
    /* Python frames in sites also when the process is not recorded (pytest --heapwise). */
    hw_tls_busy++;
    hw_pyframes_init();
    hw_tls_busy--;
  }
  for (int i = 0; i < HW_SCOPE_MAX; i++) {
    struct heapwise_scope *s = &pool[i];
    int expected = SLOT_FREE;
    if (!atomic_compare_exchange_strong(&s->state, &expected, SLOT_BUSY)) continue;
    lock(s);
    site_t *sites = NULL;
    if (flags & HEAPWISE_SCOPE_SITES) {
      sites = hw_pages_alloc(HW_SITES_CAP * sizeof(site_t));
      if (!sites) {
        unlock(s);
        atomic_store(&s->state, SLOT_FREE);
        return NULL;
      }
    }
    s->mode = mode;
    s->flags = flags;
    memset(&s->st, 0, sizeof s->st);
    s->live = 0;
    s->sites = sites;
    for (size_t w = 0; w < HW_BLOOM_BITS / 64; w++) atomic_store_explicit(&s->bloom[w], 0, memory_order_relaxed);
    atomic_store_explicit(&s->owner,
                          mode == HEAPWISE_SCOPE_PROCESS ? 0 : mode == HEAPWISE_SCOPE_TASK ? task_key() : thread_key(),
                          memory_order_relaxed);
    if (!blocks_grow(s)) {
      if (sites) hw_pages_free(sites, HW_SITES_CAP * sizeof(site_t));
      s->sites = NULL;
      unlock(s);
      atomic_store(&s->state, SLOT_FREE);
      return NULL;
    }
    unlock(s);
    /* Make the slot visible to the scan before it can match anything. */
    int high = atomic_load(&pool_high);
    while (high < i + 1 && !atomic_compare_exchange_weak(&pool_high, &high, i + 1)) {}
    if (mode == HEAPWISE_SCOPE_TASK) atomic_fetch_add(&task_scopes, 1);
    atomic_store_explicit(&s->state, SLOT_OPEN, memory_order_release);
    atomic_fetch_add(&hw_scopes_open, 1);
    atomic_fetch_add(&hw_modes, HW_MODE_SCOPE);
    hw_entry_update(); /* the hooks' entry closes before this returns (entry.c) */
    return s;
  }
  return NULL;
}

/* Stops s; with `force`, whoever calls (release must always succeed, even for a scope whose
 * owner has moved on: everything the owner's hooks touch is re-checked under the lock). */
static int stop(heapwise_scope *s, heapwise_scope_stats *out, bool force) {
  if (!s) return -1;
  lock(s);
  int state = atomic_load_explicit(&s->state, memory_order_relaxed);
  if (state == SLOT_OPEN) {
    uintptr_t want = s->mode == HEAPWISE_SCOPE_TASK ? task_key() : thread_key();
    if (!force && s->mode != HEAPWISE_SCOPE_PROCESS && atomic_load_explicit(&s->owner, memory_order_relaxed) != want) {
      unlock(s);
      return -1;
    }
    atomic_store_explicit(&s->state, SLOT_STOPPED, memory_order_relaxed);
    /* What is still in the table was allocated here and freed by nobody: leaked. */
    s->st.leaked_blocks = 0;
    s->st.leaked_bytes = 0;
    for (uint32_t i = 0; i < s->blocks_cap; i++) {
      block_t *b = &s->blocks[i];
      if (!b->addr || b->site == HW_SITE_IGNORED) continue;
      s->st.leaked_blocks++;
      s->st.leaked_bytes += b->size;
      if (s->sites) {
        s->sites[b->site].s.leaked_blocks++;
        s->sites[b->site].s.leaked_bytes += b->size;
      }
    }
    if (s->mode == HEAPWISE_SCOPE_TASK) atomic_fetch_sub(&task_scopes, 1);
    atomic_fetch_sub(&hw_scopes_open, 1);
    atomic_fetch_sub(&hw_modes, HW_MODE_SCOPE);
    hw_entry_update();
  } else if (state != SLOT_STOPPED) {
    unlock(s);
    return -1;
  }
  if (out) *out = s->st;
  unlock(s);
  return 0;
}

HEAPWISE_API int heapwise_scope_stop(heapwise_scope *s, heapwise_scope_stats *out) { return stop(s, out, false); }

static uint64_t site_key(const heapwise_scope_site *x, int order) {
  return order == HEAPWISE_SCOPE_BY_BYTES ? x->bytes : order == HEAPWISE_SCOPE_BY_LEAKED ? x->leaked_bytes : x->allocations;
}

HEAPWISE_API size_t heapwise_scope_sites(heapwise_scope *s, int order, heapwise_scope_site *out, size_t max) {
  if (!s || !out) return 0;
  lock(s);
  size_t n = 0;
  if (s->sites && atomic_load_explicit(&s->state, memory_order_relaxed) == SLOT_STOPPED) {
    /* Insertion into a short sorted output: max is a handful, the table at most HW_SITES_CAP. */
    for (uint32_t i = 0; i < HW_SITES_CAP; i++) {
      const heapwise_scope_site *x = &s->sites[i].s;
      uint64_t k = site_key(x, order);
      if (!k) continue;
      size_t at = n;
      while (at > 0 && site_key(&out[at - 1], order) < k) at--;
      if (at >= max) continue;
      size_t last = n < max ? n : max - 1;
      memmove(&out[at + 1], &out[at], (last - at) * sizeof *out);
      out[at] = *x;
      if (n < max) n++;
    }
  }
  unlock(s);
  return n;
}

HEAPWISE_API void heapwise_scope_release(heapwise_scope *s) {
  if (!s) return;
  stop(s, NULL, true);
  lock(s);
  if (s->blocks) hw_pages_free(s->blocks, (size_t)s->blocks_cap * sizeof(block_t));
  if (s->sites) hw_pages_free(s->sites, HW_SITES_CAP * sizeof(site_t));
  s->blocks = NULL;
  s->sites = NULL;
  s->blocks_cap = s->blocks_used = 0;
  atomic_store_explicit(&s->owner, 0, memory_order_relaxed);
  atomic_store(&s->state, SLOT_FREE);
  unlock(s);
}
