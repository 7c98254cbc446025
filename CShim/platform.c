/* platform.c: every clock, raw syscall and /proc read the recorder makes. Nothing here goes
 * through malloc, so all of it is safe inside a hook. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
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

/* Table-driven CRC-32C. The writer checksums compressed frames, a few bytes per event, so a
 * byte-at-a-time table is fast enough and needs no CPU feature checks. */
static uint32_t crc_table[256];
static _Atomic int crc_ready;

static void crc_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    crc_table[i] = c;
  }
  atomic_store_explicit(&crc_ready, 1, memory_order_release);
}

uint32_t hw_crc32c(uint32_t crc, const void *data, size_t size) {
  if (!atomic_load_explicit(&crc_ready, memory_order_acquire)) crc_init();
  const uint8_t *p = data;
  crc = ~crc;
  while (size--) crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return ~crc;
}
