// What `heapwise report` shows, from one replay: `top`'s per-stack metrics (StackMetrics), the live
// bytes of every stack at every marker, and the summary (SummaryAggregator, SummaryReport). The
// same aggregators as `top`, `top --at` and `summary`; nothing is computed a second way.
import HeapwiseFormat
import HeapwiseSymbols

public final class ReportAnalysis {
  public let reader: DumpReader
  public let state: ReplayState
  public let metrics: StackMetrics
  /// The first occurrence of each marker name, in replay order, as `top --at` takes it.
  public let markerSnapshots: [MarkerSnapshot]
  public let summary: SummaryReport
  public let resolver: FrameResolver

  /// Reads and replays the whole dump. `timelineRows` bounds the periodic samples of the
  /// summary's timeline (markers, the peak and the last sample are always kept).
  public init(reader: DumpReader, timelineRows: Int = 400, symbolizerOptions: SymbolizerOptions = .init(),
              progress: ((Double) -> Void)? = nil) {
    self.reader = reader
    let metrics = StackMetrics()
    let snapshots = EveryMarker(metrics)
    let summary = SummaryAggregator()
    let replay = Replay(aggregators: [metrics, snapshots, summary])
    var source = reader
    replay.run(&source, progress: progress.map { report in { [reader] _ in report(reader.fractionRead) } })
    self.metrics = metrics
    state = replay.state
    markerSnapshots = snapshots.snapshots
    resolver = FrameResolver(state: replay.state, symbolizer: Symbolizer(options: symbolizerOptions))
    let data = summary.data(replay: replay, header: reader.header, residency: reader.residency)
    self.summary = SummaryReport(data: data, header: reader.header, site: SummarySite.namer(resolver),
                                 timelineRows: timelineRows)
  }

  public var exitedNormally: Bool { state.end != nil }

  /// The counters with live taken at `snapshot` (see StackMetrics.counters(at:)).
  public func counters(at snapshot: MarkerSnapshot? = nil) -> [StackCounters] {
    snapshot.map(metrics.counters(at:)) ?? metrics.counters
  }

  /// Seconds from the start of recording to a replay timestamp, by the header's clock rate (as
  /// DumpDescription gives the peak's time).
  public func seconds(_ ticks: UInt64) -> Double? {
    let h = reader.header
    guard h.ticksPerSecond > 0, ticks >= h.startTicks else { return nil }
    return Double(ticks - h.startTicks) / Double(h.ticksPerSecond)
  }
}

/// Takes StackMetrics' live counters at the first occurrence of every marker name. It runs after
/// the metrics in the replay, so at a marker they are up to date.
private final class EveryMarker: ReplayAggregator {
  let metrics: StackMetrics
  var snapshots: [MarkerSnapshot] = []
  var seen: Set<String> = []

  init(_ metrics: StackMetrics) { self.metrics = metrics }

  func marker(_ marker: MarkerRecord, state: ReplayState) {
    guard seen.insert(marker.name).inserted else { return }
    let now = metrics.counters
    snapshots.append(MarkerSnapshot(name: marker.name, timestamp: state.timestamp, liveBytes: now.map(\.liveBytes),
                                    liveBlocks: now.map(\.liveBlocks),
                                    liveEstimates: state.sampleWeight == nil ? [] : now.map { $0.estimate?.live ?? SampledFigure() }))
  }
}
