/// Limits on what a body may allocate; a nil limit is not checked.
///
/// ```swift
/// let budget = AllocationBudget(maxAllocations: 10, maxLeakedBytes: 0)
/// let usage = try measureAllocations { parser.parse(header) }
/// if let message = budget.failureMessage(for: usage) { Issue.record(Comment(rawValue: message)) }
/// ```
public struct AllocationBudget: Sendable, Hashable {
  public var maxAllocations: Int?
  /// Bytes requested by all allocations together.
  public var maxBytes: ByteCount?
  /// The most bytes of the body's own blocks live at one time.
  public var maxPeakBytes: ByteCount?
  /// Bytes allocated inside the body and still allocated at its end.
  public var maxLeakedBytes: ByteCount?
  public var maxLeakedBlocks: Int?

  public init(
    maxAllocations: Int? = nil, maxBytes: ByteCount? = nil, maxPeakBytes: ByteCount? = nil,
    maxLeakedBytes: ByteCount? = nil, maxLeakedBlocks: Int? = nil
  ) {
    self.maxAllocations = maxAllocations
    self.maxBytes = maxBytes
    self.maxPeakBytes = maxPeakBytes
    self.maxLeakedBytes = maxLeakedBytes
    self.maxLeakedBlocks = maxLeakedBlocks
  }

  /// One limit that a measurement exceeded.
  public struct Violation: Sendable, Hashable, CustomStringConvertible {
    public enum Limit: Sendable, Hashable {
      case allocations, bytes, peakBytes, leakedBytes, leakedBlocks
    }
    public var limit: Limit
    public var measured: Int
    public var allowed: Int

    /// `14 allocations > 10 (+4)`, `80 KiB allocated > 64 KiB (+16 KiB)`.
    public var description: String {
      let over = measured - allowed
      switch limit {
      case .allocations: return "\(Self.count(measured, "allocation")) > \(allowed) (+\(over))"
      case .leakedBlocks: return "\(Self.count(measured, "leaked block")) > \(allowed) (+\(over))"
      case .bytes: return "\(Self.bytes(measured)) allocated > \(Self.bytes(allowed)) (+\(Self.bytes(over)))"
      case .peakBytes: return "peak \(Self.bytes(measured)) > \(Self.bytes(allowed)) (+\(Self.bytes(over)))"
      case .leakedBytes: return "\(Self.bytes(measured)) leaked > \(Self.bytes(allowed)) (+\(Self.bytes(over)))"
      }
    }

    /// What the sites of a message are ranked by for this limit. Peak is not tracked per site,
    /// so its sites are the ones that allocated the most bytes.
    var siteOrder: AllocationSiteOrder {
      switch limit {
      case .allocations: .allocations
      case .bytes, .peakBytes: .bytes
      case .leakedBytes, .leakedBlocks: .leakedBytes
      }
    }

    static func bytes(_ n: Int) -> String { ByteCount(n).description }
    static func count(_ n: Int, _ noun: String) -> String { n == 1 ? "1 \(noun)" : "\(n) \(noun)s" }
  }

  /// The limits `usage` exceeds, in a fixed order.
  public func violations(of usage: AllocationUsage) -> [Violation] {
    let checks: [(Violation.Limit, Int?, Int)] = [
      (.allocations, maxAllocations, usage.allocations),
      (.bytes, maxBytes?.bytes, usage.bytesAllocated),
      (.peakBytes, maxPeakBytes?.bytes, usage.peakBytes),
      (.leakedBytes, maxLeakedBytes?.bytes, usage.leakedBytes),
      (.leakedBlocks, maxLeakedBlocks, usage.leakedBlocks),
    ]
    return checks.compactMap { limit, allowed, measured in
      guard let allowed, measured > allowed else { return nil }
      return Violation(limit: limit, measured: measured, allowed: allowed)
    }
  }

  /// One line per exceeded limit with the sites behind it, e.g.
  /// `allocation budget exceeded: 14 allocations > 10 (+4); top sites: Parser.parse() (Parser.swift:88) (9), ...`;
  /// empty when the budget holds.
  public func failureMessages(for usage: AllocationUsage, sites: Int = 3) -> [String] {
    violations(of: usage).map { violation in
      var line = "allocation budget exceeded: \(violation)"
      let top = usage.topSites(by: violation.siteOrder, limit: sites)
      if !top.isEmpty {
        let label = violation.siteOrder == .leakedBytes ? "leaked at" : "top sites"
        line += "; \(label): " + top.map { site in
          switch violation.siteOrder {
          case .allocations: "\(site.location) (\(site.allocations))"
          case .bytes: "\(site.location) (\(ByteCount(site.bytes)))"
          case .leakedBytes: "\(site.location) (\(ByteCount(site.leakedBytes)) in \(Violation.count(site.leakedBlocks, "block")))"
          }
        }.joined(separator: ", ")
      }
      if usage.sitesTruncated { line += " (more sites than recorded)" }
      return line
    }
  }

  /// All failure messages joined by newlines, or nil when the budget holds.
  public func failureMessage(for usage: AllocationUsage) -> String? {
    let messages = failureMessages(for: usage)
    return messages.isEmpty ? nil : messages.joined(separator: "\n")
  }
}
