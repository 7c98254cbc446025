#!/usr/bin/env python3
"""The analyzer next to heaptrack_print, on dumps of the same work, measured in one run.

Records tools/bench/workload.c (10M malloc/free pairs, one call path: heaptrack's interpreter fails
on the 1,024-path variant, see overhead.py) once under heaptrack and once under heapwise,
then times `heaptrack_print` on heaptrack's file and `heapwise top` (release build) on ours, `--runs`
times each, interleaved, and prints median wall time, the ratio, and peak RSS.

  tools/bench/analysis.py [--runs 3] [--pairs 10000000]
"""
import argparse, os, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIB = os.path.join(ROOT, "build/lib/libheapwise.so")


def timed(cmd, env=None):
    start = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr.read().decode(errors='replace')}")
    return wall, usage.ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--pairs", type=int, default=10_000_000)
    args = ap.parse_args()
    heapwise = os.path.join(subprocess.check_output(["swift", "build", "-c", "release", "--show-bin-path"],
                                                    cwd=ROOT, text=True).strip(), "heapwise")
    for need in (LIB, heapwise):
        if not os.path.exists(need):
            sys.exit(f"{need} is missing: run `make lib swift` first")
    tmp = tempfile.mkdtemp(prefix="heapwise-bench-")
    workload = os.path.join(tmp, "workload")
    subprocess.check_call(["cc", "-O2", "-g", "-o", workload, os.path.join(ROOT, "tools/bench/workload.c")])
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEAPWISE_") and k != "LD_PRELOAD"}
    subprocess.check_call(["heaptrack", "-o", os.path.join(tmp, "ht"), workload, str(args.pairs), "0"],
                          env=env, stdout=subprocess.DEVNULL)
    ht = [os.path.join(tmp, f) for f in os.listdir(tmp) if f.startswith("ht")][0]
    hw = os.path.join(tmp, "hw.heapwise")
    subprocess.check_call([workload, str(args.pairs), "0"], stdout=subprocess.DEVNULL,
                          env=dict(env, LD_PRELOAD=LIB, HEAPWISE_OUTPUT=hw))
    runs = {"heaptrack_print": [], "heapwise top": []}
    for _ in range(args.runs):
        runs["heaptrack_print"].append(timed(["heaptrack_print", ht], env))
        runs["heapwise top"].append(timed([heapwise, "top", hw, "--by", "function"], env))
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}, {args.pairs:,} pairs, median of {args.runs}, load {os.getloadavg()[0]:.1f}")
    print("| analyzer | dump | wall | peak RSS |")
    print("| --- | --- | --- | --- |")
    medians = {}
    for name, path in (("heaptrack_print", ht), ("heapwise top", hw)):
        wall = statistics.median(w for w, _ in runs[name])
        medians[name] = wall
        rss = max(m for _, m in runs[name])
        print(f"| {name} | {os.path.getsize(path) / 1e6:.1f} MB | {wall:.2f} s | {rss:.0f} MiB |")
    print(f"\nheapwise top is {medians['heaptrack_print'] / medians['heapwise top']:.1f}x faster than heaptrack_print")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
