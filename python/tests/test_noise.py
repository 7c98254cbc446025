"""Each source of interpreter noise that a per-test limit must not count (docs/PYTHON.md,
"Interpreter noise"): the measured figures stay the same whatever ran before, and what was
left out is reported as the runtime's."""

import sys

from conftest import run_python

from heapwise import _measure


def measured(fn, *args):
    """As the plugin measures a test."""
    return _measure.call_measured(_measure.Scope(), fn, args, collect=True)[2]


def counted(u):
    return (u.allocations, u.bytes_allocated, u.leaked_blocks, u.leaked_bytes)


def test_pymalloc_arenas_are_refused_not_misread(library):
    """With pymalloc, small objects come from arenas the scope never sees: measuring refuses
    rather than report too little (the plugin runs pytest with PYTHONMALLOC=malloc)."""
    code = ("import heapwise\n"
            "try:\n    heapwise.measure()\nexcept heapwise.NotAvailable as e:\n    print(e)\n")
    r = run_python(code, {"LD_PRELOAD": library, "PYTHONMALLOC": "pymalloc"})
    assert r.returncode == 0, r.stderr
    assert "PYTHONMALLOC=pymalloc" in r.stdout and "needs PYTHONMALLOC=malloc" in r.stdout, r.stdout


def test_first_import_is_left_out(tmp_path, monkeypatch):
    (tmp_path / "heapwise_noise_module.py").write_text("TABLE = [bytes(1000) for _ in range(500)]\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    def load():
        import heapwise_noise_module
        return heapwise_noise_module

    first = measured(load)
    again = measured(load)
    # Its 500 KB stay in sys.modules for good: the runtime's, not this test's.
    assert first.runtime_bytes >= 500 * 1000, first.runtime_by_kind
    assert first.leaked_bytes < 1000 and first.allocations < 10, first
    # Nothing imported the second time; what is left out then is the collector's own few
    # objects (the plugin's collection at the end of a test is left out too).
    assert again.runtime_bytes < 1000 and again.allocations == 0, again


def test_first_import_through_importlib_is_left_out_too(tmp_path, monkeypatch):
    import importlib

    (tmp_path / "heapwise_noise_module2.py").write_text("TABLE = [bytes(1000) for _ in range(500)]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    first = measured(importlib.import_module, "heapwise_noise_module2")
    assert first.runtime_bytes >= 500 * 1000, first.runtime_by_kind
    assert first.leaked_bytes < 1000, first


def test_interned_strings_table_growth_is_left_out():
    """sys.intern of new strings grows the interpreter's table of interned strings now and
    then; whichever call crosses a size pays for the resize. The counted figures of each round
    are the same; the resizes show only as the runtime's."""
    rounds = []
    kept = [None] * 160000  # sized up front: a growing list would be counted work of its own

    def intern_batch(base):
        for i in range(base, base + 2000):
            kept[i] = sys.intern("heapwise-noise-%08d" % i)

    for r in range(25):
        rounds.append(measured(intern_batch, 100000 + r * 2000))  # no small ints: those are cached
    figures = {counted(u)[:2] for u in rounds}
    assert len(figures) == 1, figures  # allocations and bytes: the same every round
    grew = [u.runtime_by_kind.get("interned strings", 0) for u in rounds]
    assert max(grew) > 0, grew  # at least one round resized the table...
    assert min(grew) == 0, grew  # ...and at least one did not, with the same counted figures


def test_type_caches_are_left_out():
    """Every class is registered in its bases' subclass tables, which grow now and then: the
    class that crosses a size pays for the resize. Counted figures are the same every time."""

    class Base:
        pass

    kept = [None] * 40

    def subclass(i):
        kept[i] = type("Sub", (Base,), {})

    rounds = [measured(subclass, i) for i in range(40)]
    figures = {counted(u) for u in rounds}
    assert len(figures) == 1, figures
    grew = [u.runtime_by_kind.get("type caches", 0) for u in rounds]
    assert max(grew) > min(grew), grew
