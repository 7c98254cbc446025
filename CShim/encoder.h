/* encoder.h: a thread's state and the encoder of the two records every malloc/free pair writes
 * (ALLOC, FREE), inline, so that the hooks append them without a call (thread.c has the other
 * records, the buffer's rotation, and the state's life cycle). Only thread.c and hooks.c include
 * this; everything else goes through hw_internal.h's hw_thread_current and hw_emit_*. */
#ifndef HW_ENCODER_H
#define HW_ENCODER_H

#include "hw_format.h"
#include "hw_internal.h"

struct hw_thread_s {
  _Atomic(hw_buffer_t *) buffer;
  hw_thread_t *next_registered;
  hw_thread_t *next_free; /* on `retired` once its thread has exited */
  uint32_t stream;
  uint32_t seq;
  pid_t tid;
  int destructor_rounds;
  char name[16];
  struct hw_pymemo_s *py_memo; /* pyframes.c: merged stacks seen on this thread, kept when the state is recycled */
};

#define hw_tls_thread (hw_tls_hot.thread) /* the calling thread's state, NULL before its first event */

/* hw_thread_current's common case (a registered thread with a buffer) inline, else the call. */
static inline __attribute__((always_inline)) hw_thread_t *hw_thread_here(void) {
  hw_thread_t *t = hw_tls_thread;
  if (hw_likely(t)) return atomic_load_explicit(&t->buffer, memory_order_relaxed) ? t : NULL;
  return hw_thread_current();
}
/* The same, and in *b the buffer it found, for a record encoded right away (hw_encode_free_in):
 * one load of t->buffer, not a second one in hw_record_begin. Like hw_thread_here, a state just
 * made (hw_thread_current) is returned even when it got no buffer (*b NULL then). */
static inline __attribute__((always_inline)) hw_thread_t *hw_thread_here_buffer(hw_buffer_t **b) {
  hw_thread_t *t = hw_tls_thread;
  if (hw_likely(t)) {
    *b = atomic_load_explicit(&t->buffer, memory_order_relaxed);
    return *b ? t : NULL;
  }
  t = hw_thread_current();
  *b = t ? atomic_load_explicit(&t->buffer, memory_order_relaxed) : NULL;
  return t;
}

/* The buffer a record of `need` bytes at ts goes into, when the current one cannot take it (full,
 * or its time mode is not `coarse`): rotated, or re-moded while still empty; NULL when recording
 * stopped for this thread. thread.c. */
hw_buffer_t *hw_record_refill(hw_thread_t *t, uint64_t ts, size_t need, bool coarse);
/* A record larger than any buffer: said once, dropped (returns NULL). */
uint8_t *hw_record_too_large(size_t need);

/* Where the largest buffer record of the two hot records ends: every buffer holds it. */
#define HW_RECORD_MAX (1 + 6 * HW_VARINT_MAX)
#define HW_BUFFER_MIN_ROOM 4096

/* Returns where the record's body goes, after its tag and timestamp delta, and in *out the buffer
 * it goes into (the record's fields and commit use that one, not t->buffer read again); NULL when
 * recording has stopped for this thread. Inlined into each emitter: a call cost the ALLOC/FREE
 * pair 26 instructions of register saves (callgrind, churn). */
/* hw_record_begin with t's buffer as the caller just read it (b, not NULL). */
static inline __attribute__((always_inline)) uint8_t *hw_record_begin_in(hw_thread_t *t, hw_buffer_t *b, uint64_t ts,
                                                                         uint8_t tag, size_t need, hw_buffer_t **out) {
  /* Only an event's record (tags below STACK: blocks, mappings, purges) runs the inline tick: a
   * marker's, sample's or module's is stamped with a reading of its own, which with reused event
   * stamps (hw_stamp_alone) would often be the first past the due time, and the tick's process
   * records would then fall between an API marker and its sample. The tick may have stopped the
   * recording (an I/O failure) and handed the buffer over: read again after it. */
  if (hw_unlikely(ts >= atomic_load_explicit(&hw_inline_tick_due, memory_order_relaxed)) && tag < HW_TAG_STACK) {
    hw_writer_poll_slow();
    b = atomic_load_explicit(&t->buffer, memory_order_relaxed);
    if (hw_unlikely(!b)) return NULL;
  }
  /* A record that no buffer can hold is dropped (said once): writing it would run past the end.
   * Known at compile time for the fixed-size records, which every buffer holds. */
  if (!(__builtin_constant_p(need) && need <= HW_BUFFER_MIN_ROOM) && hw_unlikely(need > b->capacity))
    return hw_record_too_large(need);
  bool coarse = atomic_load_explicit(&hw_streams_registered, memory_order_acquire) <= 1;
  if (hw_unlikely(b->used + need > b->capacity || b->coarse_time != coarse)) {
    b = hw_record_refill(t, ts, need, coarse);
    if (!b) return NULL;
  }
  *out = b;
  return hw_put_record_head(b->data + b->used, tag, ts, &b->last_ts, coarse ? HW_COARSE_SHIFT : 0);
}
static inline __attribute__((always_inline)) uint8_t *hw_record_begin(hw_thread_t *t, uint64_t ts, uint8_t tag,
                                                                      size_t need, hw_buffer_t **out) {
  hw_buffer_t *b = atomic_load_explicit(&t->buffer, memory_order_relaxed);
  if (hw_unlikely(!b)) return NULL;
  return hw_record_begin_in(t, b, ts, tag, need, out);
}

static inline void hw_record_commit(hw_buffer_t *b, uint8_t *end) {
  /* release: hw_thread_flush_all reads `used` from another thread at exit */
  __atomic_store_n(&b->used, (size_t)(end - b->data), __ATOMIC_RELEASE);
}

static inline uint8_t *hw_record_addr(hw_buffer_t *b, uint8_t *p, uintptr_t addr) {
  p = hw_put_svarint(p, (int64_t)(addr - b->prev_addr));
  b->prev_addr = addr;
  return p;
}

static inline __attribute__((always_inline)) void hw_encode_alloc(hw_thread_t *t, uint64_t ts, int fn, uintptr_t addr,
                                                                  size_t size, uint32_t stack) {
  hw_buffer_t *b = NULL;
  uint8_t *p = hw_record_begin(t, ts, (uint8_t)(HW_TAG_ALLOC | fn), HW_RECORD_MAX, &b);
  if (!p) return;
  p = hw_record_addr(b, p, addr);
  p = hw_put_uvarint(p, size);
  hw_record_commit(b, hw_put_uvarint(p, stack));
}

static inline __attribute__((always_inline)) void hw_encode_free(hw_thread_t *t, uint64_t ts, int fn, uintptr_t addr) {
  hw_buffer_t *b = NULL;
  uint8_t *p = hw_record_begin(t, ts, (uint8_t)(HW_TAG_FREE | fn), HW_RECORD_MAX, &b);
  if (p) hw_record_commit(b, hw_record_addr(b, p, addr));
}
/* The same into t's buffer b as hw_thread_here_buffer found it (NULL: nothing is written). */
static inline __attribute__((always_inline)) void hw_encode_free_in(hw_thread_t *t, hw_buffer_t *b, uint64_t ts, int fn,
                                                                    uintptr_t addr) {
  if (hw_unlikely(!b)) return;
  uint8_t *p = hw_record_begin_in(t, b, ts, (uint8_t)(HW_TAG_FREE | fn), HW_RECORD_MAX, &b);
  if (p) hw_record_commit(b, hw_record_addr(b, p, addr));
}

#endif /* HW_ENCODER_H */
