// `export --format pprof` on a program with its own mappings: the resident pages of each stack's
// live mappings are a sample type of their own (resident_space), read back by go tool pprof and by
// PyPI's protobuf against profile.proto, with totals equal to `top --format json`'s resident bytes
// and to the pages the program touched.
import Foundation
import Testing

@Suite(.serialized) struct ExportResidentTests {
  static let page = UInt64(sysconf(Int32(_SC_PAGESIZE)))

  /// Two mappings from two functions. At "touched": 40 pages of the pool and all 64 of the arena
  /// resident; at exit 100 pages of the pool and 48 of the arena (16 given back with madvise).
  static let program = """
    #include <stdlib.h>
    #include <string.h>
    #include <unistd.h>
    #include <sys/mman.h>
    extern void heapwise_marker(const char *name) __attribute__((weak));
    static void mark(const char *name) { if (heapwise_marker) heapwise_marker(name); }
    static long page;
    __attribute__((noinline)) char *pool(size_t pages, size_t touched) {
      char *p = mmap(0, pages * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      for (size_t i = 0; i < touched; i++) p[i * page] = 1;
      return p;
    }
    __attribute__((noinline)) char *arena(size_t pages) {
      char *p = mmap(0, pages * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      memset(p, 1, pages * page);
      return p;
    }
    int main(void) {
      page = sysconf(_SC_PAGESIZE);
      char *a = pool(256, 40);
      char *b = arena(64);
      char *h = malloc(5000);
      h[0] = 1;
      mark("touched");
      for (size_t i = 40; i < 100; i++) a[i * page] = 2;
      madvise(b, 16 * page, MADV_DONTNEED);
      return h[0] - 1;
    }
    """

  static let recorded = RecordedProgram.record("resident", program)

  static func dump() throws -> (ws: Workspace, exe: String, dump: String) { try RecordedProgram.require(recorded, "resident") }

  /// The sum of a counter over every site of `top --format json --limit 0`.
  static func topSum(_ dump: String, _ counter: String, _ extra: [String] = []) throws -> UInt64 {
    let r = try CLI.run(["top", dump, "--format", "json", "--limit", "0"] + extra)
    #expect(r.status == 0, "\(r.stderr)")
    let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
    return (obj?["sites"] as? [[String: Any]] ?? []).reduce(0) { sum, site in
      sum + (((site["counters"] as? [String: Any])?[counter] as? NSNumber)?.uint64Value ?? 0)
    }
  }

  @Test func topCountsTheTouchedPages() throws {
    let (_, _, dump) = try Self.dump()
    #expect(try Self.topSum(dump, "resident_bytes") == (100 + 48) * Self.page)
    #expect(try Self.topSum(dump, "resident_bytes", ["--at", "touched"]) == (40 + 64) * Self.page)
    #expect(try Self.topSum(dump, "reserved_bytes") == (256 + 64) * Self.page)
  }

  @Test func residentSpaceReadByGoToolPprof() throws {
    let (ws, _, dump) = try Self.dump()
    guard let go = Repository.which("go") else {
      Issue.record("go is missing: tools/install-deps.sh installs golang-go")
      return
    }
    let env = ["HOME": ws.url.path, "GOCACHE": ws.path("gocache"), "PPROF_TMPDIR": ws.url.path]
    func top(_ profile: String) throws -> String {
      let r = try CLI.runProcess(go, ["tool", "pprof", "-symbolize=none", "-top", "-unit=B", "-sample_index=resident_space", profile],
                                 environment: env)
      #expect(r.status == 0, "\(r.stderr)")
      return r.stdout + r.stderr
    }
    let atExit = ws.path("resident.pb.gz")
    #expect(try CLI.run(["export", dump, "--format", "pprof", "-o", atExit]).status == 0)
    let text = try top(atExit)
    let resident = try Self.topSum(dump, "resident_bytes")
    #expect(resident == (100 + 48) * Self.page)
    #expect(text.contains("Total samples = \(resident)B"), "\(text)")
    // Each mapping with its own stack, its resident bytes flat in the function that mapped it.
    let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
    #expect(lines.contains { $0.hasPrefix("\(100 * Self.page)B") && $0.hasSuffix(" pool") }, "\(text)")
    #expect(lines.contains { $0.hasPrefix("\(48 * Self.page)B") && $0.hasSuffix(" arena") }, "\(text)")

    let atMarker = ws.path("touched.pb.gz")
    #expect(try CLI.run(["export", dump, "--format", "pprof", "--at", "touched", "-o", atMarker]).status == 0)
    let touched = try Self.topSum(dump, "resident_bytes", ["--at", "touched"])
    let touchedText = try top(atMarker)
    #expect(touchedText.contains("Total samples = \(touched)B"), "\(touchedText)")

    let atPeak = ws.path("peak.pb.gz")
    #expect(try CLI.run(["export", dump, "--format", "pprof", "--metric", "peak", "-o", atPeak]).status == 0)
    let peak = try Self.topSum(dump, "peak_resident_bytes", ["--metric", "peak"])
    let peakText = try top(atPeak)
    #expect(peak > 0 && peakText.contains("Total samples = \(peak)B"), "\(peakText)")
  }

  @Test func residentSpaceDecodedWithPyPIProtobuf() throws {
    let (ws, _, dump) = try Self.dump()
    guard let obj = try pprofDecodedWithPyPI(dump, in: ws) else { return }
    #expect(obj["sample_types"] as? [String] == [
      "alloc_objects/count", "alloc_space/bytes", "inuse_objects/count", "inuse_space/bytes",
      "temporary_objects/count", "temporary_space/bytes", "resident_space/bytes",
    ])
    let totals = obj["totals"] as? [String: NSNumber] ?? [:]
    let resident = try Self.topSum(dump, "resident_bytes")
    #expect(totals["resident_space"]?.uint64Value == resident)
    // inuse_space holds the heap block and the resident pages: resident_space is its mapped part.
    let live = try jsonTotal(try CLI.run(["top", dump, "--format", "json"]).stdout)
    #expect(totals["inuse_space"]?.uint64Value == live.size)
    #expect(live.size == 5000 + (100 + 48) * Self.page)
    #expect((obj["comments"] as? [String] ?? []).contains { $0.hasPrefix("resident_space:") })
  }
}
