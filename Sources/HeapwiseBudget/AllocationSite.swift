import HeapwiseSymbols

/// Allocations grouped by the first frame of the caller's code (`Parser.parse() (Parser.swift:88)`): what a
/// failure message lists under "top sites".
public struct AllocationSite: Sendable, Hashable {
  /// The site's name as every heapwise output gives it (`SiteName`): `function (File.swift:88)`,
  /// or `function (module)`, or `module+0xoffset`, whichever is known.
  public var location: String
  /// The function at ``location``, when known.
  public var function: String?
  public var allocations: Int
  public var bytes: Int
  public var leakedBlocks: Int
  public var leakedBytes: Int
}

/// What to rank sites by.
public enum AllocationSiteOrder: Sendable {
  case allocations, bytes, leakedBytes
}

extension AllocationUsage {
  /// The sites with the most allocations (or bytes, or leaked bytes), symbolized, merged by
  /// location. Call it after the measurement: symbolizing allocates and reads debug info.
  public func topSites(by order: AllocationSiteOrder = .allocations, limit: Int = 5) -> [AllocationSite] {
    var merged: [String: AllocationSite] = [:]
    for stack in stacks {
      let frame = SiteSymbolizer.shared.callerFrame(stack.addresses)
      let location = frame?.siteName ?? "(other stacks)"
      var site = merged[location] ?? AllocationSite(
        location: location, function: frame?.function, allocations: 0, bytes: 0, leakedBlocks: 0,
        leakedBytes: 0)
      site.allocations += stack.allocations
      site.bytes += stack.bytes
      site.leakedBlocks += stack.leakedBlocks
      site.leakedBytes += stack.leakedBytes
      merged[location] = site
    }
    func key(_ s: AllocationSite) -> Int {
      switch order {
      case .allocations: s.allocations
      case .bytes: s.bytes
      case .leakedBytes: s.leakedBytes
      }
    }
    return merged.values.filter { key($0) > 0 }
      .sorted { key($0) != key($1) ? key($0) > key($1) : $0.location < $1.location }
      .prefix(limit).map { $0 }
  }
}
