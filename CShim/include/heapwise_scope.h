/* heapwise_scope.h: in-process allocation scopes, the C side of HeapwiseBudget.
 *
 * A scope counts the allocations the interposed malloc family sees between begin and stop:
 *
 *   heapwise_scope *s = heapwise_scope_begin(HEAPWISE_SCOPE_TASK, HEAPWISE_SCOPE_SITES);
 *   work();
 *   heapwise_scope_stats st;
 *   heapwise_scope_stop(s, &st);                   // counting ends here
 *   heapwise_scope_site top[5];
 *   size_t n = heapwise_scope_sites(s, HEAPWISE_SCOPE_BY_COUNT, top, 5);
 *   heapwise_scope_release(s);
 *
 * Who is counted (the scope's owner):
 *   THREAD   the thread that called begin. stop must be called on that thread.
 *   TASK     the Swift task that called begin, on whichever thread it runs (async code hops
 *            threads at every await); outside a Swift task, the calling thread. Child tasks
 *            (async let, task groups, Task {}) are other tasks and are not counted.
 *   PROCESS  every thread. Other work running at the same time (parallel tests, the test
 *            runner itself) is counted too, so use it only where nothing else runs.
 * Scopes nest: an event counts in every open scope whose owner matches it.
 *
 * Leaks: a block allocated by the owner inside the scope and not freed, by any thread, before
 * stop is leaked by the scope.
 *
 * Thread safety: begin, stop and sites for one scope are called by its owner (release by anyone);
 * different scopes are independent. None of these functions allocates through malloc.
 */
#ifndef HEAPWISE_SCOPE_H
#define HEAPWISE_SCOPE_H

#include <stddef.h>
#include <stdint.h>

#ifndef HEAPWISE_API
#if defined(HEAPWISE_BUILDING)
#define HEAPWISE_API __attribute__((visibility("default")))
#else
#define HEAPWISE_API __attribute__((weak))
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef struct heapwise_scope heapwise_scope;

/* Modes (who is counted). */
#define HEAPWISE_SCOPE_THREAD 0
#define HEAPWISE_SCOPE_TASK 1
#define HEAPWISE_SCOPE_PROCESS 2

/* Flags. SITES captures a stack for every counted allocation (about 1 us each) so that stop can
 * report where the allocations came from. */
#define HEAPWISE_SCOPE_SITES 0x1

/* Return addresses kept per site, innermost first. */
#define HEAPWISE_SCOPE_SITE_FRAMES 16

/* heapwise_scope_stats.flags */
#define HEAPWISE_SCOPE_SITES_TRUNCATED 0x1 /* more distinct sites than the table holds */
#define HEAPWISE_SCOPE_BLOCKS_TRUNCATED 0x2 /* leak table full: leaks may be undercounted */

typedef struct heapwise_scope_stats {
  uint64_t allocations;       /* successful malloc/calloc/realloc/aligned calls by the owner */
  uint64_t frees;             /* frees by the owner, of any block */
  uint64_t bytes_allocated;   /* sum of requested sizes */
  uint64_t peak_bytes;        /* highest total of the scope's own blocks live at one time */
  uint64_t leaked_blocks;     /* the scope's blocks still live at stop */
  uint64_t leaked_bytes;      /* their requested sizes: the scope's live bytes at its end */
  uint64_t older_frees;       /* frees by the owner of blocks allocated before the scope */
  uint64_t older_bytes_freed; /* their malloc_usable_size (the requested size is not known) */
  uint64_t ignored_allocations; /* by callers registered with heapwise_scope_ignore_caller, */
  uint64_t ignored_bytes;       /* counted here only */
  uint32_t sites;             /* distinct allocation sites recorded */
  uint32_t flags;             /* HEAPWISE_SCOPE_*_TRUNCATED */
} heapwise_scope_stats;

typedef struct heapwise_scope_site {
  uint64_t allocations, bytes;          /* what this stack allocated in the scope */
  uint64_t frees;                       /* of those blocks, freed (by any thread) before stop */
  uint64_t leaked_blocks, leaked_bytes; /* and still live at stop */
  uint32_t depth;                       /* valid entries in frames */
  uint32_t reserved;
  /* Innermost first: native frames are return address - 1. In a CPython process (3.11+) each
   * frame of the evaluation loop is replaced by the Python frames it ran, as in a dump's stacks
   * (docs/FORMAT.md, "Python frames"): bit 63 set, code id in bits 32..62 (see
   * heapwise_python_code), instruction index in 2-byte units in bits 0..31. */
  uintptr_t frames[HEAPWISE_SCOPE_SITE_FRAMES];
} heapwise_scope_site;

/* Orders for heapwise_scope_sites. */
#define HEAPWISE_SCOPE_BY_COUNT 0
#define HEAPWISE_SCOPE_BY_BYTES 1
#define HEAPWISE_SCOPE_BY_LEAKED 2

/* Opens a scope; NULL if too many are open at once (64) or memory is exhausted. */
HEAPWISE_API heapwise_scope *heapwise_scope_begin(int mode, int flags);

/* Stops counting and fills *out. Returns 0, or -1 if called from a thread (THREAD mode) or task
 * (TASK mode) other than the owner, in which case the scope stays open. Idempotent. */
HEAPWISE_API int heapwise_scope_stop(heapwise_scope *scope, heapwise_scope_stats *out);

/* After stop: copies up to max sites, largest first by `order` (sites with nothing to sort on,
 * e.g. no leaks for BY_LEAKED, are left out); returns how many were written. */
HEAPWISE_API size_t heapwise_scope_sites(heapwise_scope *scope, int order, heapwise_scope_site *out,
                                         size_t max);

/* Frees the scope, stopping it first if needed (from any thread: the way to clean up after a
 * stop that returned -1). */
HEAPWISE_API void heapwise_scope_release(heapwise_scope *scope);

/* From now on, in scopes with SITES, an allocation is the runtime's own (counted only in
 * ignored_allocations, its free not counted either) when the function that contains `address`
 * is its frame 1 (the allocator's caller) or, with frame = 2, frame 1 or 2. For frame memory
 * whose place depends on the harness or the build rather than on the code under test: the Swift
 * task allocator's slabs, coroutine frames of unoptimized builds. Returns 0, or -1 if the
 * function's bounds are unknown or 64 functions are already registered. */
HEAPWISE_API int heapwise_scope_ignore_caller(uintptr_t address, int frame);

/* Until the matching end, the calling thread's allocations are the runtime's own in every open
 * scope (counted only in ignored_allocations, their frees not counted either), with or without
 * SITES. Nests; an end without a begin does nothing. For work whose cost depends on what ran
 * before rather than on the code under test, such as the first import of a Python module (the
 * heapwise Python package brackets each one). Neither function allocates or locks. */
HEAPWISE_API void heapwise_scope_ignore_begin(void);
HEAPWISE_API void heapwise_scope_ignore_end(void);

/* The code object behind a Python frame of a site: *body and *length are set to its description
 * in the PYCODE record's form (docs/FORMAT.md: id, first line, file name, qualified name, line
 * table), which stays valid for the life of the process. Returns 0, or -1 for an unknown id. */
HEAPWISE_API int heapwise_python_code(uint32_t code_id, const void **body, size_t *length);

#ifdef __cplusplus
}
#endif
#endif /* HEAPWISE_SCOPE_H */
