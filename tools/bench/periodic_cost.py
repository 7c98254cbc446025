#!/usr/bin/env python3
"""Where a sampled run's recorder time goes: the thread CPU time of each part of the periodic work
(sample: statm, smaps_rollup, mallinfo2, the signal-frame walk; residency snapshot: the maps read,
mincore, the bitmap; the process stream's write; the module sync) and of the sampled allocations'
and mappings' recording, measured inside the process, next to the whole run's CPU time.

Builds an instrumented copy of each recorder source tree given (its CShim/ and Makefile, plus
clock_gettime(CLOCK_THREAD_CPUTIME_ID) around each part, printed to stderr at exit), then runs the
workload under `--sample 512KiB` with each copy in turn, `--runs` rounds. The figures include the
instrumentation's own clock reads (two a part, ~0.3 us each here) and are inflated by the machine's
load like any CPU time, but every part is measured in the same runs, so their shares are what to
read. A part that is not found in a tree's sources stops the script (the anchors below are the
code's own lines).

  tools/bench/periodic_cost.py [--runs 3] [--dicts 200000] [--python /usr/bin/python3.11]
                               [--src DIR]... (default: this checkout)
"""
import argparse, os, re, shutil, statistics, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from overhead import PY_SCRIPT, ROOT, python3_interpreter  # noqa: E402

PARTS = ["tick", "sync", "sample", "statm", "rollup", "mallinfo", "sigwalk", "resid", "flush",
         "onalloc", "onmmap", "mincore", "pack", "maps"]

PROF_H = """#pragma once
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
enum { %s, P_N };
extern uint64_t hw_prof_ns[P_N], hw_prof_n[P_N];
static inline uint64_t hw_prof_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}
#define PROF(k, stmt) do { uint64_t s_ = hw_prof_now(); stmt; hw_prof_ns[k] += hw_prof_now() - s_; hw_prof_n[k]++; } while (0)
/* Without the ticks that ran inside (a recorded event runs the periodic work inline). */
#define PROFX(k, stmt) do { uint64_t t0_ = hw_prof_ns[P_TICK], s_ = hw_prof_now(); stmt; \\
  hw_prof_ns[k] += hw_prof_now() - s_ - (hw_prof_ns[P_TICK] - t0_); hw_prof_n[k]++; } while (0)
""" % ", ".join("P_" + p.upper() for p in PARTS)

DUMP_AT_EXIT = """#include "prof.h"
uint64_t hw_prof_ns[P_N], hw_prof_n[P_N];
static const char *prof_names[P_N] = {%s};
__attribute__((destructor(101))) static void prof_dump(void) {
  if (!hw_prof_n[P_TICK]) return;
  char b[2048];
  int n = snprintf(b, sizeof b, "periodic_cost:");
  for (int i = 0; i < P_N; i++)
    n += snprintf(b + n, sizeof b - n, " %%s=%%llu/%%llu", prof_names[i], (unsigned long long)hw_prof_ns[i] / 1000,
                  (unsigned long long)hw_prof_n[i]);
  b[n++] = 10;
  if (write(2, b, n) < 0) return;
}
""" % ", ".join(f'"{p}"' for p in PARTS)

# (file, anchor or alternatives (the first found is used), replacement or a function of the anchor).
EDITS = [
    ("writer.c", '#include "hw_internal.h"', '#include "hw_internal.h"\n' + DUMP_AT_EXIT),
    ("writer.c", "static void tick(void) {\n  uint64_t now = hw_monotonic_ns();\n  if (now >= next_sample_ns) {",
     "static void tick_(void);\nstatic void tick(void) {\n  if (hw_monotonic_ns() >= next_sample_ns) PROF(P_TICK, tick_());\n}\n"
     "static void tick_(void) {\n  uint64_t now = hw_monotonic_ns();\n  if (now >= next_sample_ns) {"),
    ("writer.c", "    hw_modules_sync(NULL);\n    /* Aggregated", "    PROF(P_SYNC, hw_modules_sync(NULL));\n    /* Aggregated"),
    ("writer.c", "      take_sample(false);\n      hw_residency_tick();",
     "      PROF(P_SAMPLE, take_sample(false));\n      PROF(P_RESID, hw_residency_tick());"),
    ("writer.c", "    process_flush(); /* a reader", "    PROF(P_FLUSH, process_flush()); /* a reader"),
    ("sampler.c", '#include "hw_internal.h"', '#include "hw_internal.h"\n#include "prof.h"'),
    ("sampler.c", '  if (hw_read_file("/proc/self/statm", buf, sizeof buf) > 0 &&\n'
                  '      sscanf(buf, "%llu %llu %llu", &size, &resident, &shared) == 3) {',
     '  int statm_ok;\n  PROF(P_STATM, statm_ok = hw_read_file("/proc/self/statm", buf, sizeof buf) > 0 &&\n'
     '      sscanf(buf, "%llu %llu %llu", &size, &resident, &shared) == 3);\n  if (statm_ok) {'),
    ("sampler.c", "  if (rollup_due(full) && (rollup_start = hw_monotonic_ns()) &&\n"
                  '      hw_read_file("/proc/self/smaps_rollup", buf, sizeof buf) > 0) {',
     "  int rollup_ok = 0;\n  if (rollup_due(full)) PROF(P_ROLLUP, rollup_ok = (rollup_start = hw_monotonic_ns()) &&\n"
     '      hw_read_file("/proc/self/smaps_rollup", buf, sizeof buf) > 0);\n  if (rollup_ok) {'),
    ("sampler.c", "    struct mallinfo2 mi = glibc_mallinfo2();", "    struct mallinfo2 mi;\n    PROF(P_MALLINFO, mi = glibc_mallinfo2());"),
    ("sampling.c", '#include "hw_internal.h"', '#include "hw_internal.h"\n#include "prof.h"'),
    ("sampling.c", "  return hw_sample_rate != 0 && signal_frame_or_unknown();",
     "  if (!hw_sample_rate) return false;\n  bool r;\n  PROF(P_SIGWALK, r = signal_frame_or_unknown());\n  return r;"),
    ("hooks.c", '#include "liveset.h"', '#include "liveset.h"\n#include "prof.h"'),
    ("hooks.c", "  on_alloc(fn, p, size, anchor, sampled);\n}", "  PROFX(P_ONALLOC, on_alloc(fn, p, size, anchor, sampled));\n}"),
    ("hooks.c", "    if (hw_tls_busy == 0) on_mmap(p, len, prot, flags, fd, anchor);",
     "    if (hw_tls_busy == 0) PROFX(P_ONMMAP, on_mmap(p, len, prot, flags, fd, anchor));"),
    ("residency.c", '#include "hw_internal.h"', '#include "hw_internal.h"\n#include "prof.h"'),
    ("residency.c", "  if (mincore((void *)start, pages * page_size, vec) != 0) return; /* unmapped meanwhile */",
     "  int rc;\n  PROF(P_MINCORE, rc = mincore((void *)start, pages * page_size, vec));\n  if (rc != 0) return;"),
    ("residency.c", ["  pack_pages(p, vec, pages);",
                     "  for (size_t i = 0; i < pages; i++)\n    if (vec[i] & 1) p[i / 8] |= (uint8_t)(1u << (i % 8));"],
     lambda anchor: "  PROF(P_PACK, " + anchor.strip() + ");"),
    ("residency.c", "    hw_maps_lines(buf, sizeof buf, visit_line, &v);", "    PROF(P_MAPS, hw_maps_lines(buf, sizeof buf, visit_line, &v));"),
]


def instrument(src, dst):
    shutil.copytree(os.path.join(src, "CShim"), os.path.join(dst, "CShim"))
    shutil.copy(os.path.join(src, "Makefile"), dst)
    with open(os.path.join(dst, "CShim", "prof.h"), "w") as f:
        f.write(PROF_H)
    for name, anchors, new in EDITS:
        path = os.path.join(dst, "CShim", name)
        text = open(path).read()
        for anchor in anchors if isinstance(anchors, list) else [anchors]:
            if anchor in text:
                text = text.replace(anchor, new(anchor) if callable(new) else new, 1)
                break
        else:
            sys.exit(f"periodic_cost.py: {src}/CShim/{name} no longer has the line this script instruments:\n{anchors}")
        with open(path, "w") as f:
            f.write(text)
    subprocess.check_call(["make", "-s", "lib"], cwd=dst, stdout=subprocess.DEVNULL)
    return os.path.join(dst, "build", "lib", "libheapwise.so")


def run(lib, python, script, tmp):
    d = tempfile.mkdtemp(dir=tmp)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEAPWISE_") and k not in ("LD_PRELOAD", "MALLOC_CONF")}
    env.update(LD_PRELOAD=lib, HEAPWISE_OUTPUT=os.path.join(d, "hw.%p.heapwise"), HEAPWISE_SAMPLE="524288")
    p = subprocess.Popen([python, script], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=d)
    err = p.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(p.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{python} {script} failed under {lib}:\n{err}")
    line = next((l for l in err.splitlines() if l.startswith("periodic_cost:")), None)
    if line is None:
        sys.exit(f"no figures from {lib} (did the run record?):\n{err}")
    parts = {k: int(v.split("/")[0]) for k, v in (kv.split("=") for kv in line.split()[1:])}
    parts["cpu"] = int((usage.ru_utime + usage.ru_stime) * 1e6)
    parts["recorder"] = parts["tick"] + parts["onalloc"] + parts["onmmap"]
    shutil.rmtree(d)
    return parts


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dicts", type=int, default=200_000)
    ap.add_argument("--python", help="the interpreter (default: the one `python3` runs)")
    ap.add_argument("--src", action="append", help="a recorder source tree (repeatable; default: this checkout)")
    a = ap.parse_args()
    srcs = a.src or [ROOT]
    python = a.python or python3_interpreter()
    tmp = tempfile.mkdtemp(prefix="heapwise-periodic-cost-")
    script = os.path.join(tmp, "dicts.py")
    with open(script, "w") as f:
        f.write(PY_SCRIPT.replace("range(200000)", f"range({a.dicts})"))
    libs = [instrument(os.path.abspath(s), os.path.join(tmp, f"src{i}")) for i, s in enumerate(srcs)]
    print(f"# {python}, {a.dicts:,} dicts via JSON, --sample 512KiB, median of {a.runs} interleaved runs, "
          f"load {os.getloadavg()[0]:.1f}")
    results = [[] for _ in libs]
    for _ in range(a.runs):
        for i, lib in enumerate(libs):
            results[i].append(run(lib, python, script, tmp))
    print(f"# load at the end {os.getloadavg()[0]:.1f}")
    print("| thread CPU, us (median) | " + " | ".join(srcs) + " |")
    print("| --- |" + " --- |" * len(srcs))
    for key in ["cpu", "recorder"] + PARTS:
        print(f"| {key} | " + " | ".join(f"{statistics.median(r[key] for r in rs):,.0f}" for rs in results) + " |")
    print("| recorder / run's CPU | " + " | ".join(
        f"{statistics.median(r['recorder'] / r['cpu'] for r in rs) * 100:.2f}%" for rs in results) + " |")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
