#!/usr/bin/env python3
"""Per-test overhead of `pytest --heapwise` against pytest-memray, measured in the same run.

    tools/bench/pytest_overhead.py [--tests 200] [--runs 3]

Builds one venv (tools/python-env.sh 3.11 pytest pytest-memray ./python), writes a synthetic
suite of N tests (each builds and drops a few thousand objects, a typical unit test's work),
and times, best of --runs, the whole pytest run: plain, --memray, --heapwise (every test
measured with sites, no collection), and --heapwise with a limit marker on every test (a full
collection before and after each, as the plugin does for limited tests). Prints seconds, the
overhead per test against plain pytest, and each mode's ratio to pytest-memray's overhead.
Needs build/lib/libheapwise.so (`make lib`).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TEST = '''
{marker}def test_work_{i}():
    rows = [{{"id": n, "name": "row-%d" % n, "tags": [n, n + 1]}} for n in range(300)]
    index = {{r["name"]: r for r in rows}}
    text = ",".join(r["name"] for r in rows)
    assert len(index) == 300 and text.count(",") == 299
'''


def write_suite(directory, count, marker):
    with open(os.path.join(directory, "test_bench.py"), "w") as f:
        f.write("import pytest\n")
        for i in range(count):
            f.write(TEST.format(i=i, marker=marker))


def timed(cmd, cwd, env, runs):
    best = None
    for _ in range(runs):
        t = time.perf_counter()
        r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
        elapsed = time.perf_counter() - t
        if r.returncode != 0:
            sys.exit("benchmark run failed: %s\n%s%s" % (" ".join(cmd), r.stdout[-2000:], r.stderr[-2000:]))
        best = elapsed if best is None else min(best, elapsed)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tests", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    library = os.path.join(ROOT, "build", "lib", "libheapwise.so")
    if not os.path.exists(library):
        sys.exit("build/lib/libheapwise.so is missing: run `make lib` first")
    python = subprocess.run([os.path.join(ROOT, "tools", "python-env.sh"), "3.11", "pytest", "pytest-memray",
                             os.path.join(ROOT, "python")], check=True, capture_output=True, text=True).stdout.strip()
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "PYTHONMALLOC", "HEAPWISE_OUTPUT")}
    env["HEAPWISE_LIBRARY"] = library
    base = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    with tempfile.TemporaryDirectory() as plain_dir, tempfile.TemporaryDirectory() as limited_dir:
        write_suite(plain_dir, args.tests, "")
        write_suite(limited_dir, args.tests, '@pytest.mark.limit_memory("64 MB")\n')
        modes = [
            ("plain pytest", base, plain_dir),
            ("pytest --memray", base + ["--memray"], plain_dir),
            ("pytest --heapwise", base + ["--heapwise"], plain_dir),
            ("pytest --heapwise, limit marker", base + ["--heapwise"], limited_dir),
        ]
        # Interleaved, as the other benchmarks: machine noise hits every mode alike.
        best = {}
        for _ in range(args.runs):
            for name, cmd, cwd in modes:
                t = timed(cmd, cwd, env, 1)
                best[name] = min(best.get(name, t), t)
        rows = [(name, best[name]) for name, _, _ in modes]
    plain = rows[0][1]
    memray = rows[1][1] - plain
    print("%d tests, best of %d interleaved runs, CPython 3.11, load average %.1f"
          % (args.tests, args.runs, os.getloadavg()[0]))
    print("%-34s %9s %14s %12s" % ("mode", "seconds", "per test (ms)", "vs memray"))
    for name, seconds in rows:
        over = seconds - plain
        ratio = "" if name == "plain pytest" else "%.2fx" % (over / memray if memray > 0 else float("nan"))
        print("%-34s %9.2f %14.2f %12s" % (name, seconds, 1000 * over / args.tests, ratio))


if __name__ == "__main__":
    main()
