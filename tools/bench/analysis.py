#!/usr/bin/env python3
"""The analyzer next to heaptrack_print, on dumps of the same work, measured in one run.

Records tools/bench/workload.c (10M malloc/free pairs, one call path: heaptrack's interpreter fails
on the 1,024-path variant, see overhead.py) once under heaptrack and once under heapwise,
then times `heaptrack_print` on heaptrack's file and `heapwise top` (release build) on ours, `--runs`
times each, interleaved, and prints median wall time, CPU time, the ratio, and peak RSS. heapwise
runs twice: as a user gets it (a read-ahead thread on a machine with two or more CPUs) and held to
one thread (HEAPWISE_READ_AHEAD=0), for what a single core gives.

  tools/bench/analysis.py [--runs 3] [--pairs 10000000]
                          [--dump FILE] [--baseline OTHER/heapwise] [--command 'summary' ...]

--dump times the heapwise rows on a dump recorded elsewhere (a large real program's) instead of
recording workload.c; there is no heaptrack_print row then. --baseline adds the same rows for
another build of the CLI (say, an older commit's release build), in the same interleaved runs, each
heapwise row then compared with its baseline row; both outputs are checked to be the same first.
--command (repeatable) is what is timed, a subcommand and its options (default: top --by function).
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
    ap.add_argument("--dump", help="time heapwise on this dump instead of recording workload.c")
    ap.add_argument("--baseline", help="another heapwise CLI binary: its rows too, in the same runs")
    ap.add_argument("--command", action="append", help="subcommand and options, e.g. 'summary' (repeatable)")
    args = ap.parse_args()
    heapwise = os.path.join(subprocess.check_output(["swift", "build", "-c", "release", "--show-bin-path"],
                                                    cwd=ROOT, text=True).strip(), "heapwise")
    for need in ([] if args.dump else [LIB]) + [heapwise] + ([args.baseline] if args.baseline else []):
        if not os.path.exists(need):
            sys.exit(f"{need} is missing: run `make lib swift` first")
    tmp = tempfile.mkdtemp(prefix="heapwise-bench-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEAPWISE_") and k != "LD_PRELOAD"}
    tools = []  # (name, dump, command, environment, name of the row it is compared with)
    if args.dump:
        hw = args.dump
    else:
        workload = os.path.join(tmp, "workload")
        subprocess.check_call(["cc", "-O2", "-g", "-o", workload, os.path.join(ROOT, "tools/bench/workload.c")])
        subprocess.check_call(["heaptrack", "-o", os.path.join(tmp, "ht"), workload, str(args.pairs), "0"],
                              env=env, stdout=subprocess.DEVNULL)
        ht = [os.path.join(tmp, f) for f in os.listdir(tmp) if f.startswith("ht")][0]
        hw = os.path.join(tmp, "hw.heapwise")
        subprocess.check_call([workload, str(args.pairs), "0"], stdout=subprocess.DEVNULL,
                              env=dict(env, LD_PRELOAD=LIB, HEAPWISE_OUTPUT=hw))
        tools.append(("heaptrack_print", ht, ["heaptrack_print", ht], env, None))
    for command in args.command or ["top --by function"]:
        words = command.split()
        for label, binary in [("heapwise", heapwise)] + ([("baseline", args.baseline)] if args.baseline else []):
            versus = None if label == "baseline" else (f"baseline {command}" if args.baseline else
                                                       None if args.dump else "heaptrack_print")
            cmd = [binary, words[0], hw] + words[1:]
            tools.append((f"{label} {command}", hw, cmd, env, versus))
            tools.append((f"{label} {command}, one thread", hw, cmd, dict(env, HEAPWISE_READ_AHEAD="0"),
                          versus and (versus + ", one thread" if args.baseline else versus)))
        if args.baseline:  # a speed-up that changed the answer would be no speed-up
            outputs = {subprocess.run([b, words[0], hw] + words[1:], env=env, capture_output=True).stdout
                       for b in (heapwise, args.baseline)}
            print(f"# {command}: {'the same output' if len(outputs) == 1 else 'OUTPUTS DIFFER'} from both builds")
    runs = {name: [] for name, *_ in tools}
    load = os.getloadavg()[0]
    for _ in range(args.runs):
        for name, _, cmd, e, _ in tools:
            runs[name].append(timed(cmd, e))
    what = f"dump {args.dump}" if args.dump else f"{args.pairs:,} pairs"
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}, {what}, median of {args.runs}, "
          f"load {load:.1f} before, {os.getloadavg()[0]:.1f} after, {os.cpu_count()} CPUs")
    print("| analyzer | dump | wall | CPU | peak RSS | compared with | its wall / this | its CPU / this |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    med = {name: (statistics.median(w for w, _, _ in r), statistics.median(c for _, c, _ in r)) for name, r in runs.items()}
    for name, path, _, _, versus in tools:
        wall, cpu = med[name]
        rss = max(m for _, _, m in runs[name])
        against = (f"{versus} | {med[versus][0] / wall:.2f}x | {med[versus][1] / cpu:.2f}x" if versus
                   else "| |")
        print(f"| {name} | {os.path.getsize(path) / 1e6:.1f} MB | {wall:.2f} s | {cpu:.2f} s | {rss:.0f} MiB "
              f"| {against} |")
    print("\nall runs (wall s):")
    for name, *_ in tools:
        print(f"  {name}: {' '.join(f'{w:.2f}' for w, _, _ in runs[name])}")
    print("all runs (CPU s):")
    for name, *_ in tools:
        print(f"  {name}: {' '.join(f'{c:.2f}' for _, c, _ in runs[name])}")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
