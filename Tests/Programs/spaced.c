/* Single-threaded, so its stamps are the reused ones of docs/RECORDER.md, "Ordering" (StampsTests).
 * No argument: twenty malloc/free pairs of 1000..1019 bytes, each at least 5 ms after the previous
 * one, with 200 pairs of 64 bytes before each. "markers": thirty rounds of malloc(1100 + i), a
 * SIGUSR2 marker raised on this thread, 1.5 ms (more than one coarse unit of 2^20 TSC ticks on any
 * TSC of 0.7 GHz or more), malloc(2100 + i). "fork-timens": the no-argument rounds in a child forked
 * into a new time namespace whose monotonic clock is a day ahead (its vvar pages are not its
 * parent's); exits 77 if the namespace cannot be made. Waits busy-wait on CLOCK_MONOTONIC
 * through the vDSO: no system call, so the thread never sleeps. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

static void rounds(void) {
  for (int i = 0; i < 20; i++) {
    spin(5000000);
    for (int j = 0; j < 200; j++) free(sink = malloc(64));
    free(sink = malloc(1000 + (size_t)i));
  }
}

static int fork_into_new_time_namespace(void) {
  if (unshare(CLONE_NEWTIME) != 0) return 77;
  static const char offsets[] = "monotonic 86400 0";
  int fd = open("/proc/self/timens_offsets", O_WRONLY);
  if (fd < 0 || write(fd, offsets, sizeof offsets - 1) != (ssize_t)(sizeof offsets - 1)) return 77;
  close(fd);
  free(sink = malloc(4000)); /* the parent stamps with its words before and after the fork */
  pid_t child = fork();
  if (child == 0) {
    rounds();
    exit(0);
  }
  int status = 0;
  if (child < 0 || waitpid(child, &status, 0) != child) return 1;
  free(sink = malloc(4001));
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "fork-timens") == 0) return fork_into_new_time_namespace();
  if (argc > 1 && strcmp(argv[1], "markers") == 0) {
    for (int i = 0; i < 30; i++) {
      free(sink = malloc(1100 + (size_t)i));
      raise(SIGUSR2);
      spin(1500000);
      free(sink = malloc(2100 + (size_t)i));
    }
    return 0;
  }
  rounds();
  return 0;
}
