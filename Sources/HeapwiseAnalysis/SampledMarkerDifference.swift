// `compare --from A --to B` on a sampled dump: the variance of each stack's change between two
// markers. The change, live at B minus live at A, is a Horvitz-Thompson sum over the blocks live
// at exactly one of them (a block live at both adds to each side and cancels), so its variance
// estimate is the sum of w (w - 1) y^2 over those blocks alone: the blocks allocated between the
// markers and still live at the later one, and the blocks live at the earlier one and freed
// between them. Adding the two sides' variances instead would count the shared blocks twice
// (docs/SAMPLING.md, "compare").
import HeapwiseFormat

public final class SampledMarkerDifference: ReplayAggregator {
  public let names: Set<String>
  /// Per stack id: the change's count and byte variances (`countVariance`, `bytesVariance`) and
  /// how many recorded blocks they rest on.
  public private(set) var variances: [SampledFigure] = []
  /// Both markers were seen (their first occurrences, as `top --at` takes them).
  public private(set) var complete = false
  private var first: String?
  /// The replay serial of the last allocation before the first marker.
  private var startSerial: UInt64 = 0
  private var lastSerial: UInt64 = 0

  public init(_ a: String, _ b: String) { names = [a, b] }

  private var open: Bool { first != nil && !complete }

  private func change(_ block: LiveBlock, _ w: Double, adding: Bool) {
    let i = Int(block.stack.rawValue)
    if i >= variances.count { variances += repeatElement(SampledFigure(), count: i + 1 - variances.count) }
    if adding { variances[i].add(size: block.size, weight: w) } else { variances[i].remove(size: block.size, weight: w) }
  }

  public func allocated(_ block: LiveBlock, address: UInt64, kind: BlockKind, state: ReplayState) {
    lastSerial = Swift.max(lastSerial, block.serial)
    guard open, kind == .heap, let w = state.sampleWeight?.weight(block.size) else { return }
    change(block, w, adding: true)  // live at the later marker, unless freed before it
  }

  public func freed(_ block: LiveBlock, bytes: UInt64, whole: Bool, kind: BlockKind, by function: AllocatorFunction,
                    state: ReplayState) {
    guard open, whole, kind == .heap, let w = state.sampleWeight?.weight(block.size) else { return }
    // Born after the first marker: it was added above and is live at neither. Born before: it
    // was live at the first marker only.
    change(block, w, adding: block.serial <= startSerial)
  }

  public func marker(_ marker: MarkerRecord, state: ReplayState) {
    guard names.contains(marker.name), !complete else { return }
    if let first {
      if marker.name != first || names.count == 1 { complete = true }
    } else {
      first = marker.name
      startSerial = lastSerial
      if names.count == 1 { complete = true }  // --from A --to A: no change, no variance
    }
  }

  /// The variances summed per site, by the site keys `options` gives (`counters`: the later
  /// marker's, so every stack the tables hold is there).
  public func bySite(counters: [StackCounters], resolver: FrameResolver, options: SiteOptions)
    -> (sites: [String: SampledFigure], total: SampledFigure)?
  {
    guard complete else { return nil }
    // The one grouping of stacks into sites (SiteTable), carrying the variances as live figures.
    var carried = counters
    for i in carried.indices {
      carried[i].estimate = SampledCounters()
      if i < variances.count { carried[i].estimate!.live = variances[i] }
    }
    let table = SiteTable(counters: carried, resolver: resolver, options: options)
    var sites: [String: SampledFigure] = [:]
    for s in table.sites { sites[s.key] = s.counters.estimate?.live ?? SampledFigure() }
    return (sites, table.total.estimate?.live ?? SampledFigure())
  }
}
