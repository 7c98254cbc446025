"""heapwise for Python: markers in a recording, and allocation measurements.

    import heapwise
    heapwise.mark("after load")          # a marker; a no-op when the process is not recorded
    with heapwise.phase("transform"):    # markers at both ends: "transform:start", "transform:end"
        ...

Importing this package never fails. Outside a recording (the heapwise preload library not
loaded, or loaded without HEAPWISE_OUTPUT) mark and phase do nothing and is_recording() is
False. The pytest plugin (heapwise.pytest_plugin) adds per-test limits; see docs/PYTHON.md.
"""

import contextlib as _contextlib

try:
    from . import _native
    from ._measure import NotAvailable, Usage, measure
    from ._native import find_library
except Exception:  # an interpreter built without ctypes: markers are no-ops, measuring refuses
    _native = None
    Usage = None

    class NotAvailable(RuntimeError):
        """Raised by measure() when allocations cannot be counted in this process."""

    def measure(*args, **kwargs):
        raise NotAvailable("heapwise: this interpreter has no ctypes")

    def find_library():
        return None

__all__ = ["mark", "phase", "is_recording", "is_loaded", "measure", "Usage", "NotAvailable", "find_library"]


def is_loaded():
    """True when the heapwise preload library is loaded into this process."""
    return _native is not None and _native.api is not None


def is_recording():
    """True when this process is writing a heapwise dump (heapwise record or check, or
    LD_PRELOAD with HEAPWISE_OUTPUT)."""
    api = _native.api if _native is not None else None
    return bool(api is not None and api.is_recording())


def mark(name):
    """Records a marker named `name` with a memory sample and page residency, taken on the
    calling thread before this returns, so `heapwise summary --at NAME` sees the state at this
    line. A no-op outside a recording."""
    api = _native.api if _native is not None else None
    if api is None:
        return
    if not isinstance(name, bytes):
        name = str(name).encode("utf-8", "replace")
    api.marker(name)


@_contextlib.contextmanager
def phase(name):
    """Markers "NAME:start" before the block and "NAME:end" after it (also when it raises)."""
    mark("%s:start" % name)
    try:
        yield
    finally:
        mark("%s:end" % name)
