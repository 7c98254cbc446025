/* Loaded and unloaded in turn by unwindcheck.c "dlopen", built in variants (-DFRAME=n, all -O2)
 * whose code is laid out identically (the frame sizes all take 32-bit immediates) but whose frames
 * differ in size: the same return address has a different unwind rule in each. A walker that kept
 * rules across dlclose would read the wrong slots in the next variant loaded at the same address. */
#include <stdlib.h>
#ifndef FRAME
#define FRAME 1000
#endif
static __attribute__((noinline)) void *inner(int n) {
  volatile char buf[FRAME];
  buf[n % FRAME] = 1;
  return malloc(3000 + (size_t)n + (size_t)buf[n % FRAME]);
}
static __attribute__((noinline)) void *middle(int n) {
  volatile char buf[FRAME];
  buf[0] = 1;
  void *p = inner(n + buf[0]);
  buf[1] = 2;
  return p;
}
__attribute__((noinline)) void *plugin_make(void) { return middle(FRAME / 1000); }
