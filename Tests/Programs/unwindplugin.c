/* Loaded and unloaded in turn by unwindcheck.c "dlopen". Built in several variants (-DVARIANT=n)
 * whose code differs in size, so a return address at one address means a different function (and
 * a different unwind rule) in each: a walker that kept rules across dlclose would go wrong. */
#include <stdlib.h>
#ifndef VARIANT
#define VARIANT 0
#endif
static void *volatile kept;
#define PAD(n) __attribute__((noinline)) void pad##n(void) { kept = malloc(n); free(kept); }
#if VARIANT >= 1
PAD(1) PAD(2) PAD(3)
#endif
#if VARIANT >= 2
PAD(4) PAD(5) PAD(6) PAD(7) PAD(8) PAD(9)
#endif
static __attribute__((noinline)) void *inner(int n) {
  char *buf = __builtin_alloca(16 + VARIANT * 32);
  buf[0] = (char)n;
  kept = buf;
  return malloc(3000 + (size_t)n);
}
static __attribute__((noinline)) void *middle(int n) { void *p = inner(n + VARIANT); kept = NULL; return p; }
__attribute__((noinline)) void *plugin_make(void) { return middle(VARIANT); }
