"""Native return addresses to frames: module, function, and file:line when debug info says.

Three sources, cheapest first, each cached per address:
- dladdr: the module and its load base (in-process, no I/O);
- the module's ELF symbol tables (.symtab, else .dynsym), read once per module in pure Python:
  function names, static functions included, enough to tell the interpreter's own work apart;
- addr2line (binutils), when on PATH and only for the frames a message prints: file:line, and
  the functions inlined there.
"""

import ctypes
import bisect
import mmap
import os
import re
import shutil
import struct
import subprocess

from . import _pycode


class Frame:
    """One frame of a site: "native" (module, offset, function, file:line from debug info) or
    "python" (file, line, qualified name; no module)."""

    __slots__ = ("kind", "module", "offset", "function", "file", "line")

    def __init__(self, kind, module=None, offset=None, function=None, file=None, line=None):
        self.kind = kind
        self.module = module
        self.offset = offset
        self.function = function
        self.file = file
        self.line = line

    @property
    def module_name(self):
        return os.path.basename(self.module) if self.module else ""

    @property
    def site_name(self):
        """`function (file.c:42)` with the file's name only; `function (module)` when the line is
        not known (a Python frame's module is its Python module, `json.decoder`); `file.c:42`
        when only the line is; `module+0xoffset` when nothing is. The analyzer's one way to name
        a site (SiteName.of in Sources/HeapwiseSymbols/SiteName.swift): the two must agree, and
        Tests/EndToEndTests/PythonPluginTests.swift compares them on one recorded stack."""
        place = "%s:%d" % (os.path.basename(self.file), self.line) if self.file and self.line else None
        if self.function:
            return "%s (%s)" % (self.function, place or self.module_label)
        return place or "%s+0x%x" % (self.module_label, self.offset or 0)

    @property
    def module_label(self):
        """The module a report names: a native frame's file name, a Python frame's Python module."""
        if self.kind == "python":
            return python_module(self.file) if self.file else "?"
        return self.module_name or "?"

    def __repr__(self):
        return "Frame(%s)" % self.site_name


def python_module(file):
    """The Python module a source file is: the path after `site-packages/`, `dist-packages/` or
    `lib/pythonX.Y/`, else the file's name, without `.py` and `/__init__`, dots for slashes
    (PythonModuleName in Sources/HeapwiseAnalysis/SourceFrame.swift; they must agree)."""
    if file.startswith("<"):
        return file
    at = file.rfind("-packages/")
    if at >= 0:
        path = file[at + len("-packages/"):]
    else:
        found = list(re.finditer(r"/python3\.[0-9]+/", file))
        path = file[found[-1].end():] if found else os.path.basename(file)
    if path.endswith(".py"):
        path = path[:-3]
    if path.endswith("/__init__"):
        path = path[:-9]
    return path.replace("/", ".")


def is_user_file(file):
    """Whether a Python source file is the program's own code: not a frozen module, not under
    `site-packages/` or `dist-packages/`, not in a standard library directory (`lib/pythonX.Y/`,
    `lib64/pythonX.Y/`). PythonUserCode in Sources/HeapwiseAnalysis/SourceFrame.swift is the same
    rule; the two must agree."""
    if not file or file.startswith("<frozen"):
        return False
    if "/site-packages/" in file or "/dist-packages/" in file:
        return False
    return re.search(r"(^|/)lib(64)?/python3\.[0-9]+/", file) is None


class _DlInfo(ctypes.Structure):
    _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]


try:
    _dladdr = ctypes.CDLL(None).dladdr
    _dladdr.argtypes = [ctypes.c_void_p, ctypes.POINTER(_DlInfo)]
    _dladdr.restype = ctypes.c_int
except Exception:  # pragma: no cover - every glibc has it
    _dladdr = None


class _ElfSymbols:
    """Function symbols of one ELF file: sorted starts, ends and names (by virtual address)."""

    def __init__(self, path):
        self.starts, self.ends, self.names = [], [], []
        self.is_exec = False
        try:
            with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
                self._parse(data)  # mapped, not read: libpython with debug info is tens of MB
        except (OSError, struct.error, ValueError, IndexError):
            pass

    def _parse(self, data):
        if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
            return  # 64-bit little-endian only
        e_type, = struct.unpack_from("<H", data, 16)
        self.is_exec = e_type == 2
        e_shoff, = struct.unpack_from("<Q", data, 0x28)
        e_shentsize, e_shnum = struct.unpack_from("<HH", data, 0x3A)
        sections = [struct.unpack_from("<IIQQQQIIQQ", data, e_shoff + i * e_shentsize) for i in range(e_shnum)]
        tables = {2: None, 11: None}  # SHT_SYMTAB, SHT_DYNSYM
        for s in sections:
            if s[1] in tables and tables[s[1]] is None:
                tables[s[1]] = s
        table = tables[2] or tables[11]
        if table is None:
            return
        strtab = sections[table[6]]
        str_off = strtab[4]
        syms = []
        for off in range(table[4], table[4] + table[5], 24):
            st_name, st_info, _, st_shndx, st_value, st_size = struct.unpack_from("<IBBHQQ", data, off)
            if (st_info & 0xF) != 2 or st_value == 0 or st_shndx == 0:  # STT_FUNC, defined
                continue
            end = data.find(b"\0", str_off + st_name)
            syms.append((st_value, st_value + max(st_size, 1), data[str_off + st_name:end].decode("utf-8", "replace")))
        syms.sort()
        self.starts = [s[0] for s in syms]
        self.ends = [s[1] for s in syms]
        self.names = [s[2] for s in syms]

    def lookup(self, vaddr):
        i = bisect.bisect_right(self.starts, vaddr) - 1
        if i >= 0 and vaddr < self.ends[i]:
            return self.names[i]
        return None


_modules = {}
_frames = {}
_lines = {}
_addr2line = shutil.which("addr2line")


def _module(path):
    m = _modules.get(path)
    if m is None:
        m = _modules[path] = _ElfSymbols(path)
    return m


def frame(address):
    """The outermost frame at `address` (a return address minus one), without file:line; or the
    Python frame a tagged value names, with its line."""
    f = _frames.get(address)
    if f is not None:
        return f
    if _pycode.is_python(address):
        f = _frames[address] = _python_frame(address)
        return f
    info = _DlInfo()
    if _dladdr is None or not _dladdr(address, ctypes.byref(info)) or not info.dli_fname:
        f = Frame("native", offset=address)
    else:
        path = info.dli_fname.decode("utf-8", "replace")
        if not path.startswith("/"):
            path = os.path.realpath("/proc/self/exe") if path == "" else path
        elf = _module(path)
        vaddr = address if elf.is_exec else address - (info.dli_fbase or 0)
        name = elf.lookup(vaddr) or (info.dli_sname.decode("utf-8", "replace") if info.dli_sname else None)
        f = Frame("native", module=path, offset=vaddr, function=name)
    _frames[address] = f
    return f


def _python_frame(address):
    described = _pycode.code(_pycode.code_id(address))
    if described is None:
        return Frame("python", function="<unknown Python code>")
    first, filename, qualname, table = described
    return Frame("python", function=qualname, file=filename,
                 line=_pycode.line(table, first, _pycode.instruction(address)))


def with_lines(frames):
    """The same frames with file:line (and functions inlined there, innermost first, each a
    frame of its own) from addr2line, where debug info has them; the frames as they are
    otherwise. One addr2line run per module."""
    if not _addr2line:
        return [[f] for f in frames]
    todo = {}
    for f in frames:
        if f.module and (f.module, f.offset) not in _lines:
            todo.setdefault(f.module, set()).add(f.offset)
    for module, offsets in todo.items():
        offsets = sorted(offsets)
        results = _run_addr2line(module, offsets)
        for off in offsets:
            _lines[(module, off)] = results.get(off)
    out = []
    for f in frames:
        expanded = _lines.get((f.module, f.offset)) if f.module else None
        if not expanded:
            out.append([f])
            continue
        out.append([Frame("native", f.module, f.offset, fn or f.function, file, line) for fn, file, line in expanded])
    return out


def _run_addr2line(module, offsets):
    try:
        r = subprocess.run([_addr2line, "-a", "-f", "-i", "-C", "-e", module] + ["0x%x" % o for o in offsets],
                           capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return {}
    results, current, pending = {}, None, None
    for line in r.stdout.splitlines():
        if line.startswith("0x") and pending is None:
            try:
                current = int(line, 16)
            except ValueError:
                continue
            results[current] = []
            continue
        if pending is None:
            pending = line  # a function name; its file:line follows
            continue
        fn, pending = pending, None
        file, _, num = line.rpartition(":")
        num = num.split(" ")[0]
        if current is None:
            continue
        results[current].append((None if fn == "??" else fn,
                                 None if file in ("??", "") else file,
                                 int(num) if num.isdigit() and num != "0" else None))
    return results
