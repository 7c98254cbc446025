/* liveset.c: the address -> (stack id, size) set behind liveset.h.
 *
 * Open addressing with linear probing over 2 x capacity slots (a power of two), so the set is at
 * most half full when it holds `capacity` blocks. An insert looks at most PROBE_WINDOW slots from
 * the address's home slot; a lookup looks no further than the longest displacement any insert
 * has used so far (`probe_limit`, usually a handful of slots), so a removed slot can simply go back
 * to empty: there are no tombstones, and lookups never depend on where an empty slot is.
 *
 * A slot is claimed by a CAS from EMPTY to BUSY, filled, then published by a release store of its
 * address; remove reads the values after an acquire load of the key and frees the slot with a
 * CAS back to EMPTY. The only writers of one address are the thread that allocated the block and,
 * later, the one that frees it, which the program itself orders (it handed the pointer over).
 *
 * Memory: one anonymous mapping at start-up, touched lazily by the kernel: 24 bytes a slot plus
 * one counter byte per slot for the filter. The default capacity (recorder.c) is 131,072 blocks:
 * 6 MiB of slots and 256 KiB of counters (doubled from 65,536 when C made tiny blocks 17 times as
 * likely to be sampled at 512 KiB: docs/SAMPLING.md), of which only the touched pages become resident.
 */
#include <stdbool.h>
#include <string.h>

#include "hw_internal.h"
#include "liveset.h"

#define EMPTY ((uintptr_t)0)
#define BUSY ((uintptr_t)1) /* claimed, values being written; never a block address */
#define PROBE_WINDOW 64u
#define COUNTER_STUCK 255u

typedef struct {
  _Atomic uintptr_t key;
  _Atomic uint32_t stack;
  _Atomic uint32_t tag; /* the caller's: sampled aggregation keeps the block's rounding seed here */
  _Atomic uint64_t size;
} slot_t;

static _Alignas(32) _Atomic uint8_t no_filter[64];
_Atomic uint8_t *hw_live_filter = no_filter + 31; /* shift 31: two counters (liveset.h) */

static slot_t *slots;
static size_t slot_mask;
static size_t mapped_bytes;
static _Atomic unsigned probe_limit; /* longest displacement used by any insert, plus one */
static _Atomic size_t held;

static inline size_t home_slot(uintptr_t addr) {
  uint64_t h = (uint64_t)addr * 0x9E3779B97F4A7C15ull; /* 2^64 / golden ratio */
  h ^= h >> 31; /* a hash of its own, all 64 bits: the slots and the filter's counters collide independently */
  h *= 0xBF58476D1CE4E5B9ull;
  return (size_t)(h >> 17) & slot_mask;
}

static void pin_pool_so_far(void);

static size_t pow2_at_least(size_t n) {
  size_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

int hw_live_init(size_t capacity) {
  if (slots) return 0;
  if (capacity < 16) capacity = 16;
  if (capacity > ((size_t)1 << 30)) return -1;
  size_t count = pow2_at_least(2 * capacity);
  size_t table_bytes = count * sizeof(slot_t);
  size_t total = table_bytes + count + 32; /* the filter: one counter per slot, placed at its shift */
  void *mem = hw_pages_alloc(total);
  if (!mem) return -1;
  slot_mask = count - 1;
  mapped_bytes = total;
  unsigned bits = 0;
  while (((size_t)1 << bits) < count) bits++;
  slots = mem;
  /* table_bytes is a multiple of 32 (count >= 32), so the filter's address is its shift mod 32
   * (liveset.h). Set before any thread records: start-up runs before the hooks' entry opens. */
  hw_live_filter = (_Atomic uint8_t *)((char *)mem + table_bytes + (32 - bits));
  atomic_thread_fence(memory_order_seq_cst);
  pin_pool_so_far();
  return 0;
}

static void counter_raise(size_t i) {
  uint8_t v = atomic_load_explicit(&hw_live_filter[i], memory_order_relaxed);
  while (v != COUNTER_STUCK &&
         !atomic_compare_exchange_weak_explicit(&hw_live_filter[i], &v, (uint8_t)(v + 1), memory_order_relaxed,
                                                memory_order_relaxed)) {
  }
}

/* Pool blocks (liveset.h). Either the set's readiness is seen by a block handed out after it (which
 * then pins itself), or that block's share of the pool is seen here: the pool's counter update and
 * `pins_ready` are both sequentially consistent, on either side. */
static _Atomic bool pins_ready;

static void pin_pool_so_far(void) {
  atomic_store(&pins_ready, true);
  size_t used = hw_bootstrap_used();
  for (size_t off = 0; off < used; off += 16) counter_raise(hw_live_filter_index((uintptr_t)(hw_bootstrap_pool + off)));
}

void hw_live_pin_pool(uintptr_t addr) {
  if (atomic_load(&pins_ready)) counter_raise(hw_live_filter_index(addr));
}

static void counter_lower(size_t i) {
  uint8_t v = atomic_load_explicit(&hw_live_filter[i], memory_order_relaxed);
  while (v != COUNTER_STUCK && v != 0 &&
         !atomic_compare_exchange_weak_explicit(&hw_live_filter[i], &v, (uint8_t)(v - 1), memory_order_relaxed,
                                                memory_order_relaxed)) {
  }
}

/* The slot holding addr within the probe limit, or NULL. */
static slot_t *find(uintptr_t addr) {
  size_t home = home_slot(addr);
  unsigned limit = atomic_load_explicit(&probe_limit, memory_order_acquire);
  for (unsigned i = 0; i < limit; i++) {
    slot_t *s = &slots[(home + i) & slot_mask];
    if (atomic_load_explicit(&s->key, memory_order_acquire) == addr) return s;
  }
  return NULL;
}

int hw_live_insert(uintptr_t addr, uint32_t stack_id, uint32_t tag, uint64_t size) {
  if (!slots || addr <= BUSY) return -1;
  slot_t *s = find(addr);
  if (s) { /* already present: its free never reached us; the new block replaces it */
    atomic_store_explicit(&s->stack, stack_id, memory_order_relaxed);
    atomic_store_explicit(&s->tag, tag, memory_order_relaxed);
    atomic_store_explicit(&s->size, size, memory_order_relaxed);
    return 0;
  }
  size_t home = home_slot(addr);
  for (unsigned i = 0; i < PROBE_WINDOW; i++) {
    s = &slots[(home + i) & slot_mask];
    uintptr_t expected = EMPTY;
    if (atomic_load_explicit(&s->key, memory_order_relaxed) != EMPTY ||
        !atomic_compare_exchange_strong_explicit(&s->key, &expected, BUSY, memory_order_acquire, memory_order_relaxed))
      continue;
    atomic_store_explicit(&s->stack, stack_id, memory_order_relaxed);
    atomic_store_explicit(&s->tag, tag, memory_order_relaxed);
    atomic_store_explicit(&s->size, size, memory_order_relaxed);
    unsigned limit = atomic_load_explicit(&probe_limit, memory_order_relaxed);
    while (limit < i + 1 &&
           !atomic_compare_exchange_weak_explicit(&probe_limit, &limit, i + 1, memory_order_release, memory_order_relaxed)) {
    }
    counter_raise(hw_live_filter_index(addr));
    atomic_fetch_add_explicit(&held, 1, memory_order_relaxed);
    atomic_store_explicit(&s->key, addr, memory_order_release);
    return 0;
  }
  return -1;
}

int hw_live_remove(uintptr_t addr, uint32_t *stack_id, uint32_t *tag, uint64_t *size) {
  if (!hw_live_maybe(addr)) return -1;
  slot_t *s = find(addr);
  if (!s) return -1;
  uint32_t st = atomic_load_explicit(&s->stack, memory_order_relaxed);
  uint32_t tg = atomic_load_explicit(&s->tag, memory_order_relaxed);
  uint64_t sz = atomic_load_explicit(&s->size, memory_order_relaxed);
  uintptr_t expected = addr;
  if (!atomic_compare_exchange_strong_explicit(&s->key, &expected, EMPTY, memory_order_acq_rel, memory_order_relaxed))
    return -1; /* a second free of the same block, racing the first */
  counter_lower(hw_live_filter_index(addr));
  atomic_fetch_sub_explicit(&held, 1, memory_order_relaxed);
  if (stack_id) *stack_id = st;
  if (tag) *tag = tg;
  if (size) *size = sz;
  return 0;
}

size_t hw_live_count(void) { return atomic_load_explicit(&held, memory_order_relaxed); }
size_t hw_live_memory(void) { return mapped_bytes; }
