/* liveset.h: the blocks the recorder chose to remember (sampled blocks, or the aggregate mode's
 * per-site live blocks), keyed by address, with their stack id and size.
 *
 * Usable from the malloc/free hooks on any thread: lock-free, and it never allocates after
 * hw_live_init (one mmap at start-up). Bounded: it holds at least `capacity` blocks; when an
 * insert finds no free slot within its probe window it returns -1 and the caller decides (the
 * sampler then leaves the block unrecorded and counts it, docs/SAMPLING.md).
 *
 * The fast negative check: a table of 8-bit counters indexed by a hash of the address, raised on
 * insert and lowered on remove. hw_live_maybe is one multiply, one shift and one byte load; a zero counter
 * means the address is certainly absent, so freeing a block that was never inserted costs that
 * and nothing else. A counter that reaches 255 stays there (only a false positive more).
 *
 * Each address is expected at most once (a block is live once). An insert of an address that is
 * already present replaces its values (a block whose free never reached the hooks).
 */
#ifndef HW_LIVESET_H
#define HW_LIVESET_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

int hw_live_init(size_t capacity);                                       /* 0 on success; once at start-up */
/* `tag`: 32 bits the caller keeps with the block (sampled aggregation: its rounding seed). */
int hw_live_insert(uintptr_t addr, uint32_t stack_id, uint32_t tag, uint64_t size);    /* 0 ok, -1 full */
int hw_live_remove(uintptr_t addr, uint32_t *stack_id, uint32_t *tag, uint64_t *size); /* 0 found, -1 absent */
size_t hw_live_count(void);  /* blocks held now */
size_t hw_live_memory(void); /* bytes mapped for the set */

/* Raises addr's counter for good (never lowered: no remove matches it), once the set exists: the
 * bootstrap pool's blocks (bootstrap.c), so that the sampling entry's free (hooks.c) needs no range
 * check of its own to leave them alone. hw_live_init pins every 16-byte step of the pool used
 * before it, and a block handed out later pins itself (hw_live_pin_pool). */
void hw_live_pin_pool(uintptr_t addr);

/* A filter: a table of counters indexed by a multiplicative hash of the address's low 32 bits,
 * whose top log2(counters) bits pick the counter. The table's address is its shift (32 minus those
 * bits) modulo 32, so that the hooks' entry (entry.c) reads one word for both, and a shift by the
 * address itself takes only its low 5 bits. (Addresses that differ only above bit 31 share a
 * counter: a false positive more, never a wrong answer.) */
#define HW_LIVE_HASH 0x9E3779B1u /* 2^32 / golden ratio: spreads aligned addresses */
static inline size_t hw_filter_index(uintptr_t table, uintptr_t addr) {
  return (size_t)(((uint32_t)addr * HW_LIVE_HASH) >> (table & 31));
}

/* The liveset's filter, for the inline check. Before hw_live_init it is two zero counters, so the
 * check needs no branch for "not initialised". */
extern _Atomic uint8_t *hw_live_filter __attribute__((visibility("hidden")));

static inline size_t hw_live_filter_index(uintptr_t addr) { return hw_filter_index((uintptr_t)hw_live_filter, addr); }

/* 0 = certainly absent (the fast path); nonzero = maybe present, ask hw_live_remove. */
static inline int hw_live_maybe(uintptr_t addr) {
  return atomic_load_explicit(&hw_live_filter[hw_live_filter_index(addr)], memory_order_relaxed) != 0;
}

#endif /* HW_LIVESET_H */
