// One way to name a site: the same dump's sites print identically in `top`, `compare`,
// `summary` and `check` (docs/ANALYSIS.md, "Site names").
import Foundation
import Testing

@Suite(.serialized) struct SiteNameTests {
  /// Four batches, each keeping 32 blocks from a called function and 32 from an inlined one
  /// (3 MiB a batch, touched, between markers): a growing run that leaks at exit.
  static let program = """
    #include <stdlib.h>
    #include <string.h>
    extern void heapwise_marker(const char *name) __attribute__((weak));
    static void mark(const char *name) { if (heapwise_marker) heapwise_marker(name); }
    void *kept[512];
    int n;
    void *grow(void) {
      return malloc(65536); /* GROW */
    }
    static inline __attribute__((always_inline)) void *stash(void) {
      return malloc(32768); /* STASH */
    }
    int main(void) {
      mark("b0");
      for (int b = 1; b <= 4; b++) {
        for (int i = 0; i < 32; i++) { kept[n] = grow(); memset(kept[n++], 1, 65536); }
        for (int i = 0; i < 32; i++) { kept[n] = stash(); memset(kept[n++], 1, 32768); }
        char name[3] = {'b', (char)('0' + b), 0};
        mark(name);
      }
      return 0;
    }
    """

  /// The site names a text report prints before `suffix` on lines that start with `indent` (not
  /// its total lines).
  static func names(_ text: String, after heading: String? = nil, indent: String = "", suffix: String) -> Set<String> {
    var lines = text.split(separator: "\n").map(String.init)
    if let heading, let at = lines.firstIndex(where: { $0.hasSuffix(heading) }) { lines = Array(lines[(at + 1)...]) }
    var found: Set<String> = []
    for line in lines where line.hasPrefix(indent) {
      let rest = line.dropFirst(indent.count)
      guard !rest.hasPrefix(" "), !rest.hasPrefix("total"), !rest.hasPrefix("filtered out"),
        let r = rest.range(of: suffix)
      else { continue }
      found.insert(String(rest[..<r.lowerBound]))
    }
    return found
  }

  @Test func oneSitePrintsTheSameInEveryCommand() throws {
    try CLI.requireLibrary()
    let ws = try Workspace("sitenames")
    defer { ws.remove() }
    let exe = try ws.compile("sites", Self.program)
    let grow = "grow (sites.c:\(line(of: "GROW", in: Self.program)))"
    let stash = "stash (sites.c:\(line(of: "STASH", in: Self.program)))"  // an inlined frame
    let expected: Set = [grow, stash]

    // check records the program and keeps the dump the other commands read.
    let dump = ws.path("sites.heapwise")
    let check = try CLI.run(["check", "--max-leaked", "0", "-o", dump, "--", exe], in: ws.url)
    #expect(check.status == 3, "\(check.stdout)\(check.stderr)")
    let topSites = check.stdout.split(separator: "\n").first { $0.hasPrefix("    top sites: ") }
      .map { $0.dropFirst("    top sites: ".count).components(separatedBy: ", ") } ?? []
    let fromCheck = Set(topSites.compactMap { s in s.range(of: " (", options: .backwards).map { String(s[..<$0.lowerBound]) } })
    #expect(fromCheck == expected, "\(check.stdout)")

    let top = try CLI.run(["top", dump, "--include", "file:*sites.c"], in: ws.url)
    #expect(top.status == 0, "\(top.stderr)")
    #expect(Self.names(top.stdout, suffix: ": size=") == expected, "\(top.stdout)")

    let compare = try CLI.run(["compare", dump, "--from", "b1", "--to", "b4", "--include", "file:*sites.c"], in: ws.url)
    #expect(compare.status == 0, "\(compare.stderr)")
    #expect(Self.names(compare.stdout, suffix: ": size=") == expected, "\(compare.stdout)")

    let summary = try CLI.run(["summary", dump], in: ws.url)
    #expect(summary.status == 0, "\(summary.stderr)")
    #expect(summary.stdout.contains("verdict: growing"), "\(summary.stdout)")
    #expect(Self.names(summary.stdout, after: "top growing sites:", indent: "    ", suffix: ": +") == expected,
            "\(summary.stdout)")

    // The JSON outputs carry the same names.
    let json = try jsonSites(try CLI.run(["top", dump, "--include", "file:*sites.c", "--format", "json"], in: ws.url).stdout)
    #expect(Set(json.keys) == expected, "\(json)")
    let summaryJSON = try JSONSerialization.jsonObject(
      with: Data(try CLI.run(["summary", dump, "--format", "json"], in: ws.url).stdout.utf8)) as? [String: Any]
    let findings = summaryJSON?["verdict"] as? [[String: Any]] ?? []
    #expect(Set(findings.first?["sites"] as? [String] ?? []) == expected, "\(findings)")
  }
}
