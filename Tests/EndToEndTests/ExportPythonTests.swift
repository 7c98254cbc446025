// `export` of a Python program recorded under the real recorder (CPython 3.12 from
// tools/python-env.sh): Python frames are functions of their own in pprof (read back by
// `go tool pprof`), collapsed stacks and speedscope, the interpreter's own frames hidden unless
// `--show-interpreter-frames`, and the totals still `top`'s.
import Foundation
import Testing

@Suite(.serialized) struct ExportPythonTests {
  static let script = """
    def leaf_alloc():
        return [bytearray(100000) for _ in range(20)]  # ALLOC


    def middle_step():
        return leaf_alloc()  # MIDDLE


    def outer_entry():
        return middle_step()  # OUTER


    kept = outer_entry()  # TOP

    """
  static func l(_ marker: String) -> Int { line(of: "# " + marker, in: script) }
  /// Python frames outermost first, as collapsed stacks and speedscope draw them.
  static let chain = "<module>;outer_entry;middle_step;leaf_alloc"

  @Test func pythonFramesInPprofCollapsedAndSpeedscope() throws {
    try CLI.requireLibrary()
    guard let go = Repository.which("go") else {
      Issue.record("go is missing: tools/install-deps.sh installs golang-go")
      return
    }
    let ws = try Workspace("export-python")
    defer { ws.remove() }
    let dump = try PyScript.record("3.12", files: ["main.py": Self.script], ws: ws)
    let file = ws.path("main.py")
    let env = ["HOME": ws.url.path, "GOCACHE": ws.path("gocache"), "PPROF_TMPDIR": ws.url.path]
    func pprof(_ profile: String, _ args: [String]) throws -> String {
      let r = try CLI.runProcess(go, ["tool", "pprof", "-symbolize=none"] + args + [profile], environment: env)
      #expect(r.status == 0, "\(r.stderr)")
      return r.stdout + r.stderr
    }

    // bytearray(100000) asks for 100001 bytes, 20 times, from leaf_alloc's line.
    let collapsed = try CLI.run(["export", dump, "--format", "collapsed", "--metric", "allocated"])
    #expect(collapsed.status == 0, "\(collapsed.stderr)")
    let lines = collapsed.stdout.split(separator: "\n").filter { $0.contains(";" + Self.chain + " ") }
    #expect(lines.count == 1 && lines.first?.hasSuffix(" 2000020") == true, "\(collapsed.stdout)")
    #expect(lines.first?.contains("_PyEval") == false && !collapsed.stdout.contains("_PyEval_EvalFrame"),
            "interpreter frames are hidden by default: \(collapsed.stdout)")
    let count = try CLI.run(["export", dump, "--format", "collapsed", "--metric", "count"])
    #expect(count.stdout.contains(";" + Self.chain + " 20\n"), "\(count.stdout)")
    let shown = try CLI.run(["export", dump, "--format", "collapsed", "--metric", "allocated", "--show-interpreter-frames"])
    #expect(shown.stdout.split(separator: "\n").contains {
      $0.contains("_PyEval_EvalFrame;" + Self.chain + ";") && $0.hasSuffix(" 2000020")
    }, "\(shown.stdout)")
    for text in [collapsed.stdout, shown.stdout] {
      let sum = text.split(separator: "\n").map { UInt64($0.split(separator: " ").last ?? "") ?? 0 }.reduce(0, +)
      #expect(sum == (try ExportTests.topTotal(dump, "allocated")).size)
    }

    // pprof: the chain, with the script's lines, innermost first; totals equal top's.
    let profile = ws.path("py.pb.gz"), full = ws.path("py-full.pb.gz")
    #expect(try CLI.run(["export", dump, "--format", "pprof", "--metric", "allocated", "-o", profile]).status == 0)
    #expect(try CLI.run(["export", dump, "--format", "pprof", "--show-interpreter-frames", "-o", full]).status == 0)
    let traces = try pprof(profile, ["-traces", "-lines", "-sample_index=alloc_space"])
    let expectedTrace = [
      "leaf_alloc \(file):\(Self.l("ALLOC"))", "middle_step \(file):\(Self.l("MIDDLE"))",
      "outer_entry \(file):\(Self.l("OUTER"))",
    ]
    let trace = traces.components(separatedBy: "-----------+").first { $0.contains("leaf_alloc") } ?? ""
    let frames = trace.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true) }
      .filter { !$0.isEmpty && !$0[0].hasPrefix("---") }.map { $0.suffix(2).joined(separator: " ") }
    #expect(Array(frames.prefix(3)) == expectedTrace, "\(trace)")
    // pprof shortens "<module>" like a C++ template argument, so the frame shows as its file:line.
    #expect(frames.count > 3 && frames[3].hasSuffix("\(file):\(Self.l("TOP"))"), "\(trace)")
    #expect(!trace.contains("_PyEval") && !trace.contains("Py_RunMain"), "\(trace)")
    let fullTraces = try pprof(full, ["-traces", "-sample_index=alloc_space"])
    let fullTrace = fullTraces.components(separatedBy: "-----------+").first { $0.contains("leaf_alloc") } ?? ""
    #expect(fullTrace.contains("_PyEval_EvalFrame") && fullTrace.contains("Py_RunMain"), "\(fullTrace)")
    // Python frames have no mapping and address 0; one location per function and line.
    let raw = try pprof(profile, ["-raw"])
    #expect(raw.contains(": 0x0 leaf_alloc \(file):\(Self.l("ALLOC")) s=0"), "\(raw)")
    for (metric, index) in [("allocated", "alloc_space"), ("live", "inuse_space")] {
      let total = try ExportTests.topTotal(dump, metric).size
      for p in [profile, full] {
        #expect(try pprof(p, ["-top", "-unit=B", "-sample_index=\(index)"]).contains("Total samples = \(total)B"), "\(p) \(index)")
      }
    }
    let objects = try ExportTests.topTotal(dump, "allocated").count
    #expect(try pprof(profile, ["-top", "-sample_index=alloc_objects"]).contains("Total samples = \(objects)"))

    // speedscope: the Python function with its file and line.
    let speedscope = try CLI.run(["export", dump, "--format", "speedscope", "--metric", "allocated"])
    let json = try JSONSerialization.jsonObject(with: Data(speedscope.stdout.utf8)) as? [String: Any]
    let sf = ((json?["shared"] as? [String: Any])?["frames"] as? [[String: Any]]) ?? []
    let leaf = sf.first { ($0["name"] as? String) == "leaf_alloc (main)" }
    #expect(leaf?["file"] as? String == file && leaf?["line"] as? Int == Self.l("ALLOC"), "\(sf)")
    #expect(!sf.contains { ($0["name"] as? String)?.hasPrefix("_PyEval_EvalFrame") == true }, "\(sf)")

    // The HTML report's flame graphs: the same functions, the interpreter's drawn only when asked for.
    for (name, extra) in [("hidden.html", [String]()), ("shown.html", ["--show-interpreter-frames"])] {
      let r = try CLI.run(["report", dump, "-o", ws.path(name)] + extra)
      #expect(r.status == 0, "\(r.stderr)")
      let page = (try? String(contentsOfFile: ws.path(name), encoding: .utf8)) ?? ""
      #expect(page.contains(#""k":"python","l":\#(Self.l("ALLOC")),"m":"main","n":"leaf_alloc"}"#))
      #expect(page.contains(#""n":"_PyEval_EvalFrame"#) == !extra.isEmpty, "\(name)")
    }
  }
}
