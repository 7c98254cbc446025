// Two site tables side by side (two markers of one dump, or two dumps), matched by site key:
// symbolized frames, never addresses or module paths.

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
  public var sizeDifference: Int64 { Int64(bitPattern: newSize &- oldSize) }
  public var countDifference: Int64 { Int64(bitPattern: newCount &- oldCount) }
}

public struct Comparison: Sendable {
  public var metric: Metric
  /// Largest absolute size difference first.
  public var differences: [SiteDifference]
  public var oldTotalSize: UInt64
  public var newTotalSize: UInt64
  public var oldTotalCount: UInt64
  public var newTotalCount: UInt64

  public init(old: SiteTable, new: SiteTable, metric: Metric) {
    self.metric = metric
    var byKey: [String: SiteDifference] = [:]
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
  }
}
