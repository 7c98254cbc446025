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

#endif
