// What the replay knows at the current event, shared with every aggregator.
import HeapwiseFormat

public final class ReplayState {
  /// Timestamp of the event being replayed.
  @exclusivity(unchecked) public internal(set) var timestamp: UInt64 = 0
  /// Stream of the event being replayed (markers, samples and trims belong to their stream).
  @exclusivity(unchecked) public internal(set) var stream: StreamID = .process
  /// Live heap bytes and blocks.
  @exclusivity(unchecked) public internal(set) var heapBytes: UInt64 = 0
  @exclusivity(unchecked) public internal(set) var heapBlocks: UInt64 = 0
  /// Reserved length of live anonymous mappings, and the mappings (a split mapping counts once).
  /// Not the malloc's own mappings (``allocatorMappedBytes``).
  @exclusivity(unchecked) public internal(set) var mappedBytes: UInt64 = 0
  @exclusivity(unchecked) public internal(set) var mappedBlocks: UInt64 = 0
  /// Resident bytes of those mappings, as far as the dump says (RESIDENCY snapshots, madvise,
  /// mprotect, munmap): what a mapping counts for everywhere, its length being only reserved.
  @exclusivity(unchecked) public internal(set) var mappedResidentBytes: UInt64 = 0
  /// Resident and reserved bytes of the mappings of private allocators (part of the above).
  public internal(set) var privateResident: [PrivateAllocator: UInt64] = [:]
  public internal(set) var privateReserved: [PrivateAllocator: UInt64] = [:]
  /// Bytes the malloc underneath mapped for itself (jemalloc's extents): its statistics count
  /// them, and as mappings they would count the live heap twice.
  @exclusivity(unchecked) public internal(set) var allocatorMappedBytes: UInt64 = 0
  /// Whether the dump has residency snapshots at all (else mappings count by length).
  public internal(set) var hasResidency = false
  /// Who owns the mappings of each stack (the last one it mapped).
  public internal(set) var mappingOwners: [StackID: MappingOwner] = [:]
  /// Live bytes and blocks over both kinds: the figure that peak is taken on, the one definition
  /// of peak (`top`, `check` and `summary` all read it): live heap plus resident mappings.
  public var liveBytes: UInt64 { heapBytes &+ mappedResidentBytes }
  /// The mappings' share of ``liveBytes``.
  public var mappedCounted: UInt64 { mappedResidentBytes }
  public var liveBlocks: UInt64 { heapBlocks &+ mappedBlocks }
  /// The highest `liveBytes` so far, and when.
  @exclusivity(unchecked) public internal(set) var peakBytes: UInt64 = 0
  @exclusivity(unchecked) public internal(set) var peakBlocks: UInt64 = 0
  @exclusivity(unchecked) public internal(set) var peakTimestamp: UInt64 = 0
  /// Increases by one each time a new peak is reached.
  @exclusivity(unchecked) public internal(set) var peakEpoch: UInt64 = 0
  /// Allocations replayed so far (heap and mappings).
  @exclusivity(unchecked) public internal(set) var allocations: UInt64 = 0
  /// Frees of an address that was not live (lost events, or memory from before recording).
  @exclusivity(unchecked) public internal(set) var unmatchedFrees: UInt64 = 0
  /// Allocations at an address that was still live: the free was lost; the old block is dropped.
  @exclusivity(unchecked) public internal(set) var overwrittenBlocks: UInt64 = 0
  /// Blocks not replayed because live memory would have passed `Replay.maxLiveBytes`: only a
  /// damaged or crafted dump has them (blocks that overlap).
  @exclusivity(unchecked) public internal(set) var impossibleBlocks: UInt64 = 0
  /// What `top` and `summary` warn about ``impossibleBlocks``: the one wording of it.
  public var impossibleBlocksWarning: String? { Self.impossibleBlocksWarning(impossibleBlocks) }
  public static func impossibleBlocksWarning(_ n: UInt64) -> String? {
    n == 0 ? nil
      : "\(n) block\(n == 1 ? "" : "s") in impossible states not replayed (live memory would have passed \(Units.bytes(Replay.maxLiveBytes))): the dump is damaged or crafted"
  }
  /// Events replayed (all records).
  @exclusivity(unchecked) public internal(set) var events: UInt64 = 0
  /// A sampled dump's parameters (SAMPLING record), and the weight of its blocks.
  public internal(set) var sampling: SamplingParameters?
  @exclusivity(unchecked) public internal(set) var sampleWeight: SampleWeight?
  public internal(set) var samplingStats: SamplingStats?
  /// Sampled dumps: the variance of the estimated live heap bytes (`heapBytes` is the estimate).
  @exclusivity(unchecked) public internal(set) var heapBytesVariance: Double = 0
  /// ... and at the peak (the moment the estimated live bytes were highest).
  @exclusivity(unchecked) public internal(set) var peakBytesVariance: Double = 0
  /// The END record, once seen.
  @exclusivity(unchecked) public internal(set) var end: EndRecord?
  /// CLOCK records in replay order: ticks and `CLOCK_MONOTONIC` nanoseconds at the same moment.
  public internal(set) var clocks: [(ticks: UInt64, nanoseconds: UInt64)] = []
  /// Markers in replay order.
  @exclusivity(unchecked) public internal(set) var markers: [(name: String, timestamp: UInt64)] = []

  public let stacks = StackTable()
  public let modules = ModuleTable()
  public let threads = ThreadTable()
  public let python = PythonCodeTable()
  /// An aggregated dump's totals and moments (empty for a dump of events).
  public let aggregate = AggregateTotals()

  public init() {}
}

/// Stack id → return addresses, filled from STACK records (which may arrive after first use).
public final class StackTable {
  private var starts: [Int] = [0]  // starts[id] ..< ends[id] in `addresses`; id 0 has none
  private var ends: [Int] = [0]
  private var addresses: [UInt64] = []

  public init() {}

  /// One more than the largest stack id seen.
  public var count: Int { starts.count }

  func add(_ record: StackRecord) {
    let id = Int(record.id.rawValue)
    if id >= starts.count {
      // Ids are dense from 1; a corrupt huge id must not allocate gigabytes.
      guard id < starts.count + (1 << 24) else { return }
      starts += repeatElement(0, count: id + 1 - starts.count)
      ends += repeatElement(0, count: id + 1 - ends.count)
    }
    starts[id] = addresses.count
    addresses += record.frames
    ends[id] = addresses.count
  }

  /// The addresses of a stack, innermost first; empty when unknown.
  public func addresses(of id: StackID) -> ArraySlice<UInt64> {
    let i = Int(id.rawValue)
    guard i < starts.count else { return [] }
    return addresses[starts[i]..<ends[i]]
  }
}

/// Every module the dump recorded, with its load and unload times.
public final class ModuleTable {
  public struct Entry: Sendable {
    public var record: ModuleRecord
    public var loaded: UInt64
    public var unloaded: UInt64?
  }
  public private(set) var entries: [Entry] = []
  private var index: [ModuleID: Int] = [:]

  public init() {}

  func load(_ record: ModuleRecord, at ts: UInt64) {
    index[record.id] = entries.count
    entries.append(Entry(record: record, loaded: ts, unloaded: nil))
  }

  func unload(_ id: ModuleID, at ts: UInt64) {
    if let i = index[id] { entries[i].unloaded = ts }
  }
}

/// Thread names by stream.
public final class ThreadTable {
  public private(set) var names: [StreamID: (tid: ThreadID, name: String)] = [:]
  public init() {}
  func set(_ record: ThreadRecord, stream: StreamID) { names[stream] = (record.tid, record.name) }
}

/// The Python code objects the dump described, and what it said about the interpreter.
public final class PythonCodeTable {
  private var codes: [UInt32: PythonCodeRecord] = [:]
  /// The PYTHON record (the last one: a later one says why Python frames were turned off).
  public internal(set) var runtime: PythonRuntimeRecord?
  public init() {}
  func add(_ record: PythonCodeRecord) { codes[record.id] = record }
  public func code(_ id: UInt32) -> PythonCodeRecord? { codes[id] }
  public var count: Int { codes.count }
}
