// Two site tables side by side (two markers of one dump, or two dumps), matched by site key:
// symbolized frames, never addresses or module paths. When either side is a sampled dump's
// estimate, each difference carries its 95% interval (docs/SAMPLING.md, "compare").

public struct SiteDifference: Sendable, Hashable, Codable {
  public enum Status: String, Sendable, Codable {
    /// In both.
    case changed
    /// Only in the newer.
    case new
    /// Only in the older.
    case gone
  }
  public var key: String
  public var label: String
  public var frames: [SourceFrame]
  public var status: Status
  public var oldSize: UInt64
  public var newSize: UInt64
  public var oldCount: UInt64
  public var newCount: UInt64
  /// Sampled dumps: the differences as estimates (variances of the two sides added), nil when
  /// both sides recorded every block.
  public var sizeEstimate: Estimate?
  public var countEstimate: Estimate?
  public var sizeDifference: Int64 { Int64(bitPattern: newSize &- oldSize) }
  public var countDifference: Int64 { Int64(bitPattern: newCount &- oldCount) }
  /// The size difference's 95% interval contains 0: the change may be sampling noise alone.
  public var withinNoise: Bool { sizeEstimate?.withinNoise ?? false }
}

/// The difference of two estimates, new - old, as an estimate: the variance of a difference of
/// independent estimates is the sum of theirs. Two markers of one dump share the blocks live at
/// both, whose terms cancel in the difference: SampledMarkerDifference gives that variance.
public enum EstimateDifference {
  public static func of(old: Double, oldVariance: Double, new: Double, newVariance: Double) -> Estimate {
    Estimate(value: new - old, variance: oldVariance + newVariance, signed: true)
  }

  /// The same differences with the variances of the blocks live at one marker only.
  static func paired(_ e: (size: Estimate, count: Estimate), _ v: SampledFigure) -> (size: Estimate, count: Estimate) {
    (Estimate(value: e.size.value, variance: v.bytesVariance, signed: true),
     Estimate(value: e.count.value, variance: v.countVariance, signed: true))
  }

  /// Size and count differences of `metric` between two sites' counters; nil when neither is sampled.
  static func of(old: StackCounters?, new: StackCounters?, metric: Metric) -> (size: Estimate, count: Estimate)? {
    let o = old?.estimates(metric), n = new?.estimates(metric)
    guard o != nil || n != nil else { return nil }
    func figure(_ c: StackCounters?, _ e: Estimate?, size: Bool) -> (Double, Double) {
      if let e { return (e.value, e.standardError * e.standardError) }
      guard let c else { return (0, 0) }
      return (Double(size ? metric.size(c) : metric.count(c)), 0)
    }
    let (os, osv) = figure(old, o?.size, size: true), (ns, nsv) = figure(new, n?.size, size: true)
    let (oc, ocv) = figure(old, o?.count, size: false), (nc, ncv) = figure(new, n?.count, size: false)
    return (of(old: os, oldVariance: osv, new: ns, newVariance: nsv), of(old: oc, oldVariance: ocv, new: nc, newVariance: ncv))
  }
}

public struct Comparison: Sendable {
  public var metric: Metric
  /// Largest absolute size difference first.
  public var differences: [SiteDifference]
  public var oldTotalSize: UInt64
  public var newTotalSize: UInt64
  public var oldTotalCount: UInt64
  public var newTotalCount: UInt64
  /// Sampled dumps: the totals' differences as estimates (nil when both sides are exact).
  public var totalSizeEstimate: Estimate?
  public var totalCountEstimate: Estimate?
  /// Whether either side is a sampled dump's estimate.
  public var isEstimate: Bool { totalSizeEstimate != nil }

  /// `paired`: for two markers of one sampled dump, the variances of each site's change
  /// (SampledMarkerDifference.bySite), which replace the sum of the two sides' variances.
  public init(old: SiteTable, new: SiteTable, metric: Metric,
              paired: (sites: [String: SampledFigure], total: SampledFigure)? = nil) {
    self.metric = metric
    var byKey: [String: SiteDifference] = [:]
    var oldCounters: [String: StackCounters] = [:], newCounters: [String: StackCounters] = [:]
    for s in old.sites { oldCounters[s.key] = s.counters }
    for s in new.sites { newCounters[s.key] = s.counters }
    for s in old.sites {
      byKey[s.key] = SiteDifference(
        key: s.key, label: s.label, frames: s.frames, status: .gone,
        oldSize: metric.size(s.counters), newSize: 0, oldCount: metric.count(s.counters), newCount: 0)
    }
    for s in new.sites {
      if var d = byKey[s.key] {
        d.status = .changed
        d.newSize = metric.size(s.counters)
        d.newCount = metric.count(s.counters)
        d.label = s.label
        d.frames = s.frames
        byKey[s.key] = d
      } else {
        byKey[s.key] = SiteDifference(
          key: s.key, label: s.label, frames: s.frames, status: .new,
          oldSize: 0, newSize: metric.size(s.counters), oldCount: 0, newCount: metric.count(s.counters))
      }
    }
    // A site with nothing to show on one side is new or gone, even when the other table lists it
    // (a marker's table keeps sites that were not live yet).
    for (k, var d) in byKey where d.status == .changed {
      if d.oldSize == 0 && d.oldCount == 0 { d.status = .new; byKey[k] = d }
      else if d.newSize == 0 && d.newCount == 0 { d.status = .gone; byKey[k] = d }
    }
    for (k, var d) in byKey {
      guard var e = EstimateDifference.of(old: oldCounters[k], new: newCounters[k], metric: metric) else { continue }
      if let paired { e = EstimateDifference.paired(e, paired.sites[k] ?? SampledFigure()) }
      (d.sizeEstimate, d.countEstimate) = (e.size, e.count)
      byKey[k] = d
    }
    differences = byKey.values
      .filter { $0.oldSize != 0 || $0.newSize != 0 || $0.oldCount != 0 || $0.newCount != 0 }
      .sorted { a, b in
        let da = a.sizeDifference.magnitude, db = b.sizeDifference.magnitude
        if da != db { return da > db }
        let ca = a.countDifference.magnitude, cb = b.countDifference.magnitude
        if ca != cb { return ca > cb }
        if a.newSize != b.newSize { return a.newSize > b.newSize }
        return a.label < b.label
      }
    oldTotalSize = metric.size(old.total)
    newTotalSize = metric.size(new.total)
    oldTotalCount = metric.count(old.total)
    newTotalCount = metric.count(new.total)
    if var e = EstimateDifference.of(old: old.total, new: new.total, metric: metric) {
      if let paired { e = EstimateDifference.paired(e, paired.total) }
      (totalSizeEstimate, totalCountEstimate) = (e.size, e.count)
    }
  }
}
