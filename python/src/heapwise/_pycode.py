"""Python frames in a scope's sites: which code object and line a tagged frame value names.

In a CPython process the library replaces each native frame of the evaluation loop by the
Python frames it ran (CShim/pyframes.c), as it does in a dump's stacks: bit 63 set, the code
object's id in bits 32..62, the instruction index (2-byte units) in bits 0..31. The library
keeps every code object's description in the PYCODE record's form (docs/FORMAT.md, "Python
frames") and hands it out by id through heapwise_python_code, valid for the life of the process,
so a code object freed since does not matter.
"""

import ctypes

TAG = 1 << 63

_codes = {}  # id -> (first line, filename, qualname, line table) or None


def is_python(address):
    return address & TAG != 0


def code_id(address):
    return (address >> 32) & 0x7FFFFFFF


def instruction(address):
    return address & 0xFFFFFFFF


def _uvarint(data, p):
    value = shift = 0
    while p < len(data):
        b = data[p]
        p += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    return value, p


def _bytes(data, p):
    n, p = _uvarint(data, p)
    return data[p:p + n], p + n


_ENCODINGS = {1: "latin-1", 2: "utf-16-le", 4: "utf-32-le"}


def _string(data, p):
    kind, p = _uvarint(data, p)
    raw, p = _bytes(data, p)
    encoding = _ENCODINGS.get(kind)
    return (raw.decode(encoding, "replace") if encoding else "?"), p


def _describe(cid):
    from . import _native
    api = _native.api
    if api is None or api.python_code is None or cid == 0:
        return None
    body = ctypes.c_void_p()
    length = ctypes.c_size_t()
    if api.python_code(cid, ctypes.byref(body), ctypes.byref(length)) != 0 or not body.value:
        return None
    data = ctypes.string_at(body.value, length.value)
    _, p = _uvarint(data, 0)
    first, p = _uvarint(data, p)
    filename, p = _string(data, p)
    qualname, p = _string(data, p)
    table, p = _bytes(data, p)
    return first, filename, qualname, table


def code(cid):
    """(first line, filename, qualified name, line table) of code id `cid`, or None."""
    if cid not in _codes:
        _codes[cid] = _describe(cid)
    return _codes[cid]


def line(table, first_line, index):
    """The line of the instruction at `index` (code units) in a 3.11+ location table, as
    PyCode_Addr2Line computes it (the analyzer's PythonLineTable); None for "no line"."""
    p = end = 0
    current = first_line
    n = len(table)
    while p < n:
        head = table[p]
        if not head & 0x80:
            p += 1
            continue
        kind = (head >> 3) & 15
        length = (head & 7) + 1
        q = p + 1
        if kind in (13, 14):
            u, q = _signed_source(table, q)
            current += u
        elif 10 <= kind <= 12:
            current += kind - 10
        start, end = end, end + length
        if start <= index < end:
            return None if kind == 15 else current
        p = q
        while p < n and not table[p] & 0x80:
            p += 1
    return None


def _signed_source(table, p):
    """A location table's signed varint: 6 bits a byte, bit 6 continues, sign in the lowest bit."""
    if p >= len(table):
        return 0, p
    b = table[p]
    p += 1
    value, shift = b & 63, 0
    while b & 64 and p < len(table) and shift < 56:
        b = table[p]
        p += 1
        shift += 6
        value |= (b & 63) << shift
    return (-(value >> 1) if value & 1 else value >> 1), p
