#!/usr/bin/env python3
"""Where a sampled python3 run's overhead goes, in figures that the machine's noise moves little:
the kernel's side of each run (minor faults, system time, peak RSS) next to its user and CPU time,
for plain python3, python3 under the forwarder (tools/bench/forward.c, the floor of any LD_PRELOAD
interposer), heapwise loaded but not recording, heapwise --sample 512KiB, and the same with the
periodic work off (HEAPWISE_INTERVAL_MS=60000), interleaved `--runs` rounds, `uptime` printed
before and after. `--script pass` times `python3 -c pass` instead: the fixed per-run cost
(constructor, module scan, Python frame init) with nothing else around it.

For each configuration: median and least CPU (user + system), median user, median system, median
minor faults and peak RSS, the CPU ratios against plain and against the forwarder, and the paired
ratio: each round's CPU over the same round's plain run, median and quartiles over the rounds (a
slow stretch of the machine then moves both sides of a ratio).

  tools/bench/sampled_python_probe.py [--runs 11] [--script dicts|pass] [--python PATH]
                                      [--baseline OTHER/libheapwise.so] [--quick]

--quick: plain, the forwarder and --sample 512KiB only (more rounds in the same time).
"""
import argparse, os, shutil, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interleaved import LIB, ROOT, clean_env, heapwise  # noqa: E402
from overhead import PY_SCRIPT, python3_interpreter  # noqa: E402

RATE = str(512 * 1024)


def configs(forward, baseline):
    c = {
        "plain": {},
        "forwarder": {"LD_PRELOAD": forward},
        "heapwise idle": {"LD_PRELOAD": LIB},
        "sampled 512KiB": heapwise(HEAPWISE_SAMPLE=RATE),
        "sampled, periodic off": heapwise(HEAPWISE_SAMPLE=RATE, HEAPWISE_INTERVAL_MS="60000"),
    }
    if baseline:
        c["baseline sampled"] = dict(heapwise(HEAPWISE_SAMPLE=RATE), LD_PRELOAD=os.path.abspath(baseline))
    return c


def run(cmd, env, cwd):
    start = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read()
    _, status, u = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{err.decode(errors='replace')}")
    return dict(wall=time.monotonic() - start, user=u.ru_utime, sys=u.ru_stime, cpu=u.ru_utime + u.ru_stime,
                minflt=u.ru_minflt, rss=u.ru_maxrss)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--script", choices=["dicts", "pass"], default="dicts")
    ap.add_argument("--python", help="interpreter (default: the one `python3` runs)")
    ap.add_argument("--baseline")
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="heapwise-pyprobe-")
    forward = os.path.join(tmp, "forward.so")
    subprocess.check_call(["cc", "-O2", "-fPIC", "-shared", "-o", forward,
                           os.path.join(ROOT, "tools/bench/forward.c"), "-ldl"])
    python = a.python or python3_interpreter()
    if a.script == "pass":
        cmd = [python, "-c", "pass"]
    else:
        script = os.path.join(tmp, "dicts.py")
        with open(script, "w") as f:
            f.write(PY_SCRIPT)
        cmd = [python, script]
    conf = configs(forward, a.baseline)
    if a.quick:
        conf = {n: c for n, c in conf.items() if n in ("plain", "forwarder", "sampled 512KiB")}
    base = clean_env()
    got = {name: [] for name in conf}
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} {python} {a.script}, {a.runs} interleaved rounds;"
          f" uptime: {subprocess.check_output(['uptime'], text=True).strip()}")
    for _ in range(a.runs):
        for name, extra in conf.items():
            d = tempfile.mkdtemp(dir=tmp)
            env = dict(base, **{k: v.replace("{dir}", d) for k, v in extra.items()})
            got[name].append(run(cmd, env, d))
            shutil.rmtree(d)
    print(f"# after: {subprocess.check_output(['uptime'], text=True).strip()}")
    med = {n: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for n, rs in got.items()}
    least = {n: min(r["cpu"] for r in rs) for n, rs in got.items()}
    unit, scale = ("ms", 1e3) if a.script == "pass" else ("s", 1)
    def quartiles(xs):
        q = statistics.quantiles(xs, n=4) if len(xs) > 1 else [xs[0]] * 3
        return f"{q[1]:.3f}x ({q[0]:.3f}-{q[2]:.3f})"
    paired = {n: quartiles([r["cpu"] / p["cpu"] for r, p in zip(rs, got["plain"])]) for n, rs in got.items()}
    print(f"| config | CPU median | least CPU | user | system | CPU vs plain (median / least) "
          f"| vs forwarder (median / least) | paired vs plain, median (quartiles) | minor faults | peak RSS |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for n, m in med.items():
        print(f"| {n} | {m['cpu'] * scale:.3f} {unit} | {least[n] * scale:.3f} {unit} | {m['user'] * scale:.3f} {unit} "
              f"| {m['sys'] * scale:.3f} {unit} | {m['cpu'] / med['plain']['cpu']:.3f}x / {least[n] / least['plain']:.3f}x "
              f"| {m['cpu'] / med['forwarder']['cpu']:.3f}x / {least[n] / least['forwarder']:.3f}x "
              f"| {paired[n]} | {m['minflt']:,.0f} | {m['rss'] / 1024:.1f} MiB |")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
