// `export`: a program with known allocations recorded by the real recorder, exported to pprof,
// speedscope and collapsed stacks, then read back by independent readers (go tool pprof, PyPI's
// protobuf against our profile.proto, jsonschema against speedscope's schema) whose totals must
// equal `top`'s.
import Foundation
import Testing

/// The checkout this test runs from (the directory with Package.swift above the build directory).
enum Repository {
  static let root: URL? = {
    var dir = URL(fileURLWithPath: CLI.executable).deletingLastPathComponent()
    while dir.path != "/" {
      if FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) { return dir }
      dir = dir.deletingLastPathComponent()
    }
    return nil
  }()

  static func path(_ relative: String) -> String { root!.appendingPathComponent(relative).path }

  /// The interpreter of a cached venv with `packages` (tools/python-env.sh), or nil with the reason recorded.
  static func python(_ packages: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> String? {
    let r = try CLI.runProcess("/bin/bash", [path("tools/python-env.sh"), "3.11"] + packages)
    guard r.status == 0 else {
      Issue.record("tools/python-env.sh 3.11 \(packages.joined(separator: " ")) failed: \(r.stderr)", sourceLocation: sourceLocation)
      return nil
    }
    return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
  }

  /// The full path of `tool` on the PATH (or in /usr/bin), else nil.
  static func which(_ tool: String) -> String? {
    let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/bin", "/usr/lib/go/bin"]
    return dirs.map { "\($0)/\(tool)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
  }
}

@Suite(.serialized) struct ExportTests {
  static let program = """
    #include <stdlib.h>
    extern void heapwise_marker(const char *name) __attribute__((weak));
    static void mark(const char *name) { if (heapwise_marker) heapwise_marker(name); }
    static inline __attribute__((always_inline)) void *inlined_alloc(size_t n) {
      return malloc(n); /* INLINED */
    }
    __attribute__((noinline)) void *keep(size_t n) {
      return inlined_alloc(n); /* KEEP */
    }
    __attribute__((noinline)) void churn(void) {
      for (int i = 0; i < 10; i++) free(malloc(100)); /* CHURN */
    }
    void *kept[8];
    int main(void) {
      for (int i = 0; i < 5; i++) kept[i] = keep(1000);
      mark("five");
      for (int i = 5; i < 8; i++) kept[i] = keep(3000);
      churn();
      free(kept[0]);
      return 0;
    }
    """

  static let recorded = RecordedProgram.record("export", program)

  static func dump() throws -> (ws: Workspace, exe: String, dump: String) { try RecordedProgram.require(recorded, "export") }

  /// `top --format json`'s total for `metric` (and `--at`).
  static func topTotal(_ dump: String, _ metric: String, at marker: String? = nil) throws -> (size: UInt64, count: UInt64) {
    let r = try CLI.run(["top", dump, "--metric", metric, "--format", "json"] + (marker.map { ["--at", $0] } ?? []))
    #expect(r.status == 0, "\(r.stderr)")
    return try jsonTotal(r.stdout)
  }

  @Test func collapsedStacksWeighTheMetricAndSumToTopsTotal() throws {
    let (ws, _, dump) = try Self.dump()
    for metric in ["live", "allocated", "count", "temporary", "peak", "leaked"] {
      let r = try CLI.run(["export", dump, "--format", "collapsed", "--metric", metric], in: ws.url)
      #expect(r.status == 0, "\(metric): \(r.stderr)")
      let lines = r.stdout.split(separator: "\n").map(String.init)
      let weights = lines.map { UInt64($0.split(separator: " ").last ?? "") ?? 0 }
      #expect(!lines.isEmpty && weights.allSatisfy { $0 > 0 }, "\(metric): \(r.stdout)")
      let total = try Self.topTotal(dump, metric)
      #expect(weights.reduce(0, +) == (metric == "count" ? total.count : total.size), "\(metric): \(r.stdout)")
    }
    func weight(_ metric: String, suffix: String, at: String? = nil) throws -> UInt64? {
      let r = try CLI.run(["export", dump, "--format", "collapsed", "--metric", metric] + (at.map { ["--at", $0] } ?? []))
      return r.stdout.split(separator: "\n").first { $0.hasPrefix("_start;") && $0.contains(suffix + " ") }
        .flatMap { UInt64($0.split(separator: " ").last ?? "") }
    }
    // Outermost first; the inlined function is a frame of its own; malloc is cut.
    #expect(try weight("live", suffix: ";main;keep;inlined_alloc") == 4 * 1000 + 3 * 3000)
    #expect(try weight("live", suffix: ";main;keep;inlined_alloc", at: "five") == 5 * 1000)
    #expect(try weight("allocated", suffix: ";main;keep;inlined_alloc") == 5 * 1000 + 3 * 3000)
    #expect(try weight("count", suffix: ";main;keep;inlined_alloc") == 8)
    #expect(try weight("temporary", suffix: ";main;churn") == 10 * 100)
    // The recorder does not record its own hook's frame, so for C's malloc nothing is cut.
    let keep = try CLI.run(["export", dump, "--format", "collapsed", "--keep-allocator-frames"])
    #expect(keep.stdout.contains(";main;keep;inlined_alloc 13000\n"), "\(keep.stdout)")
  }

  @Test func pprofReadByGoToolPprof() throws {
    let (ws, _, dump) = try Self.dump()
    guard let go = Repository.which("go") else {
      Issue.record("go is missing: tools/install-deps.sh installs golang-go")
      return
    }
    let profile = ws.path("export.pb.gz")
    #expect(try CLI.run(["export", dump, "--format", "pprof", "-o", profile]).status == 0)
    let live = try Self.topTotal(dump, "live"), allocated = try Self.topTotal(dump, "allocated")
    let temporary = try Self.topTotal(dump, "temporary")
    let expected: [(String, UInt64)] = [
      ("inuse_space", live.size), ("inuse_objects", live.count), ("alloc_space", allocated.size),
      ("alloc_objects", allocated.count), ("temporary_space", temporary.size), ("temporary_objects", temporary.count),
    ]
    let env = ["HOME": ws.url.path, "GOCACHE": ws.path("gocache"), "PPROF_TMPDIR": ws.url.path]
    for (index, value) in expected {
      let r = try CLI.runProcess(go, ["tool", "pprof", "-symbolize=none", "-top", "-unit=B", "-sample_index=\(index)", profile],
                                 environment: env)
      #expect(r.status == 0, "\(r.stderr)")
      let text = r.stdout + r.stderr
      #expect(text.contains("Total samples = \(value)B"), "\(index): \(text)")
      if index == "inuse_space" {
        #expect(text.contains("Type: inuse_space"), "\(text)")
        #expect(text.contains("inlined_alloc") && text.contains("keep") && !text.contains(" malloc"), "\(text)")
      }
    }
    let at = ws.path("five.pb.gz")
    #expect(try CLI.run(["export", dump, "--format", "pprof", "--at", "five", "-o", at]).status == 0)
    let five = try CLI.runProcess(go, ["tool", "pprof", "-symbolize=none", "-top", "-unit=B", "-sample_index=inuse_space", at],
                                  environment: env)
    #expect((five.stdout + five.stderr).contains("Total samples = \(try Self.topTotal(dump, "live", at: "five").size)B"),
            "\(five.stdout)\(five.stderr)")
  }

  @Test func pprofDecodedWithPyPIProtobuf() throws {
    let (ws, exe, dump) = try Self.dump()
    guard let obj = try pprofDecodedWithPyPI(dump, in: ws, ["--metric", "allocated"]) else { return }
    #expect(obj["sample_types"] as? [String] == [
      "alloc_objects/count", "alloc_space/bytes", "inuse_objects/count", "inuse_space/bytes",
      "temporary_objects/count", "temporary_space/bytes",
    ])
    #expect(obj["default_sample_type"] as? String == "alloc_space")
    let totals = obj["totals"] as? [String: NSNumber] ?? [:]
    let live = try Self.topTotal(dump, "live"), allocated = try Self.topTotal(dump, "allocated")
    #expect(totals["inuse_space"]?.uint64Value == live.size && totals["inuse_objects"]?.uint64Value == live.count)
    #expect(totals["alloc_space"]?.uint64Value == allocated.size && totals["alloc_objects"]?.uint64Value == allocated.count)

    // The executable's mapping carries its build id, as readelf reads it.
    let notes = try CLI.runProcess("/usr/bin/readelf", ["-n", exe]).stdout
    let buildID = notes.split(separator: "\n").first { $0.contains("Build ID:") }?
      .split(separator: " ").last.map(String.init)
    let mappings = obj["mappings"] as? [[String: Any]] ?? []
    let mine = mappings.first { ($0["file"] as? String) == exe }
    #expect(buildID != nil && mine?["build_id"] as? String == buildID, "\(mappings) vs \(buildID ?? "?")")
    #expect(mine?["has_functions"] as? Bool == true && mine?["has_inline_frames"] as? Bool == true)

    // The inlined call is one location: the inlined function first, then the function it was inlined into.
    let locations = obj["locations"] as? [[[String: Any]]] ?? []
    let inlined = locations.first { $0.first?["name"] as? String == "inlined_alloc" }
    #expect(inlined?.map { $0["name"] as? String } == ["inlined_alloc", "keep"], "\(locations)")
    #expect(inlined?.map { ($0["line"] as? NSNumber)?.intValue } == [
      line(of: "INLINED", in: Self.program), line(of: "KEEP", in: Self.program),
    ], "\(inlined ?? [])")
    #expect(inlined?.allSatisfy { ($0["file"] as? String)?.hasSuffix("export.c") == true } == true)
  }

  @Test func speedscopeValidAgainstItsSchema() throws {
    let (ws, _, dump) = try Self.dump()
    guard let python = try Repository.python(["protobuf", "jsonschema"]) else { return }
    for metric in ["live", "count"] {
      let file = ws.path("\(metric).speedscope.json")
      #expect(try CLI.run(["export", dump, "--format", "speedscope", "--metric", metric, "-o", file]).status == 0)
      let r = try CLI.runProcess(python, [Repository.path("tools/interop/validate_speedscope.py"), file])
      #expect(r.status == 0, "\(r.stderr)")
      let profiles = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]] ?? []
      let total = try Self.topTotal(dump, metric)
      #expect(profiles.count == 1)
      #expect((profiles.first?["total"] as? NSNumber)?.uint64Value == (metric == "count" ? total.count : total.size))
      #expect(profiles.first?["unit"] as? String == (metric == "count" ? "none" : "bytes"))
      let stacks = profiles.first?["stacks"] as? [[String]] ?? []
      // Root first: the leaf of the program's stack is the inlined function.
      #expect(stacks.contains { $0.first?.hasPrefix("_start") == true && $0.last?.hasPrefix("inlined_alloc") == true },
              "\(stacks)")
    }
  }

  /// 100000 paths through a binary tree of calls: each is a stack of its own, with its own id.
  /// (A stack hash linear in the return addresses once gave them 714 ids.)
  @Test func distinctStacksKeepDistinctIds() throws {
    try CLI.requireLibrary()
    let ws = try Workspace("many-ids")
    defer { ws.remove() }
    let exe = ws.path("many_stacks")
    let cc = try CLI.runProcess("/usr/bin/cc", ["-O0", "-g", "-o", exe, Repository.path("tools/bench/many_stacks.c")])
    #expect(cc.status == 0, "\(cc.stderr)")
    let dump = try ws.record(exe, dump: "many.heapwise")
    let records = try CLI.run(["records", dump], timeout: 600)
    #expect(records.stdout.split(separator: "\n").filter { $0.contains(" stack ") }.count == 100_000)
    let collapsed = try CLI.run(["export", dump, "--format", "collapsed", "--metric", "count"], timeout: 600)
    let lines = collapsed.stdout.split(separator: "\n")
    #expect(lines.count == 100_000 && lines.allSatisfy { $0.hasSuffix(" 1") })
  }

  @Test func badInputsSayOneLine() throws {
    let (ws, _, dump) = try Self.dump()
    let missing = try CLI.run(["export", dump, "--format", "pprof", "--at", "nope"], in: ws.url)
    #expect(missing.status == 1)
    #expect(missing.stderr.contains("no marker named \"nope\""), "\(missing.stderr)")
    let notLive = try CLI.run(["export", dump, "--format", "collapsed", "--metric", "peak", "--at", "five"])
    #expect(notLive.status != 0 && notLive.stderr.contains("--at applies to --metric live only"), "\(notLive.stderr)")
    let notADump = try CLI.run(["export", ws.path("export.c"), "--format", "collapsed"])
    #expect(notADump.status == 1 && notADump.stderr.split(separator: "\n").count == 1, "\(notADump.stderr)")
  }
}
