import Foundation
import HeapwiseFormat
import HeapwiseReports
import TestSupport
import Testing

@testable import HeapwiseAnalysis

/// Records the programs of examples/ under the real preload library (build/lib/libheapwise.so,
/// built with `make lib` when missing) and checks the summary's verdict and figures.
@Suite(.serialized)
struct SummaryExamplesTests {
  static let repository = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
  static let MiB: UInt64 = 1 << 20

  let dir: String

  init() throws {
    var template = Array((NSTemporaryDirectory() + "heapwise-summary-XXXXXX").utf8CString)
    guard let made = mkdtemp(&template) else { throw ExampleError("mkdtemp failed") }
    dir = String(cString: made)
  }

  /// Runs a command; returns its standard output, and its standard error through `stderr`.
  @discardableResult
  static func run(
    _ arguments: [String], environment: [String: String] = [:], stderr: UnsafeMutablePointer<String>? = nil,
    timeout: TimeInterval = 120
  ) throws -> String {
    // A path runs directly (through env, the recorder would record env, which then execs);
    // a bare name is looked up by env.
    let direct = arguments[0].contains("/")
    let r = try Subprocess.run(
      direct ? arguments[0] : "/usr/bin/env", direct ? Array(arguments.dropFirst()) : arguments,
      environment: Subprocess.environment(adding: environment), timeout: timeout)
    stderr?.pointee = r.stderr
    guard r.exitCode == 0 else { throw ExampleError("\(arguments.joined(separator: " ")): \(r.stderr)") }
    return r.stdout
  }

  static func preloadLibrary() throws -> String {
    let lib = repository + "/build/lib/libheapwise.so"
    if !FileManager.default.fileExists(atPath: lib) { try run(["make", "-C", repository, "lib"]) }
    return lib
  }

  /// Compiles examples/`name`.c.
  func compile(_ name: String) throws -> String {
    let binary = "\(dir)/\(name)"
    try Self.run([
      "cc", "-O1", "-g", "-I\(Self.repository)/CShim/include", "-o", binary,
      "\(Self.repository)/examples/\(name).c",
    ])
    return binary
  }

  /// Runs `command` under the recorder and summarizes the dump.
  func record(_ command: [String], as name: String, environment: [String: String] = [:]) throws
    -> SummaryReport
  {
    let dump = "\(dir)/\(name).heapwise"
    var stderr = ""
    try Self.run(
      command,
      environment: environment.merging([
        "LD_PRELOAD": try Self.preloadLibrary(), "HEAPWISE_OUTPUT": dump,
      ]) { $1 }, stderr: &stderr)
    // A preload library that fails to load (being rebuilt, say) only warns: say so, not "no file".
    guard FileManager.default.fileExists(atPath: dump) else {
      throw ExampleError("\(command[0]) wrote no dump; its stderr: \(stderr)")
    }
    let report = try SummaryReport.summarize(dumpAt: dump)
    #expect(report.warnings.isEmpty, "\(report.warnings)")
    let exit = try #require(report.atExit)
    #expect(exit.sum == exit.rss.bytes)
    return report
  }

  @Test func fragmentationIsRetention() throws {
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let report = try record([try compile("fragmentation"), "32"], as: "frag")
    #expect(report.verdict.findings.map(\.kind) == [.retention, .highWaterMark])
    #expect(report.verdict.primary.headline.hasPrefix("retention, not a leak: "))
    let exit = try #require(report.atExit)
    #expect((exit.allocatorHeld?.bytes ?? 0) > 25 * Self.MiB)
    // 1% of 32 MiB of 512 B blocks survive.
    #expect(report.facts.endLiveHeap >= 655 * 512 && report.facts.endLiveHeap < Self.MiB)
    #expect(report.facts.growth.basis == .markers && report.facts.growth.points.count == 5)
    #expect(report.verdict.primary.evidence.contains { $0.hasPrefix("tracked memory was flat across markers freed..steady3") })
    #expect(report.allocator == "glibc malloc")
    // The survivors, one every 100 blocks of 512 B, each pin their own page.
    let heap = try #require(report.facts.heap)
    #expect(heap.pinnedPages >= 655)
    #expect(heap.sites.first?.site.hasPrefix("fill_site (fragmentation.c:") == true)
    #expect(heap.heaps.first?.kind == "main" && heap.heaps.first?.topSite.hasPrefix("fill_site (fragmentation.c:") == true)
    // The recorder's mincore snapshot at exit splits the resident heap into pages the survivors
    // keep and pages malloc_trim(0) could return.
    let resident = try #require(heap.resident)
    #expect(resident.pinned >= 655 && resident.pinned <= heap.pinnedPages)
    #expect(UInt64(resident.pages - resident.pinned) * heap.pageSize > 20 * Self.MiB)
    #expect(report.verdict.primary.evidence.contains { $0.hasSuffix("malloc_trim(0) would return it") })
  }

  /// What the residency snapshot says malloc_trim(0) would return is what the probe returns.
  @Test func residencyAgreesWithTheTrimProbe() throws {
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let binary = try compile("fragmentation")
    let plain = try record([binary, "32"], as: "plain")
    let probed = try record([binary, "32"], as: "probed", environment: ["HEAPWISE_TRIM_PROBE": "1"])
    let resident = try #require(plain.facts.heap?.resident)
    let free = Double(resident.pages - resident.pinned) * Double(plain.facts.heap!.pageSize)
    let returned = Double(try #require(probed.facts.trims.first { $0.label == "freed" }).returned)
    #expect(abs(free - returned) <= returned * 0.1, "resident free \(free), trim returned \(returned)")
  }

  @Test func threadArenasAreAttributed() throws {
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let binary = "\(dir)/thread_arenas"
    try Self.run([
      "cc", "-O1", "-g", "-pthread", "-I\(Self.repository)/CShim/include", "-o", binary,
      "\(Self.repository)/examples/thread_arenas.c",
    ])
    let report = try record([binary, "20000"], as: "arenas")
    #expect(report.verdict.primary.kind == .retention)
    let heap = try #require(report.facts.heap)
    // Four workers, four arenas (glibc allows 8 per core before sharing).
    #expect(heap.heaps.filter { $0.kind == "threadArena" }.count == 4)
    #expect(heap.sites.first?.site.hasPrefix("work_item (thread_arenas.c:") == true)
    #expect(heap.sites.first?.blocks == 4 * 400)
    #expect(report.verdict.primary.evidence.contains { $0.hasPrefix("free() cannot shrink 4 thread arena heaps") })
  }

  @Test func trimProbeMeasuresWhatCameBack() throws {
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let report = try record(
      [try compile("fragmentation"), "32"], as: "frag-trim", environment: ["HEAPWISE_TRIM_PROBE": "1"])
    #expect(report.verdict.primary.kind == .retention)
    let freed = try #require(report.facts.trims.first { $0.label == "freed" })
    #expect(freed.returned > 25 * Self.MiB)
    #expect(report.facts.trims.contains { $0.label == nil })  // the probe at exit
    #expect(report.verdict.primary.evidence.contains { $0.hasPrefix("malloc_trim(0) returned ") })
  }

  /// Fills the heap and frees it between two signal markers, recorded with --trim-probe. The first
  /// marker's probe runs on the writer thread while the program is still freeing (half the blocks
  /// are live): it returns the freed half, but by the last marker everything is freed and RSS is
  /// down. That is a high-water mark; the probe is evidence only for the heap it measured.
  static let signalProbe = """
    #include <signal.h>
    #include <stdlib.h>
    #include <string.h>
    #include <time.h>
    #include <unistd.h>
    static void pause_ms(long ms) { struct timespec t = {0, ms * 1000000}; nanosleep(&t, 0); }
    int main(void) {
      enum { N = 16384 };
      static char *blocks[N];
      for (int i = 0; i < N; i++) { blocks[i] = malloc(4000); memset(blocks[i], 1, 4000); }
      for (int i = 0; i < N / 2; i++) free(blocks[i]);
      kill(getpid(), SIGUSR2);
      pause_ms(300);
      for (int i = N / 2; i < N; i++) free(blocks[i]);
      pause_ms(100);
      kill(getpid(), SIGUSR2);
      pause_ms(300);
      return 0;
    }
    """

  @Test func signalMarkerProbeIsJudgedOnlyForItsMoment() throws {
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let source = "\(dir)/signal_probe.c"
    try Self.signalProbe.write(toFile: source, atomically: true, encoding: .utf8)
    let binary = "\(dir)/signal_probe"
    try Self.run(["cc", "-O1", "-g", "-o", binary, source])
    let report = try record([binary], as: "signal-probe", environment: ["HEAPWISE_TRIM_PROBE": "1"])
    let probe = try #require(report.facts.trims.first { $0.label == "signal-1" })
    #expect(probe.returned > 16 * Self.MiB, "the probe ran on the freed half")
    #expect((probe.liveHeap ?? 0) > 25 * Self.MiB, "while half the blocks were live")
    #expect(probe.time != nil)
    #expect(report.verdict.primary.kind == .highWaterMark, "\(report.verdict.primary.headline)")
    #expect(!report.verdict.findings.contains { $0.kind == .retention })
    #expect(report.verdict.primary.evidence.contains { $0.hasSuffix("that heap was later freed, so it is not retention now") })
    // Judged at the first marker, the probe is that moment's evidence.
    let at = try SummaryReport.summarize(dumpAt: "\(dir)/signal-probe.heapwise", scope: .at("signal-1"))
    #expect(at.verdict.findings.contains { $0.kind == .retention })
  }

  @Test func growingCacheNamesItsSite() throws {
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let report = try record([try compile("growing_cache"), "6"], as: "cache")
    #expect(report.verdict.primary.kind == .growing)
    #expect(report.facts.growth.isLinear)
    // 4096 entries of 1016 bytes per batch, five batches between the first and last marker.
    #expect(report.facts.growth.delta == 5 * 4096 * 1016)
    let top = try #require(report.facts.siteChanges.first)
    #expect(top.site.hasPrefix("cache_insert (growing_cache.c:"))
    #expect(top.delta == 5 * 4096 * 1016)
  }

  @Test func peakThenFreeIsHighWaterMark() throws {
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let report = try record([try compile("peak_then_free"), "64"], as: "peak")
    #expect(report.verdict.primary.kind == .highWaterMark)
    let peak = try #require(report.facts.peak)
    #expect(peak.bytes >= 64 * Self.MiB)
    #expect(peak.previousMarker == "start" && peak.nextMarker == "loaded")
    #expect(report.facts.endLiveHeap < Self.MiB)
  }

  @Test func viewKeepsTheFrameAlive() throws {
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let report = try record([try compile("few_large_blocks"), "40"], as: "view")
    #expect(report.verdict.primary.kind == .heldByFewBlocks)
    #expect(report.verdict.primary.headline.hasPrefix("held by a few large blocks: 80.0 MiB of the "))
    #expect(report.verdict.primary.evidence.allSatisfy { $0.contains("make_frame (few_large_blocks.c:") })
  }

  /// The pandas-at-exit case: everything is freed after the last marker (as CPython's teardown
  /// does), so the verdict finds the blocks at the marker, and says so.
  @Test func viewFreedAtTeardownIsFoundAtTheLastMarker() throws {
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let report = try record([try compile("few_large_blocks"), "40", "teardown"], as: "teardown")
    #expect(report.facts.endLiveHeap < Self.MiB)
    #expect(report.verdict.primary.kind == .heldByFewBlocks)
    #expect(report.verdict.primary.headline.hasPrefix("held by a few large blocks at marker \"later\": 80.0 MiB of the "))
    #expect(report.verdict.primary.evidence.filter { $0.contains("make_frame (few_large_blocks.c:") }.count == 2)
    #expect(report.verdict.primary.evidence.last?.hasPrefix("at exit the live heap was ") == true)
  }

  /// A shared library on the compiler's search path (tools/install-deps.sh installs jemalloc and
  /// tcmalloc for these tests).
  static func library(_ name: String) throws -> String {
    let path = try run(["cc", "-print-file-name=\(name)"]).trimmingCharacters(in: .whitespacesAndNewlines)
    guard path.hasPrefix("/") else { throw ExampleError("\(name) not found: run tools/install-deps.sh") }
    return path
  }

  /// Fragmentation under another allocator: its statistics give allocator-held, and jemalloc's
  /// own mappings (it calls mmap through the PLT) are not counted as the program's.
  @Test(arguments: [("libjemalloc.so.2", "jemalloc"), ("libtcmalloc_minimal.so.4", "tcmalloc")])
  func otherAllocators(library: String, name: String) throws {
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let binary = try compile("fragmentation")
    let dump = "\(dir)/\(name).heapwise"
    try Self.run(
      [binary, "32"],
      environment: ["LD_PRELOAD": "\(try Self.preloadLibrary()):\(try Self.library(library))", "HEAPWISE_OUTPUT": dump])
    let report = try SummaryReport.summarize(dumpAt: dump)
    #expect(report.allocator == name)
    #expect(report.verdict.primary.kind == .retention)
    let exit = try #require(report.atExit)
    #expect(exit.sum == exit.rss.bytes)
    #expect((exit.allocatorHeld?.bytes ?? 0) > 20 * Self.MiB)
    #expect(exit.mapped.bytes < Self.MiB)
    #expect(report.facts.growth.points.allSatisfy { $0.mapped == 0 })
  }

  /// A dump cut in the middle (a killed process): the summary covers what was read and says so.
  @Test func truncatedDumpIsSummarizedUpToTheCut() throws {
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let binary = try compile("growing_cache")
    let dump = "\(dir)/whole.heapwise"
    try Self.run([binary, "8"], environment: ["LD_PRELOAD": try Self.preloadLibrary(), "HEAPWISE_OUTPUT": dump])
    let bytes = try Data(contentsOf: URL(fileURLWithPath: dump))
    let cut = "\(dir)/cut.heapwise"
    try bytes.prefix(bytes.count * 2 / 3).write(to: URL(fileURLWithPath: cut))
    let report = try SummaryReport.summarize(dumpAt: cut)
    #expect(report.warnings.contains { $0.hasPrefix("truncated dump") })
    #expect(report.warnings.contains { $0.hasPrefix("no END record") })
    #expect(report.renderText().contains("warning: truncated dump"))
    let whole = try SummaryReport.summarize(dumpAt: dump)
    #expect(report.facts.growth.points.count <= whole.facts.growth.points.count)
    #expect(report.facts.endLiveHeap <= whole.facts.endLiveHeap)
  }

  static func python() throws -> String {
    // The real interpreter, not a pyenv shim script (the recorder does not follow exec).
    try run(["python3", "-c", "import sys; print(sys.executable)"])
      .trimmingCharacters(in: .whitespacesAndNewlines)
  }

  @Test func pythonSnapshotsGrowInPymallocArenas() throws {
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let script = Self.repository + "/examples/python_snapshots.py"
    let report = try record([try Self.python(), script, "6", "20000"], as: "py")
    #expect(report.verdict.primary.kind == .growing)
    let growth = report.facts.growth
    let mappedGrowth = growth.points.last!.mapped - growth.points.first!.mapped
    #expect(mappedGrowth > UInt64(growth.delta) / 2)
    #expect(report.mapped.first?.explanation?.hasPrefix("pymalloc arenas") == true)
  }

  @Test func pythonSnapshotsGrowInTheHeapWithMalloc() throws {
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let script = Self.repository + "/examples/python_snapshots.py"
    let report = try record(
      [try Self.python(), script, "4", "10000"], as: "py-malloc", environment: ["PYTHONMALLOC": "malloc"])
    #expect(report.verdict.primary.kind == .growing)
    let growth = report.facts.growth
    #expect(growth.points.last!.liveHeap - growth.points.first!.liveHeap > UInt64(growth.delta) * 9 / 10)
    #expect(!report.mapped.contains { $0.explanation?.hasPrefix("pymalloc") == true })
  }
}

struct ExampleError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}
