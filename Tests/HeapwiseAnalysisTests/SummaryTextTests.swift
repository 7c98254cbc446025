import Foundation
import HeapwiseFormat
import HeapwiseReports
import Testing

@testable import HeapwiseAnalysis

private let MiB: UInt64 = 1 << 20

/// The report built from synthetic replay data, and its text.
struct SummaryTextTests {
  static func sample(_ t: Double, _ label: String?, rss: UInt64, live: UInt64, arena: UInt64?) -> SummaryData.Sample {
    SummaryData.Sample(
      time: t, label: label,
      memory: MemorySample(
        rss: rss * MiB, fileRSS: 2 * MiB, recorderBytes: MiB / 2,
        allocator: arena.map { .glibc(GlibcMallinfo(arena: $0 * MiB, hblkhd: 0, uordblks: live * MiB, fordblks: 0)) }
          ?? .unavailable),
      liveHeap: live * MiB, liveBlocks: Int(live) * 100, mapped: 0)
  }

  static func data(allocator: Bool = true, periodic: Int = 0) -> SummaryData {
    var samples: [SummaryData.Sample] = []
    for i in 0..<periodic { samples.append(sample(Double(i) * 0.01, nil, rss: 10, live: 6, arena: allocator ? 7 : nil)) }
    for (i, live) in [10, 20, 30, 40].enumerated() {
      samples.append(
        sample(1 + Double(i), "batch\(i + 1)", rss: UInt64(live) + 4, live: UInt64(live), arena: allocator ? UInt64(live) + 1 : nil))
    }
    let stack = StackID(7)
    return SummaryData(
      samples: samples,
      markers: (0..<4).map { SeriesPoint(time: 1 + Double($0), label: "batch\($0 + 1)", liveHeap: UInt64($0 + 1) * 10 * MiB) },
      peak: PeakPoint(bytes: 40 * MiB, time: 4, previousMarker: "batch4"),
      firstMarkerByStack: [stack: 10 * MiB], lastMarkerByStack: [stack: 40 * MiB],
      firstSampleByStack: [:], lastSampleByStack: [:], largestBlocks: [], mappedByStack: [], trims: [],
      allocatorMapped: 0, heapLayouts: [], exitResidency: [], endLiveHeap: 40 * MiB, endLiveBlocks: 4000, endMapped: 0, duration: 4.5, sawEnd: true)
  }

  static func site(_ stack: StackID) -> SummarySite { SummarySite(name: "grow (app.c:\(stack.rawValue))") }

  @Test func exitSplitAndVerdict() {
    let report = SummaryReport(data: Self.data(), header: nil, site: Self.site)
    let text = report.renderText(title: "app.heapwise")
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    #expect(lines[0] == "heapwise summary of app.heapwise")
    #expect(lines.contains { $0.hasPrefix("RSS at exit") && $0.contains("44.0 MiB") && $0.hasSuffix("statm: resident pages") })
    #expect(lines.contains { $0.hasPrefix("  live heap") && $0.contains("40.0 MiB") && $0.contains("4,000 blocks") })
    #expect(lines.contains { $0.hasPrefix("  allocator-held") && $0.contains("1.0 MiB") })
    #expect(lines.contains { $0.hasPrefix("    recorder") && $0.contains("512 KiB") })
    #expect(lines.contains("verdict: growing: tracked memory rose 30.0 MiB across markers batch1..batch4, linearly"))
    #expect(lines.contains("    grow (app.c:7): +30.0 MiB (100% of the growth)"))
    #expect(!text.contains("timeline"))
    #expect(report.atPeakRSS == nil)  // the last sample has the highest RSS
  }

  @Test func unavailableAllocatorIsSaid() {
    let report = SummaryReport(data: Self.data(allocator: false), header: nil, site: Self.site)
    let text = report.renderText()
    #expect(text.contains("  allocator-held         unavailable   no allocator statistics: counted in other\n"))
    #expect(text.contains("allocator: unknown (no statistics)"))
    #expect(text.contains("note: Allocator statistics unavailable"))
  }

  @Test func timelineKeepsMarkersAndSpacesSamples() {
    let report = SummaryReport(data: Self.data(periodic: 100), header: nil, site: Self.site, timelineRows: 10)
    // Every marker's sample, every 10th of the 100 periodic ones.
    #expect(report.timeline.filter { $0.label != nil }.count == 4)
    #expect(report.timeline.filter { $0.label == nil }.count == 10)
    let text = report.renderText(timeline: true)
    #expect(text.contains("timeline (MiB)\n  time s      RSS     live alloc-held   mapped    other  marker\n"))
    #expect(text.contains("    4.00     44.0     40.0        1.0      0.0      3.0  batch4\n"))
  }

  @Test func missingEndAndSamplesAreWarnings() {
    var data = Self.data()
    data.sawEnd = false
    data.samples = []
    let report = SummaryReport(data: data, header: nil, site: Self.site)
    #expect(report.atExit == nil)
    #expect(report.warnings.count == 2)
    let text = report.renderText()
    #expect(text.contains("warning: no END record"))
    #expect(text.contains("warning: no memory samples"))
    #expect(!text.contains("RSS at exit"))
  }
}

struct SummaryJSONTests {
  @Test func schemaKeys() throws {
    let report = SummaryReport(data: SummaryTextTests.data(allocator: false), header: nil, site: SummaryTextTests.site)
    let encoder = JSONEncoder()
    encoder.keyEncodingStrategy = .convertToSnakeCase
    let object = try #require(
      try JSONSerialization.jsonObject(with: encoder.encode(SummaryJSON(report))) as? [String: Any])
    #expect(object["schema"] as? String == "heapwise.summary/1")
    let exit = try #require(object["at_exit"] as? [String: Any])
    #expect(exit["allocator_held"] == nil)  // no statistics: absent, not zero
    #expect((exit["live_heap"] as? [String: Any])?["bytes"] as? Int == 40 << 20)
    #expect((exit["other_detail"] as? [String: Any])?.keys.sorted() == ["file-backed", "recorder", "rest"])
    let verdict = try #require(object["verdict"] as? [[String: Any]])
    #expect(verdict.first?["kind"] as? String == "growing")
    let growth = try #require(object["growth"] as? [String: Any])
    #expect(growth["slope_per"] as? String == "marker")
    #expect((growth["points"] as? [Any])?.count == 4)
    #expect((object["sites"] as? [[String: Any]])?.first?["delta"] as? Int == 30 << 20)
  }
}

struct SummaryMappedRegionTests {
  @Test func recognisedAllocators() {
    let MiB: UInt64 = 1 << 20
    func explain(_ function: String?, _ module: String?, _ lengths: Set<UInt64> = [MiB]) -> String? {
      SummaryReport.explain(SummarySite(name: "x", function: function, module: module), lengths: lengths)
    }
    #expect(explain("_PyObject_ArenaMmap", "libpython3.11.so.1.0")?.hasPrefix("pymalloc arenas") == true)
    // A stripped interpreter: no function name, but 1 MiB regions from python itself.
    #expect(explain(nil, "python3.11")?.hasPrefix("pymalloc arenas") == true)
    #expect(explain(nil, "python3.9", [256 << 10])?.hasPrefix("pymalloc arenas") == true)
    #expect(explain(nil, "python3.11", [MiB, 3 * MiB]) == nil)
    #expect(explain(nil, "libarrow.so.1500")?.contains("ARROW_DEFAULT_MEMORY_POOL=system") == true)
    #expect(explain("mi_segment_alloc", "libfoo.so")?.contains("mimalloc") == true)
    #expect(explain("je_extent_alloc", "libbar.so")?.hasPrefix("jemalloc") == true)
    #expect(explain("map_buffer", "app") == nil)
  }
}
