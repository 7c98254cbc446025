#define _GNU_SOURCE /* mremap */
/* Ground truth: every interposed function, called a known number of times.
 * Expected (RecorderTests.swift): see the counts in comments. Leaks exactly 3 blocks, 3 * 1000 B.
 * With argument "portable", skips reallocarray and pvalloc, which jemalloc does not define (glibc's
 * would then allocate from another heap than jemalloc's free returns to, a crash without heapwise). */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv) {
  int portable = argc > 1 && argv[1][0] == 'p';
  void *keep[3];
  for (int i = 0; i < 10; i++) free(malloc(100));            /* malloc 10, free 10 */
  for (int i = 0; i < 5; i++) free(calloc(4, 25));           /* calloc 5 (100 B each), free 5 */
  char *volatile none = NULL; /* a literal NULL lets the compiler turn realloc into malloc */
  char *r = realloc(none, 64);                               /* realloc: alloc only */
  r = realloc(r, 4096);                                      /* realloc: free + alloc */
  r = realloc(r, 0);                                         /* glibc frees, returns NULL: free only */
  if (!portable) {
    int *ra = reallocarray(NULL, 8, sizeof(int));            /* reallocarray: alloc only */
    ra = reallocarray(ra, 16, sizeof(int));                  /* reallocarray: free + alloc */
    size_t huge = (size_t)1 << 62;                           /* overflows: fails, nothing recorded */
    if (reallocarray(ra, huge, 8) != NULL) return 9;
    free(ra);                                                /* free */
  }
  for (int i = 0; i < 3; i++) {                              /* posix_memalign 3, free 3 */
    void *p;
    if (posix_memalign(&p, 64, 200) == 0) free(p);
  }
  free(aligned_alloc(128, 256));                             /* aligned_alloc, free */
  free(aligned_alloc(128, 256));                             /* aligned_alloc, free */
  free(memalign(32, 300));                                   /* memalign, free */
  free(memalign(32, 300));                                   /* memalign, free */
  free(valloc(500));                                         /* valloc, free */
  if (!portable) free(pvalloc(600));                         /* pvalloc, free */
  for (int i = 0; i < 3; i++) keep[i] = malloc(1000);        /* malloc 3, leaked */
  long page = sysconf(_SC_PAGESIZE);
  char *m = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  memset(m, 1, 4 * page);
  madvise(m + 3 * page, page, MADV_DONTNEED);                /* madvise: one page given back */
  madvise(m, page, MADV_WILLNEED);                           /* not a purge: not recorded */
  mprotect(m, page, PROT_READ);                              /* mprotect */
  munmap(m + page, page);                                    /* partial unmap: a hole */
  m = mremap(m + 2 * page, 2 * page, 8 * page, MREMAP_MAYMOVE); /* grow the tail part */
  (void)m;
  return keep[0] == keep[1];
}
