#!/usr/bin/env python3
"""Aggregated mode's overhead and dump growth, next to plain runs and full tracking, in one run.

Runs each workload plain, under full tracking and under `--aggregate` (flushing every second, so a
short run pays for several flushes), `--runs` times each, interleaved so machine noise hits all of
them alike, and prints the median wall and CPU time with their ratios against the plain run, the
dump size, and the dump's growth per hour of run time. Growth is measured on the churn workload
run for two lengths (the second twice the first): (size(2N) - size(N)) / (time(2N) - time(N)).

  tools/bench/aggregate.py [--runs 3] [--pairs 10000000] [--only churn|sqlite|python]
"""
import argparse, os, shutil, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from overhead import LIB, PY_SCRIPT, ROOT, SQL, dump_size, python3_interpreter, run  # noqa: E402

MODES = {"plain": None, "full tracking": {}, "aggregated, flush 1s": {"HEAPWISE_AGGREGATE": "1", "HEAPWISE_FLUSH_MS": "1000"}}


def measure(cmd, runs, tmp):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEAPWISE_") and k != "LD_PRELOAD"}
    results = {m: [] for m in MODES}
    sizes = {m: [] for m in MODES}
    for _ in range(runs):
        for mode, extra in MODES.items():
            d = tempfile.mkdtemp(dir=tmp)
            e = env if extra is None else dict(env, LD_PRELOAD=LIB, HEAPWISE_OUTPUT=os.path.join(d, "hw.%p.heapwise"), **extra)
            results[mode].append(run(cmd, e, d))
            sizes[mode].append(dump_size(d, "hw.") if extra is not None else 0)
            shutil.rmtree(d)
    return results, sizes


def rows(name, results, sizes):
    plain = statistics.median(w for w, _, _ in results["plain"])
    plain_cpu = statistics.median(c for _, _, c in results["plain"])
    out = []
    for mode, samples in results.items():
        wall = statistics.median(w for w, _, _ in samples)
        cpu = statistics.median(c for _, _, c in samples)
        size = statistics.median(sizes[mode])
        shown = "" if mode == "plain" else (f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.1f} KB")
        out.append(f"| {name} | {mode} | {wall:.2f} s | {wall / plain:.2f}x | {cpu:.2f} s | {cpu / plain_cpu:.2f}x | {shown} |")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--pairs", type=int, default=10_000_000)
    ap.add_argument("--only", choices=["churn", "sqlite", "python"])
    args = ap.parse_args()
    if not os.path.exists(LIB):
        sys.exit(f"{LIB} is missing: run `make lib` first")
    tmp = tempfile.mkdtemp(prefix="heapwise-aggregate-bench-")
    churn = os.path.join(tmp, "churn")
    subprocess.check_call(["cc", "-O2", "-g", "-o", churn, os.path.join(ROOT, "tools/bench/churn.c")])
    script = os.path.join(tmp, "dicts.py")
    open(script, "w").write(PY_SCRIPT)
    sql = os.path.join(tmp, "build.sql")
    open(sql, "w").write(SQL)
    python = python3_interpreter()
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, median of {args.runs} runs, load {os.getloadavg()[0]:.1f}")
    print("| workload | mode | wall | vs plain | CPU | vs plain | dump |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    growth = {}
    if args.only in (None, "churn"):
        for pairs in (args.pairs, 2 * args.pairs):
            results, sizes = measure([churn, str(pairs)], args.runs, tmp)
            for r in rows(f"churn.c, {pairs:,} pairs", results, sizes):
                print(r, flush=True)
            growth[pairs] = {m: (statistics.median(w for w, _, _ in results[m]), statistics.median(sizes[m])) for m in MODES}
    if args.only in (None, "sqlite"):
        for r in rows("sqlite3, 200k rows + index", *measure(["sqlite3", "db", f".read {sql}"], args.runs, tmp)):
            print(r, flush=True)
    if args.only in (None, "python"):
        for r in rows("python3, 200k dicts via JSON", *measure([python, script], args.runs, tmp)):
            print(r, flush=True)
    if len(growth) == 2:
        (short, long_) = sorted(growth)
        print("\n| churn.c dump growth | bytes per hour of run time |\n| --- | --- |")
        for mode in ("full tracking", "aggregated, flush 1s"):
            (t1, s1), (t2, s2) = growth[short][mode], growth[long_][mode]
            per_hour = (s2 - s1) / (t2 - t1) * 3600 if t2 > t1 else float("nan")
            print(f"| {mode} | {per_hour / 1e9:.2f} GB/h ({s1:,.0f} B at {t1:.1f} s, {s2:,.0f} B at {t2:.1f} s) |"
                  if abs(per_hour) >= 1e8 else
                  f"| {mode} | {per_hour:,.0f} B/h ({s1:,.0f} B at {t1:.1f} s, {s2:,.0f} B at {t2:.1f} s) |")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
