/* entry_variants.c: tools/bench/forward.c plus the work of heapwise's sampling entry (hooks.c:
 * fast_unsampled, fast_untracked), in variants, to time the TLS countdown's store-to-load chain
 * (one call's store of the countdown, the next call's load of it) with tools/bench/pair_ticks.c:
 *   V=1 as the entry: the gate, the initial-exec TLS countdown loaded, decreased and stored, the
 *       liveset filter's byte on free;
 *   V=2 the countdown in a plain hidden global (the same chain, no TLS offset load);
 *   V=3 the countdown loaded and compared, never stored (no chain; not a sampler: timing only).
 *   for v in 1 2 3; do cc -O2 -fPIC -shared -DV=$v -o entry$v.so tools/bench/entry_variants.c -ldl; done
 * Not part of heapwise. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static _Alignas(16) unsigned char pool[4096];
static size_t pool_used;
static void *pool_alloc(size_t size) { size = (size + 15) & ~(size_t)15; if (pool_used + size > sizeof pool) return NULL; void *p = pool + pool_used; pool_used += size; return p; }
static int pool_owns(const void *p) { return (uintptr_t)p - (uintptr_t)pool < sizeof pool; }
static __attribute__((cold, noinline)) void resolve(void) {
  static int resolving; if (resolving) return; resolving = 1;
  real_calloc = dlsym(RTLD_NEXT, "calloc"); real_free = dlsym(RTLD_NEXT, "free");
  real_realloc = dlsym(RTLD_NEXT, "realloc"); real_malloc = dlsym(RTLD_NEXT, "malloc");
}
__attribute__((visibility("hidden"))) _Atomic int64_t gate = 524288;
__attribute__((visibility("hidden"))) uint8_t filter_bytes[1 << 17];
__attribute__((visibility("hidden"))) uint8_t *filter = filter_bytes;
__attribute__((visibility("hidden"))) unsigned filter_shift = 64 - 17;
#if V == 2
__attribute__((visibility("hidden"))) int64_t left = (int64_t)1 << 60;
#else
__thread int64_t left __attribute__((tls_model("initial-exec"))) = (int64_t)1 << 60;
#endif
__attribute__((noinline)) void *slow_malloc(size_t size) {
  if (!real_malloc) { resolve(); if (!real_malloc) return pool_alloc(size); }
  left = (int64_t)1 << 60; return real_malloc(size);
}
__attribute__((visibility("default"))) void *malloc(size_t size) {
  if ((int64_t)size < atomic_load_explicit(&gate, memory_order_relaxed) && real_malloc) {
    int64_t l = left - (int64_t)size;
#if V == 3
    if (__builtin_expect(l >= 0, 1)) return real_malloc(size);
#else
    if (__builtin_expect(l >= 0, 1)) { left = l; return real_malloc(size); }
#endif
  }
  return slow_malloc(size);
}
__attribute__((visibility("default"))) void *calloc(size_t n, size_t size) {
  if (__builtin_expect(!real_calloc, 0)) { resolve(); if (!real_calloc) return n && size > SIZE_MAX / n ? NULL : pool_alloc(n * size); }
  return real_calloc(n, size);
}
__attribute__((visibility("default"))) void *realloc(void *p, size_t size) {
  if (__builtin_expect(pool_owns(p), 0)) { void *q = malloc(size); if (q) memcpy(q, p, size < sizeof pool - (size_t)((unsigned char *)p - pool) ? size : sizeof pool - (size_t)((unsigned char *)p - pool)); return q; }
  if (__builtin_expect(!real_realloc, 0)) resolve();
  return real_realloc(p, size);
}
__attribute__((noinline)) void slow_free(void *p) { if (pool_owns(p)) return; if (!real_free) resolve(); real_free(p); }
__attribute__((visibility("default"))) void free(void *p) {
  if (atomic_load_explicit(&gate, memory_order_relaxed) > 0 && !filter[((uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ull) >> filter_shift] && !pool_owns(p) && real_free)
    return real_free(p);
  slow_free(p);
}
