import Foundation
import HeapwiseFormat
import TestSupport
import Testing

@testable import HeapwiseAnalysis
import HeapwiseReports

/// The four pandas / pyarrow scripts of examples/ (pandas 3.1, pyarrow 26 from a cached venv made by
/// tools/python-env.sh) run under the real recorder, and the summary gives the right answer for
/// each: the verdict kind, the block and its site, the growth per batch within 10%, the private
/// allocator's bytes within 15% of what the script's own RSS readings show.
@Suite(.serialized)
struct PandasExamplesTests {
  static let MiB: Double = 1_048_576
  let dir: String

  init() throws {
    var template = Array((NSTemporaryDirectory() + "heapwise-pandas-XXXXXX").utf8CString)
    guard let made = mkdtemp(&template) else { throw ExampleError("mkdtemp failed") }
    dir = String(cString: made)
  }

  static func python() throws -> String {
    try SummaryExamplesTests.run([
      SummaryExamplesTests.repository + "/tools/python-env.sh", "3.11", "numpy", "pandas", "pyarrow",
    ], timeout: 900).trimmingCharacters(in: .whitespacesAndNewlines)
  }

  /// Records examples/pandas_`name`.py; returns the dump's path and the RSS the script read itself
  /// at each marker (its last stderr line: `rss {"start": ...}`).
  func record(_ name: String) throws -> (dump: String, rss: [String: Double]) {
    let dump = "\(dir)/\(name).heapwise"
    var stderr = ""
    try SummaryExamplesTests.run(
      [try Self.python(), SummaryExamplesTests.repository + "/examples/pandas_\(name).py"],
      environment: ["LD_PRELOAD": try SummaryExamplesTests.preloadLibrary(), "HEAPWISE_OUTPUT": dump],
      // A deadline against hangs, not a timing: a 10M-row frame recorded with Python frames while
      // the other suites run in parallel on two cores took over 120 s once.
      stderr: &stderr, timeout: 300)
    let line = try #require(stderr.split(separator: "\n").last { $0.hasPrefix("rss ") })
    let rss = try JSONSerialization.jsonObject(with: Data(line.dropFirst(4).utf8)) as? [String: Double] ?? [:]
    return (dump, rss)
  }

  /// The line of examples/pandas_`name`.py that starts with `text` (after its indentation).
  static func line(_ text: String, in name: String) throws -> Int {
    let source = try String(contentsOfFile: SummaryExamplesTests.repository + "/examples/pandas_\(name).py", encoding: .utf8)
    let lines = source.split(separator: "\n", omittingEmptySubsequences: false)
    return try #require(lines.firstIndex { $0.trimmingCharacters(in: .whitespaces).hasPrefix(text) }, "\(text)") + 1
  }

  func summary(_ dump: String, _ scope: SummaryScope = .whole) throws -> SummaryReport {
    try summaries(dump, [scope])[0]
  }

  func summaries(_ dump: String, _ scopes: [SummaryScope]) throws -> [SummaryReport] {
    let reports = try SummaryReport.summarize(dumpAt: dump, scopes: scopes)
    for r in reports { #expect(r.warnings.isEmpty, "\(r.warnings)") }
    return reports
  }

  /// view = df[["a"]]; del df: the frame's one 153 MiB block is still live (a reference is held),
  /// freed at del view. Overall a high-water mark.
  @Test func viewHoldsTheFramesBlock() throws {
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let (dump, _) = try record("view")
    let reports = try summaries(dump, [.whole, .at("df-deleted"), .at("view-deleted")])
    let (whole, at, after) = (reports[0], reports[1], reports[2])
    #expect(whole.verdict.primary.kind == .highWaterMark, "\(whole.verdict.primary.headline)")
    #expect(at.verdict.primary.kind == .heldByFewBlocks, "\(at.verdict.primary.headline)")
    let block = try #require(at.facts.judgedAt?.largestBlocks.first)
    #expect(block.size == 2 * 10_000_000 * 8)  // pandas keeps both int64 columns in one block
    #expect(block.freedBefore == "view-deleted")
    #expect(!block.site.hasPrefix("["), "a named site: \(block.site)")
    // Named by its innermost Python frame (pandas' own line that stacks the columns), with the
    // script's line that built the frame and numpy's allocating function as typed frames.
    let frames = try #require(block.frames)
    #expect(frames.site.kind == .python && block.site == frames.site.siteName, "\(block.site)")
    let user = try #require(frames.user, "no frame of the script's own: \(block.site)")
    #expect(user.siteName == "main (pandas_view.py:\(try Self.line("df = pd.DataFrame(", in: "view")))", "\(user.siteName)")
    #expect(frames.native?.kind == .native && frames.native?.module.contains("_multiarray_umath") == true,
            "\(String(describing: frames.native))")
    #expect(at.verdict.primary.siteFrames == [frames])
    #expect(at.renderText().contains("      from your code: \(user.siteName)\n"), "\(at.renderText())")
    #expect(at.verdict.primary.sites == [block.site] && at.verdict.primary.bytes == block.size)
    #expect(!at.verdict.findings.contains { $0.kind == .retention })
    // Once the view is gone, nothing large is left.
    #expect(!after.verdict.findings.contains { $0.kind == .heldByFewBlocks })
  }

  /// A pyarrow table and its to_pandas() copy, both dropped: RSS stays up, in Arrow's pool.
  @Test func arrowPoolKeepsTheTablesPages() throws {
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let (dump, rss) = try record("arrow")
    let reports = try summaries(dump, [.whole, .at("converted")])
    let report = reports[0]
    let primary = report.verdict.primary
    #expect(primary.kind == .privateAllocator, "\(primary.headline)")
    #expect(!report.verdict.findings.contains { $0.kind == .growing })
    #expect(primary.allocator == PrivateAllocator.arrow.rawValue)
    #expect(primary.remedy?.contains("ARROW_DEFAULT_MEMORY_POOL=system") == true)
    #expect(primary.remedy?.contains("release_unused()") == true)
    let kept = try #require(rss["dropped"]) - (try #require(rss["start"]))
    let held = Double(try #require(primary.bytes))
    #expect(abs(held - kept) <= kept * 0.15, "held \(held / Self.MiB) MiB, RSS kept \(kept / Self.MiB) MiB")
    // The 1 GiB reservation is visible as reserved, and counts only its resident pages.
    let arrow = try #require(report.facts.privateHoldings.first { $0.allocator == .arrow })
    #expect(arrow.reserved >= 1 << 30)
    #expect(report.mapped.filter { $0.privateAllocator == .arrow }.reduce(0) { $0 + $1.bytes } < 400 << 20)
    // The pool's largest region group is reached from the script's own code.
    let pool = try #require(report.mapped.filter { $0.privateAllocator == .arrow }.first)
    #expect(pool.frames?.user?.file?.hasSuffix("/examples/pandas_arrow.py") == true, "\(pool.site): \(String(describing: pool.frames))")

    // At marker converted the table and its copy were loaded in two steps: a load, not growth;
    // the pool holding the table's pages is the answer.
    let converted = reports[1]
    #expect(converted.facts.growth.trend == .steppedUp, "\(converted.facts.growth.points.map(\.tracked))")
    #expect(!converted.verdict.findings.contains { $0.kind == .growing }, "\(converted.verdict.primary.headline)")
    #expect(converted.verdict.primary.kind == .privateAllocator, "\(converted.verdict.primary.headline)")
  }

  /// Five 2M-row float frames with a derived column, all kept: ~30.5 MiB more per batch.
  @Test func snapshotsGrowPerBatch() throws {
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let (dump, _) = try record("snapshots")
    let report = try summary(dump)
    let primary = report.verdict.primary
    #expect(primary.kind == .growing, "\(primary.headline)")
    let perBatch = Double(2_000_000 * 8 * 2)
    let rate = try #require(primary.ratePerMarker)
    #expect(abs(rate - perBatch) <= perBatch * 0.1, "rate \(rate / Self.MiB) MiB per marker")
    // Two sites keep the batches, both pandas' own lines (the frame's copy of the column, the
    // derived column), each reached from its own line of the script.
    let top = Array(report.facts.siteChanges.prefix(2))
    #expect(Double(top.reduce(0) { $0 + $1.delta }) >= 0.9 * Double(report.facts.growth.delta), "\(top.map(\.site))")
    #expect(Array(primary.sites.prefix(2)) == top.map(\.site))
    let users = Set(top.compactMap { $0.frames?.user?.siteName })
    let lines = [try Self.line("frame = pd.DataFrame(", in: "snapshots"), try Self.line("frame[\"y\"] =", in: "snapshots")]
    #expect(users == Set(lines.map { "main (pandas_snapshots.py:\($0))" }), "\(top)")
  }

  /// Small groupby frames built and dropped: flat, not growing.
  @Test func churnIsFlat() throws {
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let (dump, _) = try record("churn")
    let report = try summary(dump)
    #expect([.steady, .highWaterMark].contains(report.verdict.primary.kind), "\(report.verdict.primary.headline)")
    #expect(!report.verdict.findings.contains { $0.kind == .growing })
    #expect(report.facts.growth.trend == .flat)
  }
}
