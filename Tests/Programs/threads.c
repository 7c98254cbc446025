/* Ground truth for ordering across threads: blocks allocated on one thread are freed on another
 * while a third allocates the same sizes (so the allocator hands the freed addresses out again).
 * At exit exactly LEAKED blocks of SIZE bytes are live, and no free is unmatched. */
#define _GNU_SOURCE /* pthread_setname_np */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#define ROUNDS 20000
#define SIZE 48
#define LEAKED 100
#define SLOTS 64

static _Atomic(void *) mailbox[SLOTS];
static void *kept[2][LEAKED / 2];

static void *producer(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "producer");
  for (int i = 0; i < ROUNDS; i++) {
    void *p = malloc(SIZE);
    _Atomic(void *) *slot = &mailbox[i % SLOTS];
    void *expected = NULL;
    while (!atomic_compare_exchange_weak(slot, &expected, p)) expected = NULL;
  }
  return NULL;
}

static void *consumer(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "consumer");
  for (int i = 0; i < ROUNDS; i++) {
    _Atomic(void *) *slot = &mailbox[i % SLOTS];
    void *p;
    while (!(p = atomic_exchange(slot, NULL))) {
    }
    free(p); /* freed on another thread than the one that allocated it */
  }
  return NULL;
}

static void *reuser(void *arg) {
  int which = (int)(long)arg - 2;
  pthread_setname_np(pthread_self(), which ? "reuser-b" : "reuser-a");
  for (int i = 0; i < ROUNDS; i++) {
    void *p = malloc(SIZE); /* often an address the consumer just freed */
    if (i < LEAKED / 2) kept[which][i] = p;
    else free(p);
  }
  return NULL;
}

int main(void) {
  pthread_t t[4];
  void *(*roles[4])(void *) = {producer, consumer, reuser, reuser};
  for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, roles[i], (void *)(long)i);
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  return 0;
}
