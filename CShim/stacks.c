/* stacks.c: gives each distinct stack a small id, once, without locks or malloc.
 *
 * An open-addressing table of (64-bit hash, id) slots. A slot is claimed by a CAS on its hash; the
 * claimer then publishes the id, and a thread that finds the hash spins the few nanoseconds until
 * the id appears. Two different stacks are taken as equal only when their 64-bit hashes are: with a
 * million stacks the chance of any collision is ~3e-8, so frames are not kept here (they go into
 * the dump once, in the STACK record).
 *
 * The table starts small and dense and grows by copying: a lookup that misses the cache costs a
 * TLB miss too when slots are spread thin (a fixed 1 Mi-slot table spent 15% of the benchmark on
 * one load). A stack interned into the old table while the copy runs is interned again in the new
 * one under a second id: two STACK records with the same frames, which the analyzer merges by site.
 */
#include <sys/mman.h>

#include "hw_internal.h"
#include "stack_hint.h"

__thread hw_stack_hint_t hw_stack_hint __attribute__((tls_model("initial-exec")));
_Atomic uint32_t hw_stacks_epoch = 1;

typedef struct slot_s {
  _Atomic uint64_t hash;
  _Atomic uint32_t id;
  uint32_t pad;
} slot_t;

typedef struct table_s {
  uint32_t mask;
  uint32_t grow_at;          /* half full: the next table is started */
  _Atomic uint32_t used;
  slot_t slots[];
} table_t;

#define FIRST_BITS 14  /* 16 Ki slots, 256 KiB */
#define LAST_BITS 24   /* 16 Mi slots; past 3/4 of it new stacks are "unknown" (id 0) */
#define GROWTH_BITS 2  /* x4 each time */

static _Atomic(table_t *) current;
static _Atomic uint32_t next_id = 1;
static _Atomic int growing;
static _Atomic int full_reported;
static _Atomic size_t table_bytes;

static table_t *new_table(unsigned bits) {
  size_t bytes = sizeof(table_t) + ((size_t)1 << bits) * sizeof(slot_t);
  table_t *t = hw_pages_alloc(bytes);
  if (!t) return NULL;
  t->mask = (1u << bits) - 1;
  t->grow_at = bits < LAST_BITS ? (1u << bits) / 2 : (1u << bits) / 4 * 3;
  atomic_fetch_add(&table_bytes, bytes);
  return t;
}

static hw_cold table_t *first_table(void) {
  int expected = 0;
  if (atomic_compare_exchange_strong(&growing, &expected, 1)) {
    if (!atomic_load(&current)) atomic_store(&current, new_table(FIRST_BITS));
    atomic_store(&growing, 0);
  }
  while (atomic_load(&growing)) {
  }
  return atomic_load(&current);
}

/* One thread copies every published slot into a table four times larger, then publishes it.
 * Old tables stay mapped: other threads may still be reading them. */
static hw_cold void grow(table_t *old) {
  int expected = 0;
  unsigned bits = (unsigned)__builtin_popcount(old->mask) + GROWTH_BITS;
  if (bits > LAST_BITS || !atomic_compare_exchange_strong(&growing, &expected, 1)) return;
  table_t *t = atomic_load(&current) == old ? new_table(bits) : NULL;
  if (t) {
    for (uint32_t i = 0; i <= old->mask; i++) {
      uint64_t h = atomic_load(&old->slots[i].hash);
      uint32_t id = atomic_load(&old->slots[i].id);
      if (!h || !id) continue;
      uint32_t j = (uint32_t)h & t->mask;
      while (atomic_load_explicit(&t->slots[j].hash, memory_order_relaxed)) j = (j + 1) & t->mask;
      atomic_store_explicit(&t->slots[j].id, id, memory_order_relaxed);
      atomic_store_explicit(&t->slots[j].hash, h, memory_order_relaxed);
      t->used++;
    }
    atomic_store_explicit(&current, t, memory_order_release);
  }
  atomic_store(&growing, 0);
}

/* Each frame goes through its own multiply-xorshift-multiply (hw_frame_mix) with its position
 * counted from the outermost frame, and the results are summed: the mixes are independent, so
 * they pipeline instead of forming one long chain, and the sum over an unchanged outer part can be
 * kept from one capture to the next (unwind.c). Two sums, even and odd frames, for the pipelining. */
uint64_t hw_stack_sum(const uintptr_t *frames, int count) {
  uint64_t a = 0, b = 0;
  int i = 0;
  for (; i + 1 < count; i += 2) {
    a += hw_frame_mix(frames[i], (uint64_t)(count - i));
    b += hw_frame_mix(frames[i + 1], (uint64_t)(count - i - 1));
  }
  if (i < count) a += hw_frame_mix(frames[i], (uint64_t)(count - i));
  return a + b;
}

static inline uint64_t stack_hash(uint64_t sum, int count) {
  uint64_t h = sum ^ ((uint64_t)count * 0xD6E8FEB86659FD93ull);
  h ^= h >> 32;
  h *= 0x9FB21C651E98DF25ull;
  h ^= h >> 29;
  return h ? h : 1; /* 0 marks an empty slot */
}

uint32_t hw_stack_intern(const uintptr_t *frames, int count, bool *is_new) {
  return hw_stack_intern_summed(frames, count, hw_stack_sum(frames, count), is_new);
}

static uint32_t intern(int count, uint64_t sum, bool *is_new);

/* The path cache's hint (stack_hint.h) first: the same sum and count are the same stack, whose id
 * is then the cached one, or the table's, stored into the cache. */
uint32_t hw_stack_intern_summed(const uintptr_t *frames, int count, uint64_t sum, bool *is_new) {
  (void)frames;
  uint32_t *slot = hw_stack_hint.id;
  if (slot) {
    hw_stack_hint.id = NULL;
    if (hw_likely(hw_stack_hint.sum == sum && hw_stack_hint.count == count)) {
      uint32_t id = *slot;
      if (hw_likely(id != 0)) {
        *is_new = false;
        return id;
      }
      id = intern(count, sum, is_new);
      *slot = id;
      return id;
    }
  }
  return intern(count, sum, is_new);
}

static uint32_t intern(int count, uint64_t sum, bool *is_new) {
  *is_new = false;
  uint64_t h = stack_hash(sum, count);
  /* A loop, not a recursive retry: an -O0 build does not turn the call into a jump, and growth
   * can be retried many times while other threads keep filling the table. */
again:;
  table_t *t = atomic_load_explicit(&current, memory_order_acquire);
  if (hw_unlikely(!t) && !(t = first_table())) return 0;
  for (uint32_t i = (uint32_t)h & t->mask;; i = (i + 1) & t->mask) {
    slot_t *s = &t->slots[i];
    uint64_t cur = atomic_load_explicit(&s->hash, memory_order_acquire);
    if (cur == h) {
      uint32_t id;
      while ((id = atomic_load_explicit(&s->id, memory_order_acquire)) == 0) {
      }
      return id;
    }
    if (cur != 0) continue;
    if (atomic_load_explicit(&t->used, memory_order_relaxed) >= t->grow_at) {
      if (t->mask + 1 >= (1u << LAST_BITS)) {
        if (!atomic_exchange(&full_reported, 1)) hw_log("stack table full; new stacks are recorded as unknown");
        return 0;
      }
      grow(t);
      goto again; /* in the table now current (or this one, if another thread is growing it) */
    }
    if (!atomic_compare_exchange_strong_explicit(&s->hash, &cur, h, memory_order_acq_rel, memory_order_acquire)) {
      if (cur == h) { i = (i - 1) & t->mask; continue; } /* same stack raced us: read its id */
      continue;
    }
    atomic_fetch_add_explicit(&t->used, 1, memory_order_relaxed);
    uint32_t id = atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed);
    atomic_store_explicit(&s->id, id, memory_order_release);
    *is_new = true;
    return id;
  }
}

uint32_t hw_stacks_count(void) { return atomic_load(&next_id) - 1; }

size_t hw_stacks_memory(void) { return atomic_load(&table_bytes); }

/* A forked child with its own dump: every stack must be written again. */
void hw_stacks_reset(void) {
  atomic_fetch_add(&hw_stacks_epoch, 1);
  hw_stack_hint.id = NULL;
  atomic_store(&current, NULL);
  atomic_store(&next_id, 1);
  atomic_store(&growing, 0);
  atomic_store(&full_reported, 0);
}
