#!/usr/bin/env python3
"""Aggregated mode's overhead and dump growth, next to plain runs and full tracking, in one run.

Runs each workload plain, under full tracking, under `--aggregate` (flushing every second, so a
short run pays for several flushes) and under `--aggregate --sample 512KiB`, `--runs` times each,
interleaved so machine noise hits all of them alike (tools/bench/interleaved.py), and prints the
median wall and CPU time with their ratios against the plain run, the dump size, and the dump's
growth per hour of run time. Growth is measured on the churn workload
run for two lengths (the second twice the first): (size(2N) - size(N)) / (time(2N) - time(N)).

  tools/bench/aggregate.py [--runs 3] [--pairs 10000000] [--only churn|sqlite|python]
"""
import argparse, os, shutil, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interleaved import LIB, header, heapwise, interleave, shown_size, workloads  # noqa: E402

MODES = {
    "plain": {},
    "full tracking": heapwise(),
    "aggregated, flush 1s": heapwise(HEAPWISE_AGGREGATE="1", HEAPWISE_FLUSH_MS="1000"),
    "aggregated + --sample 512KiB, flush 1s": heapwise(HEAPWISE_AGGREGATE="1", HEAPWISE_FLUSH_MS="1000",
                                                       HEAPWISE_SAMPLE=str(512 * 1024)),
}


def rows(name, med):
    plain = med["plain"]
    return [f"| {name} | {mode} | {r.wall:.2f} s | {r.wall / plain.wall:.2f}x | {r.cpu:.2f} s | {r.cpu / plain.cpu:.2f}x "
            f"| {shown_size(r.dump)} |" for mode, r in med.items()]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--pairs", type=int, default=10_000_000)
    ap.add_argument("--only", choices=["churn", "sqlite", "python"])
    args = ap.parse_args()
    if not os.path.exists(LIB):
        sys.exit(f"{LIB} is missing: run `make lib` first")
    tmp = tempfile.mkdtemp(prefix="heapwise-aggregate-bench-")
    print(header(args.runs))
    print("| workload | mode | wall | vs plain | CPU | vs plain | dump |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    growth = {}
    cmds = workloads(tmp, args.pairs, args.only)
    for name, cmd in cmds.items():
        if cmd[0].endswith("/churn"):
            # Twice: the growth per hour is the difference between two run lengths.
            for pairs in (args.pairs, 2 * args.pairs):
                med = interleave([cmd[0], str(pairs)], MODES, args.runs, tmp)
                for r in rows(f"churn.c, {pairs:,} pairs", med):
                    print(r, flush=True)
                growth[pairs] = med
        else:
            for r in rows(name, interleave(cmd, MODES, args.runs, tmp)):
                print(r, flush=True)
    if len(growth) == 2:
        (short, long_) = sorted(growth)
        print("\n| churn.c dump growth | bytes per hour of run time |\n| --- | --- |")
        for mode in [m for m in MODES if m != "plain"]:
            a, b = growth[short][mode], growth[long_][mode]
            (t1, s1), (t2, s2) = (a.wall, a.dump), (b.wall, b.dump)
            per_hour = (s2 - s1) / (t2 - t1) * 3600 if t2 > t1 else float("nan")
            print(f"| {mode} | {per_hour / 1e9:.2f} GB/h ({s1:,.0f} B at {t1:.1f} s, {s2:,.0f} B at {t2:.1f} s) |"
                  if abs(per_hour) >= 1e8 else
                  f"| {mode} | {per_hour:,.0f} B/h ({s1:,.0f} B at {t1:.1f} s, {s2:,.0f} B at {t2:.1f} s) |")
    print(f"# load at the end {os.getloadavg()[0]:.1f}")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
