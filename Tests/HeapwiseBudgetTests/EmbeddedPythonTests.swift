// CPython embedded in this test process the way an embedding program does it (libpython opened
// with dlopen after the process started): a budget's sites name the Python line that allocated,
// through the Python frames the recorder merges into scope sites (CShim/pyframes.c).
import Foundation
import HeapwiseBudget
import TestSupport
import Testing

@Suite struct EmbeddedPythonTests {
  /// libpython3.12 from pyenv's build (shared), started once for the process, GIL released.
  static let python: Result<EmbeddedPython, Error> = Result { try EmbeddedPython(version: "3.12") }

  @Test func budgetSitesNameThePythonLine() throws {
    let py = try Self.python.get()
    let script = """
      def build():
          return bytearray(1_000_000)     # line 2

      kept = build()                      # line 4
      """
    let usage = try py.run(script, file: "budget_script.py")
    let top = usage.topSites(by: .bytes, limit: 1)
    #expect(top.first?.location == "build (budget_script.py:2)", "\(usage.topSites(by: .bytes))")
    #expect(top.first?.function == "build", "\(top)")
    let message = AllocationBudget(maxBytes: 100_000).failureMessage(for: usage) ?? ""
    #expect(message.contains("top sites: build (budget_script.py:2) ("), "\(message)")
  }
}

/// The C API of an interpreter opened with dlopen.
final class EmbeddedPython: @unchecked Sendable {
  private typealias RunFunction = @convention(c) (UnsafePointer<CChar>) -> Int32
  private typealias EnsureFunction = @convention(c) () -> Int32
  private typealias ReleaseFunction = @convention(c) (Int32) -> Void
  private let runString: RunFunction
  private let ensure: EnsureFunction
  private let release: ReleaseFunction

  init(version: String) throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    let r = try Subprocess.run("/bin/bash", [root.appendingPathComponent("tools/python-env.sh").path, "--interpreter", version])
    try #require(r.exitCode == 0, "python-env.sh: \(r.stderr)")
    // <prefix>/bin/pythonX.Y -> <prefix>/lib/libpythonX.Y.so (pyenv builds with --enable-shared)
    let prefix = URL(fileURLWithPath: r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
      .deletingLastPathComponent().deletingLastPathComponent()
    let library = prefix.appendingPathComponent("lib/libpython\(version).so").path
    let handle = try #require(dlopen(library, RTLD_NOW | RTLD_GLOBAL), "dlopen \(library): \(String(cString: dlerror()))")
    func symbol<T>(_ name: String, _: T.Type) throws -> T {
      unsafeBitCast(try #require(dlsym(handle, name), "no \(name) in \(library)"), to: T.self)
    }
    // The interpreter's home is its prefix, not this test executable's directory.
    home = prefix.path.unicodeScalars.map { wchar_t(bitPattern: $0.value) } + [0]
    try symbol("Py_SetPythonHome", (@convention(c) (UnsafePointer<wchar_t>) -> Void).self)(home)
    try symbol("Py_InitializeEx", (@convention(c) (Int32) -> Void).self)(0)
    runString = try symbol("PyRun_SimpleString", RunFunction.self)
    ensure = try symbol("PyGILState_Ensure", EnsureFunction.self)
    release = try symbol("PyGILState_Release", ReleaseFunction.self)
    _ = try symbol("PyEval_SaveThread", (@convention(c) () -> OpaquePointer?).self)()
  }

  private let home: [wchar_t]

  /// Runs `source` as the file `file` under a thread measurement (compiled before it), with the
  /// GIL held around it.
  func run(_ source: String, file: String) throws -> AllocationUsage {
    let escaped = source.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
      .replacingOccurrences(of: "\n", with: "\\n")
    let state = ensure()
    defer { release(state) }
    #expect(runString("measured = compile(\"\(escaped)\", \"\(file)\", \"exec\")") == 0)
    var status: Int32 = 0
    let usage = try "exec(measured, {})".withCString { text in
      try measureAllocations(in: .thread) { status = runString(text) }
    }
    #expect(status == 0, "PyRun_SimpleString failed")
    return usage
  }
}
