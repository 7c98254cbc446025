/* few_large_blocks.c: held by a few large blocks.
 *
 * The C shape of the pandas case: a "frame" owns two big column buffers; a small "view" of a few
 * rows keeps a pointer to the frame, so freeing everything else frees nothing of substance.
 *
 *   cc -O1 -g -I../CShim/include -o few_large_blocks few_large_blocks.c
 *   heapwise record -o view.heapwise -- ./few_large_blocks [MiB per column] [teardown]
 *   heapwise summary view.heapwise
 *
 * With "teardown" it frees everything before returning, as CPython's finalization does: the
 * blocks are gone at exit, and the verdict has to find them at the last marker.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heapwise.h"

struct frame {
  double *columns[2];
  size_t rows;
};

struct view {
  struct frame *frame; /* keeps the whole frame alive */
  size_t first, count;
};

__attribute__((noinline)) static struct frame *make_frame(size_t rows) {
  struct frame *f = malloc(sizeof *f);
  f->rows = rows;
  for (int c = 0; c < 2; c++) {
    f->columns[c] = malloc(rows * sizeof(double));
    for (size_t r = 0; r < rows; r++) f->columns[c][r] = (double)(r * (c + 1));
  }
  return f;
}

__attribute__((noinline)) static struct view *head(struct frame *f, size_t n) {
  struct view *v = malloc(sizeof *v);
  v->frame = f;
  v->first = 0;
  v->count = n;
  return v;
}

int main(int argc, char **argv) {
  size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 80;
  size_t rows = mib * 1024 * 1024 / sizeof(double);
  struct frame *f = make_frame(rows);
  heapwise_mark("loaded");
  struct view *v = head(f, 5);
  f = NULL; /* "del df": the view still refers to it */
  heapwise_mark("deleted");
  heapwise_mark("later");
  double sum = 0;
  for (size_t i = 0; i < v->count; i++) sum += v->frame->columns[0][v->first + i];
  printf("head sum %.1f\n", sum);
  if (argc > 2 && strcmp(argv[2], "teardown") == 0) {
    for (int c = 0; c < 2; c++) free(v->frame->columns[c]);
    free(v->frame);
    free(v);
  }
  return 0;
}
