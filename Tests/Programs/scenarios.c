/* Ground truth for the recorder's lifecycle, one scenario per argv[1]. Each allocates a known
 * 4242-byte block first, so tests can tell the program's own events apart. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "heapwise.h"

static _Atomic int stop;
static void *volatile kept; /* keeps blocks reachable: the allocations are the point */

static void *churn(void *arg) {
  (void)arg;
  while (!atomic_load(&stop)) free(malloc(64));
  return NULL;
}

/* fork while two threads allocate: the child must not deadlock, allocates 3 x 777 B, exits. */
static int fork_while_allocating(void) {
  pthread_t t[2];
  for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, churn, NULL);
  usleep(20000);
  int status = 0;
  for (int round = 0; round < 3; round++) {
    pid_t pid = fork();
    if (pid == 0) {
      for (int i = 0; i < 3; i++) kept = malloc(777);
      exit(0);
    }
    waitpid(pid, &status, 0);
  }
  atomic_store(&stop, 1);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 99;
}

static int run_plugin(const char *path) {
  void *lib = dlopen(path, RTLD_NOW);
  if (!lib) return fprintf(stderr, "%s\n", dlerror()), 2;
  void *(*make)(void) = (void *(*)(void))dlsym(lib, "plugin_make");
  void *p = make(); /* 3131 bytes, allocated inside the plugin */
  dlclose(lib);
  return p == NULL;
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "";
  void *first = malloc(4242);
  if (!strcmp(mode, "exit")) exit(3);
  if (!strcmp(mode, "_exit")) _exit(4);
  if (!strcmp(mode, "abort")) abort();
  if (!strcmp(mode, "segv")) *(volatile int *)first = *(volatile int *)8;
  if (!strcmp(mode, "kill9")) {
    for (int i = 0; i < 200000; i++) free(malloc(100)); /* enough for several frames */
    raise(SIGKILL);
  }
  if (!strcmp(mode, "markers")) {
    kept = malloc(1000);
    heapwise_mark("after-first");
    kept = malloc(2000);
    raise(SIGUSR2);
    usleep(100000); /* the writer turns the signal into a marker */
    kept = malloc(3000);
    heapwise_mark("after-third");
  }
  if (!strcmp(mode, "resident")) { /* 8 MiB reserved, 2 MiB touched, then 2 idle writer ticks' worth */
    char *m = mmap(NULL, 8 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    madvise(m, 8 << 20, MADV_NOHUGEPAGE); /* one page at a time: the count is exact */
    memset(m, 1, 2 << 20);
    usleep(350000);
    /* A single-threaded program has no writer thread to wake up during the sleep: its periodic
     * work runs at the first record after the interval, this one. */
    free(malloc(16));
    madvise(m, 1 << 20, MADV_DONTNEED);
    return 0;
  }
  if (!strcmp(mode, "fork")) return fork_while_allocating();
  if (!strcmp(mode, "exec")) {
    pid_t pid = fork();
    if (pid == 0) {
      execl(argv[0], argv[0], "plain", (char *)NULL);
      _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    return WEXITSTATUS(status);
  }
  if (!strcmp(mode, "plugin")) return run_plugin(argv[2]);
  if (!strcmp(mode, "reexec")) { /* an in-place exec, as a wrapper script does */
    execl(argv[0], argv[0], "plain", (char *)NULL);
    return 127;
  }
  if (!strcmp(mode, "vfork")) { /* a failed exec in a vfork child, then the parent goes on */
    pid_t pid = vfork();
    if (pid == 0) {
      execl("/nonexistent/program", "x", (char *)NULL);
      _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    kept = malloc(6060); /* still recorded */
    return WEXITSTATUS(status) == 127 ? 0 : 1;
  }
  if (!strcmp(mode, "print")) { /* varied sizes and a window of live blocks: a dump of some size */
    static void *window[256];
    printf("still running\n");
    fflush(stdout);
    for (unsigned i = 0, r = 1; i < 200000; i++) {
      r = r * 1103515245u + 12345u;
      free(window[i % 256]);
      window[i % 256] = malloc(16 + (r >> 20));
    }
    printf("done\n");
  }
  return 0; /* "plain" and "return" */
}
