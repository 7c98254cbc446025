/* Single-threaded, so its stamps are the reused ones of docs/RECORDER.md, "Ordering" (StampsTests).
 * No argument: twenty malloc/free pairs of 1000..1019 bytes, each at least 5 ms after the previous
 * one, with 200 pairs of 64 bytes before each. "markers": thirty rounds of malloc(1100 + i), a
 * SIGUSR2 marker raised on this thread, 1.5 ms (more than one coarse unit of 2^20 TSC ticks on any
 * TSC of 0.7 GHz or more), malloc(2100 + i). Waits busy-wait on CLOCK_MONOTONIC
 * through the vDSO: no system call, so the thread never sleeps. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void *volatile sink;

static long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000ll + t.tv_nsec;
}

static void spin(long long ns) {
  long long start = now_ns();
  while (now_ns() - start < ns) {
  }
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "markers") == 0) {
    for (int i = 0; i < 30; i++) {
      free(sink = malloc(1100 + (size_t)i));
      raise(SIGUSR2);
      spin(1500000);
      free(sink = malloc(2100 + (size_t)i));
    }
    return 0;
  }
  for (int i = 0; i < 20; i++) {
    spin(5000000);
    for (int j = 0; j < 200; j++) free(sink = malloc(64));
    free(sink = malloc(1000 + (size_t)i));
  }
  return 0;
}
