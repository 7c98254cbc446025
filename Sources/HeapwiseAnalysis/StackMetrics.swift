// Per-stack statistics in flat arrays indexed by stack id: the aggregator behind `top` and
// `compare`. Every event costs O(1).
import HeapwiseFormat

/// Counters of one stack (or, summed, of one site).
public struct StackCounters: Sendable, Hashable, Codable {
  /// Allocations made (a realloc counts as one allocation of its new size).
  public var allocations: UInt64 = 0
  public var allocatedBytes: UInt64 = 0
  /// Live now (at the end of the replay, or at the snapshot's marker).
  public var liveBytes: UInt64 = 0
  public var liveBlocks: UInt64 = 0
  /// Live at the global peak.
  public var peakBytes: UInt64 = 0
  public var peakBlocks: UInt64 = 0
  /// Heap blocks freed before their thread allocated anything else.
  public var temporary: UInt64 = 0
  public var temporaryBytes: UInt64 = 0

  public init() {}

  public var isZero: Bool { allocations == 0 && liveBytes == 0 && liveBlocks == 0 && peakBytes == 0 }

  public mutating func add(_ o: StackCounters) {
    allocations &+= o.allocations; allocatedBytes &+= o.allocatedBytes
    liveBytes &+= o.liveBytes; liveBlocks &+= o.liveBlocks
    peakBytes &+= o.peakBytes; peakBlocks &+= o.peakBlocks
    temporary &+= o.temporary; temporaryBytes &+= o.temporaryBytes
  }
}

/// Live bytes and blocks of every stack at one marker.
public struct MarkerSnapshot: Sendable {
  public var name: String
  public var timestamp: UInt64
  public var liveBytes: [UInt64]
  public var liveBlocks: [UInt64]
}

public final class StackMetrics: ReplayAggregator {
  @exclusivity(unchecked) public private(set) var counters: [StackCounters] = []
  /// Peak bookkeeping: a stack's live value is saved, stamped with the current peak epoch, before
  /// its first change after a new peak; a stack not stamped with the last epoch has not changed
  /// since, so its current value is its value at the peak.
  @exclusivity(unchecked) private var peakStamp: [UInt64] = []
  @exclusivity(unchecked) private var savedBytes: [UInt64] = []
  @exclusivity(unchecked) private var savedBlocks: [UInt64] = []
  /// Serial of each stream's latest heap allocation, for "temporary".
  @exclusivity(unchecked) private var lastAllocation: [UInt64] = []
  /// Marker names to snapshot (the first occurrence of each).
  private let snapshotNames: Set<String>
  @exclusivity(unchecked) public private(set) var snapshots: [String: MarkerSnapshot] = [:]

  public init(snapshotMarkers: Set<String> = []) {
    snapshotNames = snapshotMarkers
  }

  @inline(__always)
  private func ensure(_ i: Int) {
    if i >= counters.count { grow(to: i) }
  }

  private func grow(to i: Int) {
    let n = max(i + 1, counters.count * 2, 1024)
    counters += repeatElement(StackCounters(), count: n - counters.count)
    peakStamp += repeatElement(0, count: n - peakStamp.count)
    savedBytes += repeatElement(0, count: n - savedBytes.count)
    savedBlocks += repeatElement(0, count: n - savedBlocks.count)
  }

  // One inout access per event instead of one per field (each is a uniqueness check).
  @inline(__always)
  private static func add(_ size: UInt64, to c: inout StackCounters) {
    c.allocations &+= 1
    c.allocatedBytes &+= size
    c.liveBytes &+= size
    c.liveBlocks &+= 1
  }

  @inline(__always)
  private static func remove(_ bytes: UInt64, whole: Bool, from c: inout StackCounters) {
    c.liveBytes &-= bytes
    if whole { c.liveBlocks &-= 1 }
  }

  @inline(__always)
  private func savePeakValue(_ i: Int, epoch: UInt64) {
    if peakStamp[i] != epoch {
      peakStamp[i] = epoch
      savedBytes[i] = counters[i].liveBytes
      savedBlocks[i] = counters[i].liveBlocks
    }
  }

  public func allocated(_ block: LiveBlock, address: UInt64, kind: BlockKind, state: ReplayState) {
    let i = Int(block.stack.rawValue)
    ensure(i)
    savePeakValue(i, epoch: state.peakEpoch)
    Self.add(block.size, to: &counters[i])
    if kind == .heap {
      let s = Int(block.stream.rawValue)
      if s >= lastAllocation.count { lastAllocation += repeatElement(0, count: s + 1 - lastAllocation.count) }
      lastAllocation[s] = block.serial
    }
  }

  public func freed(_ block: LiveBlock, bytes: UInt64, whole: Bool, kind: BlockKind, by function: AllocatorFunction,
                    state: ReplayState) {
    let i = Int(block.stack.rawValue)
    ensure(i)
    savePeakValue(i, epoch: state.peakEpoch)
    Self.remove(bytes, whole: whole, from: &counters[i])
    if kind == .heap && function == .free {
      let s = Int(block.stream.rawValue)
      if s < lastAllocation.count && lastAllocation[s] == block.serial {
        counters[i].temporary &+= 1
        counters[i].temporaryBytes &+= block.size
      }
    }
  }

  public func marker(_ marker: MarkerRecord, state: ReplayState) {
    guard snapshotNames.contains(marker.name), snapshots[marker.name] == nil else { return }
    snapshots[marker.name] = MarkerSnapshot(
      name: marker.name, timestamp: state.timestamp,
      liveBytes: counters.map(\.liveBytes), liveBlocks: counters.map(\.liveBlocks))
  }

  public func finished(state: ReplayState) {
    for i in counters.indices {
      let atPeak = peakStamp[i] == state.peakEpoch
      counters[i].peakBytes = atPeak ? savedBytes[i] : counters[i].liveBytes
      counters[i].peakBlocks = atPeak ? savedBlocks[i] : counters[i].liveBlocks
    }
  }

  /// The counters with "live" taken at a marker's snapshot instead of at the end.
  public func counters(at snapshot: MarkerSnapshot) -> [StackCounters] {
    var result = counters
    for i in result.indices {
      result[i].liveBytes = i < snapshot.liveBytes.count ? snapshot.liveBytes[i] : 0
      result[i].liveBlocks = i < snapshot.liveBlocks.count ? snapshot.liveBlocks[i] : 0
    }
    return result
  }
}
