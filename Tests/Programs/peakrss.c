/*
 * peakrss OUT PROGRAM [ARGS...]: runs PROGRAM and writes its peak resident memory, in bytes, to OUT.
 *
 * A test cannot read that from its own wait4: posix_spawn starts the child with vfork, sharing the
 * test process's memory until exec, and exec folds that memory's high-water mark into the child's
 * maxrss (a test runner of 600 MB made every child look 600 MB). This small process forks, so the
 * program's maxrss starts from this process's few hundred KiB, and its exit status is passed on.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: peakrss OUT PROGRAM [ARGS...]\n");
    return 125;
  }
  pid_t pid = fork();
  if (pid < 0) {
    perror("peakrss: fork");
    return 125;
  }
  if (pid == 0) {
    execv(argv[2], argv + 2);
    perror("peakrss: exec");
    _exit(127);
  }
  int status;
  struct rusage usage;
  while (wait4(pid, &status, 0, &usage) < 0) {
    if (errno != EINTR) {
      perror("peakrss: wait4");
      return 125;
    }
  }
  FILE *out = fopen(argv[1], "w");
  if (out == NULL || fprintf(out, "%ld\n", usage.ru_maxrss * 1024L) < 0 || fclose(out) != 0) {
    perror("peakrss: writing the result");
    return 125;
  }
  if (WIFSIGNALED(status)) {
    signal(WTERMSIG(status), SIG_DFL);
    raise(WTERMSIG(status));
  }
  return WEXITSTATUS(status);
}
