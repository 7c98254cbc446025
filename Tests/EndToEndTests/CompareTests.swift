// `compare`: two markers of one run, and two builds of one program at different paths.
import Foundation
import Testing

@Suite(.serialized) struct CompareTests {
  static let batches = """
    #include <stdlib.h>
    extern void heapwise_marker(const char *name) __attribute__((weak));
    static void mark(const char *name) { if (heapwise_marker) heapwise_marker(name); }
    void *cache[64];
    int main(int argc, char **argv) {
      int extra = argc > 1 ? atoi(argv[1]) : 0;
      for (int i = 0; i < 4; i++) cache[i] = malloc(1000);      /* BATCH1 */
      mark("batch1");
      for (int i = 4; i < 12; i++) cache[i] = malloc(1000);     /* BATCH2 */
      for (int i = 0; i < extra; i++) cache[20 + i] = malloc(300); /* EXTRA */
      free(cache[0]);
      mark("batch2");
      return 0;
    }
    """

  @Test func twoMarkersOfOneRun() throws {
    try CLI.requireLibrary()
    let ws = try Workspace("markers")
    defer { ws.remove() }
    let dump = try ws.record(try ws.compile("batches", Self.batches), ["2"], dump: "batches.heapwise")
    func l(_ m: String) -> String { "main (batches.c:\(line(of: m, in: Self.batches)))" }
    let r = try CLI.run(["compare", dump, "--from", "batch1", "--to", "batch2", "--include", "file:*batches.c"], in: ws.url)
    #expect(r.status == 0, "\(r.stderr)")
    let lines = r.stdout.split(separator: "\n").map(String.init)
    let sites = lines.filter { $0.hasPrefix("main (batches.c:") }
    // Sorted by the absolute size difference: +8000, -1000, +600.
    #expect(sites == [
      "\(l("BATCH2")): size=7.8 KiB (+7.8 KiB), count=8 (+8), average=1000 B [new]",
      "\(l("BATCH1")): size=2.9 KiB (-1000 B), count=3 (-1), average=1000 B",
      "\(l("EXTRA")): size=600 B (+600 B), count=2 (+2), average=300 B [new]",
    ], "\(r.stdout)")
    #expect(lines.contains("total: size=11.3 KiB (+7.4 KiB), count=13 (+9)"), "\(r.stdout)")

    let at = try jsonSites(try CLI.run(["top", dump, "--at", "batch1", "--include", "file:*batches.c", "--format", "json"],
                                       in: ws.url).stdout)
    #expect(at.count == 1 && at[l("BATCH1")].map { [$0.size, $0.count] } == [4000, 4])

    let missing = try CLI.run(["top", dump, "--at", "nope"], in: ws.url)
    #expect(missing.status == 1)
    #expect(missing.stderr.contains("no marker named \"nope\"; the dump has: \"batch1\", \"batch2\""), "\(missing.stderr)")
  }

  @Test func twoBuildsAtDifferentPathsMatchBySymbols() throws {
    try CLI.requireLibrary()
    let ws = try Workspace("builds")
    defer { ws.remove() }
    let old = try ws.record(try ws.compile("batches", Self.batches, in: "old"), ["1"], dump: "old.heapwise")
    let new = try ws.record(try ws.compile("batches", Self.batches, in: "new-tree/build"), ["5"], dump: "new.heapwise")
    let r = try CLI.run(["compare", old, new, "--include", "file:*batches.c", "--format", "json"], in: ws.url)
    #expect(r.status == 0, "\(r.stderr)")
    let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
    let sites = obj?["sites"] as? [[String: Any]] ?? []
    #expect(obj?["schema"] as? String == "heapwise.compare/1")
    #expect(sites.count == 3, "\(r.stdout)")
    #expect(sites.allSatisfy { $0["status"] as? String == "changed" }, "\(r.stdout)")
    let first = sites.first
    #expect((first?["label"] as? String) == "main (batches.c:\(line(of: "EXTRA", in: Self.batches)))")
    #expect((first?["size_diff"] as? NSNumber)?.intValue == 1200)
    #expect((first?["count_diff"] as? NSNumber)?.intValue == 4)
  }
}
