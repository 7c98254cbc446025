#!/usr/bin/env python3
"""Full tracking and its floor (HEAPWISE_UNWIND=off: every event recorded, no stack) on the churn
loop, for this build and optionally a baseline build, in one interleaved run: the floor is what a
cheaper capture cannot go below, so a change to stamps, encoder or writer shows there first.

  tools/bench/floor.py --runs 5 --pairs 10000000 --baseline OTHER/libheapwise.so
"""
import argparse, os, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interleaved import LIB, header, heapwise, interleave, shown_size, workloads  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--pairs", type=int, default=10_000_000)
    ap.add_argument("--baseline", help="another libheapwise.so, measured alongside")
    args = ap.parse_args()
    configs = {"plain": {}, "heapwise": heapwise(), "heapwise, no capture": heapwise(HEAPWISE_UNWIND="off")}
    if args.baseline:
        configs["baseline"] = dict(heapwise(), LD_PRELOAD=os.path.abspath(args.baseline))
        configs["baseline, no capture"] = dict(heapwise(HEAPWISE_UNWIND="off"), LD_PRELOAD=os.path.abspath(args.baseline))
    with tempfile.TemporaryDirectory() as tmp:
        name, cmd = next(iter(workloads(tmp, args.pairs, only="churn").items()))
        print(header(args.runs))
        results = interleave(cmd, configs, args.runs, tmp)
    print(f"# after the runs: load {os.getloadavg()[0]:.1f}; this build: {LIB}")
    plain = results["plain"]
    print("| workload | tool | wall | vs plain | CPU | vs plain | dump |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for tool, r in results.items():
        print(f"| {name} | {tool} | {r.wall:.2f} s | {r.wall / plain.wall:.2f}x | {r.cpu:.2f} s | "
              f"{r.cpu / plain.cpu:.2f}x | {shown_size(r.dump)} |")


if __name__ == "__main__":
    main()
