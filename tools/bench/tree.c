/* A tree-shaped workload: a recursive walk of a complete binary tree of depth 12 that allocates at
 * every node, through a left and a right call site, repeated until PAIRS allocations were made.
 * Consecutive stacks share their outer frames and differ in their inner ones (8,191 distinct
 * stacks), like a parser or a tree of objects being built; each block is freed when the walk
 * returns from its node.
 * Usage: tree [pairs]   (default 10,000,000) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static volatile unsigned sink;
static uint64_t made;

static __attribute__((noinline)) void node(int depth) {
  char *p = malloc(24 + (size_t)depth * 8);
  p[0] = (char)depth;
  made++;
  if (depth > 0) {
    node(depth - 1); /* the left child */
    sink = 1;
    node(depth - 1); /* the right child: another return address */
    sink = 2;
  }
  free(p);
}

int main(int argc, char **argv) {
  uint64_t pairs = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000ull;
  while (made < pairs) node(12);
  printf("%llu pairs\n", (unsigned long long)made);
  return 0;
}
