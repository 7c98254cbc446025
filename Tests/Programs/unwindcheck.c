/* Stacks for the unwinder's check mode (HEAPWISE_UNWIND_CHECK=1), one scenario per argv[1]:
 * every allocation's stack is captured by heapwise's walker and by libunwind, and the recorder
 * counts differences. The shapes are chosen to break a walker that guesses: call paths that share
 * prefixes and suffixes, frames addressed through rbp (alloca) and through rsp, recursion deeper
 * than the captured frames, signal frames, modules unloaded and others loaded at their address,
 * one depth reached through many call sites. */
#define _GNU_SOURCE
#include <alloca.h>
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *volatile sink;
static __thread uint64_t rng = 0x9E3779B97F4A7C15ull;
static unsigned next_random(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (unsigned)(rng >> 32);
}

static __attribute__((noinline)) void allocate(size_t size) {
  void *p = malloc(size);
  sink = p;
  if (next_random() & 1) p = realloc(p, size * 2);
  free(p);
  free(calloc(1, size));
}

/* A frame whose CFA is rbp-based (alloca), one with a large rsp-based frame, a plain one. */
static __attribute__((noinline)) void via_alloca(int depth, unsigned path);
static __attribute__((noinline)) void via_big(int depth, unsigned path);
static __attribute__((noinline)) void via_plain(int depth, unsigned path);

static void dispatch(int depth, unsigned path) {
  if (depth == 0) { allocate(16 + (path & 255)); return; }
  switch (path & 3) {
  case 0: via_alloca(depth - 1, path >> 2); break;
  case 1: via_big(depth - 1, path >> 2); break;
  default: via_plain(depth - 1, path >> 2); break;
  }
  if ((path & 12) == 4) allocate(40); /* on the way back up: a shallower stack after a deeper one */
}

static __attribute__((noinline)) void via_alloca(int depth, unsigned path) {
  char *buf = alloca(16 + (path & 63));
  buf[0] = (char)path;
  sink = buf;
  dispatch(depth, path);
  sink = NULL;
}

static __attribute__((noinline)) void via_big(int depth, unsigned path) {
  volatile char big[3000];
  big[path % sizeof big] = 1;
  dispatch(depth, path);
  big[0] = 2;
}

static __attribute__((noinline)) void via_plain(int depth, unsigned path) {
  dispatch(depth, path);
  sink = NULL;
}

static void mixed(int rounds) {
  for (int i = 0; i < rounds; i++) {
    unsigned r = next_random();
    dispatch(1 + (int)(r % 12), r >> 4);
  }
}

/* Deeper than HEAPWISE_MAX_FRAMES: the cached walk is cut at the limit, and reused at every depth. */
static __attribute__((noinline)) int recurse(int depth, int target) {
  if (depth % 37 == 0 || depth == target) allocate(24 + (size_t)depth);
  int r = depth < target ? recurse(depth + 1, target) + 1 : 0;
  if (depth % 53 == 0) allocate(8);
  return r;
}

static void *thread_main(void *arg) {
  /* The thread's first allocation is glibc's own, inside pthread_getattr_np while it holds the
   * thread's lock (Rust's runtime does this for every thread): the recorder must not need it. */
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) pthread_attr_destroy(&attr);
  rng += (uintptr_t)arg * 0x1234567;
  mixed(20000);
  for (int i = 0; i < 20; i++) recurse(0, 100 + (int)(next_random() % 400));
  return NULL;
}

/* Signals raised synchronously (never interrupting malloc itself), handled on the thread's stack
 * and on an alternate stack: the handler's stack runs through the kernel's signal frame. */
static void handler(int sig) {
  (void)sig;
  allocate(77);
  dispatch(3, next_random());
}

static __attribute__((noinline)) void raise_from(int depth) {
  if (depth > 0) { raise_from(depth - 1); sink = NULL; return; }
  raise(SIGUSR1);
}

/* One depth, many call sites: every level calls the next from one of two sites (the memoized walk
 * patches a moved return address whose rule is the same), and the loop counter is passed down
 * through every level, where -O2 keeps it in callee-saved registers, rbp among them, that each
 * frame saves (the walk takes the new rbp where no frame reads it). Every 16th round goes through
 * a level with an alloca, whose frames compute their CFA from rbp. */
static __attribute__((noinline)) void site_leaf(uint64_t i, unsigned path) {
  allocate(16 + (path & 31));
  sink = (void *)(uintptr_t)i;
}
#define SITE_LEVEL(n, next)                                                      \
  static __attribute__((noinline)) void site##n(uint64_t i, unsigned path) {     \
    if (path & (1u << n)) {                                                      \
      next(i * 3 + 1, path);                                                     \
      sink = (void *)(uintptr_t)(i + n);                                         \
    } else {                                                                     \
      next(i + 7, path);                                                         \
      sink = NULL;                                                               \
    }                                                                            \
  }
SITE_LEVEL(5, site_leaf)
SITE_LEVEL(4, site5)
static __attribute__((noinline)) void site_alloca(uint64_t i, unsigned path) {
  char *buf = alloca(16 + (i & 31));
  buf[0] = (char)i;
  sink = buf;
  site4(i, path);
  sink = NULL;
}
static __attribute__((noinline)) void site_either(uint64_t i, unsigned path) {
  if ((i & 15) == 0) site_alloca(i, path);
  else site4(i, path);
  sink = NULL;
}
SITE_LEVEL(3, site_either)
SITE_LEVEL(2, site3)
SITE_LEVEL(1, site2)
SITE_LEVEL(0, site1)

static void sites(int rounds) {
  for (uint64_t i = 0; i < (uint64_t)rounds; i++) site0(i, next_random());
}

typedef void *(*make_fn)(void);

int main(int argc, char **argv) {
  const char *what = argc > 1 ? argv[1] : "mixed";
  if (strcmp(what, "mixed") == 0) {
    mixed(50000);
  } else if (strcmp(what, "sites") == 0) {
    sites(30000);
  } else if (strcmp(what, "deep") == 0) {
    for (int i = 0; i < 200; i++) recurse(0, 500 - (int)(next_random() % 100));
    recurse(0, 500);
  } else if (strcmp(what, "threads") == 0) {
    pthread_t t[5];
    for (intptr_t i = 0; i < 4; i++) pthread_create(&t[i], NULL, thread_main, (void *)i);
    /* One more on a stack the program allocated itself. */
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    size_t size = 1 << 20;
    pthread_attr_setstack(&attr, aligned_alloc(4096, size), size);
    pthread_create(&t[4], &attr, thread_main, (void *)4);
    mixed(20000);
    for (int i = 0; i < 5; i++) pthread_join(t[i], NULL);
  } else if (strcmp(what, "signals") == 0) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigaction(SIGUSR1, &sa, NULL);
    sigset_t set; /* a parent (a test runner) may have left it blocked */
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    for (int i = 0; i < 300; i++) { raise_from(i % 7); mixed(20); }
    static char altstack[64 * 1024];
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
    sigaltstack(&ss, NULL);
    sa.sa_flags = SA_ONSTACK;
    sigaction(SIGUSR1, &sa, NULL);
    for (int i = 0; i < 300; i++) { raise_from(i % 5); mixed(20); }
  } else if (strcmp(what, "dlopen") == 0) {
    /* argv[2..]: plugins with different code layouts, opened and closed in turn, so a module
     * is often mapped where another one was. */
    for (int i = 0; i < 300; i++) {
      const char *path = argv[2 + i % (argc - 2)];
      void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
      if (!h) { fprintf(stderr, "dlopen %s: %s\n", path, dlerror()); return 1; }
      make_fn make = (make_fn)dlsym(h, "plugin_make");
      for (int k = 0; k < 10; k++) free(make());
      mixed(10);
      dlclose(h);
    }
  } else {
    fprintf(stderr, "unknown scenario %s\n", what);
    return 2;
  }
  puts("done");
  return 0;
}
