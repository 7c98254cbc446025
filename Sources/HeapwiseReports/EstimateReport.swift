// `heapwise top` on a sampled dump (docs/SAMPLING.md): the same ranking as TextReport.top and
// JSONReport.top, whose figures are then estimates, with each estimate's 95% interval.
import HeapwiseAnalysis
import HeapwiseFormat

public enum EstimateReport {
  /// What a sampled dump says about its own sampling.
  public struct Sampling: Codable, Sendable {
    public var meanBytes: UInt64
    public var seed: UInt64
    /// Blocks the recorder kept and, with its live set full, had to drop (nil without an END).
    public var recordedBlocks: UInt64?
    public var droppedBlocks: UInt64?

    public init(_ p: SamplingParameters, stats: SamplingStats?) {
      meanBytes = p.meanBytes; seed = p.seed
      recordedBlocks = stats?.recordedBlocks; droppedBlocks = stats?.droppedBlocks
    }
  }

  /// An estimate in JSON: the value and its 95% interval.
  public struct Interval: Codable, Sendable {
    public var value: Double
    public var low: Double
    public var high: Double
    public var standardError: Double
    init(_ e: Estimate) { value = e.value; low = e.low; high = e.high; standardError = e.standardError }
  }

  /// The size and count estimates behind `metric`; nil for figures that have no interval (peak
  /// and temporary: see docs/SAMPLING.md).
  public static func estimates(_ c: StackCounters, metric: Metric) -> (size: Estimate, count: Estimate)? {
    switch metric {
    case .live, .leaked:
      guard let s = c.liveBytesEstimate, let n = c.liveBlocksEstimate else { return nil }
      return (s, n)
    case .allocated, .count:
      guard let s = c.allocatedBytesEstimate, let n = c.allocationsEstimate else { return nil }
      return (s, n)
    case .peak, .temporary:
      return nil
    }
  }

  /// `[1.1 MiB, 1.3 MiB]`
  public static func byteInterval(_ e: Estimate) -> String {
    "[\(Units.bytes(UInt64(e.low.rounded()))), \(Units.bytes(UInt64(e.high.rounded())))]"
  }

  public static func countInterval(_ e: Estimate) -> String {
    "[\(UInt64(e.low.rounded())), \(UInt64(e.high.rounded()))]"
  }

  /// The header note of a sampled report.
  public static func note(_ sampling: Sampling, metric: Metric) -> String {
    var s = "note: sampled dump (one byte in \(Units.bytes(sampling.meanBytes)) on average, seed \(sampling.seed)): "
    s += "figures are estimates"
    s += metric == .peak || metric == .temporary
      ? "; \(metric.rawValue) has no interval (live, leaked, allocated and count do)\n"
      : ", [low, high] is the 95% interval\n"
    if let d = sampling.droppedBlocks, d > 0 {
      s += "warning: the recorder's live set was full \(d) times; those blocks are missing (raise HEAPWISE_SAMPLE_CAPACITY)\n"
    }
    return s
  }

  public static func topText(_ table: SiteTable, dump: DumpDescription, settings: ReportSettings, sampling: Sampling) -> String {
    let metric = settings.metric
    let sites = table.sorted(by: metric)
    let shown = settings.limit.map { Array(sites.prefix($0)) } ?? sites
    var out = "heapwise top: \(settings.measured(exited: dump.exited)), \(settings.groupingText)\n"
    out += "dump: \(dump.headline)\n"
    out += TextReport.peakLine(dump)
    out += note(sampling, metric: metric)
    out += "\n"
    for site in shown {
      out += line(site.label, site.counters, metric: metric) + "\n"
      if settings.options.grouping == .traceback { out += TextReport.traceback(site.frames, limit: settings.tracebackFrames) }
    }
    if sites.count > shown.count {
      var rest = StackCounters()
      for s in sites[shown.count...] { rest.add(s.counters) }
      out += "\(sites.count - shown.count) other sites: " + figures(rest, metric: metric) + "\n"
    }
    if shown.isEmpty { out += "(no sites: nothing to show for this measure)\n" }
    out += "total: " + figures(table.total, metric: metric) + ", \(sites.count) sites\n"
    if dump.unmatchedFrees > 0 { out += "unmatched frees: \(dump.unmatchedFrees)\n" }
    return out
  }

  /// `label: size=1.2 MiB [1.1 MiB, 1.3 MiB], count=3100 [2900, 3300], average=412 B, 41 sampled`
  static func line(_ label: String, _ c: StackCounters, metric: Metric) -> String {
    "\(DisplayPath.shorten(label)): " + figures(c, metric: metric)
  }

  static func figures(_ c: StackCounters, metric: Metric) -> String {
    let size = metric.size(c), count = metric.count(c)
    var s = "size=\(Units.bytes(size))"
    let e = estimates(c, metric: metric)
    if let e { s += " \(byteInterval(e.size))" }
    s += ", count=\(count)"
    if let e { s += " \(countInterval(e.count))" }
    if count > 0 { s += ", average=\(Units.bytes(size / count))" }
    if let est = c.estimate {
      let recorded = metric == .live || metric == .leaked ? est.recordedLive : est.recordedAllocations
      s += ", \(recorded) sampled"
    }
    return s
  }

  struct Site: Codable, Sendable {
    var label: String
    var key: String
    var size: UInt64
    var count: UInt64
    var average: UInt64
    var sizeInterval: Interval?
    var countInterval: Interval?
    var frames: [JSONReport.Frame]
    var counters: StackCounters
  }

  struct Top: Codable, Sendable {
    var schema = "heapwise.top/1"
    var dump: DumpDescription
    var sampling: Sampling
    var metric: String
    var grouping: String
    var cumulative: Bool
    var marker: String?
    var include: [String]
    var exclude: [String]
    var sites: [Site]
    var other: JSONReport.Totals
    var total: JSONReport.Totals
    var totalSizeInterval: Interval?
    var totalCountInterval: Interval?
    var filteredOut: JSONReport.Totals
    var suppressed: [String: JSONReport.Suppressed]?
  }

  public static func topJSON(_ table: SiteTable, dump: DumpDescription, settings: ReportSettings, sampling: Sampling,
                             suppressed: SuppressedLeaks? = nil) -> String {
    let metric = settings.metric
    let sorted = table.sorted(by: metric)
    let shown = settings.limit.map { Array(sorted.prefix($0)) } ?? sorted
    var rest = StackCounters()
    for s in sorted.dropFirst(shown.count) { rest.add(s.counters) }
    let total = estimates(table.total, metric: metric)
    let report = Top(
      dump: dump, sampling: sampling, metric: metric.rawValue, grouping: settings.options.grouping.rawValue,
      cumulative: settings.options.cumulative, marker: settings.marker,
      include: settings.options.include.map(\.description), exclude: settings.options.exclude.map(\.description),
      sites: shown.map { s in
        let size = metric.size(s.counters), count = metric.count(s.counters)
        let e = estimates(s.counters, metric: metric)
        return Site(label: s.label, key: s.key, size: size, count: count, average: count > 0 ? size / count : 0,
                    sizeInterval: e.map { Interval($0.size) }, countInterval: e.map { Interval($0.count) },
                    frames: s.frames.map(JSONReport.Frame.init), counters: s.counters)
      },
      other: JSONReport.Totals(size: metric.size(rest), count: metric.count(rest), sites: sorted.count - shown.count),
      total: JSONReport.Totals(size: metric.size(table.total), count: metric.count(table.total), sites: sorted.count),
      totalSizeInterval: total.map { Interval($0.size) }, totalCountInterval: total.map { Interval($0.count) },
      filteredOut: JSONReport.Totals(size: metric.size(table.filteredOut), count: metric.count(table.filteredOut), sites: 0),
      suppressed: suppressed.map(JSONReport.suppressed))
    return JSONReport.encode(report)
  }
}
