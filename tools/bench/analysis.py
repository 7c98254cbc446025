#!/usr/bin/env python3
"""The analyzer next to heaptrack_print, on dumps of the same work, measured in one run.

Records tools/bench/workload.c (10M malloc/free pairs, one call path: heaptrack's interpreter fails
on the 1,024-path variant, see overhead.py) once under heaptrack and once under heapwise,
then times `heaptrack_print` on heaptrack's file and `heapwise top` (release build) on ours, `--runs`
times each, interleaved, and prints median wall time, CPU time, the ratio, and peak RSS. heapwise
runs twice: as a user gets it (a read-ahead thread on a machine with two or more CPUs) and held to
one thread (HEAPWISE_READ_AHEAD=0), for what a single core gives.

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
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


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
    top = [heapwise, "top", hw, "--by", "function"]
    tools = [("heaptrack_print", ht, ["heaptrack_print", ht], env),
             ("heapwise top", hw, top, env),
             ("heapwise top, one thread", hw, top, dict(env, HEAPWISE_READ_AHEAD="0"))]
    runs = {name: [] for name, *_ in tools}
    load = os.getloadavg()[0]
    for _ in range(args.runs):
        for name, _, cmd, e in tools:
            runs[name].append(timed(cmd, e))
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}, {args.pairs:,} pairs, median of {args.runs}, "
          f"load {load:.1f} before, {os.getloadavg()[0]:.1f} after, {os.cpu_count()} CPUs")
    print("| analyzer | dump | wall | CPU | peak RSS | heaptrack_print's wall / this |")
    print("| --- | --- | --- | --- | --- | --- |")
    base = statistics.median(w for w, _, _ in runs["heaptrack_print"])
    for name, path, _, _ in tools:
        wall = statistics.median(w for w, _, _ in runs[name])
        cpu = statistics.median(c for _, c, _ in runs[name])
        rss = max(m for _, _, m in runs[name])
        print(f"| {name} | {os.path.getsize(path) / 1e6:.1f} MB | {wall:.2f} s | {cpu:.2f} s | {rss:.0f} MiB "
              f"| {base / wall:.1f}x |")
    print("\nall runs (wall s):")
    for name, *_ in tools:
        print(f"  {name}: {' '.join(f'{w:.2f}' for w, _, _ in runs[name])}")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
