// An aggregated dump's counters (docs/AGGREGATE.md): the latest totals and each moment's
// snapshot, assembled from their AGGREGATE records. The replay collects them (ReplayState.aggregate);
// DumpAnalysis turns them into the same per-stack counters a replay of events gives, for the
// figures they can hold.
import HeapwiseFormat

public final class AggregateTotals {
  public struct Snapshot: Sendable {
    public var name: String
    public var timestamp: UInt64
    public var samplePeriod: UInt64 = 0
    public var liveTotal: UInt64 = 0
    public var peakTotal: UInt64 = 0
    public var untracked: UInt64 = 0
    public var sites: [AggregateSite] = []
  }

  /// The last totals in the file (each flush replaces the previous set; a dump whose replacement
  /// failed holds several, and the last is the newest).
  public private(set) var totals: Snapshot?
  /// Moments in file order; a moment's parts follow its first record in the same stream.
  public private(set) var moments: [Snapshot] = []
  private var open: [StreamID: (kind: UInt64, index: Int)] = [:]
  private var building: Snapshot?

  public init() {}

  /// Whether any AGGREGATE record was read.
  public var isEmpty: Bool { totals == nil && moments.isEmpty }

  func add(_ r: AggregateRecord, stream: StreamID, timestamp: UInt64) {
    guard let kind = AggregateRecord.Kind(rawValue: r.kind) else { return }  // a later kind: skip
    if r.part == 0 {
      let s = Snapshot(name: r.name, timestamp: timestamp, samplePeriod: r.samplePeriod, liveTotal: r.liveTotal,
                       peakTotal: r.peakTotal, untracked: r.untracked, sites: r.sites)
      switch kind {
      case .totals: totals = s
      case .moment:
        moments.append(s)
        open[stream] = (r.kind, moments.count - 1)
      }
      if kind == .totals { open[stream] = (r.kind, -1) }
      return
    }
    guard let o = open[stream], o.kind == r.kind else { return }  // a part whose first record is missing
    if o.index < 0 { totals?.sites += r.sites } else { moments[o.index].sites += r.sites }
  }

  /// Per-stack counters (index: stack id) with live taken from `snapshot` (the totals by default),
  /// or from the sites' peak figures when `atPeak`.
  public func counters(live snapshot: Snapshot? = nil, atPeak: Bool = false) -> [StackCounters] {
    guard let totals else { return [] }
    let maxID = totals.sites.map { Int($0.stack.rawValue) }.max() ?? 0
    var result = [StackCounters](repeating: StackCounters(), count: maxID + 1)
    let period = Double(totals.samplePeriod)
    for s in totals.sites {
      let i = Int(s.stack.rawValue)
      result[i].allocations &+= s.allocations
      result[i].allocatedBytes &+= s.allocatedBytes
      result[i].liveBytes &+= s.liveBytes
      result[i].liveBlocks &+= s.liveBlocks
      result[i].peakBytes &+= s.peakBytes
      result[i].peakBlocks &+= s.peakBlocks
      if let e = s.sampled { Self.addEstimate(&result[i], site: s, extra: e, period: period, allocated: true) }
    }
    if atPeak {
      for i in result.indices {
        result[i].liveBytes = result[i].peakBytes; result[i].liveBlocks = result[i].peakBlocks
        if result[i].estimate != nil { result[i].estimate!.live = result[i].estimate!.peak }
      }
    } else if let snapshot {
      for i in result.indices {
        result[i].liveBytes = 0; result[i].liveBlocks = 0
        if result[i].estimate != nil { result[i].estimate!.live = SampledFigure() }
      }
      for s in snapshot.sites {
        let i = Int(s.stack.rawValue)
        if i >= result.count { result += repeatElement(StackCounters(), count: i + 1 - result.count) }
        result[i].liveBytes &+= s.liveBytes
        result[i].liveBlocks &+= s.liveBlocks
        if let e = s.sampled { Self.addEstimate(&result[i], site: s, extra: e, period: period, allocated: false) }
      }
    }
    return result
  }

  /// A sampled site's share of the last peak moment. The recorder keeps no variance for it (only
  /// the bytes and blocks), so it is approximated from the site's allocations: their variance per
  /// estimated byte (and per block) times the peak's bytes (blocks), as if the blocks live at the
  /// peak had the sizes of all the site's allocations (docs/AGGREGATE.md). The per-byte variance
  /// of any block is below R (w (w - 1) s^2 / (w s) < R), so the bytes' figure cannot exceed R times
  /// the peak's bytes, the variance of a site whose live blocks at the peak were all small.
  static func peakEstimate(_ s: AggregateSite, _ e: AggregateSampledSite, period: Double) -> SampledFigure {
    var f = SampledFigure(count: Double(s.peakBlocks))
    guard s.peakBlocks > 0 else { return f }
    let share = s.allocations > 0 ? Double(s.peakBlocks) / Double(s.allocations) : 0
    if s.allocatedBytes > 0 {
      f.bytesVariance = Swift.min(Double(e.allocatedBytesVariance) * period / Double(s.allocatedBytes), period) * Double(s.peakBytes)
    }
    f.countVariance = Double(e.allocationsVariance) * share
    f.recorded = UInt64((Double(e.recordedAllocations) * share).rounded())
    return f
  }

  /// The last peak moment's live total with its (approximate) interval, for a sampled dump.
  public var peakEstimate: Estimate? {
    guard let totals, totals.samplePeriod > 0 else { return nil }
    var v = 0.0
    for s in totals.sites { if let e = s.sampled { v += Self.peakEstimate(s, e, period: Double(totals.samplePeriod)).bytesVariance } }
    return Estimate(value: Double(totals.peakTotal), variance: v)
  }

  /// A sampled site's estimates (docs/AGGREGATE.md): the counters are already weighted; the
  /// variance of what is live is that of the allocated minus that of the freed, term by term.
  private static func addEstimate(_ c: inout StackCounters, site s: AggregateSite, extra e: AggregateSampledSite,
                                  period: Double, allocated: Bool) {
    if c.estimate == nil { c.estimate = SampledCounters() }
    func minus(_ a: UInt64, _ b: UInt64) -> Double { a > b ? Double(a - b) : 0 }
    if allocated {
      c.estimate!.allocated.count += Double(s.allocations)
      c.estimate!.allocated.countVariance += Double(e.allocationsVariance)
      c.estimate!.allocated.bytesVariance += Double(e.allocatedBytesVariance) * period
      c.estimate!.allocated.recorded &+= e.recordedAllocations
      c.estimate!.peak.add(peakEstimate(s, e, period: period))
    }
    c.estimate!.live.count += Double(s.liveBlocks)
    c.estimate!.live.countVariance += minus(e.allocationsVariance, e.freesVariance)
    c.estimate!.live.bytesVariance += minus(e.allocatedBytesVariance, e.freedBytesVariance) * period
    c.estimate!.live.recorded &+= e.recordedAllocations > e.recordedFrees ? e.recordedAllocations - e.recordedFrees : 0
  }
}

/// Names of the moments `--at` accepts beyond the markers' own (docs/AGGREGATE.md): `peak` is the
/// last moment the peak trigger set (`peak-N`, the highest of them).
public enum MomentNames {
  public static let peak = "peak"

  /// Whether `marker` is one the peak trigger set.
  public static func isPeak(_ marker: MarkerRecord) -> Bool {
    marker.source == MarkerRecord.Source.trigger.rawValue && marker.name.hasPrefix("peak-")
  }

  /// The marker name `requested` stands for, given the dump's marker names and the names of its
  /// peak moments (both in file order); a marker really named "peak" keeps its name.
  public static func resolve(_ requested: String, names: [String], peaks: [String]) -> String? {
    if names.contains(requested) { return requested }
    return requested == peak ? peaks.last : nil
  }
}
