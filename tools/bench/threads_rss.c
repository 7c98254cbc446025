/* The recorder's memory per thread: THREADS threads alive at once, each allocating (and so
 * capturing stacks) through a few frames; when all have, the main thread prints the process's
 * RSS (VmRSS, KiB) and lets them exit. Run plain and under each recorder build: the difference per
 * 1,000 threads is the recorder's per-thread cost.
 * Usage: threads_rss [threads]   (default 1000) */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_barrier_t ready, done;
static void *volatile sink;

static __attribute__((noinline)) void work(int depth) {
  if (depth > 0) { work(depth - 1); sink = NULL; return; }
  /* A local pointer: the shared sink, freed through, let two threads free one block. */
  for (int i = 0; i < 100; i++) { void *p = malloc(64 + (size_t)i); sink = p; free(p); }
}

static void *thread_main(void *arg) {
  (void)arg;
  work(8);
  pthread_barrier_wait(&ready);
  pthread_barrier_wait(&done);
  return NULL;
}

static long rss_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0) kb = strtol(line + 6, NULL, 10);
  if (f) fclose(f);
  return kb;
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1000;
  pthread_t *t = calloc((size_t)n, sizeof *t);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  pthread_barrier_init(&ready, NULL, (unsigned)n + 1);
  pthread_barrier_init(&done, NULL, (unsigned)n + 1);
  for (int i = 0; i < n; i++) pthread_create(&t[i], &attr, thread_main, NULL);
  pthread_barrier_wait(&ready);
  printf("%d threads: VmRSS %ld KiB\n", n, rss_kb());
  pthread_barrier_wait(&done);
  for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
  return 0;
}
