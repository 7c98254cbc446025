/* hooks_cxx.c: the C++ operator new/delete family, and C23's free_sized/free_aligned_sized.
 *
 * On glibc, libstdc++'s operators call malloc and free, which hooks.c sees anyway. jemalloc and
 * tcmalloc define the operators themselves and call their own allocator directly, so a program
 * running on one of them (preloaded after us) made 200,001 allocations of which the hooks saw 1.
 * So every variant is interposed here under its mangled name (plain C: the library must not need
 * libstdc++) and recorded with its own function code; the real operator runs with hw_tls_busy
 * raised, so the malloc it makes on glibc is not recorded a second time.
 *
 * The real operator may throw (bad_alloc, or from a new_handler). The guard is undone by a
 * cleanup that also runs while an exception unwinds through this frame (-fexceptions), or the
 * thread would stay "inside the recorder" and record nothing more.
 */
#include <dlfcn.h>
#include <stdlib.h>

#include "hw_format.h"
#include "hw_internal.h"

/* Every variant once: X(index name, mangled symbol). */
#define HW_CXX_OPERATORS(X)                                    \
  X(NEW, _Znwm)                                                \
  X(NEW_NOTHROW, _ZnwmRKSt9nothrow_t)                          \
  X(NEW_ALIGNED, _ZnwmSt11align_val_t)                         \
  X(NEW_ALIGNED_NOTHROW, _ZnwmSt11align_val_tRKSt9nothrow_t)   \
  X(NEW_ARRAY, _Znam)                                          \
  X(NEW_ARRAY_NOTHROW, _ZnamRKSt9nothrow_t)                    \
  X(NEW_ARRAY_ALIGNED, _ZnamSt11align_val_t)                   \
  X(NEW_ARRAY_ALIGNED_NOTHROW, _ZnamSt11align_val_tRKSt9nothrow_t) \
  X(DELETE, _ZdlPv)                                            \
  X(DELETE_SIZED, _ZdlPvm)                                     \
  X(DELETE_NOTHROW, _ZdlPvRKSt9nothrow_t)                      \
  X(DELETE_ALIGNED, _ZdlPvSt11align_val_t)                     \
  X(DELETE_SIZED_ALIGNED, _ZdlPvmSt11align_val_t)              \
  X(DELETE_ALIGNED_NOTHROW, _ZdlPvSt11align_val_tRKSt9nothrow_t) \
  X(DELETE_ARRAY, _ZdaPv)                                      \
  X(DELETE_ARRAY_SIZED, _ZdaPvm)                               \
  X(DELETE_ARRAY_NOTHROW, _ZdaPvRKSt9nothrow_t)                \
  X(DELETE_ARRAY_ALIGNED, _ZdaPvSt11align_val_t)               \
  X(DELETE_ARRAY_SIZED_ALIGNED, _ZdaPvmSt11align_val_t)        \
  X(DELETE_ARRAY_ALIGNED_NOTHROW, _ZdaPvSt11align_val_tRKSt9nothrow_t) \
  X(FREE_SIZED, free_sized)                                    \
  X(FREE_ALIGNED_SIZED, free_aligned_sized)

enum {
#define HW_CXX_INDEX(idx, sym) OP_##idx,
  HW_CXX_OPERATORS(HW_CXX_INDEX)
#undef HW_CXX_INDEX
  OP_COUNT
};

static const char *const names[OP_COUNT] = {
#define HW_CXX_NAME(idx, sym) #sym,
    HW_CXX_OPERATORS(HW_CXX_NAME)
#undef HW_CXX_NAME
};

/* The next definition of each, found on first use (dlsym may allocate: malloc is resolved by
 * then, since the first operator new comes from code that libc has long been running). NULL when
 * nothing after us defines it (no libstdc++ loaded; a libc without free_sized). */
static void *_Atomic real_ops[OP_COUNT];
static _Atomic int resolved[OP_COUNT];

static void *real_op(int i) {
  if (hw_likely(atomic_load_explicit(&resolved[i], memory_order_acquire))) return atomic_load_explicit(&real_ops[i], memory_order_relaxed);
  hw_tls_busy++;
  void *f = dlsym(RTLD_NEXT, names[i]);
  hw_tls_busy--;
  atomic_store_explicit(&real_ops[i], f, memory_order_relaxed);
  atomic_store_explicit(&resolved[i], 1, memory_order_release);
  return f;
}

/* The cleanup below makes the compiler name GCC's C personality routine in this file's unwind
 * tables. A weak reference keeps libgcc_s out of the library's DT_NEEDED (the preload library is
 * loaded into every process; the linker's --as-needed does not count weak references): a program
 * that can throw through operator new is C++, and libstdc++ brings libgcc_s into the global scope
 * before relocation, so the reference resolves. Where nothing defines it (a C program, which
 * cannot throw), the unwind tables have no personality, which the unwinder takes as "no cleanup
 * here". The one case left uncovered is a C program that dlopens C++ code later and has its
 * exception pass through our operator new: the thread would stay marked busy and record no more. */
__asm__(".weak __gcc_personality_v0");

/* Raised around the real operator; the cleanup undoes it on return and on unwinding. */
typedef struct { int dummy; } guard_t;
static inline guard_t enter(void) {
  hw_tls_busy++;
  hw_tls_in_allocator++;
  return (guard_t){0};
}
static inline void leave(guard_t *g) {
  (void)g;
  hw_tls_in_allocator--;
  hw_tls_busy--;
}
#define GUARDED(call)                                            \
  do {                                                           \
    guard_t g_ __attribute__((cleanup(leave), unused)) = enter(); \
    call;                                                        \
  } while (0)

/* Without a real operator (a C program that calls one by name, impossible in practice): malloc's
 * behaviour, and abort() where the throwing form would throw, since C cannot. */
static void *fallback_new(size_t size, size_t align, bool nothrow) {
  void *p = NULL;
  if (align > sizeof(void *)) {
    if (posix_memalign(&p, align, size ? size : 1) != 0) p = NULL;
  } else {
    p = malloc(size ? size : 1);
  }
  if (!p && !nothrow) abort();
  return p;
}

#define ANCHOR __builtin_return_address(0)

#define NEW_HOOK(idx, sym, fn, params, args, align, nothrow)              \
  HW_EXPORT void *sym params {                                            \
    void *(*real) params = (void *(*) params)real_op(OP_##idx);           \
    void *p;                                                              \
    if (hw_unlikely(!real)) {                                             \
      GUARDED(p = fallback_new(size, align, nothrow));                    \
    } else {                                                              \
      GUARDED(p = real args);                                             \
    }                                                                     \
    hw_hook_alloc(fn, p, size, ANCHOR);                                   \
    return p;                                                             \
  }

typedef struct nothrow_s nothrow_t; /* std::nothrow_t, passed by reference */

NEW_HOOK(NEW, _Znwm, HW_FN_NEW, (size_t size), (size), 0, false)
NEW_HOOK(NEW_NOTHROW, _ZnwmRKSt9nothrow_t, HW_FN_NEW, (size_t size, const nothrow_t *nt), (size, nt), 0, true)
NEW_HOOK(NEW_ALIGNED, _ZnwmSt11align_val_t, HW_FN_NEW_ALIGNED, (size_t size, size_t al), (size, al), al, false)
NEW_HOOK(NEW_ALIGNED_NOTHROW, _ZnwmSt11align_val_tRKSt9nothrow_t, HW_FN_NEW_ALIGNED,
         (size_t size, size_t al, const nothrow_t *nt), (size, al, nt), al, true)
NEW_HOOK(NEW_ARRAY, _Znam, HW_FN_NEW_ARRAY, (size_t size), (size), 0, false)
NEW_HOOK(NEW_ARRAY_NOTHROW, _ZnamRKSt9nothrow_t, HW_FN_NEW_ARRAY, (size_t size, const nothrow_t *nt), (size, nt), 0, true)
NEW_HOOK(NEW_ARRAY_ALIGNED, _ZnamSt11align_val_t, HW_FN_NEW_ARRAY_ALIGNED, (size_t size, size_t al), (size, al), al, false)
NEW_HOOK(NEW_ARRAY_ALIGNED_NOTHROW, _ZnamSt11align_val_tRKSt9nothrow_t, HW_FN_NEW_ARRAY_ALIGNED,
         (size_t size, size_t al, const nothrow_t *nt), (size, al, nt), al, true)

/* A delete is stamped before the real one, like free (hooks.c, "Ordering"). Without a real
 * operator the block came from fallback_new, that is from malloc. */
#define DELETE_HOOK(idx, sym, fn, params, args)                           \
  HW_EXPORT void sym params {                                             \
    if (hw_unlikely(!p) || hw_unlikely(hw_bootstrap_owns(p))) return;     \
    hw_hook_free(fn, p);                                                  \
    void (*real) params = (void (*) params)real_op(OP_##idx);             \
    if (hw_unlikely(!real)) {                                             \
      GUARDED(free(p));                                                   \
    } else {                                                              \
      GUARDED(real args);                                                 \
    }                                                                     \
  }

DELETE_HOOK(DELETE, _ZdlPv, HW_FN_NEW, (void *p), (p))
DELETE_HOOK(DELETE_SIZED, _ZdlPvm, HW_FN_NEW, (void *p, size_t n), (p, n))
DELETE_HOOK(DELETE_NOTHROW, _ZdlPvRKSt9nothrow_t, HW_FN_NEW, (void *p, const nothrow_t *nt), (p, nt))
DELETE_HOOK(DELETE_ALIGNED, _ZdlPvSt11align_val_t, HW_FN_NEW_ALIGNED, (void *p, size_t al), (p, al))
DELETE_HOOK(DELETE_SIZED_ALIGNED, _ZdlPvmSt11align_val_t, HW_FN_NEW_ALIGNED, (void *p, size_t n, size_t al), (p, n, al))
DELETE_HOOK(DELETE_ALIGNED_NOTHROW, _ZdlPvSt11align_val_tRKSt9nothrow_t, HW_FN_NEW_ALIGNED,
            (void *p, size_t al, const nothrow_t *nt), (p, al, nt))
DELETE_HOOK(DELETE_ARRAY, _ZdaPv, HW_FN_NEW_ARRAY, (void *p), (p))
DELETE_HOOK(DELETE_ARRAY_SIZED, _ZdaPvm, HW_FN_NEW_ARRAY, (void *p, size_t n), (p, n))
DELETE_HOOK(DELETE_ARRAY_NOTHROW, _ZdaPvRKSt9nothrow_t, HW_FN_NEW_ARRAY, (void *p, const nothrow_t *nt), (p, nt))
DELETE_HOOK(DELETE_ARRAY_ALIGNED, _ZdaPvSt11align_val_t, HW_FN_NEW_ARRAY_ALIGNED, (void *p, size_t al), (p, al))
DELETE_HOOK(DELETE_ARRAY_SIZED_ALIGNED, _ZdaPvmSt11align_val_t, HW_FN_NEW_ARRAY_ALIGNED,
            (void *p, size_t n, size_t al), (p, n, al))
DELETE_HOOK(DELETE_ARRAY_ALIGNED_NOTHROW, _ZdaPvSt11align_val_tRKSt9nothrow_t, HW_FN_NEW_ARRAY_ALIGNED,
            (void *p, size_t al, const nothrow_t *nt), (p, al, nt))

/* C23 (glibc 2.40+). Older libcs have no such functions: the block is then an ordinary malloc'd
 * one and free() releases it. Without these hooks a program on a newer glibc leaks falsely. */
DELETE_HOOK(FREE_SIZED, free_sized, HW_FN_FREE_SIZED, (void *p, size_t n), (p, n))
DELETE_HOOK(FREE_ALIGNED_SIZED, free_aligned_sized, HW_FN_FREE_ALIGNED_SIZED, (void *p, size_t al, size_t n), (p, al, n))
