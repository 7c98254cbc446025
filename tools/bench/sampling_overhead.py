#!/usr/bin/env python3
"""What sampled recording costs (docs/SAMPLING.md), next to full tracking and to jemalloc's own
sampled heap profiler, measured in one run on this machine.

For each workload, interleaved `--runs` times: plain; heapwise --sample 512KiB; heapwise with full
tracking; jemalloc preloaded without profiling; jemalloc with its sampled profiler at the same
mean (MALLOC_CONF=prof:true,lg_prof_sample:19, 2^19 B = 512 KiB). Prints the median wall and CPU
times and their ratios: heapwise against plain (glibc malloc), jemalloc's profiler against jemalloc
without it (each sampler against the allocator it runs on), and the dump size.

  tools/bench/sampling_overhead.py [--runs 5] [--pairs 10000000] [--only churn|sqlite|python]
"""
import argparse, os, shutil, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from overhead import LIB, PY_SCRIPT, ROOT, SQL, dump_size, python3_interpreter, run  # noqa: E402

JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
RATE = 512 * 1024


def tools(d):
    """name -> extra environment (relative to a clean one) for a run in directory d."""
    out = os.path.join(d, "hw.%p.heapwise")
    return {
        "plain": {},
        "heapwise --sample 512KiB": {"LD_PRELOAD": LIB, "HEAPWISE_OUTPUT": out, "HEAPWISE_SAMPLE": str(RATE)},
        "heapwise, full tracking": {"LD_PRELOAD": LIB, "HEAPWISE_OUTPUT": out},
        "jemalloc": {"LD_PRELOAD": JEMALLOC},
        "jemalloc prof, lg_prof_sample:19": {"LD_PRELOAD": JEMALLOC, "MALLOC_CONF": "prof:true,lg_prof_sample:19"},
    }


def measure(name, cmd, runs, tmp):
    base = {k: v for k, v in os.environ.items() if not k.startswith("HEAPWISE_") and k not in ("LD_PRELOAD", "MALLOC_CONF")}
    results, sizes = {}, {}
    for _ in range(runs):
        for tool in tools(""):
            d = tempfile.mkdtemp(dir=tmp)
            results.setdefault(tool, []).append(run(cmd, dict(base, **tools(d)[tool]), d))
            if tool.startswith("heapwise"):
                sizes[tool] = dump_size(d, "hw.")
            shutil.rmtree(d)
    med = {t: (statistics.median(w for w, _, _ in s), statistics.median(c for _, _, c in s)) for t, s in results.items()}
    rows = []
    for tool, (wall, cpu) in med.items():
        against = "jemalloc" if tool.startswith("jemalloc prof") else "plain"
        ratio = "" if tool in ("plain", "jemalloc") else f"{wall / med[against][0]:.3f}x"
        cratio = "" if tool in ("plain", "jemalloc") else f"{cpu / med[against][1]:.3f}x"
        size = sizes.get(tool)
        shown = "" if size is None else (f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.0f} KB")
        rows.append(f"| {name} | {tool} | {wall:.3f} s | {ratio} vs {against if ratio else '-'} | {cpu:.3f} s | {cratio} | {shown} |")
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--pairs", type=int, default=10_000_000)
    ap.add_argument("--only", choices=["churn", "sqlite", "python"])
    a = ap.parse_args()
    for need in (LIB, JEMALLOC):
        if not os.path.exists(need):
            sys.exit(f"{need} is missing: run `make lib` and tools/install-deps.sh")
    tmp = tempfile.mkdtemp(prefix="heapwise-sampling-bench-")
    churn = os.path.join(tmp, "churn")
    subprocess.check_call(["cc", "-O2", "-g", "-o", churn, os.path.join(ROOT, "tools/bench/churn.c")])
    script = os.path.join(tmp, "dicts.py")
    open(script, "w").write(PY_SCRIPT)
    sql = os.path.join(tmp, "build.sql")
    open(sql, "w").write(SQL)
    python = python3_interpreter()
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, median of {a.runs} interleaved runs, "
          f"load {os.getloadavg()[0]:.1f}")
    print("| workload | tool | wall | ratio | CPU | CPU ratio | dump |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    if a.only in (None, "churn"):
        for row in measure(f"churn.c, {a.pairs:,} pairs", [churn, str(a.pairs)], a.runs, tmp):
            print(row, flush=True)
    if a.only in (None, "sqlite"):
        for row in measure("sqlite3, 200k rows + index", ["sqlite3", "db", f".read {sql}"], a.runs, tmp):
            print(row, flush=True)
    if a.only in (None, "python"):
        for row in measure("python3, 200k dicts via JSON", [python, script], a.runs, tmp):
            print(row, flush=True)
    print(f"# load at the end {os.getloadavg()[0]:.1f}")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
