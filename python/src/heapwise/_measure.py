"""Measuring a body with the library's scope engine (CShim/scope.c), as HeapwiseBudget does.

The measurement itself adds nothing: the only objects Python creates between opening the scope
and running the body, or between the body and closing the scope (the ctypes result of
heapwise_scope_begin, the argument conversions of heapwise_scope_stop), are made inside
heapwise_scope_ignore_begin/end, so every scope leaves them out.

What the interpreter allocates for itself is left out too (see _noise.py and docs/PYTHON.md):
first imports as they happen, interned strings and type caches by their stacks afterwards.
"""

import ctypes
import gc
import os

from . import _native, _noise

MODES = {"process": _native.SCOPE_PROCESS, "thread": _native.SCOPE_THREAD}


class NotAvailable(RuntimeError):
    """Raised by measure() when allocations cannot be counted in this process."""


class Stack:
    """One allocating native call stack of a measurement: return addresses minus one,
    innermost first, starting at the allocator entry point; with what it allocated."""

    __slots__ = ("allocations", "bytes", "frees", "leaked_blocks", "leaked_bytes", "addresses")

    def __init__(self, site):
        self.allocations = site.allocations
        self.bytes = site.bytes
        self.frees = site.frees
        self.leaked_blocks = site.leaked_blocks
        self.leaked_bytes = site.leaked_bytes
        self.addresses = tuple(site.frames[: site.depth])


class Usage:
    """What a measured body allocated, in the terms of HeapwiseBudget's AllocationUsage.

    Sizes are requested sizes, so the same work gives the same numbers on every machine (and
    the same as a Swift budget around the same C calls)."""

    def __init__(self, st, stacks):
        self.allocations = st.allocations
        self.frees = st.frees
        self.bytes_allocated = st.bytes_allocated
        self.peak_bytes = st.peak_bytes
        self.leaked_blocks = st.leaked_blocks
        self.leaked_bytes = st.leaked_bytes
        self.older_frees = st.older_frees
        self.older_bytes_freed = st.older_bytes_freed
        self.sites_truncated = bool(st.flags & _native.SITES_TRUNCATED)
        self.leaks_truncated = bool(st.flags & _native.BLOCKS_TRUNCATED)
        # Left out as they happened (first imports): counted here only.
        # less the measurement's own objects (the same few every time: see calibrate()).
        self.runtime_allocations = max(st.ignored_allocations - _baseline[0], 0)
        self.runtime_bytes = max(st.ignored_bytes - _baseline[1], 0)
        # Why each left-out stack was left out, by kind: {"interned strings": bytes, ...}.
        self.runtime_by_kind = {}
        if self.runtime_bytes:
            self.runtime_by_kind["first imports and the collector"] = self.runtime_bytes
        self.stacks = []
        for stack in stacks:
            kind = _noise.runtime_kind(stack.addresses)
            if kind is None:
                self.stacks.append(stack)
                continue
            # Caches are taken out after the fact, as HeapwiseBudget does for the Swift
            # runtime's: out of every count but the peak, which was reached with them.
            self.allocations -= stack.allocations
            self.bytes_allocated -= stack.bytes
            self.frees -= stack.frees
            self.leaked_blocks -= stack.leaked_blocks
            self.leaked_bytes -= stack.leaked_bytes
            self.runtime_allocations += stack.allocations
            self.runtime_bytes += stack.bytes
            self.runtime_by_kind[kind] = self.runtime_by_kind.get(kind, 0) + stack.bytes

    @property
    def live_bytes_delta(self):
        """How much the live heap grew across the body: leaked_bytes - older_bytes_freed."""
        return self.leaked_bytes - self.older_bytes_freed

    def as_dict(self):
        return {k: getattr(self, k) for k in (
            "allocations", "frees", "bytes_allocated", "peak_bytes", "leaked_blocks", "leaked_bytes",
            "older_frees", "older_bytes_freed", "runtime_allocations", "runtime_bytes")}

    def __repr__(self):
        return ("Usage(%d allocations (%d B), %d frees, peak %d B, %d leaked blocks (%d B))"
                % (self.allocations, self.bytes_allocated, self.frees, self.peak_bytes,
                   self.leaked_blocks, self.leaked_bytes))


_interposed = None
_baseline = (0, 0)  # what start() and stop() leave out of every scope: ctypes' own objects


def check_interposed():
    """Why allocations cannot be counted here, or None when they can: the library must be this
    process's malloc, and Python's object allocator must be malloc (PYTHONMALLOC=malloc), or
    small objects would come out of pymalloc's arenas without the scope seeing them."""
    global _interposed
    if _interposed is not None:
        return _interposed or None
    api = _native.api
    if api is None:
        _interposed = "the heapwise preload library is not loaded into this process"
        return _interposed
    if api.ignore_begin is None:
        _interposed = "the heapwise library loaded here is too old (no heapwise_scope_ignore_begin)"
        return _interposed
    st = _native.ScopeStats()
    s = api.scope_begin(_native.SCOPE_THREAD, 0)
    probe = bytes(200)  # one object of the object allocator's small size class
    del probe
    api.scope_stop(s, ctypes.byref(st))
    api.scope_release(s)
    if st.allocations < 1 or st.frees < 1:
        _interposed = ("Python's small objects do not reach malloc here (PYTHONMALLOC=%s); "
                       "heapwise needs PYTHONMALLOC=malloc" % (os.environ.get("PYTHONMALLOC") or "unset"))
        return _interposed
    _interposed = ""
    _noise.install_import_hook()
    _calibrate()
    return None


def _calibrate():
    global _baseline
    empty = Scope("thread")
    empty.start()
    empty.stop()
    st = empty._stats
    _baseline = (st.ignored_allocations, st.ignored_bytes)


class Scope:
    """One open scope: opened by start(), closed by stop(), which returns the Usage."""

    __slots__ = ("_handle", "_stats", "_stats_ref", "_sites", "_mode")

    def __init__(self, mode="thread", sites=True):
        why = check_interposed()
        if why:
            raise NotAvailable("heapwise: " + why)
        self._handle = None
        self._stats = _native.ScopeStats()
        self._stats_ref = ctypes.byref(self._stats)
        self._sites = _native.SCOPE_SITES if sites else 0
        self._mode = MODES[mode] if isinstance(mode, str) else mode

    def start(self):
        api = _native.api
        api.ignore_begin()
        self._handle = api.scope_begin(self._mode, self._sites)
        api.ignore_end()
        if not self._handle:
            raise NotAvailable("heapwise: more than 64 measurements are open at once")

    def stop(self):
        """Stops counting; returns the Usage. Reading the sites allocates, now harmlessly."""
        api = _native.api
        api.ignore_begin()
        rc = api.scope_stop(self._handle, self._stats_ref)
        api.ignore_end()
        try:
            if rc != 0:
                raise NotAvailable("heapwise: a thread measurement must end on the thread it began on")
            return Usage(self._stats, _read_stacks(api, self._handle) if self._sites else [])
        finally:
            api.scope_release(self._handle)
            self._handle = None


def _read_stacks(api, handle):
    """Every stack of a stopped scope. A function of its own: a comprehension inside stop()
    would make its variables closure cells, which Python allocates on entry to stop(), while
    the scope is still open."""
    st = _native.ScopeStats()
    api.scope_stop(handle, ctypes.byref(st))  # idempotent: the stats as they were at the stop
    n = st.sites + 1  # and the site of stacks beyond the table's capacity
    buf = (_native.ScopeSite * n)()
    got = api.scope_sites(handle, _native.BY_COUNT, buf, n)
    return [Stack(buf[i]) for i in range(got)]


class measure:
    """Counts what the body of a `with` block allocates::

        with heapwise.measure() as m:
            work()
        assert m.usage.leaked_bytes == 0

    Raises NotAvailable when the process is not set up for it (see check_interposed)."""

    def __init__(self, scope="thread", sites=True):
        self._scope = Scope(scope, sites)
        self.usage = None

    def __enter__(self):
        self._scope.start()
        return self

    def __exit__(self, *exc):
        self.usage = self._scope.stop()
        return False


_froze = False  # settle() froze the heap and the measured call's end must thaw it


def settle():
    """The collection before a measured call: empties the interpreter's free lists (of dicts,
    tuples, lists, floats...), so whether the call's first objects come from malloc or from a
    list does not depend on what ran before.

    A full collection of a whole pytest process costs tens of milliseconds; here it costs next to
    nothing: everything alive is frozen first (gc.freeze, a constant-time move of the
    collector's lists), so the collection traverses no object, and a full collection empties the
    free lists whatever it traversed. Until the call's end (call_measured thaws it), the
    collector leaves those older objects alone, which also keeps it from freeing an older cycle
    in the middle of the measured call. A process that froze objects itself is left as it is:
    then the collection is a plain full one."""
    global _froze
    _froze = gc.get_freeze_count() == 0
    if _froze:
        gc.freeze()
    gc.collect()


def _thaw():
    global _froze
    if _froze:
        _froze = False
        gc.unfreeze()


def call_measured(scope, fn, args, collect=False, collect_end=False, probe=None):
    """fn(*args) inside `scope`; returns (result or None, exception or None, Usage). The tuple
    of arguments is built by the caller, so the call itself allocates nothing.

    With `collect`, settle() runs before the scope opens, and a full collection before it closes:
    leaks are then what fn left reachable, not cycles the collector had not reached yet, nor dead
    objects parked on a free list. That collection traverses only what was made since settle()
    (fn's objects), not the whole process. `collect_end` is the second half alone, for a caller
    that settled before it did something else. `probe`, when given, is called right after fn
    returns, before the final collection, and left out of the counts; its result is returned as
    the fourth item."""
    if collect:
        settle()
    try:
        scope.start()
        try:
            result = fn(*args)
            error = None
        except BaseException as e:  # handed back: the caller re-raises after the scope is closed
            result = None
            error = e
        api = _native.api
        probed = None
        if probe is not None:
            api.ignore_begin()
            probed = probe()
            api.ignore_end()
        if collect or collect_end:
            # The collector's own objects (its result, a freelist it emptied) are not fn's; the
            # blocks of fn's that it frees still leave the scope's leak table.
            api.ignore_begin()
            gc.collect()
            api.ignore_end()
        usage = scope.stop()
    finally:
        _thaw()
    if probe is not None:
        return result, error, usage, probed
    return result, error, usage
