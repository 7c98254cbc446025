// CLibDW: elfutils' libdw/libdwfl/libelf for HeapwiseSymbols, plus the few C declarations
// Swift cannot import from elsewhere.
#ifndef HEAPWISE_CLIBDW_SHIM_H
#define HEAPWISE_CLIBDW_SHIM_H

#include <elfutils/libdwfl.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <gelf.h>
#include <dwarf.h>
#include <execinfo.h>  // backtrace, used by tests to get return addresses of Swift code
#include <stddef.h>
#include <stdint.h>

// libstdc++'s demangler (the Itanium C++ ABI entry point). The Swift runtime on Linux links
// libstdc++ already; the module map links it explicitly so this does not depend on that.
char *__cxa_demangle(const char *mangled_name, char *output_buffer, size_t *length, int *status);

// The Swift runtime's demangler (libswiftCore). Returns a malloc'd string, or NULL when the
// input is not a Swift symbol.
char *swift_demangle(const char *mangled_name, size_t mangled_name_length, char *output_buffer,
                     size_t *output_buffer_size, uint32_t flags);

// dl_iterate_phdr, for Symbolizer.forCurrentProcess. <link.h> declares it only under _GNU_SOURCE,
// which a system module cannot set for the headers Swift's Glibc module already compiled, so the
// shim declares the same function and leading fields under its own names.
struct hw_dl_phdr_info {
  Elf64_Addr dlpi_addr;
  const char *dlpi_name;
  const Elf64_Phdr *dlpi_phdr;
  Elf64_Half dlpi_phnum;
};
int hw_dl_iterate_phdr(int (*callback)(struct hw_dl_phdr_info *info, size_t size, void *data),
                       void *data) __asm__("dl_iterate_phdr");

struct hw_phdr_copy {
  struct hw_dl_phdr_info *out;
  size_t max, count;
};

static inline int hw_copy_one_phdr_info(struct hw_dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  struct hw_phdr_copy *c = (struct hw_phdr_copy *)data;
  if (c->count < c->max) c->out[c->count] = *info;
  c->count++;
  return 0;
}

// Copies the loader's list of modules into `out` (at most `max`) and returns how many there are
// (more than `max`: call again with room for them). The callback is C on purpose: Swift code run
// under the loader's lock can take a Swift runtime lock (generic metadata, witness tables) while
// another thread holds that lock and allocates, and an allocation the recorder or a budget scope
// sees captures its stack with libunwind, which takes the loader's lock: a deadlock. The names
// and program headers copied point into the loader's own memory, valid while the module stays
// loaded.
static inline size_t hw_copy_phdr_infos(struct hw_dl_phdr_info *out, size_t max) {
  struct hw_phdr_copy c = {out, max, 0};
  hw_dl_iterate_phdr(hw_copy_one_phdr_info, &c);
  return c.count;
}

#endif
