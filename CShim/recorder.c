/* recorder.c: the recorder's lifecycle. Reads the configuration, creates the dump, starts the
 * writer; handles markers, fork, exec, process exit and fatal signals.
 *
 * Nothing is recorded unless HEAPWISE_OUTPUT is set, so the same code can sit linked into a test
 * process (HeapwiseBudget) and cost only the hooks' two relaxed loads there.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#define HEAPWISE_BUILDING 1
#include "hw_format.h"
#include "hw_internal.h"
#include "include/heapwise.h"

hw_config_t hw_config = {.max_frames = HW_MAX_FRAMES, .interval_ms = 20, .marker_signal = SIGUSR2, .compress = true};
/* -1 until the configuration has been read (hw_recorder_early_start), then 0 or 1. -1 is nonzero,
 * so the hooks' one unlikely branch already leads the first hooked call here. */
_Atomic int hw_recording = -1;
_Atomic uint32_t hw_modes = HW_MODE_UNDECIDED; /* hw_internal.h, "the modes word" */

/* Sets `bits` of `mask` and clears the others, in that order: the word is not 0 in between. */
static void modes_put(uint32_t mask, uint32_t bits) {
  atomic_fetch_or(&hw_modes, bits);
  atomic_fetch_and(&hw_modes, ~(mask & ~bits));
}

void hw_modes_set(uint32_t bits, bool on) { modes_put(bits, on ? bits : 0); }

/* Makes hw_modes say what *state says (its bits for a negative, zero or positive value). Two
 * writers of one state may apply their bits in the other order than they stored their values:
 * each applies what the state holds and does so again until the state still holds it afterwards,
 * so the last to apply saw the value that stands. Lock-free: a fatal signal's handler stops the
 * recording. */
static void modes_follow(const _Atomic int *state, uint32_t negative, uint32_t zero, uint32_t positive) {
  for (;;) {
    int v = atomic_load(state);
    modes_put(negative | zero | positive, v < 0 ? negative : v == 0 ? zero : positive);
    if (atomic_load(state) == v) return;
  }
}
void hw_modes_follow(const _Atomic int *state, uint32_t bit) { modes_follow(state, bit, 0, bit); }

static void recording_follow(void) { modes_follow(&hw_recording, HW_MODE_UNDECIDED, HW_MODE_OFF, 0); }
/* hw_recording's writes, each followed by its bits in hw_modes. */
static void recording_store(int v) {
  atomic_store(&hw_recording, v);
  recording_follow();
}
static int recording_exchange(int v) {
  int old = atomic_exchange(&hw_recording, v);
  recording_follow();
  return old;
}
uint64_t hw_start_ticks;
uint64_t hw_ticks_per_second = 1000000000ull;
bool hw_use_tsc;

static char output_template[4096];
static int exec_seq; /* in-place execs of the recorded process so far (see decide_exec_role) */
/* The process that owns the dump. A vfork child shares our memory and runs no atfork handler:
 * its _exit or crash must not end the parent's recording. */
static pid_t recorder_pid;
static _Atomic int stop_reported;
static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTERM, SIGINT, SIGQUIT, SIGHUP};

static int env_int(const char *name, int fallback, int lo, int hi) {
  const char *v = getenv(name);
  if (!v || !*v) return fallback;
  char *end;
  long n = strtol(v, &end, 10);
  if (*end || n < lo || n > hi) {
    hw_log("ignoring %s=%s (expected a number from %d to %d)", name, v, lo, hi);
    return fallback;
  }
  return (int)n;
}

/* A whole number of bytes, optionally with K, M or G (powers of 1024; "KiB" spelled out too). */
static uint64_t env_bytes(const char *name, uint64_t fallback, uint64_t hi) {
  const char *v = getenv(name);
  if (!v || !*v) return fallback;
  char *end;
  unsigned long long n = strtoull(v, &end, 10);
  int shift = 0;
  if (*end == 'K' || *end == 'k') shift = 10;
  else if (*end == 'M' || *end == 'm') shift = 20;
  else if (*end == 'G' || *end == 'g') shift = 30;
  if (shift) end++;
  if (shift && (strcmp(end, "iB") == 0 || strcmp(end, "ib") == 0 || strcmp(end, "B") == 0)) end += strlen(end);
  if (*end || v[0] == '-' || (shift && n > (hi >> shift)) || (n << shift) > hi) {
    hw_log("ignoring %s=%s (expected bytes up to %llu, e.g. 512KiB)", name, v, (unsigned long long)hi);
    return fallback;
  }
  return (uint64_t)n << shift;
}

static bool env_flag(const char *name) {
  const char *v = getenv(name);
  return v && (strcmp(v, "1") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "true") == 0);
}

/* "%p" becomes the pid, "%%" a percent sign. */
static bool expand_output(char *out, size_t cap, const char *tmpl, pid_t pid) {
  size_t o = 0;
  for (const char *p = tmpl; *p; p++) {
    char num[24];
    const char *piece = p;
    size_t len = 1;
    if (p[0] == '%' && p[1] == 'p') {
      len = (size_t)snprintf(num, sizeof num, "%d", (int)pid);
      piece = num;
      p++;
    } else if (p[0] == '%' && p[1] == '%') {
      p++;
    }
    if (o + len >= cap) return false;
    memcpy(out + o, piece, len);
    o += len;
  }
  out[o] = 0;
  return true;
}

/* The n-th in-place exec of the recorded process has the same pid, so its dump gets ".execN"
 * before a trailing ".heapwise" (or at the end). */
static bool add_exec_suffix(char *path, size_t cap) {
  if (exec_seq == 0) return true;
  char suffix[24];
  int n = snprintf(suffix, sizeof suffix, ".exec%d", exec_seq);
  size_t len = strlen(path), ext = strlen(".heapwise");
  size_t at = (len >= ext && strcmp(path + len - ext, ".heapwise") == 0) ? len - ext : len;
  if (len + (size_t)n + 1 > cap) return false;
  memmove(path + at + n, path + at, len - at + 1);
  memcpy(path + at, suffix, (size_t)n);
  return true;
}

static bool kernel_trusts_tsc(void) {
  char buf[64];
  if (hw_read_file("/sys/devices/system/clocksource/clocksource0/current_clocksource", buf, sizeof buf) <= 0)
    return false;
  return strncmp(buf, "tsc", 3) == 0;
}

/* A rough rate for the header; CLOCK records in the dump refine it. ~100 us, once. */
static uint64_t estimate_ticks_per_second(void) {
  if (!hw_use_tsc) return 1000000000ull;
  uint64_t n0 = hw_monotonic_ns(), t0 = hw_now(), n1;
  while ((n1 = hw_monotonic_ns()) - n0 < 100000) {
  }
  uint64_t t1 = hw_now();
  return (t1 - t0) * 1000000000ull / (n1 - n0);
}

static int write_header(int fd, uint32_t flags) {
  static uint8_t h[HW_HEADER_FIXED + 8 + 4096 + 32768];
  char exe[4096];
  ssize_t exe_len = readlink("/proc/self/exe", exe, sizeof exe);
  if (exe_len < 0) exe_len = 0;
  static char cmdline[32768];
  ssize_t cmd_len = hw_read_file("/proc/self/cmdline", cmdline, sizeof cmdline);
  if (cmd_len < 0) cmd_len = 0;
  size_t size = HW_HEADER_FIXED + 4 + (size_t)exe_len + 4 + (size_t)cmd_len;
  memset(h, 0, HW_HEADER_FIXED);
  memcpy(h, HW_MAGIC, 8);
  hw_put_u16(h + 8, HW_VERSION_MAJOR);
  hw_put_u16(h + 10, HW_VERSION_MINOR);
  hw_put_u32(h + 12, (uint32_t)size);
  hw_put_u32(h + 16, (uint32_t)getpid());
  hw_put_u32(h + 20, (uint32_t)getppid());
  hw_put_u32(h + 24, (uint32_t)sysconf(_SC_PAGESIZE));
  hw_put_u32(h + 28, flags);
  hw_put_u64(h + 32, hw_realtime_ns());
  hw_put_u64(h + 40, hw_monotonic_ns());
  hw_put_u64(h + 48, hw_start_ticks);
  hw_ticks_per_second = estimate_ticks_per_second();
  hw_put_u64(h + 56, hw_ticks_per_second);
  uint8_t *p = h + HW_HEADER_FIXED;
  hw_put_u32(p, (uint32_t)exe_len);
  memcpy(p + 4, exe, (size_t)exe_len);
  p += 4 + exe_len;
  hw_put_u32(p, (uint32_t)cmd_len);
  memcpy(p + 4, cmdline, (size_t)cmd_len);
  return hw_write_all(fd, h, size);
}

/* Creates the dump and starts recording. Returns false (having said why) when it cannot. */
static bool start_dump(uint32_t extra_flags) {
  char path[sizeof output_template];
  if (!expand_output(path, sizeof path, output_template, getpid()) || !add_exec_suffix(path, sizeof path)) {
    hw_log("HEAPWISE_OUTPUT is too long; not recording");
    return false;
  }
  /* O_EXCL|O_NOFOLLOW: never follow a planted link or overwrite a file; 0600: the dump holds the
   * command line and code addresses. O_APPEND: frames from a signal handler and the writer never
   * interleave. */
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_APPEND, 0600);
  /* An in-place exec whose sequence number did not reach it (no placeholder, and a program that
   * exports from main's envp): the next free ".execN". */
  for (int tries = 0; fd < 0 && errno == EEXIST && exec_seq > 0 && tries < 64; tries++) {
    exec_seq++;
    if (!expand_output(path, sizeof path, output_template, getpid()) || !add_exec_suffix(path, sizeof path)) break;
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_APPEND, 0600);
  }
  if (fd < 0) {
    hw_log("cannot create %s (%s); the program runs on unrecorded", path, strerror(errno));
    return false;
  }
  hw_start_ticks = hw_now();
  uint32_t flags = extra_flags | (hw_use_tsc ? HW_HEADER_FLAG_TSC : 0) | (hw_config.trim_probe ? HW_HEADER_FLAG_TRIM_PROBE : 0) |
                   (hw_config.aggregate ? HW_HEADER_FLAG_AGGREGATE : 0);
  if (write_header(fd, flags) != 0) {
    hw_log("cannot write %s (%s); the program runs on unrecorded", path, strerror(errno));
    close(fd);
    unlink(path);
    return false;
  }
  if (!hw_writer_start(fd)) {
    hw_log("cannot start the writer thread; the program runs on unrecorded");
    close(fd);
    return false;
  }
  recorder_pid = getpid();
  hw_agg_set_path(path);
  recording_store(1);
  hw_entry_update(); /* an idle entry closes (a forked child, a failed exec) */
  hw_thread_t *t = hw_thread_current(); /* the starting thread's stream opens with the module map */
  hw_sampling_emit_parameters(t);       /* (after a sampled dump's parameters) */
  if (t) hw_modules_sync(t);
  return true;
}

void hw_stop_recording(const char *why) {
  recording_store(0);
  if (!atomic_exchange(&stop_reported, 1)) hw_log("%s", why);
}

void hw_on_exit(int reason, int signo) {
  if (getpid() != recorder_pid) return; /* a vfork child */
  hw_tls_busy++;
  if (hw_sample_rate && atomic_load(&hw_recording) > 0) hw_sampling_emit_stats(hw_thread_current());
  if (recording_exchange(0) > 0) {
    hw_thread_flush_all();
    hw_writer_stop(reason, signo);
  }
  hw_tls_busy--;
}

/* ---- markers ---- */

HW_EXPORT void heapwise_marker(const char *name) {
  hw_tls_busy++;
  hw_thread_t *t = atomic_load(&hw_recording) != 0 ? hw_thread_current() : NULL;
  if (t) {
    uint64_t ts = hw_now();
    hw_thread_moment(t, ts, HW_MARKER_API, name ? name : "");
    hw_agg_thread_moment(t, ts, name ? name : "", false);
  }
  hw_tls_busy--;
}

void hw_thread_moment(hw_thread_t *t, uint64_t ts, int source, const char *name) {
  hw_emit_marker(t, ts, source, name);
  uint8_t body[512];
  if (hw_config.trim_probe) {
    size_t n = hw_trim_probe_encode(body, sizeof body);
    hw_emit_raw(t, hw_now(), HW_TAG_TRIM, body, n);
  }
  size_t n = hw_sample_encode(body, sizeof body, true);
  hw_emit_raw(t, hw_now(), HW_TAG_SAMPLE, body, n);
  if (!hw_config.aggregate) hw_residency_emit(t); /* aggregated dumps keep no page maps per moment */
}

HW_EXPORT int heapwise_is_recording(void) { return atomic_load(&hw_recording) > 0; }

static void on_marker_signal(int signo) {
  (void)signo;
  int saved = errno;
  hw_writer_note_signal_marker();
  errno = saved;
}

/* ---- fatal signals: leave a dump that ends properly, then die the way the program would ---- */

static void on_fatal_signal(int signo) {
  hw_tls_busy++;
  if (getpid() == recorder_pid && recording_exchange(0) > 0) {
    hw_thread_flush_all();
    hw_writer_emergency_flush(signo);
  }
  signal(signo, SIG_DFL);
  raise(signo); /* blocked until we return, then delivered with the default action */
}

/* Only signals the program left at their default: we never replace a handler of its own. */
static void install_signal_handlers(void) {
  struct sigaction old, sa;
  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART | SA_ONSTACK;
  for (size_t i = 0; i < sizeof fatal_signals / sizeof *fatal_signals; i++) {
    if (sigaction(fatal_signals[i], NULL, &old) == 0 && old.sa_handler == SIG_DFL) {
      sa.sa_handler = on_fatal_signal;
      sigaction(fatal_signals[i], &sa, NULL);
    }
  }
  /* The marker signal also when inherited as ignored or blocked: before main the program has set
   * neither, and a parent's leftover mask (libdispatch workers block most signals, and spawned
   * children inherit it) would otherwise swallow the markers the user asked for. */
  int ms = hw_config.marker_signal;
  if (ms > 0 && sigaction(ms, NULL, &old) == 0 && (old.sa_handler == SIG_DFL || old.sa_handler == SIG_IGN)) {
    sa.sa_handler = on_marker_signal;
    sigaction(ms, &sa, NULL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, ms);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
  }
}

/* ---- fork and exec ---- */

static char *env_value(const char *name);
static void put_env_number(const char *name, char *field, long v);

static void after_fork_child(void) {
  hw_entry_after_fork_child();
  if (recording_exchange(0) <= 0) return;
  int inherited = hw_writer_fd();
  hw_queue_after_fork_child();
  hw_thread_after_fork_child();
  hw_writer_after_fork_child();
  hw_residency_after_fork_child();
  if (inherited >= 0) close(inherited); /* the parent's dump: never write to it from here */
  if (!hw_config.follow_fork) return;
  hw_tls_busy++;
  hw_stacks_reset();
  hw_modules_reset();
  /* This child is the root of its own exec chain: when it execs, the new image has its pid and
   * records into "<its dump>.exec1", not into the name this image holds. */
  exec_seq = 0;
  put_env_number("HEAPWISE_ROOT_PID", env_value("HEAPWISE_ROOT_PID"), (long)getpid());
  put_env_number("HEAPWISE_EXEC_SEQ", env_value("HEAPWISE_EXEC_SEQ"), 0);
  hw_pyframes_reset();
  start_dump(HW_HEADER_FLAG_FORK_CHILD);
  hw_tls_busy--;
}

/* exec.c, before the real exec: the image ends here, so its dump gets an END (reason exec) now;
 * destructors never run. A vfork child shares our memory and must not end our recording. */
static bool exec_pending;

void hw_before_exec(void) {
  if (getpid() != recorder_pid) return;
  hw_tls_busy++;
  if (recording_exchange(0) > 0) {
    hw_thread_flush_all();
    hw_writer_stop(HW_END_EXEC, 0);
    exec_pending = true;
  }
  hw_tls_busy--;
}

/* The exec failed and this image runs on: it records on into the next ".execN" dump (the calling
 * thread; other threads' streams ended with the old dump). */
void hw_after_failed_exec(void) {
  if (!exec_pending || getpid() != recorder_pid) return;
  exec_pending = false;
  int saved = errno;
  hw_tls_busy++;
  hw_queue_after_fork_child();
  hw_thread_after_fork_child();
  hw_writer_after_fork_child();
  hw_stacks_reset();
  hw_modules_reset();
  exec_seq++;
  put_env_number("HEAPWISE_EXEC_SEQ", env_value("HEAPWISE_EXEC_SEQ"), exec_seq);
  start_dump(0);
  hw_tls_busy--;
  errno = saved;
}

/* Which images record. The first image notes its pid in HEAPWISE_ROOT_PID. An image that finds its
 * own pid there is the same process after an in-place exec (a pyenv shim or a wrapper script that
 * execs the real program): it records too, into a ".execN" dump. An image with another pid is a
 * child that was exec'd: it stays passive unless HEAPWISE_FOLLOW_EXEC=1, and then becomes the root
 * of its own chain.
 *
 * The values are written into the environment strings in place when `heapwise record` left
 * fixed-width placeholders (HEAPWISE_ROOT_PID=0000000000, HEAPWISE_EXEC_SEQ=000000): programs such
 * as bash export from main's envp, which setenv's new array never reaches. Without placeholders
 * (a bare LD_PRELOAD), setenv is the fallback. Returns false when this image must not record. */
static char *env_value(const char *name) {
  extern char **environ;
  size_t n = strlen(name);
  for (char **e = environ; e && *e; e++)
    if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') return *e + n + 1;
  return NULL;
}

/* Overwrites a placeholder's digits with v, zero-padded to its width. */
static void put_env_number(const char *name, char *field, long v) {
  char tmp[24];
  size_t width = field ? strlen(field) : 0;
  int len = snprintf(tmp, sizeof tmp, "%0*ld", (int)width, v);
  if (field && len == (int)width) {
    memcpy(field, tmp, width);
    return;
  }
  snprintf(tmp, sizeof tmp, "%ld", v);
  setenv(name, tmp, 1);
}

static bool decide_exec_role(void) {
  long me = (long)getpid();
  char *root = env_value("HEAPWISE_ROOT_PID");
  long root_pid = root ? atol(root) : 0;
  char *seq = env_value("HEAPWISE_EXEC_SEQ");
  if (root_pid == me) {
    exec_seq = (seq ? atoi(seq) : 0) + 1;
    put_env_number("HEAPWISE_EXEC_SEQ", seq, exec_seq);
    return true;
  }
  if (root_pid != 0 && !hw_config.follow_exec) return false;
  put_env_number("HEAPWISE_ROOT_PID", root, me);
  put_env_number("HEAPWISE_EXEC_SEQ", seq, 0);
  return true;
}

/* ---- start and end ---- */

/* Reads the configuration and starts recording, once: from our constructor, or earlier, from the
 * first hooked call, when another library's constructor runs before ours (libstdc++'s 72 KiB
 * emergency pool, any library's malloc at load time). */
static _Atomic int init_state; /* 0 not yet, 1 running, 2 done */

static void initialize(void) {
  const char *out = getenv("HEAPWISE_OUTPUT");
  if (!out || !*out || getauxval(AT_SECURE)) return; /* setuid/setgid programs are left alone */
  if (!hw_hooks_are_active()) {
    /* Another copy of these hooks (linked into the program) or the program's own malloc comes
     * first: it records, or nothing can. */
    return;
  }
  if (strlen(out) >= sizeof output_template) {
    hw_log("HEAPWISE_OUTPUT is too long; not recording");
    return;
  }
  strcpy(output_template, out);
  hw_config.max_frames = env_int("HEAPWISE_MAX_FRAMES", HW_MAX_FRAMES, 1, HW_MAX_FRAMES);
  hw_config.interval_ms = env_int("HEAPWISE_INTERVAL_MS", 20, 1, 60000);
  hw_config.marker_signal = env_int("HEAPWISE_MARKER_SIGNAL", SIGUSR2, 0, SIGRTMAX);
  hw_config.follow_fork = env_flag("HEAPWISE_FOLLOW_FORK");
  hw_config.follow_exec = env_flag("HEAPWISE_FOLLOW_EXEC");
  hw_config.trim_probe = env_flag("HEAPWISE_TRIM_PROBE");
  const char *compress = getenv("HEAPWISE_COMPRESS");
  hw_config.compress = !(compress && strcmp(compress, "0") == 0);
  if (!decide_exec_role()) return;
  /* Sampling (docs/SAMPLING.md): mean bytes between samples, the seed (else the clock and pid),
   * and how many sampled blocks can be live at once (the liveset's size, fixed at start). Before
   * aggregated mode's configuration: combined, the liveset holds the sampled blocks only, at the
   * sampler's capacity, and the peak trigger's step depends on the rate (docs/AGGREGATE.md). */
  uint64_t rate = env_bytes("HEAPWISE_SAMPLE", 0, (uint64_t)1 << 40);
  if (rate) {
    const char *seed_text = getenv("HEAPWISE_SAMPLE_SEED");
    uint64_t seed = seed_text && *seed_text ? strtoull(seed_text, NULL, 10) : hw_realtime_ns() ^ ((uint64_t)getpid() << 32);
    size_t capacity = (size_t)env_bytes("HEAPWISE_SAMPLE_CAPACITY", 131072, (uint64_t)1 << 28);
    if (hw_sampling_init(rate, seed, capacity ? capacity : 131072) != 0) {
      hw_log("cannot map the sampler's live set; not recording");
      return;
    }
  }
  hw_agg_configure();
  hw_use_tsc = hw_clock_is_tsc() && kernel_trusts_tsc();
  hw_stamps_init();
  hw_unwind_init();
  hw_pyframes_init();
  hw_thread_init();
  pthread_atfork(NULL, NULL, after_fork_child);
  if (start_dump(0)) {
    install_signal_handlers();
    /* Aggregated mode writes no records per event, and RSS thresholds are read at the sampling
     * cadence: in a program without threads nothing but a thread of ours ticks on time
     * (docs/AGGREGATE.md, "The writer thread"). */
    if (hw_config.aggregate || hw_triggers_watch_rss()) hw_writer_spawn();
  }
}

static void initialize_once(void) {
  int expected = 0;
  if (!atomic_compare_exchange_strong(&init_state, &expected, 1)) return;
  hw_tls_busy++;
  hw_bootstrap();
  initialize();
  int expected_undecided = -1; /* start_dump stored 1 when it started */
  atomic_compare_exchange_strong(&hw_recording, &expected_undecided, 0);
  recording_follow();
  hw_entry_update(); /* idle, or as start_dump left it */
  atomic_store(&init_state, 2);
  hw_tls_busy--;
}

void hw_recorder_early_start(void) {
  extern char **environ;
  /* A call from the loader before libc has its environment (it is set before any constructor
   * runs): not yet, or HEAPWISE_OUTPUT would look unset. */
  if (!environ) return;
  initialize_once();
}

__attribute__((constructor)) static void hw_init(void) { initialize_once(); }

/* Runs after the program's own atexit handlers and static destructors, and after those of every
 * library loaded after us, so their frees are in the record. */
__attribute__((destructor)) static void hw_fini(void) { hw_on_exit(HW_END_EXIT, 0); }
