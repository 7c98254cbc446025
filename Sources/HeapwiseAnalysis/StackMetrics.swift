// Per-stack statistics: the aggregator behind `top` and `compare`. Every event costs O(1), and
// what the tables hold is the stacks the events used, not the highest stack id read.
import HeapwiseFormat
#if canImport(Glibc)
import Glibc
#endif

/// Counters of one stack (or, summed, of one site).
public struct StackCounters: Sendable, Hashable, Codable {
  /// Allocations made (a realloc counts as one allocation of its new size).
  public var allocations: UInt64 = 0
  public var allocatedBytes: UInt64 = 0
  /// Live now (at the end of the replay, or at the snapshot's marker): heap blocks by size,
  /// mappings by their resident bytes.
  public var liveBytes: UInt64 = 0
  public var liveBlocks: UInt64 = 0
  /// Live at the global peak.
  public var peakBytes: UInt64 = 0
  public var peakBlocks: UInt64 = 0
  /// Heap blocks freed before their thread allocated anything else.
  public var temporary: UInt64 = 0
  public var temporaryBytes: UInt64 = 0
  /// Length of the live mappings (reserved address space; what is resident is in liveBytes).
  public var reservedBytes: UInt64 = 0
  /// The part of liveBytes that is resident pages of live mappings (not heap blocks), and the same
  /// at the peak: what the residency snapshots of the dump say the stack's mappings hold.
  public var residentBytes: UInt64 = 0
  public var peakResidentBytes: UInt64 = 0
  /// A sampled dump's estimates and their variances (SampleEstimate.swift); nil when every block
  /// was recorded. Then the byte counters above hold weighted bytes, and `allocations`,
  /// `liveBlocks`, `peakBlocks` and `temporary` the rounded count estimates.
  public var estimate: SampledCounters?

  public init() {}

  public var isZero: Bool { allocations == 0 && liveBytes == 0 && liveBlocks == 0 && peakBytes == 0 }

  public mutating func add(_ o: StackCounters) {
    allocations &+= o.allocations; allocatedBytes &+= o.allocatedBytes
    liveBytes &+= o.liveBytes; liveBlocks &+= o.liveBlocks
    peakBytes &+= o.peakBytes; peakBlocks &+= o.peakBlocks
    temporary &+= o.temporary; temporaryBytes &+= o.temporaryBytes
    reservedBytes &+= o.reservedBytes
    residentBytes &+= o.residentBytes; peakResidentBytes &+= o.peakResidentBytes
    if let e = o.estimate {
      if estimate == nil { estimate = SampledCounters() }
      estimate!.add(e)
    }
  }
}

/// Every stack's counters at one marker: what reports take from them is what is live then (bytes,
/// blocks, reserved, resident, and a sampled dump's live estimate).
public struct MarkerSnapshot: Sendable {
  public var name: String
  public var timestamp: UInt64
  public var counters: StackCounterTable

  public init(name: String, timestamp: UInt64, counters: StackCounterTable) {
    self.name = name
    self.timestamp = timestamp
    self.counters = counters
  }
}

public final class StackMetrics: ReplayAggregator {
  /// One stack's counters with its peak bookkeeping: a stack's live value is saved, stamped with
  /// the current peak epoch, before its first change after a new peak; a stack not stamped with
  /// the last epoch has not changed since, so its current value is its value at the peak.
  private struct Entry {
    var stack = 0
    var counters = StackCounters()
    var peakStamp: UInt64 = 0
    var savedBytes: UInt64 = 0
    var savedBlocks: UInt64 = 0
    var savedResident: UInt64 = 0
    /// Sampled dumps: the live estimate saved with the peak value.
    var savedEstimate = SampledFigure()
  }

  /// Entries in the order their stacks were first used, in raw memory that the metrics own: arrays
  /// cost a uniqueness and a bounds check per access, which showed in profiles of the replay (two
  /// per event).
  @exclusivity(unchecked) private var entries: UnsafeMutablePointer<Entry>
  @exclusivity(unchecked) private var capacity: Int
  /// Entries in use.
  @exclusivity(unchecked) private var count = 0
  /// By stack id: 1 + the index of its entry, 0 for a stack not used yet. Zeroed memory from
  /// calloc, so the pages of ids never used (a damaged dump's stray ids) are never touched. Stack
  /// ids are dense in a real dump; one read from a damaged file may run ReaderLimits.stackIDLead
  /// past the STACK records, and an entry per id made every command walk that many (a fifth of
  /// a fuzzing execution).
  @exclusivity(unchecked) private var slots: UnsafeMutablePointer<Int32>
  @exclusivity(unchecked) private var slotCapacity: Int
  /// Serial of each stream's latest heap allocation, for "temporary"; same storage reasoning.
  @exclusivity(unchecked) private var lastAllocation: UnsafeMutablePointer<UInt64>
  @exclusivity(unchecked) private var streamCapacity: Int
  /// Streams numbered from `denseStreams` on, in a dictionary: stream numbers come from the file,
  /// and one frame of stream 2^32 - 1 must not size the array.
  @exclusivity(unchecked) private var sparseLastAllocation: [UInt32: UInt64] = [:]
  private static let denseStreams = 1 << 16
  /// Marker names to snapshot (the first occurrence of each).
  private let snapshotNames: Set<String>
  @exclusivity(unchecked) public private(set) var snapshots: [String: MarkerSnapshot] = [:]
  /// A marker's snapshot is taken at the marker, and its mappings' resident bytes corrected by the
  /// residency snapshot the recorder takes right after it (in the same stream): the changes in
  /// between, by stack, wait here.
  private var pendingSnapshot: (name: String, stream: StreamID)?
  private var pendingDeltas: [Int: Int64] = [:]
  /// False once a marker really named "peak" took that name.
  private var peakSnapshotIsMoment: Bool { snapshots[MomentNames.peak].map { $0.name != MomentNames.peak } ?? true }

  public init(snapshotMarkers: Set<String> = []) {
    snapshotNames = snapshotMarkers
    capacity = 1024
    entries = .allocate(capacity: capacity)
    slotCapacity = 1024
    slots = calloc(slotCapacity, 4)!.bindMemory(to: Int32.self, capacity: slotCapacity)
    streamCapacity = 64
    lastAllocation = .allocate(capacity: streamCapacity)
    lastAllocation.initialize(repeating: 0, count: streamCapacity)
  }

  deinit {
    entries.deinitialize(count: count)
    entries.deallocate()
    free(slots)
    lastAllocation.deallocate()
  }

  /// Counters of every stack used, by stack id (id 0: allocations with no stack).
  public var counters: StackCounterTable {
    var order = Array(0..<count)
    order.sort { entries[$0].stack < entries[$1].stack }
    return StackCounterTable(ids: order.map { entries[$0].stack }, values: order.map { Self.readOut(entries[$0].counters) })
  }

  /// A sampled dump's counts are estimates, kept as fractions while they add up.
  private static func readOut(_ c: StackCounters) -> StackCounters {
    guard let e = c.estimate else { return c }
    var c = c
    c.allocations = Units.clampedUInt64(e.allocated.count.rounded())
    c.liveBlocks = Units.clampedUInt64(e.live.count.rounded())
    c.temporary = Units.clampedUInt64(e.temporary.count.rounded())
    return c
  }

  @inline(__always)
  private func entry(_ stack: StackID) -> UnsafeMutablePointer<Entry> {
    let i = Int(stack.rawValue)
    if i < slotCapacity {
      let s = Int(slots[i])
      if s != 0 { return entries + (s - 1) }
    }
    return newEntry(i)
  }

  /// The entry of a stack used for the first time.
  private func newEntry(_ i: Int) -> UnsafeMutablePointer<Entry> {
    if i >= slotCapacity {
      let n = max(i + 1, slotCapacity * 2)
      let bigger = calloc(n, 4)!.bindMemory(to: Int32.self, capacity: n)
      bigger.update(from: slots, count: slotCapacity)
      free(slots)
      slots = bigger
      slotCapacity = n
    }
    if count == capacity {
      let bigger = UnsafeMutablePointer<Entry>.allocate(capacity: capacity * 2)
      bigger.moveInitialize(from: entries, count: count)
      entries.deallocate()
      entries = bigger
      capacity *= 2
    }
    (entries + count).initialize(to: Entry(stack: i))
    count += 1
    slots[i] = Int32(count)
    return entries + (count - 1)
  }

  @inline(__always)
  private func lastAllocation(_ stream: StreamID) -> UInt64 {
    let s = Int(stream.rawValue)
    if s < streamCapacity { return lastAllocation[s] }
    return s < Self.denseStreams ? 0 : sparseLastAllocation[stream.rawValue] ?? 0
  }

  @inline(__always)
  private func setLastAllocation(_ stream: StreamID, _ serial: UInt64) {
    let s = Int(stream.rawValue)
    if s >= Self.denseStreams {
      sparseLastAllocation[stream.rawValue] = serial
      return
    }
    if s >= streamCapacity {
      let n = max(s + 1, streamCapacity * 2)
      let bigger = UnsafeMutablePointer<UInt64>.allocate(capacity: n)
      bigger.moveInitialize(from: lastAllocation, count: streamCapacity)
      (bigger + streamCapacity).initialize(repeating: 0, count: n - streamCapacity)
      lastAllocation.deallocate()
      lastAllocation = bigger
      streamCapacity = n
    }
    lastAllocation[s] = serial
  }

  @inline(__always)
  private static func savePeakValue(_ e: UnsafeMutablePointer<Entry>, epoch: UInt64) {
    if e.pointee.peakStamp != epoch {
      e.pointee.peakStamp = epoch
      e.pointee.savedBytes = e.pointee.counters.liveBytes
      e.pointee.savedBlocks = e.pointee.counters.liveBlocks
      e.pointee.savedResident = e.pointee.counters.residentBytes
      if let est = e.pointee.counters.estimate { e.pointee.savedEstimate = est.live }
    }
  }

  public func allocated(_ block: LiveBlock, address: UInt64, kind: BlockKind, state: ReplayState) {
    let e = entry(block.stack)
    Self.savePeakValue(e, epoch: state.peakEpoch)
    var bytes = block.size
    if let sampling = state.sampleWeight {
      // Mappings are always recorded: weight 1.
      let w = kind == .heap ? sampling.weight(block.size) : 1
      bytes = sampling.bytes(block.size, weight: w)
      if e.pointee.counters.estimate == nil { e.pointee.counters.estimate = SampledCounters() }
      e.pointee.counters.estimate!.allocated.add(size: block.size, weight: w)
      e.pointee.counters.estimate!.live.add(size: block.size, weight: w)
    }
    e.pointee.counters.allocations &+= 1
    e.pointee.counters.allocatedBytes &+= bytes
    e.pointee.counters.liveBlocks &+= 1
    if kind == .heap {
      e.pointee.counters.liveBytes &+= bytes
      setLastAllocation(block.stream, block.serial)
    } else {
      e.pointee.counters.reservedBytes &+= block.size  // resident bytes come with residentChanged
    }
  }

  public func residentChanged(_ block: LiveBlock, by delta: Int64, state: ReplayState) {
    let e = entry(block.stack)
    Self.savePeakValue(e, epoch: state.peakEpoch)
    e.pointee.counters.liveBytes = UInt64(bitPattern: Int64(bitPattern: e.pointee.counters.liveBytes) &+ delta)
    e.pointee.counters.residentBytes = UInt64(bitPattern: Int64(bitPattern: e.pointee.counters.residentBytes) &+ delta)
    if pendingSnapshot != nil { pendingDeltas[Int(block.stack.rawValue), default: 0] += delta }
  }

  public func freed(_ block: LiveBlock, bytes: UInt64, whole: Bool, kind: BlockKind, by function: AllocatorFunction,
                    state: ReplayState) {
    let e = entry(block.stack)
    Self.savePeakValue(e, epoch: state.peakEpoch)
    var bytes = bytes
    var weight: Double?
    if let sampling = state.sampleWeight, e.pointee.counters.estimate != nil {
      let w = kind == .heap ? sampling.weight(block.size) : 1
      if kind == .heap { bytes = sampling.bytes(block.size, weight: w) }
      if whole { e.pointee.counters.estimate!.live.remove(size: block.size, weight: w) }
      weight = w
    }
    if kind == .heap { e.pointee.counters.liveBytes &-= bytes } else { e.pointee.counters.reservedBytes &-= bytes }
    if whole { e.pointee.counters.liveBlocks &-= 1 }
    if kind == .heap && function.endsBlock && lastAllocation(block.stream) == block.serial {
      e.pointee.counters.temporary &+= 1
      // Sampled: weighted like every figure (the thread's "next allocation" is its next recorded
      // one, so this overstates temporaries: docs/SAMPLING.md).
      e.pointee.counters.temporaryBytes &+= weight == nil ? block.size : bytes
      if let w = weight { e.pointee.counters.estimate!.temporary.add(size: block.size, weight: w) }
    }
  }

  public func marker(_ marker: MarkerRecord, state: ReplayState) {
    pendingSnapshot = nil
    pendingDeltas.removeAll()
    // `--at peak`: the last peak moment, replacing the one before (MomentNames).
    let key: String
    if snapshotNames.contains(marker.name), snapshots[marker.name] == nil {
      key = marker.name
    } else if snapshotNames.contains(MomentNames.peak), MomentNames.isPeak(marker), peakSnapshotIsMoment {
      key = MomentNames.peak
    } else {
      return
    }
    snapshots[key] = MarkerSnapshot(name: marker.name, timestamp: state.timestamp, counters: counters)
    pendingSnapshot = (key, state.stream)
  }

  public func residencySnapshot(state: ReplayState) {
    guard let p = pendingSnapshot, p.stream == state.stream, var s = snapshots[p.name] else { return }
    for (i, d) in pendingDeltas {
      var c = s.counters[i]
      c.liveBytes = UInt64(bitPattern: Int64(bitPattern: c.liveBytes) &+ d)
      c.residentBytes = UInt64(bitPattern: Int64(bitPattern: c.residentBytes) &+ d)
      s.counters[i] = c
    }
    snapshots[p.name] = s
    pendingSnapshot = nil
    pendingDeltas.removeAll()
  }

  public func finished(state: ReplayState) {
    for i in 0..<count {
      let e = entries + i
      let atPeak = e.pointee.peakStamp == state.peakEpoch
      e.pointee.counters.peakBytes = atPeak ? e.pointee.savedBytes : e.pointee.counters.liveBytes
      e.pointee.counters.peakBlocks = atPeak ? e.pointee.savedBlocks : e.pointee.counters.liveBlocks
      e.pointee.counters.peakResidentBytes = atPeak ? e.pointee.savedResident : e.pointee.counters.residentBytes
      if let est = e.pointee.counters.estimate {
        e.pointee.counters.estimate!.peak = atPeak ? e.pointee.savedEstimate : est.live
        e.pointee.counters.peakBlocks = Units.clampedUInt64(e.pointee.counters.estimate!.peak.count.rounded())
      }
    }
  }

  /// The counters with "live" taken at a marker's snapshot instead of at the end.
  public func counters(at snapshot: MarkerSnapshot) -> StackCounterTable {
    var result = counters
    result.modifyEach { id, c in
      let then = snapshot.counters[id]
      c.liveBytes = then.liveBytes
      c.liveBlocks = then.liveBlocks
      c.reservedBytes = then.reservedBytes
      c.residentBytes = then.residentBytes
      if c.estimate != nil { c.estimate!.live = then.estimate?.live ?? SampledFigure() }
    }
    return result
  }
}
