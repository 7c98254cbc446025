/* stack_hint.h: a stack id handed from unwind.c's path cache to stacks.c, within one capture.
 *
 * A capture that the path cache answered (unwind.c, "the path cache") knows the stack's sum and
 * frame count, and may know the id it was interned under: the hint carries them to the
 * hw_stack_intern_summed call that follows on the same thread. When the sum and count there are
 * the hint's, the id is the hint's (no hash, no table probe); when the cached id is still 0, the
 * table's answer is stored into the cache for the next capture of that path. Anything else (the
 * stack was merged with Python frames, or another intern came first) ignores and drops it. */
#ifndef HW_STACK_HINT_H
#define HW_STACK_HINT_H

#include <stdint.h>

typedef struct {
  uint32_t *id; /* the path cache's slot for this stack's id (0: not known yet); NULL: no hint */
  uint64_t sum; /* hw_stack_sum of the frames the capture returned */
  int count;    /* their count */
} hw_stack_hint_t;

extern __thread hw_stack_hint_t hw_stack_hint __attribute__((tls_model("initial-exec")));

/* The hint's common case, for the caller of hw_stack_intern_summed to try first (hooks.c): the
 * hint is for this sum and count and its id is known. Returns that id and drops the hint, or 0 and
 * leaves the hint to hw_stack_intern_summed (the stack is then interned, or its id stored). */
static inline uint32_t hw_stack_hint_known(uint64_t sum, int count) {
  uint32_t *slot = hw_stack_hint.id;
  if (slot && hw_stack_hint.sum == sum && hw_stack_hint.count == count) {
    uint32_t id = *slot; /* read once: the store below may alias it for all the compiler knows */
    if (id != 0) hw_stack_hint.id = NULL;
    return id;
  }
  return 0;
}

/* Bumped by hw_stacks_reset (a forked child with its own dump): ids cached before are void. */
extern _Atomic uint32_t hw_stacks_epoch;

#endif
