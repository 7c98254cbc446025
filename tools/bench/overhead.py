#!/usr/bin/env python3
"""The recorder's overhead next to heaptrack's, measured in one run on this machine.

Runs each workload plain, under heaptrack and under heapwise, `--runs` times each, interleaved so
machine noise hits all of them alike, and prints the median wall time, the slowdown ratio against
the plain run, the median CPU time (user + system, all threads) and its ratio, the dump size, and the
peak RSS (the recorder's extra memory is the difference). Two more heapwise rows show where its
time goes: "heapwise, libunwind" captures with libunwind alone (HEAPWISE_UNWIND=libunwind, the
unwinder before its own walker), "heapwise, no capture" records every event without a stack
(HEAPWISE_UNWIND=off): the floor that a faster unwinder cannot go below.

  tools/bench/overhead.py [--runs 3] [--pairs 10000000] [--only churn|tree|synthetic|sqlite|python]
                          [--baseline OLD/libheapwise.so]

--baseline adds one more tool, another build of the recorder (say, main's), measured in the same
interleaved runs: how to show what a change to the recorder costs.
"""
import argparse, os, resource, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIB = os.path.join(ROOT, "build/lib/libheapwise.so")
BASELINE = None  # --baseline

PY_SCRIPT = r'''
import json
docs = []
for i in range(200000):
    d = {"id": i, "name": "user%d" % i, "tags": ["a%d" % (i % 7), "b%d" % (i % 11)], "score": i * 0.5}
    docs.append(json.loads(json.dumps(d)))
index = {}
for d in docs:
    index.setdefault(d["tags"][0], []).append(d["id"])
print(len(docs), len(index))
'''

SQL = """
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, score REAL);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000)
INSERT INTO t SELECT x, 'name' || (x * 7919 % 200000), x * 0.5 FROM c;
CREATE INDEX t_name ON t(name);
SELECT count(*) FROM t WHERE name LIKE 'name1%';
"""


def python3_interpreter():
    """The interpreter `python3` runs. A pyenv shim is a bash script that starts some 40 processes
    (bash, pyenv's version lookup) before exec'ing it; realpath does not see through it, and under
    the recorder every one of them was recorded too, part of the python3 row's ratio."""
    return subprocess.check_output(["python3", "-c", "import sys; print(sys.executable)"], text=True).strip()


class PeerFailed(Exception):
    pass


def run(cmd, env, cwd, peer=False):
    """Runs cmd; returns (wall seconds, peak RSS in KiB of the largest process it waited for, CPU
    seconds).
    A failing peer is reported in the table (PeerFailed); a failing plain or heapwise run stops."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    err = proc.stderr.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        last = (err.strip().splitlines() or ["?"])[-1]
        if peer:
            raise PeerFailed(f"failed after {wall:.0f} s: {last}")
        sys.exit(f"{' '.join(cmd)} failed ({status}):\n{err}")
    return wall, usage.ru_maxrss, usage.ru_utime + usage.ru_stime


def heaptrack_calls(directory):
    """Allocation calls in heaptrack's dump, as heaptrack_print counts them (a sanity check)."""
    files = [os.path.join(directory, f) for f in os.listdir(directory) if f.startswith("ht")]
    out = subprocess.run(["heaptrack_print", files[0]], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("calls to allocation functions:"):
            return int(line.split(":")[1].split()[0])
    return None


def dump_size(directory, prefix):
    return sum(os.path.getsize(os.path.join(directory, f)) for f in os.listdir(directory) if f.startswith(prefix))


VARIANTS = {"heapwise": {}, "heapwise, libunwind": {"HEAPWISE_UNWIND": "libunwind"},
            "heapwise, no capture": {"HEAPWISE_UNWIND": "off"}}


def measure(name, cmd, runs, tmp, pairs=None):
    env = dict(os.environ)
    for k in [k for k in env if k.startswith("HEAPWISE_") or k == "LD_PRELOAD"]:
        del env[k]
    results = {"plain": [], "heaptrack": []}
    results.update({v: [] for v in VARIANTS})
    if BASELINE:
        results["heapwise (baseline)"] = []
    sizes, failures = {}, {}
    for r in range(runs):
        for tool in results:
            d = tempfile.mkdtemp(dir=tmp)
            if tool == "plain":
                results[tool].append(run(cmd, env, d))
            elif tool == "heaptrack":
                try:
                    results[tool].append(run(["heaptrack", "-o", os.path.join(d, "ht")] + cmd, env, d, peer=True))
                except PeerFailed as e:
                    failures.setdefault(tool, []).append(str(e))
                    shutil.rmtree(d)
                    continue
                sizes[tool] = dump_size(d, "ht")
                calls = heaptrack_calls(d)
                if pairs and calls is not None and calls < pairs:
                    print(f"  note: heaptrack's dump holds {calls:,} allocation calls of {pairs:,}: it lost "
                          f"{100 * (1 - calls / pairs):.1f}% of the events", file=sys.stderr)
            else:
                lib = BASELINE if tool == "heapwise (baseline)" else LIB
                e = dict(env, LD_PRELOAD=lib, HEAPWISE_OUTPUT=os.path.join(d, "hw.%p.heapwise"), **VARIANTS.get(tool, {}))
                results[tool].append(run(cmd, e, d))
                sizes[tool] = dump_size(d, "hw.")
            shutil.rmtree(d)
    plain = statistics.median(w for w, _, _ in results["plain"])
    plain_cpu = statistics.median(c for _, _, c in results["plain"])
    plain_rss = max(m for _, m, _ in results["plain"])
    rows = []
    for tool, samples in results.items():
        if tool in failures:
            rows.append(f"| {name} | {tool} | {len(failures[tool])} of {runs} runs {failures[tool][0]} | | | | |")
        if not samples:
            continue
        wall = statistics.median(w for w, _, _ in samples)
        cpu = statistics.median(c for _, _, c in samples)
        rss = max(m for _, m, _ in samples)
        size = sizes.get(tool)
        per = f"{size / pairs:.2f} B/pair" if size and pairs else ""
        shown = "" if size is None else (f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.0f} KB")
        rows.append(f"| {name} | {tool} | {wall:.2f} s | {wall / plain:.1f}x | {cpu:.2f} s | {cpu / plain_cpu:.1f}x | "
                    f"{shown} {per} | {rss / 1024:.0f} MiB (+{(rss - plain_rss) / 1024:.0f}) |")
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--pairs", type=int, default=10_000_000)
    ap.add_argument("--only", choices=["churn", "tree", "synthetic", "sqlite", "python"])
    ap.add_argument("--baseline", help="another libheapwise.so to measure alongside")
    args = ap.parse_args()
    global BASELINE
    BASELINE = os.path.abspath(args.baseline) if args.baseline else None
    if not os.path.exists(LIB):
        sys.exit(f"{LIB} is missing: run `make lib` first")
    for tool in ("heaptrack", "sqlite3", "cc"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: run `HEAPWISE_BENCH_DEPS=1 tools/install-deps.sh`")
    tmp = tempfile.mkdtemp(prefix="heapwise-bench-")
    workload = os.path.join(tmp, "workload")
    subprocess.check_call(["cc", "-O2", "-g", "-o", workload, os.path.join(ROOT, "tools/bench/workload.c")])
    churn, tree = os.path.join(tmp, "churn"), os.path.join(tmp, "tree")
    subprocess.check_call(["cc", "-O2", "-g", "-o", churn, os.path.join(ROOT, "tools/bench/churn.c")])
    subprocess.check_call(["cc", "-O2", "-g", "-o", tree, os.path.join(ROOT, "tools/bench/tree.c")])
    script = os.path.join(tmp, "dicts.py")
    open(script, "w").write(PY_SCRIPT)
    sql = os.path.join(tmp, "build.sql")
    open(sql, "w").write(SQL)
    python = python3_interpreter()
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, median of {args.runs} runs, load {os.getloadavg()[0]:.1f}")
    print("| workload | tool | wall | vs plain | CPU | vs plain | dump | peak RSS (vs plain) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    if args.only in (None, "churn"):
        name = f"churn.c, {args.pairs:,} pairs, 16 call paths"
        for row in measure(name, [churn, str(args.pairs)], args.runs, tmp, args.pairs):
            print(row, flush=True)
    if args.only in (None, "tree"):
        name = f"tree.c, {args.pairs:,} pairs, 8,191 stacks"
        for row in measure(name, [tree, str(args.pairs)], args.runs, tmp, args.pairs):
            print(row, flush=True)
    if args.only in (None, "synthetic"):
        for bits in (10, 0):
            name = f"workload.c, {args.pairs:,} pairs, {1 << bits} call paths"
            for row in measure(name, [workload, str(args.pairs), str(bits)], args.runs, tmp, args.pairs):
                print(row, flush=True)
    if args.only in (None, "sqlite"):
        # "db" is relative: every run has a fresh working directory, hence a fresh database.
        for row in measure("sqlite3, 200k rows + index", ["sqlite3", "db", f".read {sql}"], args.runs, tmp):
            print(row, flush=True)
    if args.only in (None, "python"):
        for row in measure("python3, 200k dicts via JSON", [python, script], args.runs, tmp):
            print(row, flush=True)
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
