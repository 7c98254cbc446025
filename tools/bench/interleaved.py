"""The run/measure loop that tools/bench/sampling_overhead.py and tools/bench/aggregate.py share:
the three workloads, a clean environment, and interleaved runs of several configurations, so that
machine noise hits every configuration alike (the machine is shared: only ratios measured in the
same run mean anything).

A configuration is a dict of environment variables added to a clean one (no HEAPWISE_*,
LD_PRELOAD or MALLOC_CONF); "{dir}" in a value is replaced by the run's own directory, where a
dump lands (its size is reported for configurations that set HEAPWISE_OUTPUT).
"""
import os, shutil, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from overhead import LIB, PY_SCRIPT, ROOT, SQL, dump_size, python3_interpreter, run  # noqa: E402,F401

DUMP = os.path.join("{dir}", "hw.%p.heapwise")


def clean_env():
    return {k: v for k, v in os.environ.items()
            if not k.startswith("HEAPWISE_") and k not in ("LD_PRELOAD", "MALLOC_CONF")}


def heapwise(**variables):
    """A configuration under the recorder, writing its dump into the run's directory."""
    return dict(LD_PRELOAD=LIB, HEAPWISE_OUTPUT=DUMP, **variables)


def workloads(tmp, pairs, only=None):
    """name -> command: the churn loop (built here), sqlite3 and python3, as overhead.py runs them."""
    churn = os.path.join(tmp, "churn")
    subprocess.check_call(["cc", "-O2", "-g", "-o", churn, os.path.join(ROOT, "tools/bench/churn.c")])
    script = os.path.join(tmp, "dicts.py")
    with open(script, "w") as f:
        f.write(PY_SCRIPT)
    sql = os.path.join(tmp, "build.sql")
    with open(sql, "w") as f:
        f.write(SQL)
    python = python3_interpreter()
    all_ = {"churn": (f"churn.c, {pairs:,} pairs", [churn, str(pairs)]),
            "sqlite": ("sqlite3, 200k rows + index", ["sqlite3", "db", f".read {sql}"]),
            "python": ("python3, 200k dicts via JSON", [python, script])}
    return {name: cmd for key, (name, cmd) in all_.items() if only in (None, key)}


class Result:
    """Medians over the runs of one configuration: wall and CPU seconds, dump bytes (or None); and
    the least CPU time of any run, which on an oversubscribed machine is the steadier figure (a run
    that was not descheduled and did not share its cache is the closest to its own cost)."""

    def __init__(self, samples, sizes):
        self.wall = statistics.median(w for w, _, _ in samples)
        self.cpu = statistics.median(c for _, _, c in samples)
        self.cpu_min = min(c for _, _, c in samples)
        self.cpus = [c for _, _, c in samples]  # in round order: paired_ratio pairs them
        self.dump = statistics.median(sizes) if sizes else None


def interleave(cmd, configs, runs, tmp):
    """Runs cmd under each configuration in turn, `runs` rounds; returns name -> Result."""
    base = clean_env()
    samples = {name: [] for name in configs}
    sizes = {name: [] for name in configs}
    for _ in range(runs):
        for name, extra in configs.items():
            d = tempfile.mkdtemp(dir=tmp)
            env = dict(base, **{k: v.replace("{dir}", d) for k, v in extra.items()})
            samples[name].append(run(cmd, env, d))
            if "HEAPWISE_OUTPUT" in extra:
                sizes[name].append(dump_size(d, "hw."))
            shutil.rmtree(d)
    return {name: Result(samples[name], sizes[name]) for name in configs}


def paired_ratio(tool, against, resamples=2000):
    """The median over the rounds of tool's CPU time over against's in the same round, and a 95%
    bootstrap interval of that median (fixed seed). Interleaved rounds share the machine's state
    at that moment, so the ratio within a round removes the drift that moves both medians."""
    import random
    r = [a / b for a, b in zip(tool.cpus, against.cpus)]
    rng = random.Random(1)
    boots = sorted(statistics.median(rng.choices(r, k=len(r))) for _ in range(resamples))
    return statistics.median(r), boots[int(0.025 * resamples)], boots[int(0.975 * resamples) - 1]


def shown_size(size):
    if size is None:
        return ""
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.1f} KB"


def header(runs):
    return (f"# {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, median of {runs} interleaved runs, "
            f"load {os.getloadavg()[0]:.1f}")
