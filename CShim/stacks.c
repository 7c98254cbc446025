/* stacks.c: gives each distinct stack a small id, once, without locks or malloc.
 *
 * An open-addressing table of (64-bit hash, id) slots in one large lazily-touched mapping. A slot
 * is claimed by a CAS on its hash; the claimer then publishes the id, and a thread that finds the
 * hash spins the few nanoseconds until the id appears. Two different stacks are taken as equal only
 * when their 64-bit hashes are: with a million stacks the chance of any collision is ~3e-8, so the
 * frames themselves are not kept here (they go into the dump once, in the STACK record).
 */
#include <sys/mman.h>

#include "hw_internal.h"

typedef struct slot_s {
  _Atomic uint64_t hash;
  _Atomic uint32_t id;
  uint32_t pad;
} slot_t;

/* 1 Mi slots (16 MiB of address space, touched only where used). A sparse table costs a TLB miss
 * per lookup: with 4 Mi slots, 1,025 stacks spread over 1,025 pages and interning took 13% of the
 * benchmark. A table that fills to 3/4 stops interning and reports stack 0 ("unknown stack"). */
#define TABLE_BITS 20
#define TABLE_SLOTS (1u << TABLE_BITS)
#define TABLE_BYTES ((size_t)TABLE_SLOTS * sizeof(slot_t))
#define TABLE_LIMIT (TABLE_SLOTS / 4 * 3)

static slot_t *table;
static _Atomic uint32_t next_id = 1;
static _Atomic int table_state; /* 0 unmapped, 1 mapping, 2 ready, 3 failed */
static _Atomic int full_reported;

static hw_cold bool table_init(void) {
  int expected = 0;
  if (atomic_compare_exchange_strong(&table_state, &expected, 1)) {
    table = hw_pages_alloc(TABLE_BYTES);
    atomic_store(&table_state, table ? 2 : 3);
  }
  while (atomic_load(&table_state) == 1) {
  }
  return atomic_load(&table_state) == 2;
}

/* Each frame is multiplied by its own odd constant and the products summed: the multiplies are
 * independent, so they pipeline instead of forming one long chain; one final mix spreads the bits. */
static inline uint64_t stack_hash(const uintptr_t *frames, int count) {
  uint64_t a = (uint64_t)count, b = 0;
  int i = 0;
  for (; i + 1 < count; i += 2) {
    a += (frames[i] ^ 0x9E3779B97F4A7C15ull) * (0xff51afd7ed558ccdull + 2 * (uint64_t)i);
    b += (frames[i + 1] ^ 0xC2B2AE3D27D4EB4Full) * (0xc4ceb9fe1a85ec53ull + 2 * (uint64_t)i);
  }
  if (i < count) a += (frames[i] ^ 0x165667B19E3779F9ull) * 0xd6e8feb86659fd93ull;
  uint64_t h = a ^ (b >> 29) ^ (b << 35);
  h ^= h >> 32;
  h *= 0x9FB21C651E98DF25ull;
  h ^= h >> 29;
  return h ? h : 1; /* 0 marks an empty slot */
}

uint32_t hw_stack_intern(const uintptr_t *frames, int count, bool *is_new) {
  *is_new = false;
  if (hw_unlikely(atomic_load_explicit(&table_state, memory_order_acquire) != 2) && !table_init()) return 0;
  uint64_t h = stack_hash(frames, count);
  for (uint32_t i = (uint32_t)h & (TABLE_SLOTS - 1);; i = (i + 1) & (TABLE_SLOTS - 1)) {
    slot_t *s = &table[i];
    uint64_t cur = atomic_load_explicit(&s->hash, memory_order_acquire);
    if (cur == 0) {
      if (atomic_load_explicit(&next_id, memory_order_relaxed) >= TABLE_LIMIT) {
        if (!atomic_exchange(&full_reported, 1)) hw_log("stack table full; new stacks are recorded as unknown");
        return 0;
      }
      if (!atomic_compare_exchange_strong_explicit(&s->hash, &cur, h, memory_order_acq_rel, memory_order_acquire)) {
        if (cur != h) continue; /* another stack took this slot: keep probing */
      } else {
        uint32_t id = atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed);
        atomic_store_explicit(&s->id, id, memory_order_release);
        *is_new = true;
        return id;
      }
    }
    if (cur == h) {
      uint32_t id;
      while ((id = atomic_load_explicit(&s->id, memory_order_acquire)) == 0) {
      }
      return id;
    }
  }
}

uint32_t hw_stacks_count(void) { return atomic_load(&next_id) - 1; }

/* Slots are touched sparsely; count them by the stacks, which is what drives it. */
size_t hw_stacks_memory(void) {
  size_t touched = (size_t)hw_stacks_count() * 4096;
  return touched < TABLE_BYTES ? touched : TABLE_BYTES;
}

void hw_stacks_reset(void) {
  if (atomic_load(&table_state) == 2) madvise(table, TABLE_BYTES, MADV_DONTNEED); /* zero on next touch */
  atomic_store(&next_id, 1);
  atomic_store(&full_reported, 0);
}
