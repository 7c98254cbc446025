"""The interpreter's own allocations, which a per-test limit must not count: what they cost
depends on which test ran first, not on the code under test. The same rule as HeapwiseBudget's
for the Swift runtime (docs/BUDGETS.md, "What is left out, and why"); docs/PYTHON.md lists
each source and the test that checks it.

- pymalloc arenas: not here. Under the plugin Python runs with PYTHONMALLOC=malloc, so there are
  no arenas and every object is a block of its exact size (see the plugin).
- First import of a module: left out as it happens, by bracketing importlib's _find_and_load
  (which the interpreter calls only for a module not yet in sys.modules) with
  heapwise_scope_ignore_begin/end; peak included.
- Interned strings and type caches: process-wide tables that grow in whichever test first adds
  to them. Recognised afterwards by a native frame of the functions below, and taken out of
  every count but the peak (as HeapwiseBudget does for the Swift runtime's caches).
"""

from . import _native, _symbols

# Functions whose allocations are the interned-string table's (or an interned string itself,
# which lives for the rest of the process).
INTERNING = frozenset({
    "PyUnicode_InternInPlace", "_PyUnicode_InternInPlace", "_PyUnicode_InternMortal",
    "_PyUnicode_InternImmortal", "PyUnicode_InternImmortal", "PyUnicode_InternFromString",
    "intern_common",
})

# Functions whose allocations fill a type's caches: the subclass registry of a base class
# (every class ever created is registered in its bases' tp_subclasses), and the per-type
# attribute and specialization caches.
TYPE_CACHES = frozenset({
    "add_subclass", "type_ready_add_subclasses", "_PyType_Lookup", "_PyType_LookupRef",
    "find_name_in_mro", "type_cache_lookup", "PyType_Modified", "type_modified_unlocked",
    "_PySpecialization_ClassifyCallable", "_Py_Specialize_LoadAttr",
})

KINDS = (("interned strings", INTERNING), ("type caches", TYPE_CACHES))


def runtime_kind(addresses):
    """"interned strings", "type caches", or None when the stack is the code's own."""
    for address in addresses:
        f = _symbols.frame(address)
        name = f.function if f.kind == "native" else None  # a Python function may share a name
        if not name:
            continue
        for kind, names in KINDS:
            if name in names:
                return kind
    return None


_hooked = False


def install_import_hook():
    """Makes every first import the runtime's own in every open scope. Idempotent."""
    global _hooked
    api = _native.api
    if _hooked or api is None or api.ignore_begin is None:
        return
    import importlib._bootstrap as bootstrap

    original = bootstrap._find_and_load
    begin, end = api.ignore_begin, api.ignore_end

    def _find_and_load(name, import_, _original=original, _begin=begin, _end=end):
        _begin()
        try:
            return _original(name, import_)
        finally:
            _end()

    _find_and_load.__wrapped__ = original
    bootstrap._find_and_load = _find_and_load
    _hooked = True
