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
import argparse, os, shutil, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interleaved import LIB, header, heapwise, interleave, shown_size, workloads  # noqa: E402

JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
RATE = 512 * 1024

CONFIGS = {
    "plain": {},
    "heapwise --sample 512KiB": heapwise(HEAPWISE_SAMPLE=str(RATE)),
    "heapwise, full tracking": heapwise(),
    "jemalloc": {"LD_PRELOAD": JEMALLOC},
    "jemalloc prof, lg_prof_sample:19": {"LD_PRELOAD": JEMALLOC, "MALLOC_CONF": "prof:true,lg_prof_sample:19"},
}


def rows(name, med):
    out = []
    for tool, r in med.items():
        against = "jemalloc" if tool.startswith("jemalloc prof") else "plain"
        ratio = "" if tool in ("plain", "jemalloc") else f"{r.wall / med[against].wall:.3f}x"
        cratio = "" if tool in ("plain", "jemalloc") else f"{r.cpu / med[against].cpu:.3f}x"
        out.append(f"| {name} | {tool} | {r.wall:.3f} s | {ratio} vs {against if ratio else '-'} | {r.cpu:.3f} s | {cratio} "
                   f"| {shown_size(r.dump)} |")
    return out


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
    print(header(a.runs))
    print("| workload | tool | wall | ratio | CPU | CPU ratio | dump |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, cmd in workloads(tmp, a.pairs, a.only).items():
        for row in rows(name, interleave(cmd, CONFIGS, a.runs, tmp)):
            print(row, flush=True)
    print(f"# load at the end {os.getloadavg()[0]:.1f}")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
