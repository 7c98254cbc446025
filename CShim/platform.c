/* platform.c: every clock, raw syscall and /proc read the recorder makes. Nothing here goes
 * through malloc, so all of it is safe inside a hook. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "hw_format.h"
#include "hw_internal.h"

bool hw_clock_is_tsc(void) {
#if defined(__x86_64__)
  /* rdtscp orders events across CPUs only when the TSC is invariant and synchronised, which the
   * kernel vouches for by using it as its clocksource; recorder.c checks that before using it. */
  return true;
#else
  return false;
#endif
}

uint64_t hw_monotonic_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

__thread hw_tls_hot_t hw_tls_hot __attribute__((tls_model("initial-exec")));
_Atomic(hw_clock_fn) hw_stamp_clock;
static hw_clock_fn vdso_clock; /* the vDSO's clock_gettime, when its coarse clock qualifies */

/* A function of the vDSO by name, read from its ELF image (the loader's lookups take locks and may
 * allocate; this reads memory the kernel mapped into every process). NULL when it has no DT_HASH
 * (which gives the symbol count) or no such symbol. */
static void *vdso_function(const char *name) {
  uintptr_t base = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
  if (!base) return NULL;
  const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)base;
  if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0) return NULL;
  const ElfW(Phdr) *ph = (const ElfW(Phdr) *)(base + eh->e_phoff);
  const ElfW(Dyn) *dyn = NULL;
  uintptr_t bias = 0;
  bool loaded = false;
  for (int i = 0; i < eh->e_phnum; i++) {
    if (ph[i].p_type == PT_LOAD && !loaded) {
      bias = base + ph[i].p_offset - ph[i].p_vaddr;
      loaded = true;
    } else if (ph[i].p_type == PT_DYNAMIC) {
      dyn = (const ElfW(Dyn) *)(base + ph[i].p_offset);
    }
  }
  if (!loaded || !dyn) return NULL;
  const ElfW(Sym) *syms = NULL;
  const char *strings = NULL;
  const uint32_t *hash = NULL;
  for (; dyn->d_tag != DT_NULL; dyn++) {
    if (dyn->d_tag == DT_SYMTAB) syms = (const ElfW(Sym) *)(dyn->d_un.d_ptr + bias);
    else if (dyn->d_tag == DT_STRTAB) strings = (const char *)(dyn->d_un.d_ptr + bias);
    else if (dyn->d_tag == DT_HASH) hash = (const uint32_t *)(dyn->d_un.d_ptr + bias);
  }
  if (!syms || !strings || !hash) return NULL;
  for (uint32_t i = 0; i < hash[1]; i++) { /* nchain: one entry per symbol */
    if (syms[i].st_shndx == SHN_UNDEF || ELF64_ST_TYPE(syms[i].st_info) != STT_FUNC) continue;
    if (strcmp(strings + syms[i].st_name, name) == 0) return (void *)(syms[i].st_value + bias);
  }
  return NULL;
}

/* The coarse clock must be the vDSO's (a system call per event would cost far more than the TSC
 * read it saves) and tick at least every 10 ms (the bound docs/RECORDER.md states). */
void hw_stamps_init(void) {
  vdso_clock = NULL;
  struct timespec res, now;
  hw_clock_fn f = hw_use_tsc ? (hw_clock_fn)vdso_function("__vdso_clock_gettime") : NULL;
  if (f && f(CLOCK_MONOTONIC_COARSE, &now) == 0 && clock_getres(CLOCK_MONOTONIC_COARSE, &res) == 0 &&
      res.tv_sec == 0 && res.tv_nsec <= 10000000L)
    vdso_clock = f;
  hw_stamps_reuse(true);
}

void hw_stamps_reuse(bool on) { atomic_store(&hw_stamp_clock, on ? vdso_clock : NULL); }

uint64_t hw_realtime_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* Calls the kernel directly: the hooked mmap would record our own buffers. */
void *hw_pages_alloc(size_t size) {
  void *p = (void *)syscall(SYS_mmap, NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return (p == MAP_FAILED) ? NULL : p;
}

void hw_pages_free(void *p, size_t size) {
  if (p) syscall(SYS_munmap, p, size);
}

ssize_t hw_read_file(const char *path, char *buf, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t got = 0;
  while (got + 1 < size) {
    ssize_t n = read(fd, buf + got, size - 1 - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  close(fd);
  buf[got] = 0;
  return (ssize_t)got;
}

int hw_write_all(int fd, const void *buf, size_t size) {
  const char *p = buf;
  while (size > 0) {
    ssize_t n = write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    if (n == 0) {
      errno = ENOSPC;
      return -1;
    }
    p += n;
    size -= (size_t)n;
  }
  return 0;
}

pid_t hw_gettid(void) { return (pid_t)syscall(SYS_gettid); }

uint64_t hw_proc_kb_field(const char *text, const char *key) {
  size_t klen = strlen(key);
  for (const char *line = text; line && *line;) {
    if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
      const char *p = line + klen + 1;
      while (*p == ' ' || *p == '\t') p++;
      uint64_t v = 0;
      while (*p >= '0' && *p <= '9') v = v * 10 + (uint64_t)(*p++ - '0');
      return v * 1024;
    }
    line = strchr(line, '\n');
    if (line) line++;
  }
  return 0;
}

/* vsnprintf into a stack buffer does not allocate for the %s/%d/%x formats used here. */
void hw_log(const char *fmt, ...) {
  char buf[512];
  int n = snprintf(buf, sizeof buf, "heapwise: ");
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
  va_end(ap);
  if (m < 0) m = 0;
  size_t len = (size_t)n + (size_t)m;
  if (len > sizeof buf - 2) len = sizeof buf - 2;
  buf[len++] = '\n';
  ssize_t ignored = write(2, buf, len);
  (void)ignored;
}

/* CRC-32C. The SSE4.2 crc32 instruction computes exactly this polynomial, 8 bytes a step; the table
 * is the fallback. The writer checksums every frame: table-driven, that was 2.7% of the benchmark. */
static uint32_t crc_table[256];
static _Atomic int crc_mode; /* 0 unknown, 1 table, 2 sse4.2 */

static void crc_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    crc_table[i] = c;
  }
  int mode = 1;
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("sse4.2")) mode = 2;
#endif
  atomic_store_explicit(&crc_mode, mode, memory_order_release);
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const uint8_t *p, size_t size) {
  uint64_t c = crc;
  for (; size >= 8; p += 8, size -= 8) {
    uint64_t v;
    memcpy(&v, p, 8);
    c = __builtin_ia32_crc32di(c, v);
  }
  uint32_t c32 = (uint32_t)c;
  while (size--) c32 = __builtin_ia32_crc32qi(c32, *p++);
  return c32;
}
#endif

uint32_t hw_crc32c(uint32_t crc, const void *data, size_t size) {
  int mode = atomic_load_explicit(&crc_mode, memory_order_acquire);
  if (!mode) {
    crc_init();
    mode = atomic_load(&crc_mode);
  }
  const uint8_t *p = data;
  crc = ~crc;
#if defined(__x86_64__)
  if (mode == 2) return ~crc_hw(crc, p, size);
#endif
  while (size--) crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return ~crc;
}

bool hw_maps_lines(char *buf, size_t cap, bool (*visit)(char *line, void *arg), void *arg) {
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  size_t have = 0;
  bool skipping = false, stopped = false;
  while (!stopped) {
    ssize_t n = read(fd, buf + have, cap - 1 - have);
    if (n <= 0) break;
    have += (size_t)n;
    buf[have] = 0;
    char *line = buf, *nl;
    if (skipping) { /* the rest of a line that did not fit */
      if (!(nl = strchr(line, '\n'))) {
        have = 0;
        continue;
      }
      line = nl + 1;
      skipping = false;
    }
    while ((nl = strchr(line, '\n'))) {
      *nl = 0;
      if (!visit(line, arg)) {
        stopped = true;
        break;
      }
      line = nl + 1;
    }
    have = (size_t)(buf + have - line); /* an unfinished line moves to the front */
    memmove(buf, line, have);
    if (have == cap - 1) {
      have = 0;
      skipping = true;
    }
  }
  close(fd);
  return true;
}
