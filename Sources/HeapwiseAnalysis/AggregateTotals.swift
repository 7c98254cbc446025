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

  /// Per-stack counters with live taken from `snapshot` (the totals by default), or from the
  /// sites' peak figures when `atPeak`.
  public func counters(live snapshot: Snapshot? = nil, atPeak: Bool = false) -> StackCounterTable {
    guard let totals else { return StackCounterTable() }
    var result: [Int: StackCounters] = [:]
    let period = Double(totals.samplePeriod)
    for s in totals.sites {
      var c = result[Int(s.stack.rawValue)] ?? StackCounters()
      c.allocations &+= s.allocations
      c.allocatedBytes &+= s.allocatedBytes
      c.liveBytes &+= s.liveBytes
      c.liveBlocks &+= s.liveBlocks
      c.peakBytes &+= s.peakBytes
      c.peakBlocks &+= s.peakBlocks
      if let e = s.sampled { Self.addEstimate(&c, site: s, extra: e, period: period, allocated: true) }
      result[Int(s.stack.rawValue)] = c
    }
    if atPeak {
      for j in result.values.indices {
        result.values[j].liveBytes = result.values[j].peakBytes; result.values[j].liveBlocks = result.values[j].peakBlocks
        if result.values[j].estimate != nil { result.values[j].estimate!.live = result.values[j].estimate!.peak }
      }
    } else if let snapshot {
      for j in result.values.indices {
        result.values[j].liveBytes = 0; result.values[j].liveBlocks = 0
        if result.values[j].estimate != nil { result.values[j].estimate!.live = SampledFigure() }
      }
      for s in snapshot.sites {
        var c = result[Int(s.stack.rawValue)] ?? StackCounters()
        c.liveBytes &+= s.liveBytes
        c.liveBlocks &+= s.liveBlocks
        if let e = s.sampled { Self.addEstimate(&c, site: s, extra: e, period: period, allocated: false) }
        result[Int(s.stack.rawValue)] = c
      }
    }
    return StackCounterTable(byID: result)
  }

  /// A sampled site's share of the last peak moment. From 1.4 the recorder keeps the variance
  /// terms of the blocks live then (allocated minus freed at that moment, as for the live set at the
  /// end): exact. A 1.3 dump kept only the bytes and blocks, so the variance is approximated from
  /// the site's allocations: their variance per estimated byte (and per block) times the peak's
  /// bytes (blocks), as if the blocks live at the peak had the sizes of all the site's allocations
  /// (docs/AGGREGATE.md). The per-byte variance of any block is below R (w (w - 1) s^2 / (w s) < R),
  /// so the bytes' figure cannot exceed R times the peak's bytes, the variance of a site whose live
  /// blocks at the peak were all small.
  static func peakEstimate(_ s: AggregateSite, _ e: AggregateSampledSite, period: Double) -> SampledFigure {
    var f = SampledFigure(count: Double(s.peakBlocks))
    if let p = e.atPeak {
      f.countVariance = Double(p.countVariance)
      f.bytesVariance = Double(p.bytesVariance) * period
      f.recorded = p.recorded
      return f
    }
    guard s.peakBlocks > 0 else { return f }
    let share = s.allocations > 0 ? Double(s.peakBlocks) / Double(s.allocations) : 0
    if s.allocatedBytes > 0 {
      f.bytesVariance = Swift.min(Double(e.allocatedBytesVariance) * period / Double(s.allocatedBytes), period) * Double(s.peakBytes)
    }
    f.countVariance = Double(e.allocationsVariance) * share
    f.recorded = Units.clampedUInt64((Double(e.recordedAllocations) * share).rounded())
    return f
  }

  /// Whether the last peak's intervals are approximate: a sampled dump whose recorder kept no
  /// variance terms for the peak (format 1.3).
  public var peakIntervalsApproximate: Bool {
    guard let totals, totals.samplePeriod > 0 else { return false }
    return totals.sites.contains { $0.sampled != nil && $0.sampled?.atPeak == nil }
  }

  /// The last peak moment's live total with its interval (approximate for a 1.3 dump), for a
  /// sampled dump.
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
