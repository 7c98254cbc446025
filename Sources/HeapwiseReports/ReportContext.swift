// What a report says about where its numbers came from.
import HeapwiseAnalysis
import HeapwiseFormat

/// One analysed dump, as a report's header describes it.
public struct DumpDescription: Sendable, Codable {
  public var path: String
  public var executable: String
  public var pid: UInt32
  public var arguments: [String]
  /// True when the dump ends with END (the process exited).
  public var exited: Bool
  public var warnings: [String]
  public var unmatchedFrees: UInt64
  /// Blocks the replay skipped because they were impossible (ReplayState.impossibleBlocks).
  public var impossibleBlocks: UInt64
  public var peakBytes: UInt64
  /// Seconds from the start of recording to the peak, when the clock rate is known.
  public var peakSeconds: Double?
  /// For an aggregated dump (docs/AGGREGATE.md): when its totals were written, and what it lacks.
  public var aggregated: String?

  public init(_ analysis: DumpAnalysis) {
    let h = analysis.reader.header
    path = analysis.reader.path
    executable = h.executable
    pid = h.pid
    arguments = h.arguments
    exited = analysis.exitedNormally
    warnings = analysis.reader.warnings.map(\.description)
    unmatchedFrees = analysis.state.unmatchedFrees
    impossibleBlocks = analysis.state.impossibleBlocks
    if let w = analysis.state.impossibleBlocksWarning { warnings.append(w) }
    peakBytes = analysis.state.peakBytes
    peakSeconds = h.ticksPerSecond > 0 && analysis.state.peakTimestamp >= h.startTicks
      ? Double(analysis.state.peakTimestamp - h.startTicks) / Double(h.ticksPerSecond) : nil
    if analysis.isAggregated {
      let agg = analysis.state.aggregate
      func seconds(_ ts: UInt64) -> Double? {
        h.ticksPerSecond > 0 && ts >= h.startTicks ? Double(ts - h.startTicks) / Double(h.ticksPerSecond) : nil
      }
      peakBytes = agg.totals?.peakTotal ?? 0
      peakSeconds = analysis.state.markers.last { $0.name.hasPrefix("peak-") }.flatMap { seconds($0.timestamp) }
      if let t = agg.totals {
        aggregated = "aggregated dump: totals of the flush at \(seconds(t.timestamp).map(Units.seconds) ?? "?")"
          + (t.untracked > 0 ? ", \(t.untracked) allocations not counted (live map full)" : "")
          + "; without events there are no temporary allocations, timelines or per-block views"
      } else {
        aggregated = "aggregated dump with no flush yet: the process ended before its first flush"
      }
    }
  }

  public var headline: String {
    Self.headline(path: path, arguments: arguments, executable: executable, pid: pid, exited: exited)
  }

  static func headline(path: String, arguments: [String], executable: String, pid: UInt32, exited: Bool) -> String {
    let program = arguments.first.map { _ in arguments.joined(separator: " ") } ?? executable
    let ending = exited ? "exited" : "did not exit normally (no END record)"
    return "\(path): \(program) (pid \(pid)), \(ending)"
  }
}

/// How the sites were chosen.
public struct ReportSettings: Sendable {
  public var metric: Metric
  public var options: SiteOptions
  /// The marker live bytes were taken at (`--at`), or nil for the end.
  public var marker: String?
  /// At most this many sites (nil: all).
  public var limit: Int?
  /// At most this many frames per traceback.
  public var tracebackFrames: Int

  public init(metric: Metric, options: SiteOptions, marker: String? = nil, limit: Int? = 10, tracebackFrames: Int = 16) {
    self.metric = metric; self.options = options; self.marker = marker
    self.limit = limit; self.tracebackFrames = tracebackFrames
  }

  /// "live bytes at exit", "live bytes at marker \"x\"", ...
  public func measured(exited: Bool) -> String {
    switch metric {
    case .live:
      if let marker { return "live bytes at marker \"\(marker)\"" }
      return exited ? "live bytes at exit" : "live bytes at the end of the dump"
    default:
      return metric.title
    }
  }

  var groupingText: String {
    var s = "by \(options.grouping.rawValue)"
    if options.cumulative { s += ", cumulative" }
    if !options.include.isEmpty { s += ", include \(options.include.map(\.description).joined(separator: " "))" }
    if !options.exclude.isEmpty { s += ", exclude \(options.exclude.map(\.description).joined(separator: " "))" }
    return s
  }
}

/// Paths under the current directory are shown relative to it.
enum DisplayPath {
  static let prefix: String = {
    var buf = [CChar](repeating: 0, count: 4096)
    guard getcwd(&buf, buf.count) != nil else { return "\u{0}" }
    let cwd = buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    return cwd == "/" ? "/" : cwd + "/"
  }()

  static func shorten(_ s: String) -> String {
    s.hasPrefix(prefix) && prefix != "/" ? String(s.dropFirst(prefix.count)) : s
  }
}

#if canImport(Glibc)
import Glibc
#endif
