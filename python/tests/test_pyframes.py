"""Python frames in a measurement's sites: the library merges them into each stack it captures
for a scope (CShim/pyframes.c), so a site names the Python line that allocated, with its Python
callers, and keeps the native frames under it."""

import sys
import types

import heapwise
from heapwise import _measure, _pycode, _sites, _symbols


def allocate():
    return bytearray(345_678)  # ALLOCATE


def middle():
    return [allocate() for _ in range(2)]  # MIDDLE


def line_of(marker):
    with open(__file__) as f:
        for number, text in enumerate(f, 1):
            if "# " + marker in text and "line_of" not in text:
                return number
    raise AssertionError(marker)


def python_frames(stack):
    return [f for f in (_symbols.frame(a) for a in stack.addresses) if f.kind == "python"]


def test_the_line_table_reads_as_the_interpreter_reads_it():
    """_pycode.line against the interpreter's own co_positions, for every instruction of every
    code object in a few modules (and the nested ones): the same line each time."""
    import json.decoder
    import argparse

    def codes(code):
        yield code
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                yield from codes(const)

    checked = 0
    for module in (json.decoder, argparse, sys.modules[__name__]):
        with open(module.__file__) as f:
            top = compile(f.read(), module.__file__, "exec")
        for code in codes(top):
            for index, (line, _, _, _) in enumerate(code.co_positions()):
                assert _pycode.line(code.co_linetable, code.co_firstlineno, index) == line, (code, index)
                checked += 1
    assert checked > 10_000


def test_a_site_is_the_python_line_with_its_python_callers():
    _, _, usage = _measure.call_measured(_measure.Scope(), middle, ())
    big = [s for s in usage.stacks if s.bytes == 2 * 345_679]
    assert len(big) == 1, [(s.bytes, s.allocations) for s in usage.stacks]
    frames = python_frames(big[0])
    names = [(f.function, f.line) for f in frames]
    assert names[0] == ("allocate", line_of("ALLOCATE")), names
    # 3.11 runs the list comprehension as a function of its own, 3.12+ inline (PEP 709).
    assert ("middle", line_of("MIDDLE")) in names[1:3], names
    assert frames[0].file == __file__
    # The native frames under the Python line are there too: bytearray's buffer.
    native = [_symbols.frame(a) for a in big[0].addresses]
    first_python = native.index(next(f for f in native if f.kind == "python"))
    assert any(f.function == "PyByteArray_Resize" for f in native[:first_python]), native
    # As a failure message ranks and names it.
    top = _sites.top_sites(usage.stacks, "bytes", limit=1)
    assert top[0].location == "allocate (test_pyframes.py:%d)" % line_of("ALLOCATE")
    assert any(f.function == "PyByteArray_Resize" for f in top[0].native), top[0].native


def test_code_descriptions_outlive_their_code_objects():
    """A site read after its code object was freed still names it: the library keeps each code
    object's description for the life of the process."""
    namespace = {}
    exec(compile("def gone():\n    return bytearray(234_567)\n", "transient.py", "exec"), namespace)
    gone = namespace.pop("gone")
    _, _, usage = _measure.call_measured(_measure.Scope(), gone, ())
    del gone, namespace
    stack = next(s for s in usage.stacks if s.bytes == 234_568)
    _symbols._frames.clear()
    _pycode._codes.clear()
    frame = python_frames(stack)[0]
    assert (frame.function, frame.file, frame.line) == ("gone", "transient.py", 2)
