// The Python package and its pytest plugin (python/, docs/PYTHON.md), run as a user runs them:
// `pytest --heapwise` from a plain virtual environment (tools/python-env.sh, with the package
// installed from python/ by pip), which starts pytest again under the real preload library.
import Foundation
import TestSupport
import Testing

@Suite struct PythonPluginTests {
  /// The checkout: build/lib/libheapwise.so is two levels below it.
  static var root: URL {
    URL(fileURLWithPath: CLI.library!).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
  }

  /// A CPython 3.11 venv with pytest, pytest-xdist and the heapwise package from python/.
  static func python() throws -> String {
    try CLI.requireLibrary()
    let script = root.appendingPathComponent("tools/python-env.sh").path
    // The first call builds the venv (pip, from PyPI) while the others wait on its lock: more
    // time than a test program gets.
    let r = try Subprocess.run("/bin/bash", [script, "3.11", "pytest", "pytest-xdist", root.appendingPathComponent("python").path],
                               environment: Subprocess.environment(["LD_PRELOAD": nil]), timeout: 600)
    try #require(r.exitCode == 0, "python-env.sh: \(r.stderr)")
    return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
  }

  static var example: URL { root.appendingPathComponent("examples/pytest-limits") }

  /// pytest in the example project, with no LD_PRELOAD: the plugin finds the library in the
  /// checkout above the current directory and starts pytest again under it.
  static func pytest(_ python: String, _ arguments: [String], in directory: URL = example,
                     environment: [String: String] = [:]) throws -> CommandResult {
    var changes: [String: String?] = ["LD_PRELOAD": nil, "PYTHONMALLOC": nil]
    for (k, v) in environment { changes[k] = v }
    // A whole pytest run under the recorder's hooks on a loaded 2-core machine: a wide deadline.
    let r = try Subprocess.run(python, ["-m", "pytest", "-p", "no:cacheprovider"] + arguments,
                               environment: Subprocess.environment(changes), directory: directory, timeout: 600)
    return CommandResult(status: r.exitCode, stdout: r.stdout, stderr: r.stderr)
  }

  /// The messages of the tests that fail on purpose, as a user reads them.
  static func expectExampleFailures(_ out: String, sourceLocation: SourceLocation = #_sourceLocation) {
    // The sites are the test file's own lines (Python frames), named as the analyzer names a
    // site (`function (file.py:31)`, SiteName.of), each with the C function that asked for
    // memory on its behalf.
    let source = (try? String(contentsOf: example.appendingPathComponent("test_limits.py"), encoding: .utf8)) ?? ""
    func at(_ marker: String) -> String { "(test_limits.py:\(line(of: marker, in: source)))" }
    let expected = [
      // limit_memory: the peak of the test's live blocks against the limit, then where.
      "heapwise: limit_memory exceeded: peak 4.0 MiB > limit 1 MB (+3.0 MiB)",
      "  top sites (bytes allocated):",
      "    test_fails_peak \(at("buffer = bytearray("))  4.0 MiB in ",
      " allocations\n        allocated by PyByteArray_Resize (",
      // limit_leaks: live blocks against the limit, and what the allocator kept apart from it.
      "leaked > limit 64 KiB (+",
      "  live blocks: ",
      " in 1001 blocks allocated by the test and not freed at its end (what the limit counts)",
      "  allocator retention: ",
      "  leaked at:",
      "    test_fails_leaks.<locals>.<genexpr> \(at("CACHE.extend("))  ",
      " in 1000 blocks\n        allocated by _PyBytes_FromSize (",
      "        from test_fails_leaks \(at("CACHE.extend("))\n",
      // limit_allocations.
      "heapwise: limit_allocations exceeded: ",
      " allocations > limit 100 (+",
      "  top sites (allocations):",
      "\(at("words = [str(i)"))  ",
      "allocated by PyUnicode_New (",
      // The summary of the run.
      "heapwise: tests that allocated most",
      "by peak:",
      "by leaked bytes:",
      "3 failed, 4 passed",
    ]
    for text in expected {
      #expect(out.contains(text), "missing \"\(text)\" in:\n\(out)", sourceLocation: sourceLocation)
    }
    for passing in ["test_small_list_fits", "test_churn_is_not_a_leak", "test_first_import_is_not_counted",
                    "test_unlimited_is_only_measured"] {
      #expect(!out.contains("FAILED test_limits.py::\(passing)"), "\(passing) failed:\n\(out)", sourceLocation: sourceLocation)
    }
  }

  @Test func exampleProjectFailsWhereItShouldWithTheMeasuredFigures() throws {
    let python = try Self.python()
    let r = try Self.pytest(python, ["--heapwise"])
    #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
    Self.expectExampleFailures(r.stdout)
    // The summary's first row by peak is the 4 MiB test.
    let rows = r.stdout.components(separatedBy: "by peak:\n").last?.split(separator: "\n") ?? []
    #expect(rows.count > 2 && rows[1].hasSuffix("test_limits.py::test_fails_peak"), "\(r.stdout)")
  }

  @Test func xdistWorkersAreMeasuredAndReported() throws {
    let python = try Self.python()
    let r = try Self.pytest(python, ["--heapwise", "-n", "2"])
    #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
    #expect(r.stdout.contains("[gw"), "not run by xdist workers:\n\(r.stdout)")
    Self.expectExampleFailures(r.stdout)
  }

  @Test func withoutTheOptionNothingIsMeasured() throws {
    let python = try Self.python()
    let r = try Self.pytest(python, [])
    #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    #expect(r.stdout.contains("7 passed") && !r.stdout.contains("heapwise:"), "\(r.stdout)")
  }

  /// The package's own tests (python/tests): markers in a dump, the same numbers as the C
  /// scope API, one test per source of interpreter noise.
  @Test func packageTestsPassUnderTheLibrary() throws {
    let python = try Self.python()
    let r = try Self.pytest(python, ["--heapwise", "--heapwise-top", "0", Self.root.appendingPathComponent("python/tests").path],
                            in: Self.root, environment: ["HEAPWISE_CLI": CLI.executable])
    #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    #expect(r.stdout.contains("20 passed"), "\(r.stdout)")
  }

  @Test func whenItCannotStartAgainItSaysTheCommandInOneLine() throws {
    let python = try Self.python()
    // As if pytest had been started again already and the library still were not there.
    let again = try Self.pytest(python, ["--heapwise", "-q"], environment: ["HEAPWISE_PYTEST_REEXEC": "1"])
    #expect(again.status == 4)
    let lines = again.stderr.split(separator: "\n")
    #expect(lines.count == 1, "\(again.stderr)")
    #expect(again.stderr.hasSuffix(
      "; run: LD_PRELOAD=\(CLI.library!) PYTHONMALLOC=malloc \(python) -m pytest -p no:cacheprovider --heapwise -q\n"),
      "\(again.stderr)")
    let missing = try Self.pytest(python, ["--heapwise"], environment: ["HEAPWISE_LIBRARY": "/nonexistent/libheapwise.so"])
    #expect(missing.status == 4)
    #expect(missing.stderr == "heapwise: the heapwise preload library is not loaded into this process, and "
      + "HEAPWISE_LIBRARY=/nonexistent/libheapwise.so is not readable\n", "\(missing.stderr)")
  }

  /// The issue's line: `heapwise check --max-peak 2GiB -- pytest --heapwise`, a budget for the
  /// whole run and limits per test, with the tests that fail on purpose left out.
  @Test func checkAroundPytestHeapwise() throws {
    let python = try Self.python()
    let r = try CLI.run(["check", "--max-peak", "2GiB", "--", python, "-m", "pytest", "-p", "no:cacheprovider",
                         "--heapwise", "-k", "not fails", Self.example.path], in: Self.example, timeout: 600)  // debug-build analysis, loaded machine
    #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    #expect(r.stdout.contains("4 passed, 3 deselected"), "\(r.stdout)")
    #expect(r.stdout.contains("heapwise: tests that allocated most"), "\(r.stdout)")
    // The plugin's second start is an in-place exec: check reads the dump of that image.
    let all = r.stdout + r.stderr
    #expect(all.contains("exec'd 1 time(s); checking the last program's dump"), "\(all)")
    #expect(all.contains("heapwise check: 1 budget, all held"), "\(all)")
  }

  /// Both levels at once: `heapwise record` around `pytest --heapwise`. The plugin's second
  /// start is an in-place exec, which the recorder follows; each test gets markers.
  @Test func underARecordingEachTestHasMarkers() throws {
    let python = try Self.python()
    let ws = try Workspace("pytest-record")
    defer { ws.remove() }
    let dump = ws.path("run.heapwise")
    let r = try CLI.run(["record", "-o", dump, "--max-frames", "8", "--", python, "-m", "pytest", "-p", "no:cacheprovider", "--heapwise",
                         "-k", "first_import", Self.example.path], in: Self.example, timeout: 600)
    #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    let last = ws.path("run.exec1.heapwise")
    #expect(r.stderr.contains("dump of the last program written to \(last)"), "\(r.stderr)")
    // A whole pytest start-up under PYTHONMALLOC=malloc is millions of records: minutes for the
    // debug build on a machine loaded by the rest of the suite (a hang still fails).
    let records = try CLI.run(["records", last], timeout: 600)
    let node = "test_limits.py::test_first_import_is_not_counted"
    #expect(records.stdout.contains("marker \"test:\(node):start\" source=api"), "no start marker")
    #expect(records.stdout.contains("marker \"test:\(node):end\" source=api"), "no end marker")
  }
  /// The plugin and the analyzer name the same site the same way (docs/PYTHON.md, "Site names"):
  /// a script measures a leak with the plugin's own measuring and ranking (`_measure`, `_sites`,
  /// what a failing limit prints) under `heapwise record`, and `heapwise compare` between markers
  /// around it names the top site of the same stacks from the dump. A small script, not a pytest
  /// run: a whole pytest start-up is minutes of symbolizing for the debug build.
  static let naming = """
    import heapwise
    from heapwise import _measure, _sites

    kept = []


    def leak():
        kept.extend(bytes(1000) for _ in range(1000))  # LEAK


    heapwise.mark("before")
    _, _, usage = _measure.call_measured(_measure.Scope(), leak, ())
    heapwise.mark("after")
    print(_sites.top_sites(usage.stacks, "leaked", limit=1)[0].location)
    """

  @Test func pluginAndAnalyzerNameTheSiteAlike() throws {
    let python = try Self.python()
    let ws = try Workspace("pytest-names")
    defer { ws.remove() }
    try Self.naming.write(toFile: ws.path("main.py"), atomically: true, encoding: .utf8)
    let dump = ws.path("run.heapwise")
    let r = try CLI.run(["record", "-o", dump, "--", python, "main.py"], in: ws.url,
                        environment: ["PYTHONMALLOC": "malloc"], timeout: 600)
    #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    let pluginSite = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    #expect(pluginSite == "leak.<locals>.<genexpr> (main.py:\(line(of: "LEAK", in: Self.naming)))", "\(r.stdout)\(r.stderr)")
    let compare = try CLI.run(["compare", dump, "--from", "before", "--to", "after", "--limit", "1"], in: ws.url, timeout: 600)
    #expect(compare.status == 0, "\(compare.stderr)")
    let first = compare.stdout.split(separator: "\n").first { $0.contains(": size=") }
    #expect(first.map { $0.hasPrefix(pluginSite + ": size=") } == true, "plugin: \(pluginSite)\n\(compare.stdout)")
  }
}
