/* peak_then_free.c: high-water mark.
 *
 * Loads a large working set, processes it, frees all of it, and then idles. The live heap peaks
 * during "load" and comes back down. Because every block is freed, glibc merges them into the
 * heap top and gives it back: RSS comes down too. (Keep one block alive at the end of the heap
 * and RSS would keep the peak: see fragmentation.c.)
 *
 *   cc -O1 -g -I../CShim/include -o peak_then_free peak_then_free.c
 *   heapwise record -o peak.heapwise -- ./peak_then_free [MiB]
 *   heapwise summary peak.heapwise
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heapwise.h"

enum { BLOCK = 64 * 1024 }; /* below glibc's mmap threshold: from the heap */

__attribute__((noinline)) static char *load_block(size_t i) {
  char *p = malloc(BLOCK);
  memset(p, (int)i, BLOCK);
  return p;
}

int main(int argc, char **argv) {
  size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 128;
  size_t count = mib * 1024 * 1024 / BLOCK;
  char **blocks = malloc(count * sizeof *blocks);
  heapwise_mark("start");
  for (size_t i = 0; i < count; i++) blocks[i] = load_block(i);
  heapwise_mark("loaded");
  unsigned long sum = 0;
  for (size_t i = 0; i < count; i++) sum += (unsigned char)blocks[i][i % BLOCK];
  for (size_t i = count; i-- > 0;) free(blocks[i]);
  free(blocks);
  heapwise_mark("freed");
  heapwise_mark("idle");
  printf("checksum %lu\n", sum);
  return 0;
}
