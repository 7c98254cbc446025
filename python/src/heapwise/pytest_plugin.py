"""The pytest plugin: `pytest --heapwise` measures every test with the preload library's scope
engine (the one HeapwiseBudget uses) and checks the limit markers:

    @pytest.mark.limit_memory("24 MB")     # peak of the test's own live blocks
    @pytest.mark.limit_leaks("1 MB")       # allocated by the test and still live at its end
    @pytest.mark.limit_allocations(10_000) # malloc-family calls

Without --heapwise the markers are accepted and nothing is measured. docs/PYTHON.md has the rest.
"""

import ctypes
import inspect
import os
import sys
import warnings

import pytest

from . import _measure, _native, _reexec, _sites, _units
from . import mark as _mark, is_recording as _is_recording

MARKERS = {
    "limit_memory": "limit_memory(size): fail when the test's allocations peak above size, e.g. \"24 MB\" (heapwise)",
    "limit_leaks": "limit_leaks(size): fail when the test leaves more than size allocated at its end (heapwise)",
    "limit_allocations": "limit_allocations(count): fail when the test makes more than count allocations (heapwise)",
}
PROPERTY = "heapwise"  # the item's user property that carries a test's figures (also from xdist workers)


def pytest_addoption(parser):
    group = parser.getgroup("heapwise", "per-test memory limits measured by the heapwise preload library")
    group.addoption("--heapwise", action="store_true", default=False,
                    help="measure every test's allocations and check the limit_* markers")
    group.addoption("--heapwise-top", type=int, default=5, metavar="N",
                    help="tests listed in the end-of-run summary, by peak and by leaked bytes (0: none; default 5)")
    group.addoption("--heapwise-sites", type=int, default=3, metavar="N",
                    help="sites listed in a failing limit's message (default 3)")
    group.addoption("--heapwise-collect", choices=("limited", "all", "none"), default="limited",
                    help="run a full garbage collection before and at the end of each measured test: for the "
                         "tests with a limit marker (default), for all, or for none")
    group.addoption("--heapwise-scope", choices=("thread", "process"), default="thread",
                    help="count the test's own thread (default), or every thread of the process while the test runs")


def pytest_configure(config):
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", text)
    if config.getoption("heapwise", False):
        config.pluginmanager.register(Measurer(config), "heapwise-measurer")


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    """In the process pytest was started as: the place to start again under the library when
    needed."""
    if not config.getoption("heapwise", False) or hasattr(config, "workerinput"):
        return None  # an xdist worker inherits the environment; pytest_sessionstart checks it
    why = _measure.check_interposed()
    if not why:
        return None
    argv, env, line = _reexec.plan(why)
    if argv is not None:
        line = _reexec.exec_again(config, argv, env)
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        capture.stop_global_capturing()
    print(line, file=sys.stderr)
    return 4  # pytest's exit status for a usage error


class Limit:
    """One limit marker of a test."""

    def __init__(self, name, allowed, text):
        self.name, self.allowed, self.text = name, allowed, text

    @classmethod
    def from_marker(cls, marker, item):
        if len(marker.args) != 1 or marker.kwargs:
            raise pytest.UsageError("%s: @pytest.mark.%s takes one argument, e.g. %s" % (
                item.nodeid, marker.name, '"24 MB"' if marker.name != "limit_allocations" else "10_000"))
        value = marker.args[0]
        try:
            allowed = _units.parse_quantity(value, bytes_allowed=marker.name != "limit_allocations")
        except ValueError as e:
            raise pytest.UsageError("%s: @pytest.mark.%s: %s" % (item.nodeid, marker.name, e))
        text = value if isinstance(value, str) else (
            str(value) if marker.name == "limit_allocations" else _units.format_bytes(value))
        return cls(marker.name, allowed, text)

    def measured(self, usage):
        return {"limit_memory": usage.peak_bytes, "limit_leaks": usage.leaked_bytes,
                "limit_allocations": usage.allocations}[self.name]


def limits_of(item):
    out = []
    for name in MARKERS:
        marker = item.get_closest_marker(name)
        if marker is not None:
            out.append(Limit.from_marker(marker, item))
    return out


def _positional(function, names, funcargs):
    """The fixtures as a tuple of positional arguments when the signature allows (a call with
    keywords makes Python allocate while the test is measured), else None."""
    try:
        params = list(inspect.signature(function).parameters.values())[:len(names)]
    except (TypeError, ValueError):
        return None
    if [p.name for p in params] != list(names) or any(
            p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params):
        return None
    return tuple(funcargs[n] for n in names)


def _keyword_caller(function, names):
    """A function taking the fixtures positionally and passing them to `function` by keyword.
    A call with literal keywords passes their names as a constant tuple: unlike `f(**kwargs)`,
    it allocates nothing."""
    namespace = {"__heapwise_test": function}
    exec("def call(%s):\n    return __heapwise_test(%s)\n" % (
        ", ".join(names), ", ".join("%s=%s" % (n, n) for n in names)), namespace)
    return namespace["call"]


class Measurer:
    """Measures each test (in the process that runs it: the xdist worker, or pytest itself)
    and, where pytest reports, prints the end-of-run summary."""

    def __init__(self, config):
        self.config = config
        self.scope = config.getoption("heapwise_scope")
        self.top = config.getoption("heapwise_top")
        self.sites = config.getoption("heapwise_sites")
        self.collect = config.getoption("heapwise_collect")
        self.results = []  # (nodeid, figures) for the summary
        self.worker = hasattr(config, "workerinput")
        self.runs_tests = not getattr(config.option, "numprocesses", None) or self.worker

    def pytest_sessionstart(self, session):
        if self.runs_tests:
            why = _measure.check_interposed()
            if why:
                raise pytest.UsageError("heapwise: %s (this process: pid %d)" % (why, os.getpid()))

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem):
        function = pyfuncitem.obj
        if inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function):
            return None  # pytest (or an async plugin's wrapper) deals with it
        names = pyfuncitem._fixtureinfo.argnames
        funcargs = pyfuncitem.funcargs
        args = _positional(function, names, funcargs)
        if args is None:
            function = _keyword_caller(function, names)
            args = tuple(funcargs[n] for n in names)
        limits = limits_of(pyfuncitem)
        collect = self.collect == "all" or (self.collect == "limited" and bool(limits))
        scope = _measure.Scope(self.scope, sites=True)
        if collect:
            _measure.settle()  # free lists emptied before the scope opens; thawed at its end
        recording = _is_recording()
        if recording:
            _mark("test:%s:start" % pyfuncitem.nodeid)
        retention = None
        if any(l.name == "limit_leaks" for l in limits):
            # Read right before and right after the test's own code, so that neither the
            # marker's work nor the final collection's frees (of older objects) are in it.
            before = _retention()
            result, error, usage, after = _measure.call_measured(scope, function, args, collect_end=collect,
                                                                 probe=_retention)
            if before is not None and after is not None:
                retention = after - before
        else:
            result, error, usage = _measure.call_measured(scope, function, args, collect_end=collect)
        if recording:
            _mark("test:%s:end" % pyfuncitem.nodeid)
        pyfuncitem.user_properties.append((PROPERTY, {
            "peak": usage.peak_bytes, "leaked": usage.leaked_bytes, "allocations": usage.allocations,
            "bytes": usage.bytes_allocated, "runtime_bytes": usage.runtime_bytes}))
        failures = [self.message(limit, usage, retention) for limit in limits if limit.measured(usage) > limit.allowed]
        if failures:
            pyfuncitem._heapwise_failure = "\n\n".join(failures)
        if error is not None:
            raise error
        _check_result(pyfuncitem, result)
        return True

    def message(self, limit, usage, retention):
        measured = limit.measured(usage)
        over = measured - limit.allowed
        if limit.name == "limit_allocations":
            head = "%s > limit %s (+%d)" % (_count(measured, "allocation"), limit.text, over)
            order, label = "allocations", "top sites (allocations)"
        elif limit.name == "limit_memory":
            head = "peak %s > limit %s (+%s)" % (_units.format_bytes(measured), limit.text, _units.format_bytes(over))
            order, label = "bytes", "top sites (bytes allocated)"
        else:
            head = "%s leaked > limit %s (+%s)" % (_units.format_bytes(measured), limit.text, _units.format_bytes(over))
            order, label = "leaked", "leaked at"
        lines = ["heapwise: %s exceeded: %s" % (limit.name, head)]
        if limit.name == "limit_leaks":
            lines.append("  live blocks: %s in %s allocated by the test and not freed at its end "
                         "(what the limit counts)" % (_units.format_bytes(usage.leaked_bytes), _count(usage.leaked_blocks, "block")))
            if retention is not None:
                lines.append("  allocator retention: malloc's free bytes grew by %s during the test: freed "
                             "memory kept for reuse (not a leak; not counted)" % _units.format_bytes(max(retention, 0)))
        elif limit.name == "limit_memory":
            lines.append("  %s, %s allocated in all, %s still live at the end"
                         % (_count(usage.allocations, "allocation"), _units.format_bytes(usage.bytes_allocated), _units.format_bytes(usage.leaked_bytes)))
        if usage.runtime_bytes >= 1024:  # below, the collector's few objects: not worth a line
            lines.append("  left out as the interpreter's own: %s" % ", ".join(
                "%s %s" % (kind, _units.format_bytes(b)) for kind, b in sorted(usage.runtime_by_kind.items())))
        top = _sites.top_sites(usage.stacks, order, limit=self.sites)
        if top:
            lines.append("  %s:" % label)
            for site in top:
                if order == "allocations":
                    figure = "%s (%s)" % (_count(site.allocations, "allocation"), _units.format_bytes(site.bytes))
                elif order == "bytes":
                    figure = "%s in %s" % (_units.format_bytes(site.bytes), _count(site.allocations, "allocation"))
                else:
                    figure = "%s in %s" % (_units.format_bytes(site.leaked_bytes), _count(site.leaked_blocks, "block"))
                lines.append("    %s  %s" % (site.location, figure))
                if site.native:
                    # The C function that asked for memory on the Python line's behalf.
                    lines.append("        allocated by %s" % site.native[0].site_name)
                for f in site.frames[1:4]:
                    lines.append("        from %s" % f.site_name)
        if usage.sites_truncated:
            lines.append("  (more distinct stacks than recorded: the rest are counted as one site)")
        return "\n".join(lines)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        failure = getattr(item, "_heapwise_failure", None)
        if call.when != "call" or not failure:
            return
        del item._heapwise_failure
        if report.passed:
            report.outcome = "failed"
            report.longrepr = failure
        else:
            report.sections.append(("heapwise", failure))

    def pytest_runtest_logreport(self, report):
        if report.when != "call":
            return
        for name, value in report.user_properties:
            if name == PROPERTY:
                self.results.append((report.nodeid, value))

    def pytest_terminal_summary(self, terminalreporter):
        if self.worker or self.top <= 0 or not self.results:
            return
        tr = terminalreporter
        tr.write_sep("=", "heapwise: tests that allocated most")
        for title, key in (("by peak", "peak"), ("by leaked bytes", "leaked")):
            rows = sorted((r for r in self.results if r[1][key] > 0), key=lambda r: (-r[1][key], r[0]))[:self.top]
            if not rows:
                tr.write_line("%s: none" % title)
                continue
            tr.write_line("%s:" % title)
            tr.write_line("  %10s  %10s  %11s  %s" % ("peak", "leaked", "allocations", "test"))
            for nodeid, f in rows:
                tr.write_line("  %10s  %10s  %11d  %s" % (
                    _units.format_bytes(f["peak"]), _units.format_bytes(f["leaked"]), f["allocations"], nodeid))


def _check_result(item, result):
    """What pytest's own pytest_pyfunc_call does with a test's return value."""
    if hasattr(result, "__await__") or hasattr(result, "__aiter__"):
        from _pytest import python as pytest_python
        fail = getattr(pytest_python, "async_fail", None) or getattr(pytest_python, "async_warn_and_skip")
        fail(item.nodeid)
    elif result is not None:
        try:
            from _pytest.warning_types import PytestReturnNotNoneWarning
        except ImportError:  # pytest < 7.2 said nothing
            return
        warnings.warn(PytestReturnNotNoneWarning(
            "Test functions should return None, but %s returned %r.\n"
            "Did you mean to use `assert` instead of `return`?" % (item.nodeid, type(result))))


def _count(n, noun):
    return "1 %s" % noun if n == 1 else "%d %ss" % (n, noun)


class _MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def _retention():
    """Free bytes glibc's malloc holds in its heaps (mallinfo2's fordblks): what was freed and
    kept for reuse rather than returned to the system. None without mallinfo2 (glibc < 2.33)."""
    try:
        f = ctypes.CDLL(None).mallinfo2
    except AttributeError:
        return None
    f.restype = _MallInfo2
    f.argtypes = []
    return f().fordblks
