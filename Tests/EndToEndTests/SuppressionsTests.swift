// LeakSanitizer-format suppressions (`--suppressions FILE`) and the built-in rule for the C++
// runtime's one-time blocks, on a C++ program recorded by the real preload library: what
// `top --metric leaked`, `summary` and `check` call leaked, and what they say they left out.
import Foundation
import Testing

@Suite(.serialized) struct SuppressionsTests {
  /// Leaks 3 x 100 B from leak_three and 40 B from cache_once; everything else is freed. Like
  /// every C++ program, it also has libstdc++'s emergency exception pool live at exit: 72,704 B
  /// with this machine's libstdc++ (GCC 12 to 14).
  static let program = """
    #include <cstdlib>
    #include <string>
    __attribute__((noinline)) void leak_three() { for (int i = 0; i < 3; i++) { volatile char *p = new char[100]; (void)p; } }
    __attribute__((noinline)) void *cache_once() { return malloc(40); }
    int main() {
      leak_three();
      volatile void *c = cache_once(); (void)c;
      for (int i = 0; i < 100; i++) delete new std::string(64, 'x');
      return 0;
    }
    """
  static let pool: UInt64 = 72_704

  static func recorded(_ name: String) throws -> (Workspace, exe: String, dump: String) {
    try CLI.requireLibrary()
    let ws = try Workspace("supp-\(name)")
    let src = ws.path("leaks.cpp"), exe = ws.path("leaks")
    try program.write(toFile: src, atomically: true, encoding: .utf8)
    let cc = try CLI.runProcess("/usr/bin/c++", ["-g", "-O0", "-o", exe, src])
    #expect(cc.status == 0, "c++: \(cc.stderr)")
    return (ws, exe, try ws.record(exe, dump: "leaks.heapwise"))
  }

  static func write(_ ws: Workspace, _ name: String, _ text: String) throws -> String {
    let path = ws.path(name)
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
  }

  static func lines(_ s: String) -> [String] { s.split(separator: "\n").map(String.init) }

  @Test func theRuntimePoolIsSuppressedByDefault() throws {
    let (ws, _, dump) = try Self.recorded("default")
    defer { ws.remove() }
    let top = try CLI.run(["top", "--metric", "leaked", dump])
    #expect(top.status == 0, "\(top.stderr)")
    let out = Self.lines(top.stdout)
    #expect(out.contains("total: size=340 B, count=4, 2 sites"), "\(top.stdout)")
    #expect(out.last == "suppressed: 1 block, 71.0 KiB (runtime one-time)", "\(top.stdout)")
    // Without the built-in rule the pool is a leak like any other.
    let all = try CLI.run(["top", "--metric", "leaked", "--no-default-suppressions", dump])
    #expect(Self.lines(all.stdout).contains("total: size=71.3 KiB, count=5, 3 sites"), "\(all.stdout)")
    #expect(!all.stdout.contains("suppressed"), "\(all.stdout)")

    let summary = try CLI.run(["summary", dump])
    #expect(Self.lines(summary.stdout).contains("  suppressed: 1 block, 71.0 KiB (runtime one-time) of the live heap, not a leak"),
            "\(summary.stdout)")
    let json = try CLI.run(["summary", "--format", "json", dump])
    let obj = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
    let suppressed = obj?["suppressed"] as? [String: [String: NSNumber]]
    #expect(suppressed?["runtime"]?["blocks"] == 1 && suppressed?["runtime"]?["bytes"]?.uint64Value == Self.pool, "\(json.stdout)")
    #expect(suppressed?["listed"]?["blocks"] == 0, "\(json.stdout)")
  }

  @Test func aFileSuppressesByFunctionModuleOrFile() throws {
    let (ws, _, dump) = try Self.recorded("file")
    defer { ws.remove() }
    let byFunction = try Self.write(ws, "f.supp", "# the cache lives for the whole run\n\nleak:cache_once\n")
    let r = try CLI.run(["top", "--metric", "leaked", "--suppressions", byFunction, dump])
    #expect(r.status == 0, "\(r.stderr)")
    let out = Self.lines(r.stdout)
    #expect(out.contains("total: size=300 B, count=3, 1 sites"), "\(r.stdout)")
    #expect(out.suffix(2) == ["suppressed: 1 block, 71.0 KiB (runtime one-time)", "suppressed: 1 block, 40 B (suppressions file)"],
            "\(r.stdout)")
    // The JSON says the same, in the summary's shape; another metric has no "suppressed".
    let json = try CLI.run(["top", "--metric", "leaked", "--format", "json", "--suppressions", byFunction, dump])
    let obj = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
    let suppressed = obj?["suppressed"] as? [String: [String: NSNumber]]
    #expect(suppressed?["runtime"]?["blocks"] == 1 && suppressed?["runtime"]?["bytes"]?.uint64Value == Self.pool, "\(json.stdout)")
    #expect(suppressed?["listed"]?["blocks"] == 1 && suppressed?["listed"]?["bytes"] == 40, "\(json.stdout)")
    let live = try CLI.run(["top", "--format", "json", "--suppressions", byFunction, dump])
    let liveObj = try JSONSerialization.jsonObject(with: Data(live.stdout.utf8)) as? [String: Any]
    #expect(liveObj?["suppressed"] == nil && liveObj?["sites"] != nil, "\(live.stdout)")
    // The source file's name (a frame of every leak of the program) and anchors.
    let byFile = try Self.write(ws, "g.supp", "leak:^leaks.cpp$\n")
    let f = try CLI.run(["top", "--metric", "leaked", "--suppressions", byFile, dump])
    #expect(Self.lines(f.stdout).contains("total: size=0 B, count=0, 0 sites"), "\(f.stdout)")
    #expect(f.stdout.contains("suppressed: 4 blocks, 340 B (suppressions file)"), "\(f.stdout)")
    let anchored = try Self.write(ws, "h.supp", "leak:^eaks.cpp\n")
    let a = try CLI.run(["top", "--metric", "leaked", "--suppressions", anchored, dump])
    #expect(Self.lines(a.stdout).contains("total: size=340 B, count=4, 2 sites"), "\(a.stdout)")
  }

  @Test func checkCountsOnlyWhatIsNotSuppressed() throws {
    let (ws, exe, _) = try Self.recorded("check")
    defer { ws.remove() }
    let plain = try CLI.run(["check", "--max-leaked", "300", "--", exe], in: ws.url)
    #expect(plain.status == 3, "\(plain.stdout)\(plain.stderr)")
    #expect(CheckCommandTests.rows(plain.stdout).contains("leaked at exit 300 B 340 B FAIL +40 B"), "\(plain.stdout)")
    #expect(!plain.stdout.contains("libstdc++"), "the pool is no top site: \(plain.stdout)")
    let file = try Self.write(ws, "c.supp", "leak:cache_once\n")
    let r = try CLI.run(["check", "--max-leaked", "300", "--suppressions", file, "--", exe], in: ws.url)
    #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    #expect(CheckCommandTests.rows(r.stdout).contains("leaked at exit 300 B 300 B pass"), "\(r.stdout)")
    #expect(r.stdout.contains("suppressed: 1 block, 40 B (suppressions file)\n"), "\(r.stdout)")
  }

  @Test func aBadFileIsOneLineAndAFailure() throws {
    let (ws, exe, dump) = try Self.recorded("bad")
    defer { ws.remove() }
    let bad = try Self.write(ws, "bad.supp", "leak:ok\nrace:data_race_here\n")
    let missing = ws.path("missing.supp")
    let runs: [[String]] = [
      ["top", "--metric", "leaked", "--suppressions", bad, dump], ["summary", "--suppressions", bad, dump],
      ["check", "--max-leaked", "0", "--suppressions", bad, "--", exe], ["summary", "--suppressions", missing, dump],
    ]
    for args in runs {
      let r = try CLI.run(args, in: ws.url)
      #expect(r.status == 1, "\(args): \(r.status) \(r.stderr)")
      let expected = args.contains(missing) ? "heapwise: \(missing): cannot read the suppressions file"
        : "heapwise: \(bad): line 2: expected leak:PATTERN, found \"race:data_race_here\""
      #expect(Self.lines(r.stderr) == [expected], "\(args): \(r.stderr)")
      #expect(r.stdout.isEmpty, "\(args): \(r.stdout)")
    }
  }
}
