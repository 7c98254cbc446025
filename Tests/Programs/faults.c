/* Fault-matrix programs: one hostile situation per argv[1], each with known allocations so a test
 * can check what the recorder saw as well as that the program finished. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/single_threaded.h>
#include <sys/time.h>
#include <unistd.h>

static void *volatile kept;
static _Atomic long handler_runs;

/* A handler that allocates (not async-signal-safe, but common): while the process has one thread,
 * glibc's malloc takes no lock, so this works plain; it must work under the recorder too. */
static void allocating_handler(int signo) {
  (void)signo;
  void *a = malloc(24), *b = malloc(200);
  free(a);
  free(b);
  atomic_fetch_add(&handler_runs, 1);
}

static int signal_malloc(long iterations) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = allocating_handler;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGALRM, &sa, NULL);
  struct itimerval every = {{0, 100}, {0, 100}}; /* every 100 us */
  setitimer(ITIMER_REAL, &every, NULL);
  static void *window[512];
  /* The heap at its working size before the first signal: growing it is where a handler's
   * malloc most often breaks glibc (plain), which is not what this case is about. */
  for (int i = 0; i < 512; i++) window[i] = malloc(1024);
  for (long i = 0; i < iterations; i++) {
    unsigned r = (unsigned)(i * 2654435761u);
    free(window[i % 512]);
    window[i % 512] = malloc(16 + (r >> 22)); /* 16 B .. 1 KiB */
  }
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  for (int i = 0; i < 512; i++) free(window[i]);
  printf("handler ran %ld times\n", atomic_load(&handler_runs));
  return 0;
}

/* Threads in this process, from the kernel's view. */
static int thread_count(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  int n = -1;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "Threads: %d", &n) == 1) break;
  if (f) fclose(f);
  return n;
}

/* Prints what glibc and the kernel think after a few thousand allocations: a recorder must not
 * have made the process multi-threaded. */
static int single_threaded(void) {
  for (int i = 0; i < 200000; i++) free(malloc(16 + i % 512)); /* several full buffers */
  printf("threads %d single %d\n", thread_count(), (int)__libc_single_threaded);
  return 0;
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "";
  if (!strcmp(mode, "single-threaded")) return single_threaded();
  if (!strcmp(mode, "signal-malloc")) return signal_malloc(argc > 2 ? atol(argv[2]) : 3000000);
  fprintf(stderr, "unknown mode %s\n", mode);
  return 2;
}
