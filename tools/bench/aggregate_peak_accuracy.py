#!/usr/bin/env python3
"""How often the last peak's intervals of sampled aggregated dumps hold the full-tracking peak
(docs/AGGREGATE.md, "Combined with sampling").

Records Tests/Programs/sampled_peak.c (eight sites of small and mixed sizes, then one block that makes
the last peak moment, then frees) once with plain `--aggregate` (every block counted: the truth at
the last peak, `top --at peak`), then with `--sample RATE --aggregate` for each of `--seeds` seeds,
and compares each site's bytes and blocks at the last peak with the printed 95% intervals. With
--baseline (a libheapwise.so of format 1.3, which kept no variance for the peak), each seed is also
recorded by that library: it samples the same blocks with the same weights, so the estimates are
the same and only the intervals differ (this analyzer approximates a 1.3 dump's, as before).

Per site and figure, over the seeds: coverage (how often the truth was inside the interval; 95% if
calibrated), the mean half-width over the truth, and the spread of (estimate - truth) / truth
(the half-width of a calibrated interval is about 1.96 times it).

  tools/bench/aggregate_peak_accuracy.py [--rate 512KiB] [--mib 64] [--seeds 40]
                                         [--baseline /tmp/base-0b8f/build/lib/libheapwise.so]
"""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SITES = ["site_tiny", "site_small", "site_medium", "site_page", "site_bimodal", "site_everything", "site_shifting",
         "site_reverse"]


from sampling_accuracy import heapwise  # the same binary lookup (this directory is on sys.path)


def rate_bytes(text):
    units = {"KiB": 1 << 10, "MiB": 1 << 20, "B": 1}
    for u, m in units.items():
        if text.endswith(u):
            return int(text[: -len(u)]) * m
    return int(text)


def at_peak(hw, dump):
    out = subprocess.run([hw, "top", dump, "--by", "function", "--at", "peak", "--format", "json", "--limit", "0"],
                         check=True, capture_output=True, text=True).stdout
    sites = {}
    for s in json.loads(out)["sites"]:
        sites[s["label"].split(" ")[0]] = {"bytes": (s["size"], s.get("size_interval")),
                                           "blocks": (s["count"], s.get("count_interval"))}
    return sites


def record(hw, exe, mib, dump, extra, lib=None):
    env = dict(os.environ)
    if lib:
        env["HEAPWISE_LIBRARY"] = lib
    if os.path.exists(dump):
        os.unlink(dump)
    subprocess.run(["nice", "-n", "5", hw, "record", "-o", dump] + extra + ["--", exe, str(mib)], check=True,
                   capture_output=True, env=env)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", default="512KiB")
    ap.add_argument("--mib", type=int, default=64, help="MiB allocated per site")
    ap.add_argument("--seeds", type=int, default=40)
    ap.add_argument("--baseline", help="a libheapwise.so writing format 1.3 (approximate peak intervals)")
    a = ap.parse_args()
    hw = heapwise()
    tmp = tempfile.mkdtemp(prefix="heapwise-peak-accuracy-")
    exe = os.path.join(tmp, "sampled_peak")
    subprocess.check_call(["cc", "-g", "-O0", "-o", exe, os.path.join(ROOT, "Tests/Programs/sampled_peak.c"), "-lm"])
    full = os.path.join(tmp, "full.heapwise")
    record(hw, exe, a.mib, full, ["--aggregate"])
    truth = at_peak(hw, full)
    os.unlink(full)
    kinds = [("1.4 (terms kept)", None)] + ([("1.3 (approximate)", a.baseline)] if a.baseline else [])
    # results[kind][site][figure] = list of (estimate, low, high)
    results = {k: {s: {"bytes": [], "blocks": []} for s in SITES} for k, _ in kinds}
    for seed in range(1, a.seeds + 1):
        for kind, lib in kinds:
            dump = os.path.join(tmp, "s.heapwise")
            record(hw, exe, a.mib, dump, ["--sample", a.rate, "--seed", str(seed), "--aggregate"], lib)
            est = at_peak(hw, dump)
            os.unlink(dump)
            for s in SITES:
                for f in ("bytes", "blocks"):
                    v, iv = est.get(s, {}).get(f, (0, None))
                    results[kind][s][f].append((v, iv["low"] if iv else v, iv["high"] if iv else v))
        print(f"seed {seed} done", file=sys.stderr, flush=True)
    print(f"sampled_peak {a.mib} MiB a site, --sample {a.rate} --aggregate, {a.seeds} seeds; truth: --aggregate, `top --at peak`")
    print()
    header = "| site | figure | truth | sd of error | " + " | ".join(f"coverage {k} | half-width {k}" for k, _ in kinds) + " |"
    print(header)
    print("| --- " * (4 + 2 * len(kinds)) + "|")
    totals = {k: {"bytes": [0, 0], "blocks": [0, 0]} for k, _ in kinds}
    for s in SITES:
        for f in ("bytes", "blocks"):
            t = truth[s][f][0]
            first = results[kinds[0][0]][s][f]
            sd = statistics.pstdev([(v - t) / t for v, _, _ in first]) if t else 0
            cells = []
            for k, _ in kinds:
                rows = results[k][s][f]
                inside = sum(1 for _, lo, hi in rows if lo <= t <= hi)
                totals[k][f][0] += inside
                totals[k][f][1] += len(rows)
                half = statistics.mean((hi - lo) / 2 / t for _, lo, hi in rows) if t else 0
                cells.append(f"{inside}/{len(rows)} ({100 * inside / len(rows):.0f}%) | ±{100 * half:.1f}%")
            print(f"| {s} | {f} | {t:,} | {100 * sd:.1f}% | " + " | ".join(cells) + " |")
    print()
    for k, _ in kinds:
        for f in ("bytes", "blocks"):
            i, n = totals[k][f]
            print(f"{k}: {f} inside their interval {i}/{n} ({100 * i / n:.1f}%)")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
