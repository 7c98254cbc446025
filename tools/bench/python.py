#!/usr/bin/env python3
"""heapwise with Python frames next to memray --native, on Python workloads, in one run.

Each workload runs plain, under heapwise (Python frames on, the default), under heapwise with
HEAPWISE_PYTHON_FRAMES=0, and under `memray run --native`, `--runs` times each, interleaved so
machine noise hits all alike; prints the median wall time and CPU time (user + system, all
threads), their ratios to plain, and the output size.
The interpreter and memray (and pandas for that workload) come from tools/python-env.sh.

  tools/bench/python.py [--runs 3] [--python 3.12] [--only json|pandas]
"""
import argparse, os, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIB = os.path.join(ROOT, "build/lib/libheapwise.so")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from overhead import PY_SCRIPT  # the python3 JSON/dict workload of overhead.py

PANDAS_SCRIPT = r'''
import numpy as np, pandas as pd
frames = []
for i in range(40):
    df = pd.DataFrame({"k": np.arange(50000) % 97, "v": np.random.default_rng(i).random(50000)})
    df["w"] = df["v"] * 2 + df["k"]
    frames.append(df.groupby("k").agg({"v": "mean", "w": "sum"}))
print(len(pd.concat(frames)))
'''


def venv(version, *packages):
    out = subprocess.run([os.path.join(ROOT, "tools/python-env.sh"), version, *packages],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(out.stderr.strip())
    return out.stdout.strip()


def run(cmd, env, cwd):
    """(wall, CPU) seconds: CPU is user + system time of the program and its threads (the
    recorder's writer thread included), which a machine loaded by other work inflates far less
    than wall time."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{err.decode(errors='replace')}")
    return wall, usage.ru_utime + usage.ru_stime


def size_of(directory):
    return sum(os.path.getsize(os.path.join(directory, f)) for f in os.listdir(directory) if f.startswith("out"))


def measure(name, python, script, runs, tmp):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEAPWISE_") and k != "LD_PRELOAD"}
    memray = os.path.join(os.path.dirname(python), "memray")
    tools = {
        "plain": lambda d: ([python, script], env),
        "heapwise, Python frames": lambda d: ([python, script],
                                              dict(env, LD_PRELOAD=LIB, HEAPWISE_OUTPUT=os.path.join(d, "out.%p"))),
        "heapwise, native frames only": lambda d: ([python, script], dict(env, LD_PRELOAD=LIB, HEAPWISE_PYTHON_FRAMES="0",
                                                                      HEAPWISE_OUTPUT=os.path.join(d, "out.%p"))),
        "memray run --native": lambda d: ([memray, "run", "--native", "-q", "-o", os.path.join(d, "out.bin"), script], env),
    }
    walls = {t: [] for t in tools}
    cpus = {t: [] for t in tools}
    sizes = {}
    for _ in range(runs):
        for tool, make in tools.items():
            d = tempfile.mkdtemp(dir=tmp)
            cmd, e = make(d)
            wall, cpu = run(cmd, e, d)
            walls[tool].append(wall)
            cpus[tool].append(cpu)
            if tool != "plain":
                sizes[tool] = size_of(d)
            shutil.rmtree(d)
    plain = statistics.median(walls["plain"])
    plain_cpu = statistics.median(cpus["plain"])
    for tool, w in walls.items():
        wall = statistics.median(w)
        cpu = statistics.median(cpus[tool])
        size = sizes.get(tool)
        shown = "" if size is None else (f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.0f} KB")
        print(f"| {name} | {tool} | {wall:.2f} s | {wall / plain:.2f}x | {cpu:.2f} s | {cpu / plain_cpu:.2f}x | {shown} |",
              flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--python", default="3.12")
    ap.add_argument("--only", choices=["json", "pandas"])
    args = ap.parse_args()
    if not os.path.exists(LIB):
        sys.exit(f"{LIB} is missing: run `make lib` first")
    tmp = tempfile.mkdtemp(prefix="heapwise-pybench-")
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}, CPython {args.python}, {os.cpu_count()} cores, "
          f"median of {args.runs} runs, load {os.getloadavg()[0]:.1f}")
    print("| workload | tool | wall | vs plain | CPU | CPU vs plain | output |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    if args.only in (None, "json"):
        script = os.path.join(tmp, "dicts.py")
        open(script, "w").write(PY_SCRIPT)
        measure("python3, 200k dicts via JSON", venv(args.python, "memray"), script, args.runs, tmp)
    if args.only in (None, "pandas"):
        script = os.path.join(tmp, "frames.py")
        open(script, "w").write(PANDAS_SCRIPT)
        measure("pandas, 40 frames grouped", venv(args.python, "memray", "pandas"), script, args.runs, tmp)
    print(f"# load after: {os.getloadavg()[0]:.1f}")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
