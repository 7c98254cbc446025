/* fragmentation.c: retention, not a leak.
 *
 * Fills the heap with many small blocks, then frees all but every 100th. The survivors are spread
 * over the whole heap, so glibc can neither shrink the heap top nor merge the free space into
 * something it returns: RSS stays at the peak while the live heap is 1% of it. The work that
 * follows allocates and frees in steady state, so the live heap is flat across its markers.
 *
 *   cc -O1 -g -I../CShim/include -o fragmentation fragmentation.c
 *   heapwise record --trim-probe -o frag.heapwise -- ./fragmentation [MiB]
 *   heapwise summary frag.heapwise
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heapwise.h"

enum { BLOCK = 512, KEEP_EVERY = 100 };

/* noinline: so the site is this function, not main. */
__attribute__((noinline)) static char *fill_site(size_t i) {
  char *p = malloc(BLOCK);
  memset(p, (int)(i & 0xff), BLOCK); /* touch it: resident */
  return p;
}

__attribute__((noinline)) static void steady_work(void) {
  for (int i = 0; i < 1000; i++) {
    char *tmp = malloc(200);
    tmp[0] = (char)i;
    free(tmp);
  }
}

int main(int argc, char **argv) {
  size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 256;
  size_t count = mib * 1024 * 1024 / BLOCK;
  char **blocks = malloc(count * sizeof *blocks);
  for (size_t i = 0; i < count; i++) blocks[i] = fill_site(i);
  heapwise_mark("filled");
  for (size_t i = 0; i < count; i++)
    if (i % KEEP_EVERY != 0) free(blocks[i]);
  heapwise_mark("freed");
  for (int round = 1; round <= 3; round++) {
    steady_work();
    char name[32];
    snprintf(name, sizeof name, "steady%d", round);
    heapwise_mark(name);
  }
  printf("kept %zu of %zu blocks of %d B\n", count / KEEP_EVERY, count, BLOCK);
  return 0; /* the survivors stay allocated until exit, as in a long-running service */
}
