#!/usr/bin/env python3
"""Instructions per malloc/free pair of tools/bench/churn.c under each preload configuration,
counted exactly by callgrind: the difference between a run of --long and one of --short pairs,
divided by the difference in pairs, so that start-up and exit cancel out. Load-independent: this
is the figure to trust on a shared machine, next to the interleaved CPU ratios of
tools/bench/sampling_overhead.py.

Configurations: plain; the floor of any LD_PRELOAD interposer (tools/bench/forward.c: malloc and
free only jump to the next definition); heapwise loaded but not recording; heapwise --sample
512KiB; the same with --aggregate; --aggregate alone; full tracking; jemalloc; jemalloc's sampled
profiler at the same mean.

  tools/bench/pair_instructions.py [--short 100000] [--long 1100000] [--lib build/lib/libheapwise.so]
                                   [--baseline OTHER/libheapwise.so] [--rate 524288] [--only aggregate]
                                   [--interval-ms 60000]
"""
import argparse, os, re, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interleaved import LIB, ROOT, clean_env  # noqa: E402

JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"


def build(tmp):
    churn, forward = os.path.join(tmp, "churn"), os.path.join(tmp, "forward.so")
    subprocess.check_call(["cc", "-O2", "-g", "-o", churn, os.path.join(ROOT, "tools/bench/churn.c")])
    subprocess.check_call(["cc", "-O2", "-fPIC", "-shared", "-o", forward,
                           os.path.join(ROOT, "tools/bench/forward.c"), "-ldl"])
    return churn, forward


def instructions(cmd, env, tmp):
    out = os.path.join(tmp, "cg.out")
    r = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"] + cmd, env=env,
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed under callgrind:\n{r.stderr}")
    m = re.search(r"Collected : (\d+)", r.stderr)
    os.unlink(out)
    return int(m.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--short", type=int, default=100_000)
    ap.add_argument("--long", type=int, default=1_100_000)
    ap.add_argument("--lib", default=LIB)
    ap.add_argument("--baseline", help="another build of libheapwise.so: its idle and --sample rows too")
    ap.add_argument("--rate", type=int, default=524288, help="HEAPWISE_SAMPLE of the sampled rows, bytes "
                    "(jemalloc's row stays at lg_prof_sample:19)")
    ap.add_argument("--only", help="run only the configurations whose name contains this text "
                    "(plain and the forwarder always run: the ratios need them)")
    ap.add_argument("--interval-ms", type=int, help="HEAPWISE_INTERVAL_MS: the periodic work runs by time, "
                    "and callgrind's ~50x slowdown multiplies it per pair (60000 leaves it out)")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="heapwise-pairs-")
    churn, forward = build(tmp)
    dump = os.path.join(tmp, "hw.%p.heapwise")
    sample = {"LD_PRELOAD": a.lib, "HEAPWISE_OUTPUT": dump, "HEAPWISE_SAMPLE": str(a.rate), "HEAPWISE_SAMPLE_SEED": "1"}
    if a.interval_ms:
        sample["HEAPWISE_INTERVAL_MS"] = str(a.interval_ms)
    r = f"{a.rate // 1024}KiB" if a.rate % 1024 == 0 else f"{a.rate}B"
    configs = {
        "plain (no preload)": {},
        "forwarder (tools/bench/forward.c)": {"LD_PRELOAD": forward},
        "heapwise loaded, not recording": {"LD_PRELOAD": a.lib},
        f"heapwise --sample {r}": sample,
        f"heapwise --sample {r} --aggregate": dict(sample, HEAPWISE_AGGREGATE="1"),
        "heapwise --aggregate": {k: v for k, v in dict(sample, HEAPWISE_AGGREGATE="1").items() if k != "HEAPWISE_SAMPLE"},
        "heapwise, full tracking": {k: v for k, v in sample.items() if k not in ("HEAPWISE_SAMPLE", "HEAPWISE_SAMPLE_SEED")},
        "jemalloc": {"LD_PRELOAD": JEMALLOC},
        "jemalloc prof, lg_prof_sample:19": {"LD_PRELOAD": JEMALLOC, "MALLOC_CONF": "prof:true,lg_prof_sample:19"},
    }
    if a.baseline:
        configs["baseline loaded, not recording"] = {"LD_PRELOAD": a.baseline}
        configs[f"baseline --sample {r}"] = dict(sample, LD_PRELOAD=a.baseline)
        configs[f"baseline --sample {r} --aggregate"] = dict(configs[f"heapwise --sample {r} --aggregate"], LD_PRELOAD=a.baseline)
        configs["baseline --aggregate"] = dict(configs["heapwise --aggregate"], LD_PRELOAD=a.baseline)
        configs["baseline, full tracking"] = dict(configs["heapwise, full tracking"], LD_PRELOAD=a.baseline)
    if a.only:
        configs = {k: v for k, v in configs.items() if k.startswith(("plain", "forwarder")) or a.only in k}
    per = {}
    print(f"| churn.c, instructions per pair ({a.long:,} - {a.short:,} pairs) | per pair | vs plain | vs forwarder |")
    print("| --- | --- | --- | --- |")
    for name, extra in configs.items():
        env = dict(clean_env(), **extra)
        n = (instructions([churn, str(a.long)], env, tmp) - instructions([churn, str(a.short)], env, tmp))
        per[name] = n / (a.long - a.short)
        base, fwd = per["plain (no preload)"], per.get("forwarder (tools/bench/forward.c)")
        against = "jemalloc" if name.startswith("jemalloc prof") else None
        ratio = per[name] / (per[against] if against else base)
        vs = f"{ratio:.3f}x" + (" vs jemalloc" if against else "")
        print(f"| {name} | {per[name]:.1f} | {vs} | {per[name] / fwd:.3f}x |" if fwd and not name.startswith("jemalloc")
              else f"| {name} | {per[name]:.1f} | {vs} | |", flush=True)
    for f in os.listdir(tmp):
        os.unlink(os.path.join(tmp, f))
    os.rmdir(tmp)


if __name__ == "__main__":
    main()
