#!/usr/bin/env python3
"""What sampled recording costs (docs/SAMPLING.md), next to full tracking and to jemalloc's own
sampled heap profiler, measured in one run on this machine.

For each workload, interleaved `--runs` times: plain; the floor of any LD_PRELOAD interposer
(tools/bench/forward.c: malloc, calloc, realloc and free only jump to the next definition);
heapwise loaded but not recording; heapwise --sample 512KiB; heapwise with full tracking; jemalloc
preloaded without profiling; jemalloc with its sampled profiler at the same mean
(MALLOC_CONF=prof:true,lg_prof_sample:19, 2^19 B = 512 KiB). Prints the median wall and CPU times (and the least CPU time of any run)
and their ratios: heapwise and the forwarder against plain (glibc malloc), jemalloc's profiler
against jemalloc without it (each sampler against the allocator it runs on), and the dump size.
The paired column is the median of the ratios within each round (the two runs next to each other
in time) with a 95% bootstrap interval: on a VM whose speed drifts between rounds, the steadier
figure (the medians of the bare forwarder moved 0.97-1.15x between invocations here).

  tools/bench/sampling_overhead.py [--runs 5] [--pairs 10000000] [--only churn|sqlite|python]
                                   [--baseline OTHER/libheapwise.so]
"""
import argparse, os, shutil, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interleaved import LIB, ROOT, header, heapwise, interleave, paired_ratio, shown_size, workloads  # noqa: E402

JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
RATE = 512 * 1024

FORWARD = "{tmp}/forward.so"  # built by main() from tools/bench/forward.c

CONFIGS = {
    "plain": {},
    "forwarder (forward.c)": {"LD_PRELOAD": FORWARD},
    "heapwise loaded, not recording": {"LD_PRELOAD": LIB},
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
        mratio = "" if tool in ("plain", "jemalloc") else f"{r.cpu_min / med[against].cpu_min:.3f}x"
        paired = ""
        if tool not in ("plain", "jemalloc"):
            m, lo, hi = paired_ratio(r, med[against])
            paired = f"{m:.3f}x [{lo:.3f}, {hi:.3f}]"
        out.append(f"| {name} | {tool} | {r.wall:.3f} s | {ratio} vs {against if ratio else '-'} | {r.cpu:.3f} s | {cratio} "
                   f"| {r.cpu_min:.3f} s | {mratio} | {paired} | {shown_size(r.dump)} |")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--pairs", type=int, default=10_000_000)
    ap.add_argument("--only", choices=["churn", "sqlite", "python"])
    ap.add_argument("--baseline", help="another build of libheapwise.so, run with --sample 512KiB alongside")
    a = ap.parse_args()
    for need in (LIB, JEMALLOC):
        if not os.path.exists(need):
            sys.exit(f"{need} is missing: run `make lib` and tools/install-deps.sh")
    tmp = tempfile.mkdtemp(prefix="heapwise-sampling-bench-")
    forward = FORWARD.replace("{tmp}", tmp)
    subprocess.check_call(["cc", "-O2", "-fPIC", "-shared", "-o", forward,
                           os.path.join(ROOT, "tools/bench/forward.c"), "-ldl"])
    configs = {name: {k: v.replace(FORWARD, forward) for k, v in extra.items()} for name, extra in CONFIGS.items()}
    if a.baseline:
        configs["baseline --sample 512KiB"] = dict(heapwise(HEAPWISE_SAMPLE=str(RATE)), LD_PRELOAD=os.path.abspath(a.baseline))
    print(header(a.runs))
    print("| workload | tool | wall | ratio | CPU | CPU ratio | least CPU | its ratio | paired CPU ratio [95%] | dump |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, cmd in workloads(tmp, a.pairs, a.only).items():
        for row in rows(name, interleave(cmd, configs, a.runs, tmp)):
            print(row, flush=True)
    print(f"# load at the end {os.getloadavg()[0]:.1f}")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
