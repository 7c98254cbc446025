/* platform.c: every clock, raw syscall and /proc read the recorder makes. Nothing here goes
 * through malloc, so all of it is safe inside a hook. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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
typedef int (*hw_clock_fn)(clockid_t, struct timespec *);
/* What hw_stamp_after_tick asks while hw_coarse_words is vdso_words: vdso_clock, or under
 * HEAPWISE_STAMP_CHECK=1 checked_clock (below). */
static _Atomic(hw_clock_fn) stamp_clock;
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

/* THE COARSE CLOCK'S WORDS IN THE VVAR PAGE (hw_stamp_alone). The kernel publishes the coarse clock
 * in a page mapped into every process ([vvar]), and the vDSO's clock_gettime copies it out under a
 * sequence counter. Where in that page it sits depends on the kernel version, so it is found by
 * value: the page is copied while the vDSO's reading stands still, and the one pair of aligned
 * words equal to (tv_sec, tv_nsec) is taken. Some vvar pages fault with SIGBUS when touched (here
 * two of four outside a time namespace, pages the kernel fills only for one or for a paravirtual
 * clock); they are copied through a pipe, where the kernel's own access fails with EFAULT instead. The words only ever tell whether the
 * kernel ticked: a wrong pair would show as a disagreement with the vDSO at the next tick they show
 * (checked at each one, hw_stamp_after_tick), and a pair that never moves would stop the stamps,
 * which the checks here rule out: at start (it equals the clock now) and in every fork child (whose
 * vvar pages change if it was made in a new time namespace). */
_Atomic(const volatile uint64_t *) hw_coarse_words;
static const volatile uint64_t *found_words; /* set by hw_stamps_init; NULL after a disagreement */
/* hw_coarse_words without words of the kernel's to read (hw_internal.h): their tick, all ones,
 * is never a clock's (tv_sec < 2^34, tv_nsec < 2^30), so every stamp goes to the vDSO's call. */
static const volatile uint64_t vdso_words[2] = {UINT64_MAX, UINT64_MAX};
static uint64_t vvar_copy[4096 / 8];         /* static: the fork child's handler runs this too */
static uint64_t words_found_at;              /* offset in [vvar], for the stamp check's line */
static const char *words_missing = "not looked for";
static bool stamp_check;                     /* HEAPWISE_STAMP_CHECK=1, below */

static uint64_t tick_of(const struct timespec *t) { return (uint64_t)t->tv_sec << 30 | (uint64_t)t->tv_nsec; }
static uint64_t words_tick(const volatile uint64_t *w) { return w[0] << 30 | w[1]; }

/* One vDSO reading into *ts, bracketed by two readings of the words: whether it equals either. */
static bool words_bracket(const volatile uint64_t *w, clockid_t id, struct timespec *ts, int *status) {
  uint64_t before = words_tick(w);
  *status = vdso_clock(id, ts);
  uint64_t after = words_tick(w), v = tick_of(ts);
  return *status == 0 && (v == before || v == after);
}

/* The vDSO's reading equals the words read just before or just after it (a kernel tick may fall
 * between two of the reads, not between three within a few tries). 0 if not, else the agreed tick. */
static uint64_t words_agree(const volatile uint64_t *w) {
  for (int attempt = 0; attempt < 4; attempt++) {
    struct timespec c;
    int status;
    if (words_bracket(w, CLOCK_MONOTONIC_COARSE, &c, &status)) return tick_of(&c);
    if (status != 0) return 0;
  }
  return 0;
}

struct vvar_range {
  uintptr_t start, end;
};

static bool vvar_line(char *line, void *arg) {
  size_t n = strlen(line);
  if (n < 6 || strcmp(line + n - 6, "[vvar]") != 0) return true;
  struct vvar_range *r = arg;
  char *end;
  r->start = (uintptr_t)strtoull(line, &end, 16);
  if (*end == '-') r->end = (uintptr_t)strtoull(end + 1, NULL, 16);
  return false;
}

/* Copies one page through the pipe `fds`: false if the kernel could not read it all. */
static bool copy_page(int fds[2], uintptr_t page) {
  long wrote = syscall(SYS_write, fds[1], (const void *)page, sizeof vvar_copy);
  long got = 0;
  while (wrote > 0 && got < wrote) { /* drain even a partial copy, so the next page starts empty */
    long n = syscall(SYS_read, fds[0], (char *)vvar_copy + got, (size_t)(wrote - got));
    if (n <= 0) return false;
    got += n;
  }
  return wrote == (long)sizeof vvar_copy;
}

static const volatile uint64_t *find_words(void) {
  char line[512];
  struct vvar_range r = {0, 0};
  if (!hw_maps_lines(line, sizeof line, vvar_line, &r) || r.end <= r.start) {
    words_missing = "no [vvar] mapping";
    return NULL;
  }
  int fds[2];
  if (syscall(SYS_pipe2, fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    words_missing = "no pipe to copy [vvar] through";
    return NULL;
  }
  const volatile uint64_t *found = NULL;
  int matches = 0, steady = 0;
  size_t page_size = sizeof vvar_copy;
  for (uintptr_t page = r.start; page < r.end && page - r.start < 16 * page_size; page += page_size) {
    for (int attempt = 0; attempt < 3; attempt++) {
      struct timespec a, b;
      if (vdso_clock(CLOCK_MONOTONIC_COARSE, &a) != 0) break;
      bool copied = copy_page(fds, page);
      if (vdso_clock(CLOCK_MONOTONIC_COARSE, &b) != 0 || !copied) break;
      if (tick_of(&a) != tick_of(&b)) continue; /* the kernel ticked during the copy */
      steady++;
      for (size_t i = 0; i + 1 < page_size / 8; i++) {
        if (vvar_copy[i] == (uint64_t)a.tv_sec && vvar_copy[i + 1] == (uint64_t)a.tv_nsec) {
          matches++;
          found = (const volatile uint64_t *)(page + i * 8);
        }
      }
      break;
    }
  }
  syscall(SYS_close, fds[0]);
  syscall(SYS_close, fds[1]);
  if (matches != 1) {
    words_missing = steady == 0 ? "no [vvar] page could be read" : matches ? "the clock's value is in [vvar] twice"
                                                                   : "the clock's value is not in [vvar]";
    return NULL;
  }
  if (!words_agree(found)) {
    words_missing = "the words found disagree with the vDSO";
    return NULL;
  }
  words_found_at = (uint64_t)((uintptr_t)found - r.start);
  return found;
}

uint64_t hw_stamp_after_tick(uint64_t tick) {
  const volatile uint64_t *w = atomic_load_explicit(&hw_coarse_words, memory_order_relaxed);
  if (w == vdso_words) { /* hw_stamp_alone's test, with the vDSO's reading */
    hw_clock_fn clock = atomic_load_explicit(&stamp_clock, memory_order_relaxed);
    struct timespec c;
    tick = clock && clock(CLOCK_MONOTONIC_COARSE, &c) == 0 ? tick_of(&c) : 0;
    uint64_t last = hw_tls_stamp;
    if (tick && tick == hw_tls_stamp_tick && last >> HW_COARSE_SHIFT > hw_tls_stamp_other >> HW_COARSE_SHIFT)
      return last;
  } else if (tick != hw_tls_stamp_tick) {
    uint64_t agreed = w ? words_agree(w) : 0;
    if (!agreed) { /* every later stamp asks the vDSO, unless reuse was turned off meanwhile */
      found_words = NULL;
      words_missing = "the words disagreed with the vDSO at a tick";
      atomic_compare_exchange_strong(&hw_coarse_words, &w, vdso_clock ? vdso_words : NULL);
      struct timespec c;
      agreed = vdso_clock && vdso_clock(CLOCK_MONOTONIC_COARSE, &c) == 0 ? tick_of(&c) : 0;
    }
    tick = agreed;
  }
  hw_tls_stamp_tick = tick;
  return hw_tls_stamp = hw_rdtsc();
}

/* The coarse clock must be the vDSO's (a system call per event would cost far more than the TSC
 * read it saves) and tick at least every 10 ms (the bound docs/RECORDER.md states). */
void hw_stamps_init(void) {
  vdso_clock = NULL;
  found_words = NULL;
  struct timespec res, now;
  hw_clock_fn f = hw_use_tsc ? (hw_clock_fn)vdso_function("__vdso_clock_gettime") : NULL;
  if (f && f(CLOCK_MONOTONIC_COARSE, &now) == 0 && clock_getres(CLOCK_MONOTONIC_COARSE, &res) == 0 &&
      res.tv_sec == 0 && res.tv_nsec <= 10000000L)
    vdso_clock = f;
  const char *words = getenv("HEAPWISE_COARSE_WORDS"), *check = getenv("HEAPWISE_STAMP_CHECK");
  stamp_check = check && strcmp(check, "1") == 0;
  if (!vdso_clock) words_missing = "no vDSO coarse clock";
  else if (words && strcmp(words, "0") == 0) words_missing = "HEAPWISE_COARSE_WORDS=0";
  else found_words = find_words();
  hw_stamps_reuse(true);
}

/* HEAPWISE_STAMP_CHECK=1 (stamp_check): the stamps take the vDSO's reading, and every reading is
 * compared with the words (read before and after it); one line of counts on stderr at exit. */
static _Atomic uint64_t n_checked, n_disagreed;

static int checked_clock(clockid_t id, struct timespec *ts) {
  int status;
  bool agreed = words_bracket(found_words, id, ts, &status);
  atomic_fetch_add_explicit(&n_checked, 1, memory_order_relaxed);
  if (!agreed) atomic_fetch_add_explicit(&n_disagreed, 1, memory_order_relaxed);
  return status;
}

void hw_stamps_reuse(bool on) {
  if (on && found_words && !words_agree(found_words)) { /* a fork child in a new time namespace */
    found_words = NULL;
    words_missing = "the words disagreed with the vDSO in a fork child";
  }
  bool checking = stamp_check && found_words;
  atomic_store(&stamp_clock, checking ? checked_clock : vdso_clock);
  atomic_store(&hw_coarse_words, !on || !vdso_clock ? NULL : found_words && !checking ? found_words : vdso_words);
}

__attribute__((destructor(101))) static void stamp_check_report(void) {
  if (!stamp_check) return;
  if (found_words)
    hw_log("stamp check: %llu coarse readings compared with the vvar words at +%#llx, %llu disagreed",
           (unsigned long long)atomic_load(&n_checked), (unsigned long long)words_found_at,
           (unsigned long long)atomic_load(&n_disagreed));
  else
    hw_log("stamp check: no vvar words (%s)", words_missing);
}

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
