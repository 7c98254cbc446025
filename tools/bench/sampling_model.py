#!/usr/bin/env python3
"""The sampling estimator on its own, over thousands of draws (docs/SAMPLING.md, "Accuracy").

tools/bench/sampling_accuracy.py runs the real recorder and analyzer, a few minutes a seed at the
production rate, so 20 seeds is what it affords: enough to see a site's error, not to tell a
small bias or a coverage of 65% from 80%. This draws the same sample in numpy, many times: each
block of s bytes is kept with p(s) = 1 - exp(-(s + C)/R) (1 from R on), independently, exactly
the recorder's law (CShim/sampling.c; C is the bytes the sampler adds to each allocation, 512 in
today's recorder, 0 before format 1.4: `--offset`), and weighted by w = 1/p; the variance estimate is
sum w (w - 1) y^2 over the kept blocks and the interval estimate +- 1.96 standard errors, clipped
at 0 (Sources/HeapwiseAnalysis/SampleEstimate.swift). The block sizes are those of
Tests/Programs/sampling_sites.c's sites (log-uniform ranges, the bimodal site), `--mib` MiB
allocated per site. For each site it prints, over `--draws` draws, for the count and the bytes
allocated: the bias (mean of (estimate - truth) / truth, with its standard error), the mean
error, the spread, and how often the 95% interval held the truth.

  PY=$(tools/python-env.sh 3.12 numpy) && $PY tools/bench/sampling_model.py --rate 512KiB --mib 1024 [--offset 1024]

Besides the draws, it prints each site's count sd from the law alone, sqrt(sum (1-p)/p) over
its blocks divided by its count (no draws needed: what the draws' sd converges to).
"""
import argparse, math
import numpy as np


def size(text):
    units = {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
    for u, m in units.items():
        if text.endswith(u):
            return int(float(text[: -len(u)]) * m)
    return int(text)


def log_uniform(rng, lo, hi, budget):
    mean = (hi - lo) / math.log(hi / lo)
    s = np.exp(rng.uniform(math.log(lo), math.log(hi), int(budget / mean * 1.2) + 100)).astype(np.int64).astype(float)
    return s[: np.searchsorted(np.cumsum(s), budget) + 1]


def bimodal(rng, budget):
    n = int(budget / (0.1 * 65536 + 0.9 * 24) * 1.2) + 100
    s = np.where(rng.integers(0, 10, n) == 0, 65536.0, 24.0)
    return s[: np.searchsorted(np.cumsum(s), budget) + 1]


SITES = {
    "site_tiny": lambda r, b: log_uniform(r, 16, 64, b),
    "site_small": lambda r, b: log_uniform(r, 64, 512, b),
    "site_medium": lambda r, b: log_uniform(r, 512, 4096, b),
    "site_page": lambda r, b: log_uniform(r, 4096, 32768, b),
    "site_large": lambda r, b: log_uniform(r, 32768, 262144, b),
    "site_huge": lambda r, b: log_uniform(r, 262144, 1048576, b),
    "site_everything": lambda r, b: log_uniform(r, 16, 1048576, b),
    "site_bimodal": bimodal,
    # After the others, so that theirs draw the same numbers as before these were added.
    "site_fixed48": lambda r, b: np.full(b // 48 + 1, 48.0),
    "site_fixed3000": lambda r, b: np.full(b // 3000 + 1, 3000.0),
    "site_calloc": lambda r, b: 16 * np.floor(log_uniform(r, 8, 128, b / 16)),
}
# The ten sites with the most live bytes of the 512 KiB run (docs/BENCHMARKS.md), over which the
# issue's "mean per-site error" is taken (site_bimodal and site_realloc are 11th and 12th there).
TOP10 = ["site_huge", "site_large", "site_medium", "site_page", "site_small", "site_fixed48", "site_tiny",
         "site_calloc", "site_fixed3000", "site_everything"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", default="512KiB")
    ap.add_argument("--mib", type=int, default=1024)
    ap.add_argument("--draws", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--offset", default="512", help="C, bytes added to each allocation below R (0: format 1.3's law)")
    a = ap.parse_args()
    R, budget, rng = float(size(a.rate)), a.mib << 20, np.random.default_rng(a.seed)
    C = float(size(a.offset))
    print("model of sampling at %s with C = %d, %d MiB allocated per site, %d draws" % (a.rate, C, a.mib, a.draws))
    print("%-16s %-9s %8s %18s %8s %8s %9s %8s %9s" % ("site", "figure", "blocks", "bias (+- 1 se)", "error", "sd", "coverage", "samples", "law's sd"))
    top10 = []
    for name, make in SITES.items():
        blocks = make(rng, budget)
        # Blocks of one size are alike: how many of them are kept is binomial (the same law as
        # keeping each with p, and far fewer random numbers for 30 million tiny blocks).
        s, n = np.unique(blocks, return_counts=True)
        p = np.where(s >= R, 1.0, -np.expm1(-(s + C) / R))
        law_sd = {"count": math.sqrt(float((n * (1 - p) / p).sum())) / len(blocks),
                  "bytes": math.sqrt(float((n * (1 - p) / p * s * s).sum())) / blocks.sum()}
        w = 1 / p
        rows = {"count": [], "bytes": []}
        covered = {"count": 0, "bytes": 0}
        kept_total = 0
        for _ in range(a.draws):
            k = rng.binomial(n, p)
            kept_total += k.sum()
            for fig, y, truth in (("count", np.ones_like(s), len(blocks)), ("bytes", s, blocks.sum())):
                est = float((k * w * y).sum())
                se = math.sqrt(float((k * w * (w - 1) * y * y).sum()))
                rows[fig].append((est - truth) / truth)
                covered[fig] += max(0.0, est - 1.96 * se) <= truth <= est + 1.96 * se
        if name in TOP10:
            top10.append((np.abs(np.array(rows["count"])).mean(), law_sd["count"]))
        for fig in ("count", "bytes"):
            r = np.array(rows[fig])
            print("%-16s %-9s %8d %+8.2f%% +- %5.2f%% %7.2f%% %7.2f%% %8.1f%% %8.0f %8.2f%%" % (
                name, fig, len(blocks), 100 * r.mean(), 100 * r.std() / math.sqrt(len(r)), 100 * np.abs(r).mean(),
                100 * r.std(), 100 * covered[fig] / a.draws, kept_total / a.draws, 100 * law_sd[fig]))
    print("mean per-site count error over the top ten sites: %.2f%% (draws), %.2f%% (0.8 x the law's sd)" % (
        100 * np.mean([e for e, _ in top10]), 100 * 0.798 * np.mean([sd for _, sd in top10])))


if __name__ == "__main__":
    main()
