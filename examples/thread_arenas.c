/* thread_arenas.c: retention in glibc's thread arenas.
 *
 * Four worker threads each fill their own arena (glibc gives threads separate arenas, mapped as
 * 64 MiB-aligned heaps away from the main heap) and free all but every 50th block. The summary
 * splits the retention by heap and names the surviving blocks that pin it.
 *
 *   cc -O1 -g -pthread -I../CShim/include -o thread_arenas thread_arenas.c
 *   heapwise record -o arenas.heapwise -- ./thread_arenas
 *   heapwise summary arenas.heapwise
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heapwise.h"

enum { THREADS = 4, BLOCK = 400, KEEP_EVERY = 50 };

static size_t blocks_per_thread = 40000;

__attribute__((noinline)) static char *work_item(void) {
  char *p = malloc(BLOCK);
  memset(p, 1, BLOCK);
  return p;
}

static void *worker(void *arg) {
  (void)arg;
  char **items = malloc(blocks_per_thread * sizeof *items);
  for (size_t i = 0; i < blocks_per_thread; i++) items[i] = work_item();
  for (size_t i = 0; i < blocks_per_thread; i++)
    if (i % KEEP_EVERY != 0) free(items[i]);
  return items; /* the survivors stay: a per-thread cache */
}

int main(int argc, char **argv) {
  if (argc > 1) blocks_per_thread = strtoul(argv[1], NULL, 10);
  pthread_t threads[THREADS];
  for (int i = 0; i < THREADS; i++) pthread_create(&threads[i], NULL, worker, NULL);
  for (int i = 0; i < THREADS; i++) pthread_join(threads[i], NULL);
  heapwise_mark("joined");
  heapwise_mark("idle1");
  heapwise_mark("idle2");
  printf("%d threads kept every %dth of %zu blocks\n", THREADS, KEEP_EVERY, blocks_per_thread);
  return 0;
}
