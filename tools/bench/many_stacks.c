/* many_stacks.c: one allocation from each of N distinct call stacks (default 100000), for the HTML
 * report's big-dump case and the recorder's stack ids. Each stack is a path through a binary tree
 * of calls 17 levels deep (step -> left or right -> step ...), chosen by the bits of the stack's
 * number. Such paths differ by the same return addresses at many positions: a stack hash linear
 * in the addresses gave 100000 of them 714 ids.
 *
 *   cc -O0 -g -o many_stacks tools/bench/many_stacks.c && heapwise record -o many.heapwise -- ./many_stacks
 */
#include <stdlib.h>

enum { LEVELS = 17 };
static void *sink[1 << LEVELS];
static int made;

void step(int depth, unsigned path);
__attribute__((noinline)) void left(int depth, unsigned path) { step(depth, path); __asm__ volatile(""); }
__attribute__((noinline)) void right(int depth, unsigned path) { step(depth, path); __asm__ volatile(""); }

__attribute__((noinline)) void step(int depth, unsigned path) {
  if (depth == 0) {
    int i = made++;
    sink[i] = malloc(16 + (size_t)i % 64);
    return;
  }
  if (path & 1) left(depth - 1, path >> 1); else right(depth - 1, path >> 1);
  __asm__ volatile("");
}

int main(int argc, char **argv) {
  unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 100000;
  if (n > 1u << LEVELS) n = 1u << LEVELS;
  for (unsigned p = 0; p < n; p++) step(LEVELS, p);
  /* Half of them freed: the allocated and live views differ. */
  for (unsigned p = 0; p < n; p += 2) free(sink[p]);
  return 0;
}
