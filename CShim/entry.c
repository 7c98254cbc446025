/* entry.c: the two words that decide, at the very top of malloc, calloc, realloc and free, whether
 * a call goes straight to the real function (hooks.c, "THE ENTRY"; docs/SAMPLING.md, "The hooks'
 * sampling entry").
 *
 * hw_entry_gate, for allocations: a size below it may skip the general path if the thread's
 * countdown (sampling.c) pays for it. R with sampling on; INT64_MAX in an idle process (nothing
 * records, nothing samples: the countdown is then only a budget, refilled every 2^62 bytes);
 * INT64_MIN (closed: every call takes the general path) while anything else must see the calls:
 * full tracking or aggregation, an open scope, and before the configuration is read.
 *
 * hw_entry_filter, for frees: a table of counters whose address also holds the hash's shift in its
 * low 5 bits (liveset.h, hw_filter_index), so that one load gives both. A free skips the general
 * path when its counter is zero. With sampling on it is the liveset's filter (raised for every
 * sampled block and pinned for the bootstrap pool's blocks); in an idle process, a small table
 * with only the pool's blocks pinned; closed, two counters that are never zero.
 *
 * The words are a function of the scope count, the recording flag and the sampling rate, and are
 * recomputed under a lock after every change of those (hw_entry_update): a scope that opens while
 * another closes must find the words closed when heapwise_scope_begin returns, whichever thread
 * stored last. The lock is taken only there (scope begin and end, start-up, a dump's start), never
 * per event, and with every signal blocked: a handler that begins or ends a scope on a thread that
 * holds the lock would otherwise spin on it forever (two system calls a scope, none per event).
 */
#include <sched.h>
#include <signal.h>

#include "hw_internal.h"
#include "liveset.h"

_Atomic int64_t hw_entry_gate = INT64_MIN;

/* Closed: shift 31 (two counters), both raised for good. At an address that is 31 mod 32. */
static _Alignas(32) const uint8_t closed_filter[64] = {[31] = 1, [32] = 1};
_Atomic(const uint8_t *) hw_entry_filter = closed_filter + 31;

/* Idle: 4,096 counters (shift 20), at an address that is 20 mod 32, with the bootstrap pool's
 * blocks pinned as they are handed out (a few dozen: dlsym's buffers). */
#define IDLE_BITS 12
static _Alignas(32) _Atomic uint8_t idle_filter[32 + (1u << IDLE_BITS)];
#define IDLE_TABLE (idle_filter + (32 - IDLE_BITS))

void hw_entry_pin_pool(uintptr_t addr) {
  atomic_store_explicit(&IDLE_TABLE[hw_filter_index((uintptr_t)IDLE_TABLE, addr)], 1, memory_order_relaxed);
}

static atomic_flag entry_lock;

void hw_entry_update(void) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  while (atomic_flag_test_and_set_explicit(&entry_lock, memory_order_acquire)) sched_yield();
  int64_t gate = INT64_MIN;
  const uint8_t *filter = closed_filter + 31;
  if (atomic_load(&hw_scopes_open) == 0) {
    if (hw_sample_rate) { /* set once the liveset is (sampling.c) */
      gate = (int64_t)hw_sample_rate;
      filter = (const uint8_t *)hw_live_filter;
    } else if (atomic_load(&hw_recording) == 0 && hw_real.malloc && hw_real.calloc &&
               hw_real.realloc && hw_real.free) {
      gate = INT64_MAX;
      filter = (const uint8_t *)IDLE_TABLE;
    }
  }
  atomic_store(&hw_entry_gate, gate);
  atomic_store(&hw_entry_filter, filter);
  atomic_flag_clear_explicit(&entry_lock, memory_order_release);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* A forked child has one thread: a lock held by another thread of the parent is never released. */
void hw_entry_after_fork_child(void) {
  atomic_flag_clear(&entry_lock);
  hw_entry_update();
}
