/* Twenty malloc/free pairs of 1000..1019 bytes, each at least 5 ms after the previous one
 * (busy-waiting on CLOCK_MONOTONIC through the vDSO: no system call, so the thread never sleeps),
 * with 200 pairs of 64 bytes before each. Single-threaded: its stamps are the reused ones of
 * docs/RECORDER.md, "Ordering" (StampsTests). */
#include <stdlib.h>
#include <time.h>

static void *volatile sink;

static long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000ll + t.tv_nsec;
}

int main(void) {
  for (int i = 0; i < 20; i++) {
    long long start = now_ns();
    while (now_ns() - start < 5000000) {
    }
    for (int j = 0; j < 200; j++) free(sink = malloc(64));
    free(sink = malloc(1000 + (size_t)i));
  }
  return 0;
}
