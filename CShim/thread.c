/* thread.c: each recording thread's stream, and the encoder that appends records to its buffer.
 *
 * A thread's state is found through one initial-exec TLS pointer. States live in pages from the
 * kernel and are recycled: when a thread has exited (the last round of its key destructor), its
 * buffer goes to the writer and its state to a free list that the next new thread takes from, so
 * the recorder's memory follows the threads alive at once, not every thread ever started. Every
 * state ever made stays on the `registered` list (once), which hw_thread_flush_all walks at exit.
 *
 * Hand-over at exit: the exiting thread swaps each state's buffer pointer to NULL and writes what
 * the buffer held. A thread still running finds NULL and records no more. What it was appending at
 * that instant is lost (one event at most per thread); if it was just replacing a full buffer, that
 * buffer may be written twice under one (stream, seq), which readers ignore.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/prctl.h>

#include "encoder.h"
#include "hw_format.h"
#include "hw_internal.h"

/* hw_tls_thread: a field of hw_tls_hot (hw_internal.h) */
static _Atomic(hw_thread_t *) registered;
static _Atomic uint32_t next_stream = 1;

/* COARSE TIME. While one thread records, file order alone orders its events, and timestamps only
 * place them in time: frames then carry deltas in units of 2^16 (about 0.4 ms), floored. That made
 * the dump of a single-threaded workload ~2 bytes per malloc/free pair smaller. Once a second
 * thread registers, every thread writes full-resolution frames from its next record on. This is
 * safe because each record checks the mode when it is encoded, after the thread has obtained the
 * block it frees (or the address it was given): any exchange with another thread happened after
 * that thread's registration, whose store is then visible here. Floored stamps only move events
 * earlier, so a coarse free still sorts before a reuse elsewhere. */
_Atomic uint32_t hw_streams_registered;
/* hw_tls_registered: a field of hw_tls_hot (platform.c), read with the stamps */

static hw_thread_t *state_pages;
static size_t states_used, states_cap;
static hw_thread_t *retired;             /* states whose threads have exited, for reuse */
static atomic_flag states_lock = ATOMIC_FLAG_INIT; /* thread start and exit only, never per event */
static _Atomic size_t states_memory;
/* What an exited thread's TLS points to: no buffer, so whatever it still allocates on its way
 * out (after the last destructor round) is not recorded, and no new state is made for it. */
static hw_thread_t gone;

static pthread_key_t exit_key;
static _Atomic int exit_key_ready;

static void lock_states(void) {
  while (atomic_flag_test_and_set_explicit(&states_lock, memory_order_acquire)) sched_yield();
}
static void unlock_states(void) { atomic_flag_clear_explicit(&states_lock, memory_order_release); }

/* A recycled state (already on `registered`), or a new one, with *fresh set. */
static hw_thread_t *new_state(bool *fresh) {
  lock_states();
  hw_thread_t *t = retired;
  if (t) {
    retired = t->next_free;
    unlock_states();
    *fresh = false;
    return t;
  }
  *fresh = true;
  if (states_used == states_cap) {
    size_t bytes = 64 * 1024;
    state_pages = hw_pages_alloc(bytes);
    states_cap = state_pages ? bytes / sizeof(hw_thread_t) : 0;
    states_used = 0;
    if (state_pages) atomic_fetch_add(&states_memory, bytes);
  }
  t = states_cap ? &state_pages[states_used++] : NULL;
  unlock_states();
  return t;
}

/* Emits the THREAD record; called on first use and again when a thread ends under a new name. */
static void emit_thread(hw_thread_t *t, uint64_t ts) {
  uint8_t body[64], *p = hw_put_uvarint(body, (uint64_t)t->tid);
  p = hw_put_bytes(p, t->name, strnlen(t->name, sizeof t->name));
  hw_emit_raw(t, ts, HW_TAG_THREAD, body, (size_t)(p - body));
}

static void on_thread_exit(void *arg);

static hw_cold hw_thread_t *register_thread(void) {
  bool fresh;
  hw_thread_t *t = new_state(&fresh);
  if (!t) return NULL;
  t->seq = 0;
  t->destructor_rounds = 0;
  memset(t->name, 0, sizeof t->name);
  t->stream = atomic_fetch_add(&next_stream, 1);
  atomic_fetch_add_explicit(&hw_streams_registered, 1, memory_order_release);
  t->tid = hw_gettid();
  prctl(PR_GET_NAME, t->name, 0, 0, 0);
  /* base_ts is the start, not now: this thread's first record may carry an earlier stamp */
  atomic_store(&t->buffer, hw_buffer_get(t->stream, t->seq, hw_start_ticks));
  if (fresh) {
    hw_thread_t *head = atomic_load(&registered);
    do t->next_registered = head;
    while (!atomic_compare_exchange_weak(&registered, &head, t));
  }
  hw_tls_thread = t;
  hw_tls_registered = true;
  if (atomic_load(&exit_key_ready)) pthread_setspecific(exit_key, t);
  emit_thread(t, hw_now());
  return t;
}

hw_thread_t *hw_thread_current(void) {
  hw_thread_t *t = hw_tls_thread;
  if (hw_likely(t)) return atomic_load_explicit(&t->buffer, memory_order_relaxed) ? t : NULL;
  int recording = atomic_load(&hw_recording);
  if (hw_unlikely(recording < 0)) { /* the process's first hooked call: see recorder.c */
    hw_recorder_early_start();
    /* Starting registered this thread's stream (the module map opens it): use that one. */
    if ((t = hw_tls_thread)) return atomic_load_explicit(&t->buffer, memory_order_relaxed) ? t : NULL;
    recording = atomic_load(&hw_recording);
  }
  return recording > 0 ? register_thread() : NULL;
}

/* Thread exit: hand the buffer over. Other libraries' key destructors may still allocate after
 * ours, so the state stays usable and re-arms the destructor for the rounds glibc allows; in the
 * last round the state is retired (see the top of this file). */
#define EXIT_ROUNDS 3 /* of glibc's PTHREAD_DESTRUCTOR_ITERATIONS (4) */
static void on_thread_exit(void *arg) {
  hw_thread_t *t = arg;
  hw_tls_busy++;
  char name[16] = {0};
  prctl(PR_GET_NAME, name, 0, 0, 0);
  if (memcmp(name, t->name, sizeof name) != 0 && atomic_load(&t->buffer)) {
    memcpy(t->name, name, sizeof name);
    emit_thread(t, hw_now());
  }
  bool last = ++t->destructor_rounds >= EXIT_ROUNDS;
  hw_buffer_t *b = atomic_load(&t->buffer);
  if (b && (b->used || last) && atomic_compare_exchange_strong(&t->buffer, &b, NULL)) {
    uint64_t last_ts = b->last_ts;
    if (b->used) hw_buffer_submit(b);
    else hw_buffer_release(b);
    if (!last && atomic_load(&hw_recording) > 0)
      atomic_store(&t->buffer, hw_buffer_get(t->stream, ++t->seq, last_ts));
  }
  if (!last) {
    pthread_setspecific(exit_key, t);
  } else if (hw_tls_thread == t) {
    /* The buffer is NULL (taken above, or by hw_thread_flush_all at exit): nothing of this
     * thread refers to the state any more, and a new thread may have it. */
    hw_tls_thread = &gone;
    hw_tls_registered = false;
    lock_states();
    t->next_free = retired;
    retired = t;
    unlock_states();
  }
  hw_tls_busy--;
}

/* The program's first thread starts the writer thread (writer.c, "who writes"). Threads made
 * inside glibc (timer_create's helper) bypass this: the recording threads then write inline. */
HW_EXPORT int pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *), void *arg) {
  if (hw_unlikely(!hw_real.pthread_create)) hw_bootstrap();
  if (hw_unlikely(!hw_real.pthread_create)) return EAGAIN;
  if (atomic_load_explicit(&hw_recording, memory_order_relaxed) > 0) hw_writer_spawn();
  return hw_real.pthread_create(thread, attr, start, arg);
}

void hw_thread_init(void) {
  if (pthread_key_create(&exit_key, on_thread_exit) == 0) atomic_store(&exit_key_ready, 1);
}

void hw_thread_flush_all(void) {
  for (hw_thread_t *t = atomic_load(&registered); t; t = t->next_registered) {
    hw_buffer_t *b = atomic_exchange(&t->buffer, NULL);
    if (b && b->used) hw_buffer_submit(b);
  }
}

void hw_thread_after_fork_child(void) {
  /* The other threads are gone and their buffers hold the parent's events: start over. */
  atomic_store(&registered, NULL);
  atomic_store(&next_stream, 1);
  atomic_store(&hw_streams_registered, 0);
  atomic_flag_clear(&states_lock);
  retired = NULL;
  hw_tls_thread = NULL;
  hw_tls_registered = false;
}

size_t hw_threads_memory(void) { return atomic_load(&states_memory); }

/* ---- the encoder ---------------------------------------------------------------------------
 * Each emitter reserves its worst case once, then writes with no further checks. A full buffer
 * goes to the writer and a fresh one starts, whose base_ts is the record's own timestamp.
 * hw_record_begin and the ALLOC/FREE encoders are in encoder.h (inlined into the hooks). */

static hw_noinline uint8_t *rotate(hw_thread_t *t, uint64_t ts, size_t need) {
  hw_buffer_t *b = atomic_load_explicit(&t->buffer, memory_order_relaxed);
  hw_buffer_t *fresh = hw_buffer_get(t->stream, t->seq + 1, ts);
  if (!fresh) return NULL;
  if (!atomic_compare_exchange_strong(&t->buffer, &b, fresh)) {
    hw_buffer_release(fresh); /* taken at exit meanwhile: stop */
    return NULL;
  }
  t->seq++;
  hw_buffer_submit(b);
  return fresh->data;
}

static _Atomic int too_large_reported;
hw_cold uint8_t *hw_record_too_large(size_t need) {
  if (!atomic_exchange(&too_large_reported, 1)) hw_log("a %zu-byte record does not fit a buffer; dropped", need);
  return NULL;
}

hw_noinline hw_buffer_t *hw_record_refill(hw_thread_t *t, uint64_t ts, size_t need, bool coarse) {
  hw_buffer_t *b = atomic_load_explicit(&t->buffer, memory_order_relaxed);
  if (b->used == 0) {
    b->coarse_time = coarse;
  } else {
    if (!rotate(t, ts, need)) return NULL;
    b = atomic_load_explicit(&t->buffer, memory_order_relaxed);
    b->coarse_time = coarse;
  }
  if (coarse) b->base_ts = b->last_ts = b->last_ts >> HW_COARSE_SHIFT << HW_COARSE_SHIFT;
  return b;
}

void hw_emit_alloc(hw_thread_t *t, uint64_t ts, int fn, uintptr_t addr, size_t size, uint32_t stack) {
  hw_encode_alloc(t, ts, fn, addr, size, stack);
}

void hw_emit_free(hw_thread_t *t, uint64_t ts, int fn, uintptr_t addr) { hw_encode_free(t, ts, fn, addr); }

void hw_emit_mmap(hw_thread_t *t, uint64_t ts, uintptr_t addr, size_t len, int prot, int flags, int fd,
                  uint32_t stack) {
  hw_buffer_t *b = NULL;
  uint8_t *p = hw_record_begin(t, ts, HW_TAG_MMAP, HW_RECORD_MAX + 2 * HW_VARINT_MAX, &b);
  if (!p) return;
  p = hw_record_addr(b, p, addr);
  p = hw_put_uvarint(p, len);
  p = hw_put_uvarint(p, (uint64_t)(unsigned)prot);
  p = hw_put_uvarint(p, (uint64_t)(unsigned)flags);
  p = hw_put_svarint(p, fd);
  hw_record_commit(b, hw_put_uvarint(p, stack));
}

void hw_emit_munmap(hw_thread_t *t, uint64_t ts, uintptr_t addr, size_t len) {
  hw_buffer_t *b = NULL;
  uint8_t *p = hw_record_begin(t, ts, HW_TAG_MUNMAP, HW_RECORD_MAX, &b);
  if (!p) return;
  p = hw_record_addr(b, p, addr);
  hw_record_commit(b, hw_put_uvarint(p, len));
}

void hw_emit_mremap(hw_thread_t *t, uint64_t ts, uintptr_t old_addr, size_t old_len, uintptr_t new_addr,
                    size_t new_len, uint32_t stack) {
  hw_buffer_t *b = NULL;
  uint8_t *p = hw_record_begin(t, ts, HW_TAG_MREMAP, HW_RECORD_MAX, &b);
  if (!p) return;
  p = hw_record_addr(b, p, old_addr);
  p = hw_put_uvarint(p, old_len);
  p = hw_record_addr(b, p, new_addr);
  p = hw_put_uvarint(p, new_len);
  hw_record_commit(b, hw_put_uvarint(p, stack));
}

void hw_emit_stack(hw_thread_t *t, uint64_t ts, uint32_t id, const uintptr_t *frames, int count) {
  hw_buffer_t *b = NULL;
  uint8_t *p = hw_record_begin(t, ts, HW_TAG_STACK, 1 + 3 * HW_VARINT_MAX + (size_t)count * HW_VARINT_MAX, &b);
  if (!p) return;
  p = hw_put_uvarint(p, id);
  p = hw_put_uvarint(p, (uint64_t)count);
  uintptr_t prev = 0;
  for (int i = 0; i < count; i++) {
    p = hw_put_svarint(p, (int64_t)(frames[i] - prev));
    prev = frames[i];
  }
  hw_record_commit(b, p);
}

void hw_emit_marker(hw_thread_t *t, uint64_t ts, int source, const char *name) {
  size_t len = strnlen(name, 1024);
  hw_buffer_t *b = NULL;
  uint8_t *p = hw_record_begin(t, ts, HW_TAG_MARKER, 1 + 3 * HW_VARINT_MAX + len, &b);
  if (!p) return;
  p = hw_put_uvarint(p, (uint64_t)source);
  hw_record_commit(b, hw_put_bytes(p, name, len));
}

void hw_emit_raw(hw_thread_t *t, uint64_t ts, uint8_t tag, const uint8_t *body, size_t len) {
  bool skippable = tag >= HW_TAG_SKIPPABLE && tag != HW_TAG_END;
  hw_buffer_t *b = NULL;
  uint8_t *p = hw_record_begin(t, ts, tag, 1 + 2 * HW_VARINT_MAX + len, &b);
  if (!p) return;
  if (skippable) p = hw_put_uvarint(p, len);
  memcpy(p, body, len);
  hw_record_commit(b, p + len);
}

void hw_thread_submit(hw_thread_t *t) {
  hw_buffer_t *b = atomic_load_explicit(&t->buffer, memory_order_relaxed);
  if (b && b->used) rotate(t, b->last_ts, 0);
}
