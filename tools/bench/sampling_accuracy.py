#!/usr/bin/env python3
"""How close sampled recording comes to full tracking, over many seeds (docs/SAMPLING.md).

Records Tests/Programs/sampling_sites.c once with full tracking and then with `--sample RATE` for
each of `--seeds` seeds, and compares `top --by function` (live, allocated, count) for the ten
sites with the most live bytes under full tracking. For each seed and figure it computes:

  weighted error  sum |estimate - truth| / sum truth over the ten sites
  mean error      the mean of |estimate - truth| / truth over the ten sites
  coverage        how many of the ten truths lie inside the printed 95% interval

and prints their distribution over the seeds (mean, median, 90th percentile, worst). Then, per
site and figure, over the seeds:

  bias            mean of (estimate - truth) / truth, with its standard error over the seeds
                  (sd / sqrt(seeds)): an unbiased estimator gives a bias within about 2 of them
  error           mean |estimate - truth| / truth
  sd              the spread of (estimate - truth) / truth: what the printed intervals estimate
  half-width      the mean printed 95% half-width over the estimate (about 1.96 sd if calibrated)
  coverage        how often the truth was inside the printed interval (95% if calibrated)
  samples         the mean number of recorded blocks the figure rests on
  needed          the samples the site would need for a mean error of 5%: the error of an
                  unbiased estimate falls as 1/sqrt(samples), and |normal| averages 0.8 sd, so
                  samples * (sd / 0.0627)^2

and, per figure, the coverage over every site and seed.

  tools/bench/sampling_accuracy.py [--rate 8KiB] [--seeds 20] [--mib 24] [--aggregate] [--keep DIR]
  tools/bench/sampling_accuracy.py --rate 512KiB --seeds 20 --mib 1024   # ~40 min under load; ~3 GB of RAM

--keep DIR keeps the program, the dumps and the full recording's figures in DIR and reuses the
ones already there (the full recording at --mib 1024 is 250 MB and most of the time).

With --aggregate the sampled recordings are aggregated dumps (`--sample RATE --aggregate`): the
recorder's weighted per-site counters instead of the analyzer's weighting of recorded events.

The workload's bytes per site (--mib) over the rate sets the number of samples per site: the
error shrinks as 1/sqrt(samples), so --rate 512KiB --mib 1536 behaves like --rate 8KiB --mib 24
for the blocks smaller than both rates.
"""
import argparse, json, os, statistics, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def heapwise():
    for c in (".build/release/heapwise", ".build/debug/heapwise"):
        p = os.path.join(ROOT, c)
        if os.path.exists(p):
            return p
    sys.exit("build heapwise first (swift build -c release)")


def top(hw, dump, metric):
    out = subprocess.run([hw, "top", dump, "--by", "function", "--metric", metric, "--format", "json", "--limit", "0"],
                         check=True, capture_output=True, text=True).stdout
    sites = {}
    field = "live" if metric == "live" else "allocated"
    for s in json.loads(out)["sites"]:
        name = s["label"].split(" ")[0]
        est = (s["counters"].get("estimate") or {}).get(field) or {}
        sites[name] = (s["size"], s["count"], s.get("size_interval"), s.get("count_interval"), est.get("recorded", 0))
    return sites


def figures(hw, dump):
    live, alloc = top(hw, dump, "live"), top(hw, dump, "allocated")
    return {"live bytes": {k: (v[0], v[2], v[4]) for k, v in live.items()},
            "allocated bytes": {k: (v[0], v[2], v[4]) for k, v in alloc.items()},
            "allocations": {k: (v[1], v[3], v[4]) for k, v in alloc.items()}}


def compare(truth, est, sites):
    rows = {}
    for fig in truth:
        errs, num, den, covered, inside, signed, half, samples = [], 0.0, 0.0, 0, [], [], [], []
        for s in sites:
            t = truth[fig][s][0]
            e, iv, n = est[fig].get(s, (0, None, 0))
            errs.append(abs(e - t) / t if t else 0.0)
            signed.append((e - t) / t if t else 0.0)
            half.append((iv["high"] - iv["value"]) / iv["value"] if iv and iv["value"] else 0.0)
            samples.append(n)
            num += abs(e - t)
            den += t
            ok = bool(iv and iv["low"] <= t <= iv["high"])
            covered += ok
            inside.append(ok)
        rows[fig] = (num / den, statistics.mean(errs), covered, errs, inside, signed, half, samples)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", default="8KiB")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--mib", type=int, default=24)
    ap.add_argument("--keep", metavar="DIR", help="keep (and reuse) the program and dumps in DIR")
    ap.add_argument("--aggregate", action="store_true")
    a = ap.parse_args()
    hw = heapwise()
    with tempfile.TemporaryDirectory() as scratch:
        tmp = a.keep or scratch
        os.makedirs(tmp, exist_ok=True)
        prog = os.path.join(tmp, "sampling_sites")
        if not (a.keep and os.path.exists(prog)):
            subprocess.run(["cc", "-O2", "-g", "-o", prog, os.path.join(ROOT, "Tests/Programs/sampling_sites.c"), "-lm"], check=True)
        def record(name, extra):
            dump = os.path.join(tmp, name + ".heapwise")
            if not (a.keep and os.path.exists(dump)):
                subprocess.run([hw, "record", "-o", dump + ".part"] + extra + ["--", prog, str(a.mib)], check=True, capture_output=True)
                os.rename(dump + ".part", dump)
            return dump
        # The full recording's figures take the longest to read (minutes at --mib 1024): kept too.
        cached = os.path.join(tmp, "full-%dMiB.json" % a.mib)
        if a.keep and os.path.exists(cached):
            with open(cached) as f:
                truth = json.load(f)
        else:
            truth = figures(hw, record("full-%dMiB" % a.mib, []))
            if a.keep:
                with open(cached, "w") as f:
                    json.dump(truth, f)
        ranked = sorted(truth["live bytes"], key=lambda s: -truth["live bytes"][s][0])
        sites = [s for s in ranked if s.startswith("site_")][:10]
        per_seed = []
        for seed in range(1, a.seeds + 1):
            mode = ["--aggregate"] if a.aggregate else []
            name = "s%d-%s-%dMiB%s" % (seed, a.rate, a.mib, "-agg" if a.aggregate else "")
            per_seed.append(compare(truth, figures(hw, record(name, ["--sample", a.rate, "--seed", str(seed)] + mode)), sites))
        print("sampling %s%s, workload %d MiB per site, %d seeds, top 10 sites by live bytes"
              % (a.rate, " with --aggregate" if a.aggregate else "", a.mib, a.seeds))
        print("%-16s %-32s %-32s %s" % ("figure", "weighted error", "mean error per site", "truth inside 95% interval"))
        print("%-16s %-32s %-32s %s" % ("", "mean / median / p90 / worst", "mean / median / p90 / worst", "mean of 10"))
        q = lambda xs, f: xs[min(len(xs) - 1, int(f * len(xs)))]
        for fig in truth:
            w = sorted(r[fig][0] for r in per_seed)
            m = sorted(r[fig][1] for r in per_seed)
            c = [r[fig][2] for r in per_seed]
            print("%-16s %5.1f%% / %5.1f%% / %5.1f%% / %5.1f%%  %5.1f%% / %5.1f%% / %5.1f%% / %5.1f%%  %.1f" % (
                fig, 100 * statistics.mean(w), 100 * statistics.median(w), 100 * q(w, 0.9), 100 * w[-1],
                100 * statistics.mean(m), 100 * statistics.median(m), 100 * q(m, 0.9), 100 * m[-1], statistics.mean(c)))
        n = len(per_seed)
        print()
        print("coverage of the printed 95%% intervals over all %d site-seed pairs:" % (10 * n))
        for fig in truth:
            print("  %-16s %5.1f%%" % (fig, 100 * sum(sum(r[fig][4]) for r in per_seed) / (10 * n)))
        for fig in truth:
            print()
            print("%s, per site over the %d seeds:" % (fig, n))
            print("%-16s %-17s %7s %7s %10s %9s %8s %9s" % ("site", "bias (+- 1 se)", "error", "sd", "half-width", "coverage", "samples", "needed"))
            for i, site in enumerate(sites):
                signed = [r[fig][5][i] for r in per_seed]
                bias = statistics.mean(signed)
                sd = statistics.stdev(signed) if n > 1 else 0.0
                err = statistics.mean(r[fig][3][i] for r in per_seed)
                half = statistics.mean(r[fig][6][i] for r in per_seed)
                inside = sum(r[fig][4][i] for r in per_seed)
                samples = statistics.mean(r[fig][7][i] for r in per_seed)
                needed = samples * (sd / 0.0627) ** 2
                print("%-16s %+6.2f%% +- %4.2f%% %6.2f%% %6.2f%% %9.2f%% %5d/%-3d %8.0f %9s" % (
                    site, 100 * bias, 100 * sd / n ** 0.5, 100 * err, 100 * sd, 100 * half, inside, n, samples,
                    "%.0f" % needed))


if __name__ == "__main__":
    main()
