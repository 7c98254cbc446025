#!/usr/bin/env python3
"""Analysis of existing dumps by two heapwise binaries, interleaved, with their outputs compared.

For each dump, runs `heapwise top DUMP` and `heapwise export DUMP --format pprof` with the
`--before` binary and then with the `--after` one (default: this tree's release build), `--runs`
times, and prints the median CPU time (user + system) and wall time of each and the after/before
ratio of CPU. `top`'s text and the pprof file must be byte for byte the same for both binaries, or
the script stops: a faster analysis that answers differently is not a speed-up.

  tools/bench/symbolize.py --before /path/to/old/heapwise [--runs 3] DUMP...
"""
import argparse, os, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def cpu_of(cmd):
    """(wall, CPU, stdout) of one run; CPU from wait4 of the child."""
    start = time.monotonic()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE)
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"{' '.join(cmd)} failed:\n{err.decode(errors='replace')}")
        out.seek(0)
        return wall, usage.ru_utime + usage.ru_stime, out.read()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", required=True)
    ap.add_argument("--after")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("dumps", nargs="+")
    args = ap.parse_args()
    after = args.after or os.path.join(subprocess.check_output(
        ["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, text=True).strip(), "heapwise")
    tmp = tempfile.mkdtemp(prefix="heapwise-symbolize-")
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, median of {args.runs} runs, "
          f"load {os.getloadavg()[0]:.1f}")
    print("| dump | command | before CPU | after CPU | after/before | before wall | after wall |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for dump in args.dumps:
        commands = {
            "top": lambda exe, tag: [exe, "top", dump],
            "export --format pprof": lambda exe, tag: [exe, "export", dump, "--format", "pprof", "-o",
                                                       os.path.join(tmp, f"{tag}.pb.gz")],
        }
        for name, make in commands.items():
            cpu = {"before": [], "after": []}
            wall = {"before": [], "after": []}
            outputs = {}
            for _ in range(args.runs):
                for tag, exe in (("before", args.before), ("after", after)):
                    w, c, out = cpu_of(make(exe, tag))
                    if name != "top":
                        out = open(os.path.join(tmp, f"{tag}.pb.gz"), "rb").read()
                    outputs.setdefault(tag, out)
                    if outputs[tag] != out:
                        sys.exit(f"{name} {dump}: the {tag} binary's output changed between runs")
                    cpu[tag].append(c)
                    wall[tag].append(w)
            if outputs["before"] != outputs["after"]:
                sys.exit(f"{name} {dump}: the two binaries' outputs differ")
            b, a = statistics.median(cpu["before"]), statistics.median(cpu["after"])
            print(f"| {os.path.basename(dump)} | {name} | {b:.2f} s | {a:.2f} s | {a / b:.2f}x | "
                  f"{statistics.median(wall['before']):.2f} s | {statistics.median(wall['after']):.2f} s |", flush=True)
    print(f"# load after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
