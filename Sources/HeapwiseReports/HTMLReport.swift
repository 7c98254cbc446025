// `heapwise report`: one self-contained HTML page (no request leaves it: a Content-Security-Policy
// forbids any) with the RSS timeline, flame graphs, the verdict and the top tables. The page's
// data is this file's `Data`, built from ReportAnalysis (the same results as `top` and `summary`),
// embedded as JSON; HTMLPage.swift has the page's CSS and JavaScript. docs/REPORTS.md.
import Foundation
import HeapwiseAnalysis

public enum HTMLReport {
  public struct Options: Sendable {
    /// Flame graph nodes under this share of their view's total are pruned (and the pruned
    /// amount said). 0.001 = 0.1%.
    public var minimumShare: Double
    /// Rows per top table.
    public var tableRows: Int
    /// Draw the Python interpreter's own native frames in the flame graphs (hidden by default, as in `top`).
    public var showInterpreterFrames: Bool
    public init(minimumShare: Double = 0.001, tableRows: Int = 15, showInterpreterFrames: Bool = false) {
      self.minimumShare = minimumShare
      self.tableRows = tableRows
      self.showInterpreterFrames = showInterpreterFrames
    }
  }

  /// A flame graph tree in preorder: function index (-1 for the root), depth, size and count.
  struct Tree: Encodable {
    var total: UInt64
    var count: UInt64
    var prunedSize: UInt64 = 0
    var prunedNodes = 0
    var f: [Int32] = []
    var d: [Int32] = []
    var v: [UInt64] = []
    var c: [UInt64] = []
  }

  struct Function: Encodable {
    var n: String
    var m: String
    var f: String?
    var l: Int?
    var k: String
  }

  struct View: Encodable {
    var id: String
    var title: String
    /// "bytes" or "allocations": what a node's size is.
    var unit: String
    /// What its count is ("blocks", "allocations").
    var countUnit: String
    var tree: Tree
    var inverted: Tree
    /// Seconds since start, for views of a moment (a marker, the peak, the end).
    var time: Double?
    /// Sampled dumps: the 95% interval of the total bytes (docs/SAMPLING.md).
    var interval: Interval? = nil
  }

  /// A sampled dump's estimate as the page shows it: [low, high], rounded.
  struct Interval: Encodable {
    var low: UInt64
    var high: UInt64
    init(_ e: Estimate) { low = UInt64(e.low.rounded()); high = UInt64(e.high.rounded()) }
  }

  struct Part: Encodable {
    var name: String
    var bytes: UInt64
    var method: String
  }

  struct Row: Encodable {
    var t: Double
    var label: String?
    var rss: UInt64
    /// Bytes per category, in `Timeline.categories` order.
    var parts: [UInt64]
  }

  struct Timeline: Encodable {
    var categories: [String]
    var rows: [Row]
    /// The split at exit with each part's method.
    var atExit: [Part]?
  }

  struct Moment: Encodable {
    var t: Double
    var name: String
    var kind: String
    /// Index into `views`.
    var view: Int
  }

  struct Finding: Encodable {
    var kind: String
    var headline: String
    var evidence: [String]
  }

  struct VerdictMoment: Encodable {
    var from: Double?
    var to: Double
    var label: String
  }

  struct TableRow: Encodable {
    var label: String
    var size: UInt64
    var count: UInt64
    /// Sampled dumps: the 95% intervals of size and count.
    var sizeInterval: Interval? = nil
    var countInterval: Interval? = nil
  }

  struct Table: Encodable {
    var metric: String
    var title: String
    var rows: [TableRow]
    var otherSites: Int
    var otherSize: UInt64
    var totalSize: UInt64
    var totalCount: UInt64
    var sites: Int
    var totalSizeInterval: Interval? = nil
    var totalCountInterval: Interval? = nil
  }

  struct Data: Encodable {
    var schema = "heapwise.report/1"
    var title: String
    var command: String
    var pid: UInt32
    var exited: Bool
    var duration: Double
    var allocator: String?
    var minimumShare: Double
    var functions: [Function]
    var views: [View]
    var timeline: Timeline
    var moments: [Moment]
    var peak: Moment?
    var verdict: [Finding]
    var verdictMoment: VerdictMoment?
    var tables: [Table]
    var warnings: [String]
    /// Sampled dumps: what the estimates are and their uncertainty (the summary's lines).
    var sampling: [String]? = nil
  }

  public static func render(_ analysis: ReportAnalysis, path: String, options: Options = .init()) -> String {
    HTMLPage.document(title: "heapwise report: \(DisplayPath.shorten(path))", json: json(data(analysis, path: path, options: options)))
  }

  static func json(_ data: Data) -> String {
    let e = JSONEncoder()
    // Slashes stay escaped, so no "</script>" can appear inside the embedded JSON.
    e.outputFormatting = [.sortedKeys]
    guard let bytes = try? e.encode(data) else { return "{}" }
    // And no "<!--" either: inside a script element it changes how the HTML parser ends it.
    return String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "<", with: "\\u003c")
  }

  static func data(_ analysis: ReportAnalysis, path: String, options: Options) -> Data {
    let summary = analysis.summary
    let exited = analysis.exitedNormally
    let atEnd = analysis.counters()
    let stacks = FunctionStacks(counters: atEnd, resolver: analysis.resolver,
                                showInterpreterFrames: options.showInterpreterFrames)
    let flames = FlameBuilder(stacks)

    // Stacks in FunctionStacks order are the non-zero counters in stack id order.
    let ids = atEnd.indices.filter { !atEnd[$0].isZero }
    func view(_ id: String, _ title: String, countUnit: String = "blocks", time: Double? = nil,
              sizes s: [UInt64], counts c: [UInt64], estimate: Estimate? = nil) -> View {
      let total = s.reduce(0, &+)
      // Saturated: a total near 2^64 (a crafted dump) times --min-share 100 is past UInt64.
      let share = (Double(total) * options.minimumShare).rounded(.up)
      let minimum = share >= 0x1p64 ? UInt64.max : share > 0 ? UInt64(share) : 0
      return View(id: id, title: title, unit: "bytes", countUnit: countUnit,
                  tree: flames.tree(size: s, count: c, inverted: false, minimum: minimum),
                  inverted: flames.tree(size: s, count: c, inverted: true, minimum: minimum), time: time,
                  interval: estimate.map(Interval.init))
    }
    func figures(_ size: (StackCounters) -> UInt64, _ count: (StackCounters) -> UInt64) -> (s: [UInt64], c: [UInt64]) {
      (stacks.stacks.map { size($0.counters) }, stacks.stacks.map { count($0.counters) })
    }

    let endTime = summary.timeline.last?.time ?? summary.duration
    let peakTime = summary.facts.peak?.time ?? analysis.seconds(analysis.state.peakTimestamp)
    var views: [View] = []
    var moments: [Moment] = []
    // Sampled dumps: each view's total with its interval, from the same counters.
    func total(_ metric: Metric, _ counters: [StackCounters] = atEnd) -> Estimate? {
      guard analysis.state.sampling != nil else { return nil }
      var sum = StackCounters()
      for c in counters { sum.add(c) }
      return sum.estimates(metric)?.size
    }
    let live = figures(\.liveBytes, \.liveBlocks)
    let atExit = view("exit", exited ? "live at exit" : "live at the end of the dump", time: endTime,
                      sizes: live.s, counts: live.c, estimate: total(.live))
    views.append(atExit)
    moments.append(Moment(t: endTime, name: exited ? "exit" : "end", kind: "exit", view: 0))
    let atPeak = figures(\.peakBytes, \.peakBlocks)
    views.append(view("peak", "live at the peak", time: peakTime, sizes: atPeak.s, counts: atPeak.c, estimate: total(.peak)))
    let peak = peakTime.map { Moment(t: $0, name: "peak", kind: "peak", view: 1) }
    if let peak { moments.append(peak) }
    let markerTimes = Dictionary(summary.timeline.compactMap { r in r.label.map { ($0, r.time) } }) { a, _ in a }
    for snapshot in analysis.markerSnapshots {
      // The marker's own live bytes per stack, in FunctionStacks order.
      let bytes = ids.map { $0 < snapshot.liveBytes.count ? snapshot.liveBytes[$0] : 0 }
      let blocks = ids.map { $0 < snapshot.liveBlocks.count ? snapshot.liveBlocks[$0] : 0 }
      let t = markerTimes[snapshot.name] ?? analysis.seconds(snapshot.timestamp) ?? 0
      views.append(view("marker:\(snapshot.name)", "live at marker \"\(snapshot.name)\"", time: t,
                        sizes: bytes, counts: blocks, estimate: total(.live, analysis.counters(at: snapshot))))
      moments.append(Moment(t: t, name: snapshot.name, kind: "marker", view: views.count - 1))
    }
    let allocated = figures(\.allocatedBytes, \.allocations)
    views.append(view("allocated", "allocated in total", countUnit: "allocations", sizes: allocated.s, counts: allocated.c,
                      estimate: total(.allocated)))
    if exited {
      // The same trees as at exit, not built a second time.
      var leaked = atExit
      (leaked.id, leaked.title, leaked.time) = ("leaked", "leaked (live at exit)", nil)
      views.append(leaked)
    }
    let temporary = figures(\.temporaryBytes, \.temporary)
    views.append(view("temporary", "temporary allocations", countUnit: "allocations", sizes: temporary.s, counts: temporary.c,
                      estimate: total(.temporary)))

    return Data(
      title: DumpDescription.headline(path: DisplayPath.shorten(path), arguments: summary.arguments,
                                      executable: summary.executable, pid: summary.pid, exited: exited),
      command: summary.arguments.isEmpty ? summary.executable : summary.arguments.joined(separator: " "),
      pid: summary.pid, exited: exited, duration: summary.duration, allocator: summary.allocator,
      minimumShare: options.minimumShare,
      functions: stacks.functions.map {
        Function(n: $0.name, m: $0.module, f: $0.file.map(DisplayPath.shorten), l: $0.line, k: $0.kind.rawValue)
      },
      views: views, timeline: timeline(summary), moments: moments.sorted { $0.t < $1.t }, peak: peak,
      verdict: summary.verdict.findings.map { Finding(kind: $0.kind.rawValue, headline: $0.headline, evidence: $0.evidence) },
      verdictMoment: verdictMoment(summary, peakTime: peakTime, endTime: endTime),
      tables: tables(analysis, atEnd: atEnd, exited: exited, rows: options.tableRows),
      warnings: summary.warnings, sampling: sampling(analysis))
  }

  /// A sampled dump's lines: `top`'s note and the summary's estimates with their intervals.
  static func sampling(_ analysis: ReportAnalysis) -> [String]? {
    guard let p = analysis.state.sampling else { return nil }
    var summary = analysis.summary
    if summary.sampled == nil { summary.sampled = SampledHeap.of(analysis.state) }
    let sampling = EstimateReport.Sampling(p, stats: analysis.state.samplingStats)
    var lines = EstimateReport.note(sampling, metric: .live).split(separator: "\n").map { String($0.dropFirst("note: ".count)) }
    lines += ["peak: the estimate at the moment the estimated heap peaked (its interval is that moment's; the highest of a noisy series tends to overshoot the true peak)",
              "temporary: an upper bound here (unrecorded allocations between a block's allocation and its free are not seen)"]
    lines += SampledSummaryText.render(summary).split(separator: "\n").dropFirst().map { $0.trimmingCharacters(in: .whitespaces) }
    return lines
  }

  /// The categories the summary splits RSS into, in stacking order (bottom first).
  static func timeline(_ summary: SummaryReport) -> Timeline {
    let categories = ["live heap", "allocator-held", "private allocators", "mapped", "other"]
    func parts(_ s: RSSSplit) -> [UInt64] {
      [s.liveHeap.bytes, s.allocatorHeld?.bytes ?? 0, s.privateBytes, s.mapped.bytes, s.other.bytes]
    }
    let rows = summary.timeline.map { Row(t: $0.time, label: $0.label, rss: $0.split.rss.bytes, parts: parts($0.split)) }
    let atExit = summary.atExit.map { s in
      [Part(name: "RSS", bytes: s.rss.bytes, method: s.rss.method),
       Part(name: "live heap", bytes: s.liveHeap.bytes, method: s.liveHeap.method),
       Part(name: "allocator-held", bytes: s.allocatorHeld?.bytes ?? 0,
            method: s.allocatorHeld?.method ?? "unavailable: no allocator statistics; counted in other"),
       Part(name: "private allocators", bytes: s.privateBytes,
            method: s.privateAllocators.map { "\($0.allocator.title) \(Units.bytes($0.part.bytes))" }.joined(separator: ", ")),
       Part(name: "mapped", bytes: s.mapped.bytes, method: s.mapped.method),
       Part(name: "other", bytes: s.other.bytes,
            method: s.other.method + ": " + s.otherDetail.map { "\($0.name) \(Units.bytes($0.part.bytes))" }.joined(separator: ", "))]
    }
    return Timeline(categories: categories, rows: rows, atExit: atExit)
  }

  /// When the primary finding happened: the growth's span, the peak, or the end.
  static func verdictMoment(_ summary: SummaryReport, peakTime: Double?, endTime: Double) -> VerdictMoment? {
    guard let primary = summary.verdict.findings.first else { return nil }
    switch primary.kind {
    case .growing:
      let points = summary.facts.growth.points
      guard let first = points.first, let last = points.last else { return nil }
      return VerdictMoment(from: first.time, to: last.time, label: "growing")
    case .highWaterMark:
      return peakTime.map { VerdictMoment(from: nil, to: $0, label: "high-water mark") }
    case .heldByFewBlocks, .privateAllocator:
      if let marker = summary.facts.atLastMarker?.marker, let row = summary.timeline.last(where: { $0.label == marker }) {
        return VerdictMoment(from: nil, to: row.time, label: primary.kind.rawValue)
      }
      return VerdictMoment(from: nil, to: endTime, label: primary.kind.rawValue)
    case .retention, .steady:
      return VerdictMoment(from: nil, to: endTime, label: primary.kind.rawValue)
    }
  }

  static func tables(_ analysis: ReportAnalysis, atEnd: [StackCounters], exited: Bool, rows: Int) -> [Table] {
    let table = SiteTable(counters: atEnd, resolver: analysis.resolver, options: SiteOptions(grouping: .lineno))
    var metrics: [Metric] = [.live, .peak, .allocated, .temporary]
    if exited { metrics.insert(.leaked, at: 1) }
    return metrics.map { metric in
      let sorted = table.sorted(by: metric)
      let shown = sorted.prefix(rows)
      var rest = StackCounters()
      for s in sorted.dropFirst(shown.count) { rest.add(s.counters) }
      let settings = ReportSettings(metric: metric, options: table.options)
      let total = table.total.estimates(metric)
      return Table(
        metric: metric.rawValue, title: settings.measured(exited: exited),
        rows: shown.map {
          let e = $0.counters.estimates(metric)
          return TableRow(label: DisplayPath.shorten($0.label), size: metric.size($0.counters), count: metric.count($0.counters),
                          sizeInterval: e.map { Interval($0.size) }, countInterval: e.map { Interval($0.count) })
        },
        otherSites: sorted.count - shown.count, otherSize: metric.size(rest),
        totalSize: metric.size(table.total), totalCount: metric.count(table.total), sites: sorted.count,
        totalSizeInterval: total.map { Interval($0.size) }, totalCountInterval: total.map { Interval($0.count) })
    }
  }
}
