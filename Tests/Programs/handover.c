/* Ground truth for a block freed on another thread than the one that allocated it, at the moment
 * the free's stamp is most likely to run ahead of the exchange that received the block: the
 * consumer asks for a block, then stores to lines it flushed from the cache, so that its exchange
 * of the slot (a locked instruction, which waits for those stores to drain) completes late, after
 * the producer has allocated the block and published it. An unordered TSC read in the free's hook
 * executes meanwhile and is earlier than the allocation's stamp: the free then replays before its
 * allocation. At exit no block of SIZE bytes is live and no free is unmatched. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#define ROUNDS 20000
#define SIZE 56
#define COLD_LINES 24 /* enough that the drain outlasts the producer's allocation (fewer hid it) */

static char cold[COLD_LINES][4096] __attribute__((aligned(4096)));
static _Atomic(void *) slot __attribute__((aligned(64)));
static _Atomic int request __attribute__((aligned(64)));

/* A spin that yields now and then, so that a loaded machine, where the two threads share a CPU,
 * only makes the run slower. */
#define SPIN_UNTIL(cond)                                                                               \
  for (int n_ = 0; !(cond); n_++)                                                                     \
    if (n_ > 10000) sched_yield(), n_ = 0

static void *producer(void *arg) {
  (void)arg;
  for (int i = 1; i <= ROUNDS; i++) {
    SPIN_UNTIL(atomic_load_explicit(&request, memory_order_acquire) == i);
    atomic_store_explicit(&slot, malloc(SIZE), memory_order_release);
  }
  return NULL;
}

static void *consumer(void *arg) {
  (void)arg;
  for (int i = 1; i <= ROUNDS; i++) {
#if defined(__x86_64__)
    for (int k = 0; k < COLD_LINES; k++) __builtin_ia32_clflush(cold[k]);
    __builtin_ia32_mfence();
#endif
    atomic_exchange(&request, i); /* locked: visible to the producer before the stores below */
    for (int k = 0; k < COLD_LINES; k++) cold[k][0] = (char)i;
    void *p = atomic_exchange(&slot, NULL);
    if (__builtin_expect(p == NULL, 0)) SPIN_UNTIL((p = atomic_exchange(&slot, NULL)) != NULL);
    free(p);
  }
  return NULL;
}

int main(void) {
  pthread_t t[2];
  pthread_create(&t[0], NULL, producer, NULL);
  pthread_create(&t[1], NULL, consumer, NULL);
  pthread_join(t[0], NULL);
  pthread_join(t[1], NULL);
  return 0;
}
