"""The preload library's C API (CShim/include/heapwise.h and heapwise_scope.h) through ctypes.

Nothing here may fail an import: when the library is not loaded into this process, `api` is None
and every caller treats that as "not measured". The functions are looked up in the process's
global symbols (the preloaded library's), never by loading the library now: hooks loaded after
the interpreter started would see frees of blocks they never saw allocated.

The functions are bound through PyDLL, which keeps the GIL across the call: a marker or a scope
boundary then happens exactly where the calling Python line is, with no other Python thread
running in between.
"""

import ctypes
import os
import shutil

LIBRARY_NAME = "libheapwise.so"

# Modes and flags, as in heapwise_scope.h.
SCOPE_THREAD = 0
SCOPE_TASK = 1
SCOPE_PROCESS = 2
SCOPE_SITES = 0x1
SITE_FRAMES = 16
SITES_TRUNCATED = 0x1
BLOCKS_TRUNCATED = 0x2
BY_COUNT = 0
BY_BYTES = 1
BY_LEAKED = 2


class ScopeStats(ctypes.Structure):
    _fields_ = [
        ("allocations", ctypes.c_uint64),
        ("frees", ctypes.c_uint64),
        ("bytes_allocated", ctypes.c_uint64),
        ("peak_bytes", ctypes.c_uint64),
        ("leaked_blocks", ctypes.c_uint64),
        ("leaked_bytes", ctypes.c_uint64),
        ("older_frees", ctypes.c_uint64),
        ("older_bytes_freed", ctypes.c_uint64),
        ("ignored_allocations", ctypes.c_uint64),
        ("ignored_bytes", ctypes.c_uint64),
        ("sites", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
    ]


class ScopeSite(ctypes.Structure):
    _fields_ = [
        ("allocations", ctypes.c_uint64),
        ("bytes", ctypes.c_uint64),
        ("frees", ctypes.c_uint64),
        ("leaked_blocks", ctypes.c_uint64),
        ("leaked_bytes", ctypes.c_uint64),
        ("depth", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32),
        ("frames", ctypes.c_size_t * SITE_FRAMES),
    ]


class ScopeHandle(ctypes.c_void_p):
    """heapwise_scope *: a ctypes object, passed back to the library as it came."""


class Api:
    """The library's functions, bound once."""

    def __init__(self, dll):
        self.marker = dll.heapwise_marker
        self.marker.argtypes = [ctypes.c_char_p]
        self.marker.restype = None
        self.is_recording = dll.heapwise_is_recording
        self.is_recording.argtypes = []
        self.is_recording.restype = ctypes.c_int
        self.scope_begin = dll.heapwise_scope_begin
        self.scope_begin.argtypes = [ctypes.c_int, ctypes.c_int]
        self.scope_begin.restype = ScopeHandle
        self.scope_stop = dll.heapwise_scope_stop
        self.scope_stop.argtypes = [ScopeHandle, ctypes.POINTER(ScopeStats)]
        self.scope_stop.restype = ctypes.c_int
        self.scope_sites = dll.heapwise_scope_sites
        self.scope_sites.argtypes = [ScopeHandle, ctypes.c_int, ctypes.POINTER(ScopeSite), ctypes.c_size_t]
        self.scope_sites.restype = ctypes.c_size_t
        self.scope_release = dll.heapwise_scope_release
        self.scope_release.argtypes = [ScopeHandle]
        self.scope_release.restype = None
        # Older libraries lack these two: then first imports are counted like any other work.
        self.ignore_begin = getattr(dll, "heapwise_scope_ignore_begin", None)
        self.ignore_end = getattr(dll, "heapwise_scope_ignore_end", None)
        for f in (self.ignore_begin, self.ignore_end):
            if f is not None:
                f.argtypes = []
                f.restype = None
        # Older libraries lack this one: then their sites hold no Python frames either.
        self.python_code = getattr(dll, "heapwise_python_code", None)
        if self.python_code is not None:
            self.python_code.argtypes = [ctypes.c_uint32, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_size_t)]
            self.python_code.restype = ctypes.c_int


def _bind():
    try:
        dll = ctypes.PyDLL(None)
        dll.heapwise_scope_begin  # AttributeError when the library is not in the process
        return Api(dll)
    except Exception:  # no dlopen(NULL), a missing symbol: not measured, never an import error
        return None


api = _bind()


def loaded_library():
    """The path of the heapwise library mapped into this process, or None."""
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.rstrip("\n").split(None, 5)[-1]
                if path.endswith("/" + LIBRARY_NAME):
                    return path
    except OSError:
        pass
    return None


def _checkout_library(start):
    """build/lib/libheapwise.so of a checkout at or above `start`."""
    d = os.path.abspath(start)
    while True:
        candidate = os.path.join(d, "build", "lib", LIBRARY_NAME)
        if os.access(candidate, os.R_OK):
            return candidate
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


def find_library():
    """Where the preload library is, looked up as `heapwise record` does
    (Sources/heapwise/RecordCommand.swift, PreloadLibrary): $HEAPWISE_LIBRARY; next to the
    `heapwise` executable found on PATH, or in its ../lib/heapwise/; build/lib/ of a checkout
    above that executable. Then, for Python's sake, build/lib/ of a checkout above this package
    (an in-tree or editable install) or above the current directory. None when not found."""
    from_env = os.environ.get("HEAPWISE_LIBRARY")
    if from_env:
        return os.path.abspath(from_env)
    exe = shutil.which("heapwise")
    if exe:
        d = os.path.dirname(os.path.realpath(exe))
        for candidate in (os.path.join(d, LIBRARY_NAME),
                          os.path.join(os.path.dirname(d), "lib", "heapwise", LIBRARY_NAME)):
            if os.access(candidate, os.R_OK):
                return candidate
        found = _checkout_library(d)
        if found:
            return found
    for start in (os.path.dirname(os.path.abspath(__file__)), os.getcwd()):
        found = _checkout_library(start)
        if found:
            return found
    return None
