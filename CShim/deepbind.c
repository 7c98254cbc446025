/* deepbind.c: libraries opened with RTLD_DEEPBIND (or linked -Bsymbolic against libc) bind
 * malloc and free to libc's definitions directly, past the preloaded hooks: their allocations
 * were unseen and their frees of blocks we saw were missing.
 *
 * Such a library's GOT slots for the allocation functions then hold exactly the function our
 * hooks forward to (hw_real). Redirecting such a slot to our hook changes nothing the library
 * gets but the recording, so that is all this does: no dlopen hook (glibc takes $ORIGIN and
 * RUNPATH from dlopen's caller), no dropped flag. A slot is patched only once it holds hw_real's
 * address: relocated, bound (RTLD_NOW or -z now at load), never a slot still unrelocated or
 * bound elsewhere (a library with its own allocator keeps it). A lazy slot not yet called holds
 * its own PLT stub, which would bind it at the first call, to that first call's loss: it is bound
 * ahead of time when no loaded module but libheapwise and the hooks' own allocator defines the
 * function, since the loader's lookup can then find only those two, in any scope (the library's
 * own first with DEEPBIND, the global one first without). Slots are read inside dl_iterate_phdr, which keeps the module mapped,
 * and written through /proc/self/mem, which needs no mprotect of a RELRO page and cannot fault.
 * x86-64 only (R_X86_64_JUMP_SLOT, R_X86_64_GLOB_DAT). */
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <string.h>
#include <unistd.h>

#include "hw_internal.h"

#if defined(__x86_64__)

#define NAMES 10
static const char *const names[NAMES] = {"malloc",        "calloc",        "realloc", "reallocarray", "free",
                                         "posix_memalign", "aligned_alloc", "memalign", "valloc",     "pvalloc"};

typedef struct watch_s {
  uintptr_t base;     /* the module's dlpi_addr */
  uint64_t name_hash; /* with base, which module (one loaded later may take the same base) */
  uint32_t id;        /* modules.c's id, for hw_deepbind_forget */
  uintptr_t slot;
  int fn;
} watch_t;

#define WATCH_MAX 4096
static watch_t *watches; /* under modules.c's busy flag, like everything here */
static size_t watch_count;
static uintptr_t hooks[NAMES], reals[NAMES];
static bool tables_ready;

/* Called before dl_iterate_phdr, never inside it: the callback runs holding the loader's
 * dl_load_write_lock, and dlsym and dladdr take dl_load_lock, which a concurrent dlopen holds while
 * it waits for dl_load_write_lock: taking them in the callback deadlocks the writer thread against
 * the program's next dlopen (seen with pandas importing an extension module). */
void hw_deepbind_prepare(void) {
  if (tables_ready) return;
  void *r[NAMES] = {(void *)hw_real.malloc,         (void *)hw_real.calloc,   (void *)hw_real.realloc,
                    (void *)hw_real.reallocarray,   (void *)hw_real.free,     (void *)hw_real.posix_memalign,
                    (void *)hw_real.aligned_alloc,  (void *)hw_real.memalign, (void *)hw_real.valloc,
                    (void *)hw_real.pvalloc};
  for (int i = 0; i < NAMES; i++) {
    reals[i] = (uintptr_t)r[i];
    hooks[i] = (uintptr_t)dlsym(RTLD_DEFAULT, names[i]); /* ours: the hooks are active */
  }
  watches = hw_pages_alloc(WATCH_MAX * sizeof(watch_t));
  tables_ready = watches != NULL;
}

/* Whether a loaded segment of the module holds `a`: what dladdr would say, from the module's own
 * program headers, so it needs no loader lock. */
static bool module_holds(const struct dl_phdr_info *info, uintptr_t a) {
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
    if (ph->p_type == PT_LOAD && a >= lo && a - lo < ph->p_memsz) return true;
  }
  return false;
}

static uintptr_t dyn_ptr(const struct dl_phdr_info *info, uintptr_t v) {
  return v < info->dlpi_addr ? v + info->dlpi_addr : v; /* glibc has usually adjusted it already */
}

static uint64_t watch_hash;
static uint32_t watch_id;

static void watch_relocs(const struct dl_phdr_info *info, const ElfW(Rela) *rel, size_t bytes,
                         const ElfW(Sym) *symtab, const char *strtab) {
  for (size_t i = 0; i < bytes / sizeof *rel && watch_count < WATCH_MAX; i++) {
    unsigned type = (unsigned)ELF64_R_TYPE(rel[i].r_info);
    if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT) continue;
    const char *name = strtab + symtab[ELF64_R_SYM(rel[i].r_info)].st_name;
    for (int f = 0; f < NAMES; f++)
      if (strcmp(name, names[f]) == 0) {
        watches[watch_count++] = (watch_t){info->dlpi_addr, watch_hash, watch_id, info->dlpi_addr + rel[i].r_offset, f};
        break;
      }
  }
}

static void note_definitions(const struct dl_phdr_info *info, uint32_t id);

void hw_deepbind_watch(const struct dl_phdr_info *info, uint32_t id, uint64_t name_hash) {
  const char *name = info->dlpi_name;
  watch_id = id;
  watch_hash = name_hash;
  if (tables_ready) note_definitions(info, id);
  if (!name || !name[0] || !tables_ready) return; /* the main program binds to the hooks */
  if (module_holds(info, (uintptr_t)hw_deepbind_watch)) return;
  if (strstr(name, "/libc.so") || strstr(name, "/ld-linux") || strstr(name, "linux-vdso")) return;
  /* The allocator itself (jemalloc, tcmalloc) may bind its own calls to itself: they are its own. */
  if (module_holds(info, (uintptr_t)hw_real.malloc)) return;
  const ElfW(Dyn) *dyn = NULL;
  for (int i = 0; i < info->dlpi_phnum; i++)
    if (info->dlpi_phdr[i].p_type == PT_DYNAMIC) dyn = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
  if (!dyn) return;
  uintptr_t symtab = 0, strtab = 0, jmprel = 0, rela = 0;
  size_t pltrelsz = 0, relasz = 0;
  for (; dyn->d_tag != DT_NULL; dyn++) {
    switch (dyn->d_tag) {
    case DT_SYMTAB: symtab = dyn_ptr(info, dyn->d_un.d_ptr); break;
    case DT_STRTAB: strtab = dyn_ptr(info, dyn->d_un.d_ptr); break;
    case DT_JMPREL: jmprel = dyn_ptr(info, dyn->d_un.d_ptr); break;
    case DT_PLTRELSZ: pltrelsz = dyn->d_un.d_val; break;
    case DT_RELA: rela = dyn_ptr(info, dyn->d_un.d_ptr); break;
    case DT_RELASZ: relasz = dyn->d_un.d_val; break;
    }
  }
  if (!symtab || !strtab) return;
  if (jmprel) watch_relocs(info, (const ElfW(Rela) *)jmprel, pltrelsz, (const ElfW(Sym) *)symtab, (const char *)strtab);
  if (rela) watch_relocs(info, (const ElfW(Rela) *)rela, relasz, (const ElfW(Sym) *)symtab, (const char *)strtab);
}

/* ---- which modules define a function: their own dynamic symbol tables, no loader lock ---- */

static uint32_t gnu_hash(const char *s) {
  uint32_t h = 5381;
  for (; *s; s++) h = h * 33 + (unsigned char)*s;
  return h;
}

static uint32_t sysv_hash(const char *s) {
  uint32_t h = 0;
  for (; *s; s++) {
    h = (h << 4) + (unsigned char)*s;
    h ^= (h >> 24) & 0xf0;
  }
  return h & 0x0fffffff;
}

static bool defined_here(const ElfW(Sym) *sym, const char *strtab, const char *name) {
  unsigned type = ELF64_ST_TYPE(sym->st_info);
  return sym->st_shndx != SHN_UNDEF && (type == STT_FUNC || type == STT_GNU_IFUNC) && strcmp(strtab + sym->st_name, name) == 0;
}

/* Whether the module defines function `name`; true also when it cannot tell (no hash table). */
static bool module_defines(const struct dl_phdr_info *info, const char *name) {
  const ElfW(Dyn) *dyn = NULL;
  for (int i = 0; i < info->dlpi_phnum; i++)
    if (info->dlpi_phdr[i].p_type == PT_DYNAMIC) dyn = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
  if (!dyn) return false; /* no dynamic symbols at all */
  const ElfW(Sym) *symtab = NULL;
  const char *strtab = NULL;
  const uint32_t *gnu = NULL, *sysv = NULL;
  for (; dyn->d_tag != DT_NULL; dyn++) {
    switch (dyn->d_tag) {
    case DT_SYMTAB: symtab = (const ElfW(Sym) *)dyn_ptr(info, dyn->d_un.d_ptr); break;
    case DT_STRTAB: strtab = (const char *)dyn_ptr(info, dyn->d_un.d_ptr); break;
    case DT_GNU_HASH: gnu = (const uint32_t *)dyn_ptr(info, dyn->d_un.d_ptr); break;
    case DT_HASH: sysv = (const uint32_t *)dyn_ptr(info, dyn->d_un.d_ptr); break;
    }
  }
  if (!symtab || !strtab) return false;
  /* Tables the loader does not use may point anywhere: read only what lies in the module. */
  if (!module_holds(info, (uintptr_t)symtab) || !module_holds(info, (uintptr_t)strtab)) return true;
  if (gnu && !module_holds(info, (uintptr_t)gnu)) gnu = NULL;
  if (sysv && !module_holds(info, (uintptr_t)sysv)) sysv = NULL;
  if (gnu) {
    uint32_t nbuckets = gnu[0], symoffset = gnu[1], bloom_size = gnu[2], bloom_shift = gnu[3];
    if (nbuckets == 0 || bloom_size == 0) return true;
    const ElfW(Addr) *bloom = (const ElfW(Addr) *)&gnu[4];
    const uint32_t *buckets = (const uint32_t *)&bloom[bloom_size];
    const uint32_t *chain = &buckets[nbuckets];
    uint32_t h = gnu_hash(name);
    const unsigned bits = sizeof(ElfW(Addr)) * 8;
    ElfW(Addr) word = bloom[(h / bits) % bloom_size];
    ElfW(Addr) mask = ((ElfW(Addr))1 << (h % bits)) | ((ElfW(Addr))1 << ((h >> bloom_shift) % bits));
    if ((word & mask) != mask) return false;
    uint32_t i = buckets[h % nbuckets];
    if (i < symoffset) return false;
    for (;; i++) {
      uint32_t h2 = chain[i - symoffset];
      if ((h | 1) == (h2 | 1) && defined_here(&symtab[i], strtab, name)) return true;
      if (h2 & 1) return false;
    }
  }
  if (sysv) {
    uint32_t nbucket = sysv[0], nchain = sysv[1];
    if (nbucket == 0) return true;
    const uint32_t *bucket = &sysv[2], *chain = &sysv[2 + nbucket];
    for (uint32_t i = bucket[sysv_hash(name) % nbucket]; i != STN_UNDEF && i < nchain; i = chain[i])
      if (defined_here(&symtab[i], strtab, name)) return true;
    return false;
  }
  return true;
}

/* The loaded modules other than libheapwise that define any of the functions, noted once per
 * module as the module sync first sees it (a pass over every module's hash tables at each patch
 * pass cost more than the passes themselves), forgotten at its unload. */
#define DEFINERS_MAX 64
typedef struct {
  uint32_t id;
  uint16_t defines; /* bit f: defines names[f] */
  uint16_t real;    /* bit f: holds reals[f], the function the hook forwards to */
} definer_t;
static definer_t definer_list[DEFINERS_MAX];
static size_t definer_count;
static bool definers_overflow; /* more than DEFINERS_MAX: bind nothing ahead */

static void note_definitions(const struct dl_phdr_info *info, uint32_t id) {
  if (id == 1) { /* the first module of a new map: the first sync, or a forked child's */
    definer_count = 0;
    definers_overflow = false;
  }
  if (module_holds(info, (uintptr_t)hw_deepbind_watch)) return;
  definer_t d = {id, 0, 0};
  for (int f = 0; f < NAMES; f++)
    if (module_defines(info, names[f])) {
      d.defines |= (uint16_t)(1u << f);
      if (module_holds(info, reals[f])) d.real |= (uint16_t)(1u << f);
    }
  if (!d.defines) return;
  if (definer_count == DEFINERS_MAX) definers_overflow = true;
  else definer_list[definer_count++] = d;
}

/* A lazy slot may be bound ahead of its first call to the hook: the loader could bind it only to
 * the hooks' allocator (the hook forwards there) or to the hook, when that allocator is the one
 * module but libheapwise that defines the function. */
static bool may_bind_ahead(int f) {
  if (definers_overflow) return false;
  int n = 0;
  bool real = false;
  for (size_t i = 0; i < definer_count; i++)
    if (definer_list[i].defines & (1u << f)) {
      n++;
      real = real || (definer_list[i].real & (1u << f));
    }
  return n == 1 && real;
}

static int mem_fd = -1; /* opened for one patching pass: a forked child must not write the parent */

static int patch_visit(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  uint64_t (*hash)(const char *) = (uint64_t (*)(const char *))arg;
  if (!info->dlpi_name || !info->dlpi_name[0]) return 0;
  uint64_t h = 0;
  for (size_t i = 0; i < watch_count;) {
    watch_t *w = &watches[i];
    if (w->base == info->dlpi_addr && !h) h = hash(info->dlpi_name);
    if (w->base != info->dlpi_addr || w->name_hash != h) {
      i++;
      continue;
    }
    uintptr_t v = *(volatile uintptr_t *)w->slot; /* mapped: dl_iterate_phdr holds the loader's lock */
    bool done = v == hooks[w->fn];
    /* Bound to the real function, or still at its own PLT stub (lazy, never called). */
    bool patch = v == reals[w->fn] || (module_holds(info, v) && may_bind_ahead(w->fn));
    if (!done && patch && hooks[w->fn] && hooks[w->fn] != reals[w->fn]) {
      if (mem_fd < 0) mem_fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
      done = mem_fd >= 0 && pwrite(mem_fd, &hooks[w->fn], sizeof(uintptr_t), (off_t)w->slot) == sizeof(uintptr_t);
    }
    if (done) *w = watches[--watch_count]; /* this slot needs nothing more */
    else i++;
  }
  return 0;
}

void hw_deepbind_patch(uint64_t (*hash)(const char *)) {
  if (watch_count == 0) return;
  dl_iterate_phdr(patch_visit, (void *)hash);
  if (mem_fd >= 0) close(mem_fd);
  mem_fd = -1;
}

/* Slots of a module that is gone would be read after its unmapping: forget them. */
void hw_deepbind_forget(uint32_t id) {
  for (size_t i = 0; i < definer_count; i++)
    if (definer_list[i].id == id) {
      definer_list[i] = definer_list[--definer_count];
      break;
    }
  for (size_t i = 0; i < watch_count;)
    if (watches[i].id == id) watches[i] = watches[--watch_count];
    else i++;
}

#else
void hw_deepbind_prepare(void) {}
void hw_deepbind_watch(const struct dl_phdr_info *info, uint32_t id, uint64_t name_hash) { (void)info; (void)id; (void)name_hash; }
void hw_deepbind_patch(uint64_t (*hash)(const char *)) { (void)hash; }
void hw_deepbind_forget(uint32_t id) { (void)id; }
#endif
