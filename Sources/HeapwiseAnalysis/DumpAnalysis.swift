// One dump, replayed once: the entry point for `top` and `compare`, and for other commands that
// add their own aggregators to the same replay.
import HeapwiseFormat
import HeapwiseSymbols

public enum AnalysisError: Error, Sendable, Equatable, CustomStringConvertible {
  case unknownMarker(String, available: [String])
  case markersOutOfOrder(String, String)
  case aggregatedMoment(String)

  public var description: String {
    switch self {
    case .aggregatedMoment(let name):
      "an aggregated dump keeps the sites' live bytes at the last peak only: use --at peak, not \"\(name)\""
    case .markersOutOfOrder(let a, let b):
      "marker \"\(a)\" comes after \"\(b)\": give --from the earlier one"
    case .unknownMarker(let name, let available):
      available.isEmpty
        ? "no marker named \"\(name)\": the dump has no markers"
        : "no marker named \"\(name)\"; the dump has: \(available.map { "\"\($0)\"" }.joined(separator: ", "))"
    }
  }
}

public final class DumpAnalysis {
  public let reader: DumpReader
  public let replay: Replay
  public let metrics: StackMetrics
  /// The aggregators the caller added, in order.
  public let aggregators: [any ReplayAggregator]
  public var state: ReplayState { replay.state }
  private var resolverStorage: FrameResolver?
  private let symbolizerOptions: SymbolizerOptions
  private let sharedSymbolizer: Symbolizer?

  /// Reads and replays the whole dump. `markers` are the marker names whose live state is kept
  /// (for `--at`, `--from`, `--to`); `aggregators` run in the same replay after the built-in one.
  /// Analyses of dumps of the same program can share one `symbolizer` (its files and caches are
  /// keyed by build id), so each binary's debug information is opened once.
  public init(reader: DumpReader, markers: Set<String> = [], aggregators: [any ReplayAggregator] = [],
              symbolizerOptions: SymbolizerOptions = .init(), symbolizer: Symbolizer? = nil,
              progress: ((Double) -> Void)? = nil) {
    self.reader = reader
    self.symbolizerOptions = symbolizer?.options ?? symbolizerOptions
    sharedSymbolizer = symbolizer
    metrics = StackMetrics(snapshotMarkers: markers)
    self.aggregators = aggregators
    replay = Replay(aggregators: [metrics] + aggregators, pageSize: UInt64(reader.header.pageSize))
    var source = reader
    replay.run(&source, progress: progress.map { report in { [reader] _ in report(reader.fractionRead) } })
  }

  /// True when the dump ends with END, so live at exit is leaked.
  public var exitedNormally: Bool { state.end != nil }

  public var resolver: FrameResolver {
    if let r = resolverStorage { return r }
    let r = FrameResolver(state: state, symbolizer: sharedSymbolizer ?? Symbolizer(options: symbolizerOptions))
    resolverStorage = r
    return r
  }

  /// Recorded with `--aggregate`: counters per site, no events (docs/AGGREGATE.md).
  public var isAggregated: Bool { reader.header.isAggregated || !state.aggregate.isEmpty }

  /// Per-stack counters, with live taken at `marker` when given.
  public func counters(at marker: String?) throws(AnalysisError) -> StackCounterTable {
    if isAggregated { return try aggregateCounters(at: marker) }
    guard let marker else { return metrics.counters }
    guard let snapshot = metrics.snapshots[marker] else { throw unknown(marker) }
    return metrics.counters(at: snapshot)
  }

  private func unknown(_ marker: String) -> AnalysisError {
    var names: [String] = []
    for m in state.markers where !names.contains(m.name) { names.append(m.name) }
    if names.contains(where: { $0.hasPrefix("peak-") }) && !names.contains(MomentNames.peak) { names.append(MomentNames.peak) }
    return .unknownMarker(marker, available: names)
  }

  /// An aggregated dump holds a snapshot at each marker and signal, and at the last peak only.
  private func aggregateCounters(at marker: String?) throws(AnalysisError) -> StackCounterTable {
    let totals = state.aggregate
    guard let marker else { return totals.counters() }
    if let m = totals.moments.first(where: { $0.name == marker }) { return totals.counters(live: m) }
    let lastPeak = state.markers.last { $0.name.hasPrefix("peak-") }?.name
    if marker == MomentNames.peak || marker == lastPeak, lastPeak != nil { return totals.counters(atPeak: true) }
    if marker.hasPrefix("peak-"), state.markers.contains(where: { $0.name == marker }) {
      throw .aggregatedMoment(marker)
    }
    throw unknown(marker)
  }

  public func sites(at marker: String? = nil, options: SiteOptions) throws(AnalysisError) -> SiteTable {
    SiteTable(counters: try counters(at: marker), resolver: resolver, options: options)
  }
}
