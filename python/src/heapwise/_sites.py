"""Allocating stacks grouped into sites: what a failure message lists under "top sites".

A site is named as the analyzer names one (`_symbols.Frame.site_name`: `function (file.py:31)`).
The frame that names it is the caller frame, the first frame of the code that asked for memory:
the innermost Python frame when the stack has one, the analyzer's rule too (SiteOptions.siteFrame
in Sources/HeapwiseAnalysis/Grouping.swift; the two must agree; the library merges Python frames
into the stacks of a CPython process, CShim/pyframes.c). Else, past the allocator entry points and
the interpreter's object allocator, the first frame outside the interpreter (a C extension's
function), or the first interpreter function that is not an allocation wrapper (`list_resize`,
`PyUnicode_New`): the analyzer differs here, it hides the interpreter's frames until nothing else
is left. Under a Python caller, that native frame is kept as the site's native frame: where in C
the memory was asked for.
"""

import os

from . import _symbols

# Python frames of this package (the measurement's own call of the test) and above it are not
# the test's callers.
_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep

# The allocation path itself: the malloc family as the hooks define it, the hooks' helpers, and
# the interpreter's allocator layers.
ALLOCATOR = frozenset({
    "malloc", "calloc", "realloc", "reallocarray", "free", "posix_memalign", "aligned_alloc",
    "memalign", "valloc", "pvalloc", "on_alloc", "realloc_recorded", "realloc_from_pool",
    "PyMem_Malloc", "PyMem_Calloc", "PyMem_Realloc", "PyMem_RawMalloc", "PyMem_RawCalloc",
    "PyMem_RawRealloc", "_PyMem_RawMalloc", "_PyMem_RawCalloc", "_PyMem_RawRealloc",
    "PyObject_Malloc", "PyObject_Calloc", "PyObject_Realloc", "_PyObject_Malloc",
    "_PyObject_Calloc", "_PyObject_Realloc", "_PyObject_GC_New", "_PyObject_GC_NewVar",
    "_PyObject_GC_Link", "gc_alloc", "_PyObject_GC_Alloc", "PyType_GenericAlloc",
    "_PyType_AllocNoTrack", "PyObject_Init", "_PyObject_New", "_PyObject_NewVar",
    "_PyObject_GC_Resize", "PyObject_GC_Resize", "_PyMem_DebugMalloc", "_PyMem_DebugRawMalloc",
    "_PyMem_DebugRawAlloc", "_PyMem_DebugCalloc", "_PyMem_DebugRealloc",
})


def is_allocator(frame):
    if frame.module and frame.module_name.startswith("libheapwise"):
        return True
    name = frame.function
    return bool(name) and (name in ALLOCATOR or name.startswith("hw_"))


def is_interpreter(frame):
    name = frame.module_name
    return name.startswith("libpython") or name.startswith("python")


def caller_index(frames):
    """Index of the caller frame in `frames` (innermost first), or None for an empty stack."""
    if not frames:
        return None
    for i, f in enumerate(frames):
        if f.kind == "python":
            return i
    return native_index(frames)


def native_index(frames):
    """Index of the native frame that asked for memory (see the module's text), or None."""
    if not frames:
        return None
    first = None
    for i, f in enumerate(frames):
        if f.kind == "python":
            break
        if is_allocator(f):
            continue
        if first is None:
            first = i
        if not is_interpreter(f):
            return i
    return first if first is not None else 0


class Site:
    """Stacks merged by their caller's location."""

    __slots__ = ("location", "frames", "native", "natives", "allocations", "bytes", "leaked_blocks",
                 "leaked_bytes")

    def __init__(self, location, frames, native=None):
        self.location = location
        self.frames = frames  # the caller frame, then its callers (with lines where known)
        self.native = native  # under a Python caller: the native frames that allocated ([] if none)
        self.natives = {}  # native frame's location -> [what the order counts, frames]
        self.allocations = self.bytes = self.leaked_blocks = self.leaked_bytes = 0


def _callers(caller, rest, context):
    """Up to `context` frames that called `caller`: under a Python caller, Python frames and
    native frames outside the interpreter (a C extension calling back into Python), not the
    interpreter's own call glue; none from this package's measuring call on."""
    out = []
    for f in rest:
        if len(out) == context:
            break
        if f.kind == "python" and (f.file or "").startswith(_PACKAGE):
            break
        if caller.kind == "python" and f.kind == "native" and (is_interpreter(f) or is_allocator(f)):
            continue
        out.append(f)
    return out


ORDERS = {
    "allocations": lambda s: s.allocations,
    "bytes": lambda s: s.bytes,
    "leaked": lambda s: s.leaked_bytes,
}


def top_sites(stacks, order, limit=3, context=2):
    """The `limit` sites with the most allocations / bytes / leaked bytes, symbolized (with
    file:line where debug info has it), each with `context` calling frames after its own."""
    key = ORDERS[order]
    merged = {}
    for stack in stacks:
        frames = [_symbols.frame(a) for a in stack.addresses]
        i = caller_index(frames)
        native = []
        if i is None:
            location, chain = "(other stacks)", []
        else:
            chain = [frames[i]] + _callers(frames[i], frames[i + 1:], context)
            location = chain[0].site_name
            if chain[0].kind == "python":
                n = native_index(frames[:i])
                native = [frames[n]] if n is not None else []
        site = merged.get(location)
        if site is None:
            site = merged[location] = Site(location, chain, native)
        if native:
            entry = site.natives.setdefault(native[0].site_name, [0, native])
            entry[0] += key(stack)
        site.allocations += stack.allocations
        site.bytes += stack.bytes
        site.leaked_blocks += stack.leaked_blocks
        site.leaked_bytes += stack.leaked_bytes
    ranked = sorted((s for s in merged.values() if key(s) > 0), key=lambda s: (-key(s), s.location))[:limit]
    for s in ranked:
        # The native frame that counts most on this line (by location, ties by name: the same
        # message every run).
        if s.natives:
            s.native = min(s.natives.items(), key=lambda e: (-e[1][0], e[0]))[1][1]
    # file:line only for what is printed: one addr2line run per module.
    flat = [f for s in ranked for f in s.frames + s.native]
    lined = _symbols.with_lines(flat)
    at = 0
    for s in ranked:
        lists = []
        for frames in (s.frames, s.native):
            expanded = []
            for _ in frames:
                expanded.extend(lined[at])  # addr2line -i: innermost inlined function first
                at += 1
            lists.append(expanded)
        s.frames, s.native = lists
        if s.frames:
            s.location = s.frames[0].site_name
    return ranked
