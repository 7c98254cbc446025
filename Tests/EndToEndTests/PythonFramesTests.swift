// Python scripts recorded under each CPython (3.11, 3.12, 3.13 from tools/python-env.sh) with the
// real preload library: every stack must hold exactly the Python frames and lines the script ran,
// at the right places among the native frames.
import Foundation
import TestSupport
import Testing

/// One frame of `top --format json`.
struct JSONFrame: Equatable, CustomStringConvertible {
  var kind: String
  var function: String
  var file: String
  var line: Int?
  var module: String
  var description: String { "\(kind):\(function)@\((file as NSString).lastPathComponent):\(line.map(String.init) ?? "-")" }
  /// `function@file.py:line` for Python frames.
  var short: String { "\(function)@\((file as NSString).lastPathComponent):\(line.map(String.init) ?? "-")" }
}

struct JSONSite {
  var size: UInt64
  var count: UInt64
  var frames: [JSONFrame]
}

enum PyScript {
  static let versions = ["3.11", "3.12", "3.13"]

  /// The interpreter (bare, or a cached venv with `packages`), from tools/python-env.sh.
  static func interpreter(_ version: String, _ packages: [String] = []) throws -> String {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    let args = packages.isEmpty ? ["--interpreter", version] : [version] + packages
    let r = try CLI.runProcess(root.appendingPathComponent("tools/python-env.sh").path, args)
    try #require(r.status == 0, "tools/python-env.sh \(args.joined(separator: " ")): \(r.stderr)")
    return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
  }

  /// Writes the files, records `python main.py`, and returns the dump.
  static func record(_ version: String, files: [String: String], packages: [String] = [], extra: [String] = [],
                     ws: Workspace) throws -> String {
    for (name, text) in files { try text.write(toFile: ws.path(name), atomically: true, encoding: .utf8) }
    return try ws.record(try interpreter(version, packages), ["main.py"], dump: "py\(version).heapwise", extra: extra)
  }

  /// Every site of `top --by traceback --metric allocated` with its frames (all of them).
  static func sites(_ dump: String, _ extra: [String] = [], ws: Workspace) throws -> [JSONSite] {
    let r = try CLI.run(["top", dump, "--metric", "allocated", "--by", "traceback", "--limit", "0",
                         "--traceback-frames", "200", "--format", "json"] + extra, in: ws.url)
    try #require(r.status == 0, "top: \(r.stderr)")
    let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
    return (obj?["sites"] as? [[String: Any]] ?? []).map { s in
      JSONSite(
        size: (s["size"] as? NSNumber)?.uint64Value ?? 0, count: (s["count"] as? NSNumber)?.uint64Value ?? 0,
        frames: (s["frames"] as? [[String: Any]] ?? []).map { f in
          JSONFrame(kind: f["kind"] as? String ?? "?", function: f["function"] as? String ?? "?",
                    file: f["file"] as? String ?? "?", line: (f["line"] as? NSNumber)?.intValue,
                    module: f["module"] as? String ?? "?")
        })
    }
  }

  /// The sites whose allocations were all of `size` bytes (a bytearray of n asks for n + 1).
  static func sites(ofSize size: UInt64, in all: [JSONSite]) -> [JSONSite] {
    all.filter { $0.count > 0 && $0.size == size * $0.count }
  }

  /// `heapwise records` (no symbolization: cheap).
  static func records(_ dump: String, ws: Workspace) throws -> String {
    let r = try CLI.run(["records", dump], in: ws.url)
    try #require(r.status == 0, "records: \(r.stderr)")
    return r.stdout
  }

  static func python(_ frames: [JSONFrame]) -> [String] { frames.filter { $0.kind == "python" }.map(\.short) }
}

/// Symbolizing a Python dump (libpython's DWARF) is most of what these tests cost, so each version
/// records one script that runs every scenario, and is analysed twice.
@Suite(.serialized) struct PythonFramesTests {
  static let script = """
    import sys, threading
    kept = []

    # 1. module -> function -> method -> generator -> sorted(key=) calling back into Python
    def leaf(x):
        kept.append(bytearray(123456))              # LEAF
        return x

    class Box:
        def method(self, n):
            return list(numbers(n))                 # METHOD

    def numbers(n):
        for i in range(n):
            yield sorted([3, 1, 2], key=lambda v: leaf(v))   # GENERATOR

    def main():
        return Box().method(2)                      # MAIN

    main()                                          # MODULE

    # 2. threads, each with its own chain
    def alloc_a():
        return bytearray(111110)                    # A_ALLOC

    def worker_a():
        kept.append(alloc_a())                      # A_CALL

    def alloc_b():
        return bytearray(222221)                    # B_ALLOC

    def worker_b():
        for _ in range(3):
            kept.append(alloc_b())                  # B_CALL

    ts = [threading.Thread(target=worker_a), threading.Thread(target=worker_b)]
    for t in ts: t.start()
    for t in ts: t.join()

    # 3. an allocation while a module is imported
    import helper                                   # IMPORT

    # 4. a code object freed, and another made at its address
    first = compile("x = bytearray(444443)", "first.py", "exec")
    exec(first)
    address = id(first)
    del first
    for attempt in range(20000):
        second = compile("y = bytearray(555554)", "second.py", "exec")
        if id(second) == address:
            break
        del second
    else:
        sys.exit(3)
    exec(second)
    """
  static let helper = "import os\ntable = bytearray(333332)   # AT_IMPORT\n"

  static func l(_ marker: String) -> Int { line(of: marker, in: script) }

  @Test(arguments: PyScript.versions) func pythonFramesAndLines(version: String) throws {
    try CLI.requireLibrary()
    let ws = try Workspace("pyframes")
    defer { ws.remove() }
    let dump = try PyScript.record(version, files: ["main.py": Self.script, "helper.py": Self.helper], ws: ws)
    let hidden = try PyScript.sites(dump, ws: ws)
    let shown = try PyScript.sites(dump, ["--show-interpreter-frames"], ws: ws)

    // 1. The chain, exactly, with the interpreter's frames hidden: the script's line is the site.
    let chain = ["leaf@main.py:\(Self.l("LEAF"))", "numbers.<locals>.<lambda>@main.py:\(Self.l("GENERATOR"))",
                 "numbers@main.py:\(Self.l("GENERATOR"))", "Box.method@main.py:\(Self.l("METHOD"))",
                 "main@main.py:\(Self.l("MAIN"))", "<module>@main.py:\(Self.l("MODULE"))"]
    let leaf = PyScript.sites(ofSize: 123457, in: hidden)
    #expect(leaf.map(\.count).reduce(0, +) == 6, "\(leaf.map(\.frames))")  // 3 keys x 2 rounds
    for site in leaf {
      #expect(PyScript.python(site.frames) == chain)
      #expect(site.frames.first?.short == chain[0], "\(site.frames)")
      #expect(!site.frames.contains { $0.kind == "interpreter" })
    }
    // Shown, the Python frames sit where the evaluation loop ran them: the C sort that calls the
    // key function lies between the lambda and the generator, and no evaluation-loop frame is left.
    let frames = try #require(PyScript.sites(ofSize: 123457, in: shown).first?.frames)
    #expect(PyScript.python(frames) == chain)
    let lambda = try #require(frames.firstIndex { $0.function == "numbers.<locals>.<lambda>" })
    let generator = try #require(frames.firstIndex { $0.function == "numbers" })
    #expect(frames.indices.contains { i in
      i > lambda && i < generator && frames[i].kind == "interpreter" && frames[i].function.contains("sort")
    }, "\(frames)")
    #expect(frames[..<lambda].contains { $0.kind == "interpreter" }, "\(frames)")
    #expect(!frames.contains { $0.function == "_PyEval_EvalFrameDefault" }, "\(frames)")

    // 2. Threads: each its own chain, ending in threading's bootstrap, not in the main thread's.
    let a = PyScript.sites(ofSize: 111111, in: hidden), b = PyScript.sites(ofSize: 222222, in: hidden)
    #expect(a.map(\.count) == [1] && b.map(\.count) == [3], "\(a.map(\.frames)) \(b.map(\.frames))")
    let scriptOnly = { (f: [JSONFrame]) in PyScript.python(f).filter { $0.contains("main.py") } }
    #expect(a.first.map { scriptOnly($0.frames) } == ["alloc_a@main.py:\(Self.l("A_ALLOC"))", "worker_a@main.py:\(Self.l("A_CALL"))"])
    #expect(b.first.map { scriptOnly($0.frames) } == ["alloc_b@main.py:\(Self.l("B_ALLOC"))", "worker_b@main.py:\(Self.l("B_CALL"))"])
    let outer = a.first?.frames.last { $0.kind == "python" }
    #expect(outer?.function == "Thread._bootstrap" && outer?.module == "threading", "\(String(describing: outer))")

    // 3. Import: the module's line, importlib's frozen frames, and the importing line.
    let imported = PyScript.sites(ofSize: 333333, in: hidden)
    #expect(imported.map(\.count) == [1])
    let py = imported.first.map { PyScript.python($0.frames) } ?? []
    #expect(py.first == "<module>@helper.py:2", "\(py)")
    #expect(py.last == "<module>@main.py:\(Self.l("IMPORT"))", "\(py)")
    #expect(imported.first?.frames.contains { $0.kind == "python" && $0.file.hasPrefix("<frozen importlib") } == true)

    // 4. A reused code object address keeps each code object's own name.
    let first = PyScript.sites(ofSize: 444444, in: hidden), second = PyScript.sites(ofSize: 555555, in: hidden)
    #expect(first.first.map { PyScript.python($0.frames).first } == "<module>@first.py:1", "\(first.map(\.frames))")
    #expect(second.first.map { PyScript.python($0.frames).first } == "<module>@second.py:1", "\(second.map(\.frames))")
  }

  /// The merge that reads each layout's offsets from memory (merge_any in pyframes.c, taken by
  /// layouts other than the three compiled in), forced with HEAPWISE_PYFRAMES_GENERIC=1: the
  /// same chains as the compiled copies give.
  @Test(arguments: PyScript.versions) func genericLayoutMergeGivesTheSameChains(version: String) throws {
    try CLI.requireLibrary()
    let ws = try Workspace("pyframes-generic")
    defer { ws.remove() }
    for (name, text) in ["main.py": Self.script, "helper.py": Self.helper] {
      try text.write(toFile: ws.path(name), atomically: true, encoding: .utf8)
    }
    let python = try PyScript.interpreter(version, [])
    func chains(_ environment: [String: String]) throws -> [[String]] {
      let dump = ws.path("py\(version)-\(environment.count).heapwise")
      let r = try CLI.run(["record", "-o", dump, "--", python, "main.py"], in: ws.url, environment: environment)
      #expect(r.status == 0, "record: \(r.stderr)")
      let sites = try PyScript.sites(dump, ws: ws)
      return [123457, 111111, 222222, 333333, 444444, 555555].flatMap { size in
        PyScript.sites(ofSize: UInt64(size), in: sites).map { PyScript.python($0.frames) }.sorted { $0.lexicographicallyPrecedes($1) }
      }
    }
    let generic = try chains(["HEAPWISE_PYFRAMES_GENERIC": "1"]), compiled = try chains([:])
    #expect(generic.count >= 6 && generic.first?.first == "leaf@main.py:\(Self.l("LEAF"))", "\(generic)")
    #expect(generic == compiled)
  }

  /// The memo of merged stacks (pyframes.c, "the memo"): in check mode every capture is merged
  /// anyway and the memo's answer compared with the stack id the merge comes to. The script's
  /// chains (callbacks, generators, threads, an import, a code object made at a freed one's
  /// address), then one line's code object under three file names, each at the address the last
  /// one freed (a memo that compared the code object's address and instruction but not its fields
  /// gave ~600 differences), and a loop that repeats the same stacks: 0 differences, and the memo
  /// must have answered (a check that compared nothing would pass).
  static let memoScript = """

    # 5. one line's code object under three file names, each made where the last one was freed
    names = ["gen0.py", "gen1.py", "gen2.py"]
    base = compile("z = bytearray(701)", "gen.py", "exec")
    for i in range(600):
        again = base.replace(co_filename=names[i % 3])
        exec(again)
        del again

    # 6. the same stacks again and again
    for i in range(3000):
        kept.append(bytearray(900 + i % 4))
        kept.append(alloc_a())
    """
  @Test(arguments: PyScript.versions) func memoGivesTheMergesStack(version: String) throws {
    try CLI.requireLibrary()
    let ws = try Workspace("pyframes-memo")
    defer { ws.remove() }
    for (name, text) in ["main.py": Self.script + Self.memoScript, "helper.py": Self.helper] {
      try text.write(toFile: ws.path(name), atomically: true, encoding: .utf8)
    }
    let python = try PyScript.interpreter(version, [])
    let r = try CLI.run(["record", "-o", ws.path("memo.heapwise"), "--", python, "main.py"], in: ws.url,
                        environment: ["HEAPWISE_UNWIND_CHECK": "1"])
    #expect(r.status == 0, "record: \(r.stderr)")
    let m = try #require(r.stderr.firstMatch(of: #/python stack memo check: (\d+) stacks compared, (\d+) differ/#),
                         "\(r.stderr)")
    #expect(Int(m.2)! == 0, "\(r.stderr)")
    #expect(Int(m.1)! > 5000, "\(r.stderr)")
  }

  /// Debian's /usr/bin/python3.11: a non-PIE, stripped executable with the interpreter linked in.
  @Test func debianInterpreter() throws {
    try CLI.requireLibrary()
    let ws = try Workspace("pydebian")
    defer { ws.remove() }
    for (name, text) in ["main.py": Self.script, "helper.py": Self.helper] {
      try text.write(toFile: ws.path(name), atomically: true, encoding: .utf8)
    }
    let dump = try ws.record("/usr/bin/python3.11", ["main.py"], dump: "debian.heapwise")
    #expect(try PyScript.records(dump, ws: ws).contains("frames=on PYTHONMALLOC=- /usr/bin/python3.11"))
    let leaf = PyScript.sites(ofSize: 123457, in: try PyScript.sites(dump, ["--include", "main.py"], ws: ws))
    #expect(leaf.map(\.count).reduce(0, +) == 6)
    #expect(leaf.first.map { PyScript.python($0.frames) } == [
      "leaf@main.py:\(Self.l("LEAF"))", "numbers.<locals>.<lambda>@main.py:\(Self.l("GENERATOR"))",
      "numbers@main.py:\(Self.l("GENERATOR"))", "Box.method@main.py:\(Self.l("METHOD"))",
      "main@main.py:\(Self.l("MAIN"))", "<module>@main.py:\(Self.l("MODULE"))"])
  }

  static let numpy = """
    import numpy as np
    def build():
        return np.ones(1_250_000)      # NUMPY
    arrays = [build() for _ in range(2)]   # CALLER
    """

  @Test(arguments: PyScript.versions) func nativeExtensionUnderAPythonFrame(version: String) throws {
    try CLI.requireLibrary()
    let ws = try Workspace("pynumpy")
    defer { ws.remove() }
    let dump = try PyScript.record(version, files: ["main.py": Self.numpy], packages: ["numpy"], ws: ws)
    let sites = PyScript.sites(ofSize: 10_000_000, in: try PyScript.sites(dump, ws: ws))
    #expect(sites.map(\.count).reduce(0, +) == 2, "\(sites.map(\.frames))")
    let frames = try #require(sites.first?.frames)
    // numpy's own native frame first, then numpy's Python layer, then the script's lines.
    #expect(frames.first?.kind == "native" && frames.first?.module.contains("_multiarray_umath") == true, "\(frames)")
    let l = { (m: String) in line(of: m, in: Self.numpy) }
    let py = PyScript.python(frames).filter { $0.contains("main.py") }
    #expect(py.first == "build@main.py:\(l("NUMPY"))", "\(py)")
    #expect(py.last == "<module>@main.py:\(l("CALLER"))", "\(py)")

    // The site is named by the innermost Python frame for every grouping (docs/ANALYSIS.md,
    // "Sites"), not by numpy's native frame; filtering the Python frames out names it natively.
    // The analyzer's rule, not the version's: checked on one (five debug-build analyses).
    guard version == "3.12" else { return }
    let site = try #require(frames.first { $0.kind == "python" })
    /// Each site's label with its bytes.
    func labels(_ extra: [String]) throws -> [String: UInt64] {
      let r = try CLI.run(["top", dump, "--metric", "allocated", "--limit", "0", "--format", "json"] + extra, in: ws.url)
      try #require(r.status == 0, "top: \(r.stderr)")
      let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
      var out: [String: UInt64] = [:]
      for s in obj?["sites"] as? [[String: Any]] ?? [] {
        if let l = s["label"] as? String { out[l, default: 0] += (s["size"] as? NSNumber)?.uint64Value ?? 0 }
      }
      return out
    }
    let file = (site.file as NSString).lastPathComponent
    let named = "\(site.function) (\(file):\(site.line ?? 0))"
    for (grouping, expected) in [("lineno", named), ("traceback", named), ("function", "\(site.function) (\(site.module))"),
                                 ("module", site.module)] {
      let all = try labels(["--by", grouping])
      #expect((all[expected] ?? 0) >= 20_000_000, "--by \(grouping): no \(expected) in \(all.filter { $0.value >= 1_000_000 })")
    }
    let native = try labels(["--by", "function", "--include", "module:_multiarray_umath*"])
    let nativeName = "\(frames[0].function) (\(frames[0].module))"
    #expect((native[nativeName] ?? 0) >= 20_000_000, "no \(nativeName) in \(native.filter { $0.value >= 1_000_000 })")
  }

  /// `check`'s function rules match Python functions (3.12; the matching is the analyzer's).
  @Test func checkBudgetOnAPythonFunction() throws {
    try CLI.requireLibrary()
    let ws = try Workspace("pycheck")
    defer { ws.remove() }
    try Self.script.write(toFile: ws.path("main.py"), atomically: true, encoding: .utf8)
    try Self.helper.write(toFile: ws.path("helper.py"), atomically: true, encoding: .utf8)
    try #"{ "sites": [ { "function": "leaf", "max-allocations": 5 }, { "function": "worker_?", "max-allocations": 4 } ] }"#
      .write(toFile: ws.path("budget.json"), atomically: true, encoding: .utf8)
    let r = try CLI.run(["check", "--budget", "budget.json", "--", try PyScript.interpreter("3.12"), "main.py"], in: ws.url)
    #expect(r.status == 3, "\(r.stdout) \(r.stderr)")
    let rows = r.stdout.split(separator: "\n")
    #expect(rows.contains { $0.hasPrefix("leaf: allocations") && $0.contains(" 6 ") && $0.contains("FAIL") }, "\(r.stdout)")
    #expect(rows.contains { $0.hasPrefix("worker_?: allocations") && $0.contains(" 4 ") && !$0.contains("FAIL") }, "\(r.stdout)")
  }

  /// --python-malloc makes every object an allocation; --no-python-frames leaves native frames only.
  @Test func pythonMallocAndTheOffSwitch() throws {
    try CLI.requireLibrary()
    let ws = try Workspace("pymalloc")
    defer { ws.remove() }
    try "kept = [[i, i] for i in range(5000)]\n".write(toFile: ws.path("main.py"), atomically: true, encoding: .utf8)
    let python = try PyScript.interpreter("3.12")
    func allocations(_ text: String) -> Int { text.split(separator: "\n").filter { $0.contains(" malloc 0x") }.count }
    let plain = try ws.record(python, ["main.py"], dump: "plain.heapwise")
    let each = try ws.record(python, ["main.py"], dump: "each.heapwise", extra: ["--python-malloc"])
    let plainRecords = try PyScript.records(plain, ws: ws), eachRecords = try PyScript.records(each, ws: ws)
    #expect(allocations(eachRecords) >= allocations(plainRecords) + 5000)
    #expect(eachRecords.contains("frames=on PYTHONMALLOC=malloc"))
    let summary = try CLI.run(["summary", each], in: ws.url).stdout
    #expect(summary.contains("python: CPython 3.12") && summary.contains("every object recorded (PYTHONMALLOC=malloc)"), "\(summary)")
    #expect(plainRecords.contains("frames=on PYTHONMALLOC=-"))

    let off = try PyScript.records(try ws.record(python, ["main.py"], dump: "off.heapwise", extra: ["--no-python-frames"]), ws: ws)
    #expect(off.contains("frames=switchedOff"))
    #expect(!off.split(separator: "\n").contains { $0.contains(" stack ") && $0.contains(" 0x8") })
    #expect(plainRecords.split(separator: "\n").contains { $0.contains(" stack ") && $0.contains(" 0x8") })
  }

  /// A C program that dlopens libpython (RTLD_LOCAL, as an embedding program may) after the
  /// recorder started: the interpreter is found when the module list changes, by its file's
  /// symbols (no dlsym from inside the loader), and its stacks get Python frames.
  static let embedder = """
    #include <dlfcn.h>
    #include <stdio.h>
    int main(int argc, char **argv) {
      void *py = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
      if (!py) { fprintf(stderr, "%s\\n", dlerror()); return 2; }
      void (*init)(int) = (void (*)(int))dlsym(py, "Py_InitializeEx");
      int (*run)(const char *) = (int (*)(const char *))dlsym(py, "PyRun_SimpleString");
      int (*fini)(void) = (int (*)(void))dlsym(py, "Py_FinalizeEx");
      if (!init || !run || !fini) return 2;
      init(0);
      int rc = run("exec(compile(open('main.py').read(), 'main.py', 'exec'))");
      return fini() < 0 || rc != 0 ? 1 : 0;
    }
    """
  static let embedded = """
    def work():
        return bytearray(777776)      # WORK
    kept = work()                     # CALL
    """

  @Test func interpreterLoadedByDlopen() throws {
    try CLI.requireLibrary()
    let ws = try Workspace("pydlopen")
    defer { ws.remove() }
    // pyenv's CPython is built with --enable-shared: <prefix>/lib/libpython3.12.so.
    let prefix = URL(fileURLWithPath: try PyScript.interpreter("3.12")).deletingLastPathComponent().deletingLastPathComponent()
    let program = try ws.compile("embed", Self.embedder)
    try Self.embedded.write(toFile: ws.path("main.py"), atomically: true, encoding: .utf8)
    let out = ws.path("embed.heapwise")
    let r = try CLI.run(["record", "-o", out, "--", program, prefix.appendingPathComponent("lib/libpython3.12.so").path],
                        in: ws.url, environment: ["PYTHONHOME": prefix.path])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(try PyScript.records(out, ws: ws).contains("frames=on"))
    let sites = PyScript.sites(ofSize: 777777, in: try PyScript.sites(out, ws: ws))
    let l = { (m: String) in line(of: m, in: Self.embedded) }
    #expect(sites.first.map { PyScript.python($0.frames) } == ["work@main.py:\(l("WORK"))", "<module>@main.py:\(l("CALL"))",
                                                             "<module>@<string>:1"], "\(sites.map(\.frames))")
  }
}
