/* Fault-matrix programs: one hostile situation per argv[1], each with known allocations so a test
 * can check what the recorder saw as well as that the program finished. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/single_threaded.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
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

/* A parent may have left the signal blocked (a test runner's spawning thread): unblock it. */
static void unblock(int signo) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, signo);
  sigprocmask(SIG_UNBLOCK, &set, NULL);
}

static int signal_malloc(long iterations) {
  unblock(SIGALRM);
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

/* A number from /proc/self/status ("Threads", "VmHWM"), or -1. */
static long status_field(const char *key) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long n = -1;
  size_t len = strlen(key);
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, key, len) && line[len] == ':') {
      n = atol(line + len + 1);
      break;
    }
  if (f) fclose(f);
  return n;
}
static int thread_count(void) { return (int)status_field("Threads"); }

/* Prints what glibc and the kernel think after a few thousand allocations: a recorder must not
 * have made the process multi-threaded. */
static int single_threaded(void) {
  long n = 200000;
  for (long i = 0; i < n; i++) free(malloc(16 + i % 512)); /* several full buffers */
  printf("threads %d single %d\n", thread_count(), (int)__libc_single_threaded);
  return 0;
}

static void *short_life(void *arg) {
  (void)arg;
  for (int i = 0; i < 500; i++) free(malloc(100 + i % 900)); /* a few KiB of records */
  kept = malloc(31); /* one block per thread left for the end: 31 B x threads */
  free(kept);
  return NULL;
}

/* `count` short threads, `batch` at a time; prints the peak RSS in KiB (VmHWM: getrusage's
 * maxrss survives exec, so it would include the parent's RSS when the parent spawned by vfork). The pause after each
 * batch lets a writer starved of CPU by a loaded machine catch up: what is measured is what the
 * recorder keeps, not how far behind it fell (that is bounded by back-pressure, at 64 MiB). */
static int thread_churn(int count, int batch) {
  pthread_t t[64];
  for (int done = 0; done < count; done += batch) {
    for (int i = 0; i < batch; i++) pthread_create(&t[i], NULL, short_life, NULL);
    for (int i = 0; i < batch; i++) pthread_join(t[i], NULL);
    usleep(2000);
  }
  printf("maxrss %ld\n", status_field("VmHWM"));
  return 0;
}

#ifdef WITH_CTORLIB
void ctorlib_release(void);
#endif

/* A forked child that allocates 5151 B, then execs this program as "exec-target" (6161 B). */
static int fork_exec(const char *self) {
  pid_t pid = fork();
  if (pid == 0) {
    kept = malloc(5151);
    execl(self, self, "exec-target", (char *)NULL);
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  kept = malloc(4141);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 99;
}

/* C23's sized frees, found at run time (glibc before 2.40 has none; the recorder defines them). */
static int sized_frees(void) {
  void (*fs)(void *, size_t) = (void (*)(void *, size_t))dlsym(RTLD_DEFAULT, "free_sized");
  void (*fas)(void *, size_t, size_t) = (void (*)(void *, size_t, size_t))dlsym(RTLD_DEFAULT, "free_aligned_sized");
  for (int i = 0; i < 10; i++) {
    void *p = malloc(999), *q = aligned_alloc(64, 640);
    if (fs) fs(p, 999); else free(p);
    if (fas) fas(q, 64, 640); else free(q);
  }
  return 0;
}

/* dlopen, call, dlclose in a loop on four threads at once (plugin.c: plugin_make is 3131 B). */
static const char *plugin_path;
static void *dlopen_loop(void *arg) {
  (void)arg;
  for (int i = 0; i < 200; i++) {
    void *lib = dlopen(plugin_path, RTLD_NOW);
    if (!lib) return (void *)1;
    void *(*make)(void) = (void *(*)(void))dlsym(lib, "plugin_make");
    free(make());
    dlclose(lib);
  }
  return NULL;
}

static int dlopen_threads(const char *path) {
  plugin_path = path;
  pthread_t t[4];
  void *failed = NULL, *r;
  for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, dlopen_loop, NULL);
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], &r);
    if (r) failed = r;
  }
  return failed != NULL;
}

/* One thread loads and unloads the plugin (each dlopen maps it anew, each dlclose unmaps it)
 * while the writer thread, started by a second thread, syncs the module list every interval: a
 * sync that visits the new module must not take a loader lock the dlopen holds (it did, through
 * dladdr inside dl_iterate_phdr, and both threads hung). */
static void *idle_thread(void *arg) {
  while (!*(volatile int *)arg) usleep(1000);
  return NULL;
}

static int dlopen_cycle(const char *path, int rounds) {
  int stop = 0;
  pthread_t idle;
  pthread_create(&idle, NULL, idle_thread, &stop);
  for (int i = 0; i < rounds; i++) {
    void *lib = dlopen(path, RTLD_NOW);
    if (!lib) return 1;
    void *(*make)(void) = (void *(*)(void))dlsym(lib, "plugin_make");
    free(make());
    dlclose(lib);
  }
  stop = 1;
  pthread_join(idle, NULL);
  return 0;
}

/* Loads a module by the (relative) path given and keeps one of its blocks. */
static int dlopen_keep(const char *path) {
  void *lib = dlopen(path, RTLD_NOW);
  if (!lib) return fprintf(stderr, "%s\n", dlerror()), 2;
  void *(*make)(void) = (void *(*)(void))dlsym(lib, "plugin_make");
  kept = make();
  return 0;
}

/* posix_spawn of this program ("exec-target") while the parent keeps allocating. */
static int spawn_child(const char *self) {
  extern char **environ;
  pid_t pid;
  char *args[] = {(char *)self, "exec-target", NULL};
  if (posix_spawn(&pid, self, NULL, NULL, args, environ) != 0) return 3;
  for (int i = 0; i < 1000; i++) free(malloc(64));
  int status = 0;
  waitpid(pid, &status, 0);
  kept = malloc(4141);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 99;
}

/* A long run: `n` allocations with 4,096 live at a time, from two threads; prints VmHWM. */
static long long_run_n;
static void *long_run_thread(void *arg) {
  static __thread void *window[2048];
  unsigned r = (unsigned)(uintptr_t)arg;
  for (long i = 0; i < long_run_n; i++) {
    r = r * 1103515245u + 12345u;
    free(window[i % 2048]);
    window[i % 2048] = malloc(16 + (r >> 21));
  }
  for (int i = 0; i < 2048; i++) free(window[i]);
  return NULL;
}

static int long_run(long n) {
  long_run_n = n / 2;
  pthread_t t[2];
  for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, long_run_thread, (void *)(uintptr_t)(i + 1));
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  printf("maxrss %ld\n", status_field("VmHWM"));
  return 0;
}

/* The marker signal sent to four allocating threads at once, ten rounds: 40 markers. A realtime
 * signal (HEAPWISE_MARKER_SIGNAL) queues where SIGUSR2 would merge with one still pending on a
 * thread that a loaded machine has not run yet. */
static _Atomic int storm_stop;
static pid_t storm_tids[4];
static void *storm_thread(void *arg) {
  storm_tids[(intptr_t)arg] = (pid_t)syscall(SYS_gettid);
  while (!atomic_load(&storm_stop)) free(malloc(48));
  return NULL;
}

static int marker_storm(int signo) {
  pthread_t t[4];
  for (intptr_t i = 0; i < 4; i++) pthread_create(&t[i], NULL, storm_thread, (void *)i);
  for (int i = 0; i < 4; i++)
    while (!storm_tids[i]) usleep(1000);
  for (int round = 0; round < 10; round++) {
    for (int i = 0; i < 4; i++) syscall(SYS_tgkill, getpid(), storm_tids[i], signo);
    usleep(30000); /* the writer drains the ring between rounds */
  }
  atomic_store(&storm_stop, 1);
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  return 0;
}

/* A handler that calls exit() (common, if not async-signal-safe), landing at a moment `us` into a
 * single-threaded churn: sometimes while the thread itself is writing a frame. */
static void exiting_handler(int signo) {
  (void)signo;
  exit(7);
}

static int exit_from_handler(long us) {
  signal(SIGALRM, exiting_handler);
  unblock(SIGALRM);
  struct itimerval once = {{0, 0}, {us / 1000000, us % 1000000}};
  setitimer(ITIMER_REAL, &once, NULL);
  static void *window[512];
  for (unsigned long i = 0;; i++) {
    free(window[i % 512]);
    window[i % 512] = malloc(16 + (i * 2654435761u >> 22));
  }
}

/* deeplib.c opened with RTLD_DEEPBIND (RTLD_NOW: bound at load; RTLD_LAZY: each slot at its first
 * call), or by name through RUNPATH. */
static int deepbind(const char *path, int flags) {
  void *lib = dlopen(path, flags);
  if (!lib) return fprintf(stderr, "%s\n", dlerror()), 2;
  void *(*work)(void) = (void *(*)(void))dlsym(lib, "deep_work");
  void (*release)(void *) = (void (*)(void *))dlsym(lib, "deep_free");
  kept = malloc(4444);
  void *mine = kept;
  kept = work();   /* 5555 B, kept; a strdup freed inside */
  release(mine);   /* the library frees the program's 4444 B block */
  return 0;
}
/* The same library opened, used and closed `rounds` times from one call path: each copy's
 * constructor allocates 7070 B and deep_free frees it, so every round should look the same. */
static int deepbind_cycle(const char *path, int flags, int rounds) {
  for (int i = 0; i < rounds; i++) {
    void *lib = dlopen(path, flags);
    if (!lib) return fprintf(stderr, "%s\n", dlerror()), 2;
    void *(*work)(void) = (void *(*)(void))dlsym(lib, "deep_work");
    void (*release)(void *) = (void (*)(void *))dlsym(lib, "deep_free");
    void *mine = malloc(4444);
    kept = work();  /* 5555 B, kept past the dlclose; a strdup freed inside */
    release(mine);  /* the program's 4444 B and the constructor's 7070 B, freed by the library */
    dlclose(lib);
  }
  return 0;
}

/* The list forms of exec, in place (no fork): 5252 B, then this program again as "exec-target"
 * through execl, execlp (found on a PATH of this program's directory) or execle (with this
 * environment plus HW_EXEC_SIZE=6262, which the target allocates instead of 6161: the
 * environment after the argument list's NULL must reach the new image). */
extern char **environ;
static int exec_list(const char *self, const char *form) {
  kept = malloc(5252);
  if (!strcmp(form, "l")) execl(self, self, "exec-target", (char *)NULL);
  if (!strcmp(form, "lp")) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", self);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    setenv("PATH", dir, 1);
    execlp(slash ? slash + 1 : self, slash ? slash + 1 : self, "exec-target", (char *)NULL);
  }
  if (!strcmp(form, "le")) {
    size_t n = 0;
    while (environ[n]) n++;
    char **env = malloc((n + 2) * sizeof *env);
    memcpy(env, environ, n * sizeof *env);
    env[n] = "HW_EXEC_SIZE=6262";
    env[n + 1] = NULL;
    execle(self, self, "exec-target", (char *)NULL, env);
  }
  perror("exec");
  return 127;
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "";
  if (!strcmp(mode, "deepbind")) return deepbind(argv[2], RTLD_NOW | RTLD_DEEPBIND);
  if (!strcmp(mode, "deepbind-lazy")) return deepbind(argv[2], RTLD_LAZY | RTLD_DEEPBIND);
  if (!strcmp(mode, "runpath")) return deepbind(argv[2], RTLD_NOW);
  if (!strcmp(mode, "deepbind-cycle")) return deepbind_cycle(argv[2], RTLD_NOW | RTLD_DEEPBIND, atoi(argv[3]));
  if (!strcmp(mode, "deepbind-lazy-cycle")) return deepbind_cycle(argv[2], RTLD_LAZY | RTLD_DEEPBIND, atoi(argv[3]));
  if (!strcmp(mode, "exit-from-handler")) return exit_from_handler(argc > 2 ? atol(argv[2]) : 30000);
  if (!strcmp(mode, "marker-storm")) return marker_storm(argc > 2 ? atoi(argv[2]) : SIGUSR2);
  if (!strcmp(mode, "spawn")) return spawn_child(argv[0]);
  if (!strcmp(mode, "long-run")) return long_run(argc > 2 ? atol(argv[2]) : 4000000);
  if (!strcmp(mode, "dlopen-threads")) return dlopen_threads(argv[2]);
  if (!strcmp(mode, "dlopen-keep")) return dlopen_keep(argv[2]);
  if (!strcmp(mode, "dlopen-cycle")) return dlopen_cycle(argv[2], atoi(argv[3]));
  if (!strcmp(mode, "sized-frees")) return sized_frees();
  if (!strcmp(mode, "fork-exec")) return fork_exec(argv[0]);
  if (!strcmp(mode, "exec-list")) return exec_list(argv[0], argv[2]);
  if (!strcmp(mode, "exec-target")) {
    kept = malloc(getenv("HW_EXEC_SIZE") ? (size_t)atol(getenv("HW_EXEC_SIZE")) : 6161);
    return 0;
  }
#ifdef WITH_CTORLIB
  if (!strcmp(mode, "ctorlib")) { /* frees the block ctorlib.c's constructor allocated */
    ctorlib_release();
    return 0;
  }
#endif
  if (!strcmp(mode, "thread-churn")) return thread_churn(argc > 2 ? atoi(argv[2]) : 2000, 20);
  if (!strcmp(mode, "single-threaded")) return single_threaded();
  if (!strcmp(mode, "signal-malloc")) return signal_malloc(argc > 2 ? atol(argv[2]) : 3000000);
  fprintf(stderr, "unknown mode %s\n", mode);
  return 2;
}
