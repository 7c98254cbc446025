/* forward.c: the floor of any LD_PRELOAD interposer of malloc, for tools/bench/sampling_overhead.py.
 * malloc, calloc, realloc and free do nothing but jump to the next definition (dlsym(RTLD_NEXT)):
 * what a preloaded hook costs before it does anything at all (the extra PLT-to-hook jump, a load
 * of the real function's address, an indirect jump). Not part of heapwise; built by the benchmark:
 *   cc -O2 -fPIC -shared -o forward.so tools/bench/forward.c -ldl
 * dlsym itself calls calloc (its error buffer) before the real one is known: those few calls are
 * served from a static pool that free() recognises and ignores. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);

static _Alignas(16) unsigned char pool[4096];
static size_t pool_used;

static void *pool_alloc(size_t size) {
  size = (size + 15) & ~(size_t)15;
  if (pool_used + size > sizeof pool) return NULL;
  void *p = pool + pool_used;
  pool_used += size;
  return p; /* static storage: already zero */
}

static int pool_owns(const void *p) { return (uintptr_t)p - (uintptr_t)pool < sizeof pool; }

static __attribute__((cold, noinline)) void resolve(void) {
  static int resolving;
  if (resolving) return;
  resolving = 1;
  real_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
  real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
  real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
  real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
}

__attribute__((visibility("default"))) void *malloc(size_t size) {
  if (__builtin_expect(!real_malloc, 0)) {
    resolve();
    if (!real_malloc) return pool_alloc(size);
  }
  return real_malloc(size);
}

__attribute__((visibility("default"))) void *calloc(size_t n, size_t size) {
  if (__builtin_expect(!real_calloc, 0)) {
    resolve();
    if (!real_calloc) return n && size > SIZE_MAX / n ? NULL : pool_alloc(n * size);
  }
  return real_calloc(n, size);
}

__attribute__((visibility("default"))) void *realloc(void *p, size_t size) {
  if (__builtin_expect(pool_owns(p), 0)) {
    void *q = malloc(size);
    if (q) memcpy(q, p, size < sizeof pool - (size_t)((unsigned char *)p - pool) ? size : sizeof pool - (size_t)((unsigned char *)p - pool));
    return q;
  }
  if (__builtin_expect(!real_realloc, 0)) resolve();
  return real_realloc(p, size);
}

__attribute__((visibility("default"))) void free(void *p) {
  if (__builtin_expect(pool_owns(p), 0)) return;
  if (__builtin_expect(!real_free, 0)) resolve();
  real_free(p);
}
