/* queue.c: buffers, and their hand-off from recording threads to the writer.
 *
 * A thread fills one buffer at a time and touches shared state only when it is full (about once
 * per few thousand events): it pushes the buffer on a lock-free stack (Treiber push; the writer
 * takes the whole stack with one exchange and reverses it, so there is no ABA) and takes an empty
 * one from the free list (a short spinlock, since pops from many threads race with the writer's
 * pushes). When the writer falls behind, hw_buffer_get waits: the program slows down, events are
 * never dropped.
 */
#include <sched.h>
#include <time.h>

#include "hw_internal.h"

#define BUFFER_BYTES (64 * 1024)
/* 1024 buffers = 64 MiB waiting for the writer before producers wait for it. */
#define BACKLOG_LIMIT 1024

static _Atomic(hw_buffer_t *) submitted;
static _Atomic size_t backlog;      /* submitted, not yet recycled */
/* The recorder's own memory figure: pages of buffers written at least once, known when a buffer
 * comes back (at most one buffer per live thread is not counted yet). Pages mapped and never
 * touched are not resident, and counting them made the analyzer blame the program's RSS on the
 * recorder. */
static _Atomic size_t touched_bytes;

static hw_buffer_t *free_list;
static atomic_flag free_lock = ATOMIC_FLAG_INIT;

static void lock_free_list(void) {
  while (atomic_flag_test_and_set_explicit(&free_lock, memory_order_acquire)) sched_yield();
}
static void unlock_free_list(void) { atomic_flag_clear_explicit(&free_lock, memory_order_release); }

static hw_cold void wait_for_writer(void) {
  hw_writer_wake();
  struct timespec pause = {0, 200 * 1000};
  while (atomic_load(&backlog) >= BACKLOG_LIMIT && atomic_load(&hw_recording)) nanosleep(&pause, NULL);
}

hw_buffer_t *hw_buffer_get(uint32_t stream, uint32_t seq, uint64_t base_ts) {
  /* Stream 0 is the writer's own: it must never wait for itself. */
  if (hw_unlikely(atomic_load_explicit(&backlog, memory_order_relaxed) >= BACKLOG_LIMIT) && stream != 0)
    wait_for_writer();
  lock_free_list();
  hw_buffer_t *b = free_list;
  if (b) free_list = b->next;
  unlock_free_list();
  if (!b) {
    b = hw_pages_alloc(BUFFER_BYTES);
    if (!b) return NULL;
    b->capacity = BUFFER_BYTES - sizeof(hw_buffer_t);
    b->touched = 0;
  }
  b->next = NULL;
  b->stream = stream;
  b->seq = seq;
  b->base_ts = b->last_ts = base_ts;
  b->prev_addr = 0;
  b->coarse_time = false;
  b->used = 0;
  return b;
}

void hw_buffer_submit(hw_buffer_t *b) {
  atomic_fetch_add_explicit(&backlog, 1, memory_order_relaxed);
  hw_buffer_t *head = atomic_load_explicit(&submitted, memory_order_relaxed);
  do b->next = head;
  while (!atomic_compare_exchange_weak_explicit(&submitted, &head, b, memory_order_release, memory_order_relaxed));
  hw_writer_wake();
}

hw_buffer_t *hw_queue_take_all(void) {
  hw_buffer_t *b = atomic_exchange_explicit(&submitted, NULL, memory_order_acquire);
  hw_buffer_t *oldest_first = NULL;
  while (b) {
    hw_buffer_t *next = b->next;
    b->next = oldest_first;
    oldest_first = b;
    b = next;
  }
  return oldest_first;
}

#define PAGE_ROUND(n) (((n) + sizeof(hw_buffer_t) + 4095) & ~(size_t)4095)

void hw_buffer_release(hw_buffer_t *b) {
  if (b->used > b->touched) {
    atomic_fetch_add(&touched_bytes, PAGE_ROUND(b->used) - (b->touched ? PAGE_ROUND(b->touched) : 0));
    b->touched = b->used;
  }
  lock_free_list();
  b->next = free_list;
  free_list = b;
  unlock_free_list();
}

void hw_buffer_recycle(hw_buffer_t *b) {
  hw_buffer_release(b);
  atomic_fetch_sub_explicit(&backlog, 1, memory_order_relaxed);
}

bool hw_queue_pending(void) { return atomic_load_explicit(&submitted, memory_order_acquire) != NULL; }

size_t hw_buffers_memory(void) { return atomic_load(&touched_bytes); }
size_t hw_queue_backlog(void) { return atomic_load(&backlog) * BUFFER_BYTES; }

/* In a forked child only the forking thread lives: nothing can hold the spinlock any more, and
 * what the parent had queued is the parent's to write. */
void hw_queue_after_fork_child(void) {
  atomic_flag_clear(&free_lock);
  atomic_store(&submitted, NULL);
  atomic_store(&backlog, 0);
}
