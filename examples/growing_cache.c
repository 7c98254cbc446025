/* growing_cache.c: growing.
 *
 * A cache that never evicts: every batch of requests adds entries keyed by request id, and
 * nothing is ever removed. The live heap rises by the same amount per batch, and the summary
 * names cache_insert as the site that grows.
 *
 *   cc -O1 -g -I../CShim/include -o growing_cache growing_cache.c
 *   heapwise record -o cache.heapwise -- ./growing_cache [batches]
 *   heapwise summary cache.heapwise
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heapwise.h"

struct entry {
  struct entry *next;
  unsigned long request_id;
  char payload[1000];
};

static struct entry *cache;

__attribute__((noinline)) static void cache_insert(unsigned long request_id) {
  struct entry *e = malloc(sizeof *e);
  e->request_id = request_id;
  memset(e->payload, 'x', sizeof e->payload);
  e->next = cache;
  cache = e;
}

/* Per-request scratch memory: allocated and freed, never part of the growth. */
__attribute__((noinline)) static void handle_request(unsigned long id) {
  char *scratch = malloc(4096);
  snprintf(scratch, 4096, "request %lu", id);
  cache_insert(id);
  free(scratch);
}

int main(int argc, char **argv) {
  int batches = argc > 1 ? atoi(argv[1]) : 6;
  unsigned long id = 0;
  for (int b = 1; b <= batches; b++) {
    for (int i = 0; i < 4096; i++) handle_request(id++);
    char name[32];
    snprintf(name, sizeof name, "batch%d", b);
    heapwise_mark(name);
  }
  printf("cached %lu entries\n", id);
  return 0;
}
