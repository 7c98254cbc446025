/* What the hooks' sampling entry must keep without the allocator flag (hooks.c, "SAMPLING MODE'S
 * ENTRY"): run under `--sample` by Tests/FaultMatrixTests/SamplingEntryCases.swift.
 *
 *   heap       40,000 blocks of 1,000 B kept live (jemalloc and tcmalloc map new extents for them
 *              from inside malloc, through the hooked mmap), and one 1 MiB mapping of the program's
 *              own; everything freed and unmapped at the end. Prints "mapped".
 *   exit-in-allocator USEC
 *              a second thread (so glibc's malloc takes its arena lock) and malloc/free of 2-64 KiB blocks, past glibc's tcache, so
 *              most of the loop runs inside the allocator under its lock; after USEC a SIGALRM
 *              handler calls _exit(7). The recorder's exit path must not ask the allocator for
 *              statistics then: mallinfo2 would wait for the lock this thread holds.
 *   exit-in-allocator-writer USEC
 *              the same with the second thread made by pthread_create, so the recorder's writer
 *              thread runs and takes its periodic samples (mallinfo2) while the handler exits: the
 *              exit path must not wait for a writer that waits for the lock this thread holds.
 */
#include <pthread.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <unistd.h>

static void tick(union sigval v) { (void)v; }

static void *idle(void *arg) {
  (void)arg;
  for (;;) pause();
  return NULL;
}

static void on_alarm(int signo) {
  (void)signo;
  _exit(7);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "heap") == 0) {
    enum { N = 40000 };
    static void *blocks[N];
    for (int i = 0; i < N; i++) {
      blocks[i] = malloc(1000);
      ((volatile char *)blocks[i])[0] = 1;
    }
    void *own = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (own == MAP_FAILED) return 2;
    ((volatile char *)own)[0] = 1;
    for (int i = 0; i < N; i++) free(blocks[i]);
    munmap(own, 1 << 20);
    printf("mapped\n");
    return 0;
  }
  bool writer = argc > 2 && strcmp(argv[1], "exit-in-allocator-writer") == 0;
  if (writer || (argc > 2 && strcmp(argv[1], "exit-in-allocator") == 0)) {
    /* A second thread that the hooks do not see (glibc's timer helper, created inside libc): glibc's
     * malloc takes its arena lock from then on, and no writer thread starts (docs/RECORDER.md, "Who
     * writes"), so the exit path's sample is taken on this thread, inside the handler. The helper
     * blocks every signal; this thread unblocks SIGALRM (the test process's mask may block it). */
    if (writer) {
      /* A thread of the program's own (signals blocked, so SIGALRM lands on main): the hooks see
       * pthread_create and the writer thread starts. */
      sigset_t all;
      sigfillset(&all);
      pthread_sigmask(SIG_BLOCK, &all, NULL);
      pthread_t t;
      if (pthread_create(&t, NULL, idle, NULL) != 0) return 2;
      pthread_sigmask(SIG_UNBLOCK, &all, NULL);
    } else {
      struct sigevent ev = {.sigev_notify = SIGEV_THREAD, .sigev_notify_function = tick};
      timer_t helper;
      if (timer_create(CLOCK_MONOTONIC, &ev, &helper) != 0) return 2;
    }
    sigset_t alarm;
    sigemptyset(&alarm);
    sigaddset(&alarm, SIGALRM);
    pthread_sigmask(SIG_UNBLOCK, &alarm, NULL);
    signal(SIGALRM, on_alarm);
    struct itimerval when = {{0, 0}, {0, atoi(argv[2])}};
    setitimer(ITIMER_REAL, &when, NULL);
    enum { LIVE = 64 };
    void *live[LIVE] = {0};
    unsigned long x = 88172645463325252ul;
    for (;;) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      unsigned i = (unsigned)(x % LIVE);
      free(live[i]);
      live[i] = malloc(2048 + (x >> 20) % (62 * 1024));
    }
  }
  fprintf(stderr, "usage: sampling_entry heap | exit-in-allocator USEC | exit-in-allocator-writer USEC\n");
  return 2;
}
