/* bootstrap.c: finds the real allocation functions, and serves the allocations made while it does.
 *
 * dlsym(RTLD_NEXT, ...) returns the next definition after this library, so a program that runs on
 * jemalloc or tcmalloc (preloaded after us or linked in) is recorded on top of that allocator.
 * dlsym itself may call calloc/malloc (its error buffer) before we know the real ones: those come
 * from a small static pool that free() recognises and never returns. */
#include <dlfcn.h>
#include <stdatomic.h>
#include <string.h>

#include "hw_internal.h"
#include "liveset.h"

hw_real_t hw_real;

/* dlsym's bootstrap allocations are a few hundred bytes; 64 KiB leaves room for a libc that
 * allocates more during symbol lookup. */
_Alignas(64) unsigned char hw_bootstrap_pool[HW_BOOTSTRAP_POOL];
static _Atomic size_t pool_used;

void *hw_bootstrap_alloc(size_t size, size_t align) {
  if (align < 16) align = 16;
  size_t old = atomic_load_explicit(&pool_used, memory_order_relaxed);
  for (;;) {
    size_t start = (old + align - 1) & ~(align - 1);
    if (start + size > sizeof hw_bootstrap_pool || start + size < start) return NULL;
    if (atomic_compare_exchange_weak(&pool_used, &old, start + size)) {
      memset(hw_bootstrap_pool + start, 0, size); /* static storage is zero until reused: calloc callers rely on it */
      /* the entry's free (sampling or idle) leaves it alone */
      hw_live_pin_pool((uintptr_t)(hw_bootstrap_pool + start));
      hw_entry_pin_pool((uintptr_t)(hw_bootstrap_pool + start));
      return hw_bootstrap_pool + start;
    }
  }
}

size_t hw_bootstrap_used(void) { return atomic_load(&pool_used); }

size_t hw_bootstrap_room(const void *p) { return (size_t)(hw_bootstrap_pool + sizeof hw_bootstrap_pool - (const unsigned char *)p); }

bool hw_bootstrap(void) {
  /* One field at a time, so that the calloc that dlsym makes while we look up "free" already
   * goes to the hw_bootstrap_pool and not to a half-filled table. */
#define HW_RESOLVE(ret, name, params) \
  if (!hw_real.name) hw_real.name = (ret(*) params)dlsym(RTLD_NEXT, #name);
  HW_HOOKED_FUNCTIONS(HW_RESOLVE)
#undef HW_RESOLVE
  return hw_real.malloc && hw_real.free && hw_real.calloc && hw_real.realloc;
}
