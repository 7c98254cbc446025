// `heapwise summary` of an aggregated dump (docs/AGGREGATE.md): the totals the recorder kept, the
// moments, and a plain list of what cannot be judged without events.
import HeapwiseAnalysis
import HeapwiseFormat

public enum AggregateSummary {
  /// `marker`: judge that moment's live bytes instead of the last flush's.
  public static func text(_ analysis: DumpAnalysis, title: String, marker: String?) throws(AnalysisError) -> String {
    let dump = DumpDescription(analysis)
    let table = try analysis.sites(at: marker, options: SiteOptions())
    let agg = analysis.state.aggregate
    var out = "heapwise summary: \(title)\n" + "dump: \(dump.headline)\n"
    out += (dump.aggregated ?? "") + "\n\n"
    let rss = lastRSS(analysis, at: marker)
    // Sampled aggregation: the counters are estimates (docs/AGGREGATE.md), each with its interval.
    let sampled = analysis.state.sampling
    if let sampled {
      out += EstimateReport.note(EstimateReport.Sampling(sampled, stats: analysis.state.samplingStats, aggregated: true,
                                                         approximatePeak: agg.peakIntervalsApproximate),
                                 metric: .live, marker: marker)
    }
    func interval(_ e: Estimate?, bytes: Bool) -> String {
      guard let e else { return "" }
      return " " + (bytes ? EstimateReport.byteInterval(e) : EstimateReport.countInterval(e))
    }
    let t = table.total
    let live = t.estimates(.live), allocated = t.estimates(.allocated)
    out += marker.map { "at \"\($0)\":\n" } ?? "at the last flush:\n"
    out += (sampled == nil ? "  live heap (counted)  " : "  live heap (estimated) ")
      + "\(Units.bytes(t.liveBytes))\(interval(live?.size, bytes: true)) in \(t.liveBlocks)"
      + "\(interval(live?.count, bytes: false)) blocks\n"
    if let rss { out += "  RSS                  \(Units.bytes(rss))\n" }
    if marker == nil {
      out += "  allocated so far     \(Units.bytes(t.allocatedBytes))\(interval(allocated?.size, bytes: true)) in "
        + "\(t.allocations)\(interval(allocated?.count, bytes: false)) allocations\n"
      out += "  last peak moment     \(Units.bytes(agg.totals?.peakTotal ?? 0))"
        + (sampled == nil ? " live (`--at peak`)\n"
          : "\(interval(agg.peakEstimate, bytes: true)) live (`--at peak`; the estimated heap's peak"
            + (agg.peakIntervalsApproximate ? ", its interval approximate)\n" : ")\n"))
    }
    let top = table.sorted(by: .live).prefix(5)
    if !top.isEmpty {
      out += "\nlargest live sites:\n"
      for s in top { out += "  \(Units.bytes(s.counters.liveBytes).leftAligned(10)) \(s.counters.liveBlocks) blocks  \(s.label)\n" }
    }
    let names = analysis.state.markers.map(\.name)
    if !names.isEmpty {
      out += "\nmoments (`--at NAME`): " + names.joined(separator: ", ")
        + (names.contains { $0.hasPrefix("peak-") } ? ", peak (the last peak-N)" : "") + "\n"
    }
    out += "\nnot available without events: the RSS split into heap, allocator-held and mapped memory, "
      + "the growth verdict and its timeline, the heap layout, temporary allocations.\n"
    return out
  }

  /// RSS of the sample the recorder took at `marker` (right after it), or of the last flush.
  static func lastRSS(_ analysis: DumpAnalysis, at marker: String?) -> UInt64? {
    guard let rss = analysis.aggregators.lazy.compactMap({ $0 as? MomentRSS }).first else { return nil }
    guard let marker else { return rss.last }
    let name = MomentNames.resolve(marker, names: analysis.state.markers.map(\.name),
                                   peaks: analysis.state.markers.map(\.name).filter { $0.hasPrefix("peak-") }) ?? marker
    return rss.atMarker[name]
  }
}

/// RSS from the SAMPLE records: the last one, and the one that follows each marker in its stream.
public final class MomentRSS: ReplayAggregator {
  public private(set) var last: UInt64?
  public private(set) var atMarker: [String: UInt64] = [:]
  private var waiting: [StreamID: String] = [:]

  public init() {}

  public func marker(_ marker: MarkerRecord, state: ReplayState) { waiting[state.stream] = marker.name }

  public func sample(_ sample: SampleRecord, state: ReplayState) {
    guard let rss = sample[2] else { return }
    last = rss
    if let name = waiting.removeValue(forKey: state.stream), atMarker[name] == nil { atMarker[name] = rss }
  }
}

extension String {
  func leftAligned(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}
