// `--format json`: the schemas are documented in docs/ANALYSIS.md ("JSON output").
import Foundation
import HeapwiseAnalysis

public enum JSONReport {
  public struct Frame: Codable, Sendable {
    public var function: String?
    public var file: String?
    public var line: Int?
    public var module: String
    public var offset: UInt64
    public var inlined: Bool
    /// "native", "python" or "interpreter" (`FrameKind`).
    public var kind: String
    init(_ f: SourceFrame) {
      function = f.function; file = f.file; line = f.line; module = f.module; offset = f.moduleOffset; inlined = f.isInlined
      kind = f.kind.rawValue
    }
  }

  public struct TopSite: Codable, Sendable {
    public var label: String
    public var key: String
    public var size: UInt64
    public var count: UInt64
    public var average: UInt64
    public var frames: [Frame]
    public var counters: StackCounters
    /// Sampled dumps: the 95% intervals of size and count (docs/SAMPLING.md); absent otherwise.
    public var sizeInterval: EstimateReport.Interval?
    public var countInterval: EstimateReport.Interval?
  }

  public struct Totals: Codable, Sendable {
    public var size: UInt64
    public var count: UInt64
    public var sites: Int
  }

  public struct Top: Codable, Sendable {
    public var schema = "heapwise.top/1"
    public var dump: DumpDescription
    public var metric: String
    public var grouping: String
    public var cumulative: Bool
    public var marker: String?
    public var include: [String]
    public var exclude: [String]
    public var sites: [TopSite]
    /// Sites past the limit, summed.
    public var other: Totals
    public var total: Totals
    public var filteredOut: Totals
    /// Sampled dumps: the sampling, and the total's intervals; absent otherwise.
    public var sampling: EstimateReport.Sampling?
    public var totalSizeInterval: EstimateReport.Interval?
    public var totalCountInterval: EstimateReport.Interval?
    /// `--metric leaked`: what suppressions left out of the leaks (as in the summary's JSON).
    public var suppressed: [String: Suppressed]?
  }

  /// Live blocks and bytes at exit that suppressions left out of the leaks, for one reason.
  public struct Suppressed: Codable, Sendable {
    public var blocks: UInt64
    public var bytes: UInt64
  }

  /// `"suppressed"` of `summary` and `top`: by reason, "runtime" (built-in rules) and "listed"
  /// (`--suppressions FILE`).
  public static func suppressed(_ s: SuppressedLeaks) -> [String: Suppressed] {
    ["runtime": Suppressed(blocks: s.runtime.liveBlocks, bytes: s.runtime.liveBytes),
     "listed": Suppressed(blocks: s.listed.liveBlocks, bytes: s.listed.liveBytes)]
  }

  public struct Difference: Codable, Sendable {
    public var label: String
    public var key: String
    public var status: String
    public var oldSize: UInt64
    public var newSize: UInt64
    public var sizeDiff: Int64
    public var oldCount: UInt64
    public var newCount: UInt64
    public var countDiff: Int64
    public var frames: [Frame]
    /// Sampled dumps: the differences' 95% intervals, and whether the size's contains 0.
    public var sizeDiffInterval: EstimateReport.Interval? = nil
    public var countDiffInterval: EstimateReport.Interval? = nil
    public var withinNoise: Bool? = nil
  }

  public struct CompareTotals: Codable, Sendable {
    public var oldSize: UInt64
    public var newSize: UInt64
    public var sizeDiff: Int64
    public var oldCount: UInt64
    public var newCount: UInt64
    public var countDiff: Int64
    /// Sampled dumps: the differences' 95% intervals, and whether the size's contains 0.
    public var sizeDiffInterval: EstimateReport.Interval? = nil
    public var countDiffInterval: EstimateReport.Interval? = nil
    public var withinNoise: Bool? = nil
  }

  public struct Compare: Codable, Sendable {
    public var schema = "heapwise.compare/1"
    public var old: String
    public var new: String
    public var metric: String
    public var grouping: String
    public var cumulative: Bool
    public var sites: [Difference]
    public var total: CompareTotals
    public var notes: [String]
  }

  /// `sampling`: a sampled dump's parameters; each estimate then comes with its interval.
  public static func top(_ table: SiteTable, dump: DumpDescription, settings: ReportSettings,
                         sampling: EstimateReport.Sampling? = nil, suppressed: SuppressedLeaks? = nil) -> String {
    let metric = settings.metric
    let sorted = table.sorted(by: metric)
    let shown = settings.limit.map { Array(sorted.prefix($0)) } ?? sorted
    var rest = StackCounters()
    for s in sorted.dropFirst(shown.count) { rest.add(s.counters) }
    let total = sampling == nil ? nil : table.total.estimates(metric)
    let report = Top(
      dump: dump, metric: metric.rawValue, grouping: settings.options.grouping.rawValue,
      cumulative: settings.options.cumulative, marker: settings.marker,
      include: settings.options.include.map(\.description), exclude: settings.options.exclude.map(\.description),
      sites: shown.map { s in
        let size = metric.size(s.counters), count = metric.count(s.counters)
        let e = s.counters.estimates(metric)
        return TopSite(label: s.label, key: s.key, size: size, count: count, average: count > 0 ? size / count : 0,
                       frames: s.frames.map(Frame.init), counters: s.counters,
                       sizeInterval: e.map { .init($0.size) }, countInterval: e.map { .init($0.count) })
      },
      other: Totals(size: metric.size(rest), count: metric.count(rest), sites: sorted.count - shown.count),
      total: Totals(size: metric.size(table.total), count: metric.count(table.total), sites: sorted.count),
      filteredOut: Totals(size: metric.size(table.filteredOut), count: metric.count(table.filteredOut), sites: 0),
      sampling: sampling, totalSizeInterval: total.map { .init($0.size) }, totalCountInterval: total.map { .init($0.count) },
      suppressed: suppressed.map(Self.suppressed))
    return encode(report)
  }

  public static func compare(_ c: Comparison, old: String, new: String, settings: ReportSettings, notes: [String] = []) -> String {
    let shown = settings.limit.map { Array(c.differences.prefix($0)) } ?? c.differences
    let report = Compare(
      old: old, new: new, metric: c.metric.rawValue, grouping: settings.options.grouping.rawValue,
      cumulative: settings.options.cumulative,
      sites: shown.map { d in
        Difference(label: d.label, key: d.key, status: d.status.rawValue, oldSize: d.oldSize, newSize: d.newSize,
                   sizeDiff: d.sizeDifference, oldCount: d.oldCount, newCount: d.newCount,
                   countDiff: d.countDifference, frames: d.frames.map(Frame.init),
                   sizeDiffInterval: d.sizeEstimate.map(EstimateReport.Interval.init),
                   countDiffInterval: d.countEstimate.map(EstimateReport.Interval.init),
                   withinNoise: d.sizeEstimate == nil ? nil : d.withinNoise)
      },
      total: CompareTotals(
        oldSize: c.oldTotalSize, newSize: c.newTotalSize, sizeDiff: Int64(bitPattern: c.newTotalSize &- c.oldTotalSize),
        oldCount: c.oldTotalCount, newCount: c.newTotalCount,
        countDiff: Int64(bitPattern: c.newTotalCount &- c.oldTotalCount),
        sizeDiffInterval: c.totalSizeEstimate.map(EstimateReport.Interval.init),
        countDiffInterval: c.totalCountEstimate.map(EstimateReport.Interval.init),
        withinNoise: c.totalSizeEstimate?.withinNoise),
      notes: notes)
    return encode(report)
  }

  /// Pretty, sorted keys, snake_case: how every `--format json` of the command line is written.
  public static func encode(_ value: some Encodable) -> String {
    let e = JSONEncoder()
    e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    e.keyEncodingStrategy = .convertToSnakeCase
    guard let data = try? e.encode(value) else { return "{}\n" }
    return String(decoding: data, as: UTF8.self) + "\n"
  }
}
