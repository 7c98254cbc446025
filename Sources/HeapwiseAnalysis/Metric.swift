// The figures a report can rank sites by. Each has a size (bytes) and a count.

public enum Metric: String, Sendable, CaseIterable, Codable {
  /// Live bytes and blocks at the end of the dump, or at a marker.
  case live
  /// Live bytes and blocks at the global peak.
  case peak
  /// Live at exit; needs a dump that ends with END.
  case leaked
  /// Bytes and number of allocations made, ranked by bytes.
  case allocated
  /// Bytes and number of allocations made, ranked by number.
  case count
  /// Bytes and number of temporary allocations.
  case temporary

  public func size(_ c: StackCounters) -> UInt64 {
    switch self {
    case .live, .leaked: c.liveBytes
    case .peak: c.peakBytes
    case .allocated, .count: c.allocatedBytes
    case .temporary: c.temporaryBytes
    }
  }

  public func count(_ c: StackCounters) -> UInt64 {
    switch self {
    case .live, .leaked: c.liveBlocks
    case .peak: c.peakBlocks
    case .allocated, .count: c.allocations
    case .temporary: c.temporary
    }
  }

  /// What the report ranks by.
  public func rank(_ c: StackCounters) -> UInt64 { self == .count ? count(c) : size(c) }

  /// For a report's header: "what was measured".
  public var title: String {
    switch self {
    case .live: "live bytes"
    case .peak: "bytes live at the peak"
    case .leaked: "bytes leaked (live at exit)"
    case .allocated: "bytes allocated in total"
    case .count: "allocations made"
    case .temporary: "temporary allocations"
    }
  }
}

extension SiteTable {
  /// Sites with a non-zero figure for `metric`, largest first; ties by label.
  public func sorted(by metric: Metric) -> [Site] {
    sites.filter { metric.rank($0.counters) > 0 || metric.size($0.counters) > 0 }
      .sorted { a, b in
        let ra = metric.rank(a.counters), rb = metric.rank(b.counters)
        if ra != rb { return ra > rb }
        let sa = metric.size(a.counters), sb = metric.size(b.counters)
        if sa != sb { return sa > sb }
        return a.label < b.label
      }
  }
}
