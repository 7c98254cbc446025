import HeapwiseFormat

/// The summary's part of the replay (`Replay`): tracked memory at every marker and sample,
/// per-stack tracked bytes at the ends of the series, and trim probes labelled by the marker they
/// follow. The live blocks themselves stay with the replay.
///
/// Markers, samples and trims are matched by stream (the recorder writes a marker's sample and
/// probe in the marker's stream: ``ReplayState/stream``).
///
/// The properties touched on every allocation and free are `@exclusivity(unchecked)`: their
/// dynamic exclusivity checks were half of `heapwise summary`'s time on a 10-million-pair dump
/// (3.1 s against `top`'s 0.8 s), and an aggregator runs on the replay's one thread.
public final class SummaryAggregator: ReplayAggregator {
  /// A SAMPLE with the tracked state at its timestamp.
  struct Sample {
    var ticks: UInt64
    var label: String?
    var memory: MemorySample
    var liveHeap: UInt64
    var liveBlocks: Int
    var mapped: UInt64
  }

  /// Per-stack bytes as they were at the last commit, indexed by stack id. A commit copies only
  /// the stacks that changed since the one before, so committing at every 20 ms sample costs what
  /// changed, not the number of stacks.
  private struct Checkpoint {
    private(set) var taken = false
    private(set) var bytes: [Int64] = []
    private var dirty: [Int] = []
    private var isDirty: [Bool] = []

    @inline(__always)
    mutating func touch(_ index: Int) {
      guard taken else { return }  // the first commit copies everything
      if index >= isDirty.count { isDirty += repeatElement(false, count: index + 1 - isDirty.count) }
      if !isDirty[index] {
        isDirty[index] = true
        dirty.append(index)
      }
    }

    mutating func commit(from current: [Int64]) {
      if !taken {
        bytes = current
        taken = true
        return
      }
      if bytes.count < current.count { bytes += repeatElement(0, count: current.count - bytes.count) }
      for i in dirty {
        bytes[i] = current[i]
        isDirty[i] = false
      }
      dirty.removeAll(keepingCapacity: true)
    }
  }

  /// Tracked bytes by stack id (ids are dense from 1; see StackTable).
  @exclusivity(unchecked) private var byStack: [Int64] = []
  private var firstMarker: [Int64]?
  @exclusivity(unchecked) private var lastMarker = Checkpoint()
  private var firstSample: [Int64]?
  @exclusivity(unchecked) private var lastSample = Checkpoint()
  private(set) var samples: [Sample] = []
  /// Timestamp of the last SAMPLE of the process stream: the one the recorder writes at exit,
  /// just before its exit RESIDENCY snapshot.
  private(set) var lastProcessSampleTicks: UInt64?
  @exclusivity(unchecked) private(set) var markers: [(ticks: UInt64, point: SeriesPoint)] = []
  private(set) var trims: [TrimObservation] = []
  /// The marker each stream set last, until the sample that follows it.
  private var pendingMarker: [StreamID: String] = [:]
  /// Mappings made by the allocator itself (jemalloc and tcmalloc call mmap through the PLT, so
  /// the recorder sees their extents): their bytes are the allocator's footprint, which its
  /// statistics describe, and counting them as mapped regions would count the live heap twice.
  @exclusivity(unchecked) private var allocatorStacks: [StackID: Bool] = [:]
  @exclusivity(unchecked) private var allocatorMapped: UInt64 = 0
  /// The highest tracked memory (live heap + the program's own mappings), when, and whether
  /// mappings were part of it.
  /// `markersBefore` counts the markers replayed before it: timestamps are too coarse to order a
  /// marker against the allocation just before it.
  @exclusivity(unchecked) private var peak: (bytes: UInt64, ticks: UInt64, includesMapped: Bool, markersBefore: Int) =
    (0, 0, false, 0)

  /// Live heap blocks of at least `largeBlockFloor` bytes, by allocation serial: what "held by a
  /// few large blocks" looks at when it is judged at the last marker. The verdict only counts
  /// blocks of a tenth of a live heap of at least 1 MiB, so smaller ones never matter.
  @exclusivity(unchecked) private var largeBlocks: [UInt64: SummaryData.Block] = [:]
  static let largeBlockFloor: UInt64 = 64 << 10
  /// The live heap and its largest blocks at the last marker.
  private var atLastMarker: SummaryData.MarkerHeap?

  public init() {}

  public func allocated(_ block: LiveBlock, address: UInt64, kind: BlockKind, state: ReplayState) {
    if kind == .mapping && isAllocatorMapping(block.stack, state: state) {
      allocatorMapped += block.size
      return
    }
    if kind == .heap && block.size >= Self.largeBlockFloor {
      largeBlocks[block.serial] = SummaryData.Block(size: block.size, stack: block.stack)
    }
    change(block.stack, Int64(block.size))
    let mapped = userMapped(state)
    if state.heapBytes + mapped > peak.bytes {
      peak = (state.heapBytes + mapped, state.timestamp, mapped > 0, markers.count)
    }
  }

  public func freed(
    _ block: LiveBlock, bytes: UInt64, whole: Bool, kind: BlockKind, by function: AllocatorFunction,
    state: ReplayState
  ) {
    if kind == .mapping, allocatorStacks[block.stack] == true {
      allocatorMapped -= Swift.min(bytes, allocatorMapped)
      return
    }
    if kind == .heap && block.size >= Self.largeBlockFloor { largeBlocks[block.serial] = nil }
    change(block.stack, -Int64(bytes))
  }

  private func userMapped(_ state: ReplayState) -> UInt64 {
    state.mappedBytes - Swift.min(allocatorMapped, state.mappedBytes)
  }

  /// Whether the mapping's innermost frame is in the allocator's module. Decided once per stack;
  /// a stack whose STACK record has not arrived yet counts as the program's.
  private func isAllocatorMapping(_ stack: StackID, state: ReplayState) -> Bool {
    if let known = allocatorStacks[stack] { return known }
    guard let address = state.stacks.addresses(of: stack).first else { return false }
    let module = state.modules.entries.last { $0.unloaded == nil && $0.record.contains(address) }
    let name = module.map { String($0.record.path.split(separator: "/").last ?? "") } ?? ""
    let mine = ["libjemalloc", "libtcmalloc", "libmimalloc"].contains { name.hasPrefix($0) }
    allocatorStacks[stack] = mine
    return mine
  }

  public func marker(_ marker: MarkerRecord, state: ReplayState) {
    markers.append(
      (state.timestamp, SeriesPoint(time: 0, label: marker.name, liveHeap: state.heapBytes, mapped: userMapped(state))))
    pendingMarker[state.stream] = marker.name
    atLastMarker = SummaryData.MarkerHeap(
      name: marker.name, liveHeap: state.heapBytes,
      largestBlocks: Array(largeBlocks.values.sorted { $0.size != $1.size ? $0.size > $1.size : $0.stack < $1.stack }.prefix(8)))
    if firstMarker == nil { firstMarker = byStack }
    lastMarker.commit(from: byStack)
  }

  public func sample(_ sample: SampleRecord, state: ReplayState) {
    if state.stream == .process { lastProcessSampleTicks = state.timestamp }
    samples.append(
      Sample(
        ticks: state.timestamp, label: pendingMarker.removeValue(forKey: state.stream),
        memory: MemorySample(sample), liveHeap: state.heapBytes, liveBlocks: Int(state.heapBlocks),
        mapped: userMapped(state)))
    if firstSample == nil { firstSample = byStack }
    lastSample.commit(from: byStack)
  }

  public func trim(_ trim: TrimRecord, state: ReplayState) {
    trims.append(TrimObservation(label: pendingMarker[state.stream], rssBefore: trim.rssBefore, rssAfter: trim.rssAfter))
  }

  @inline(__always)
  private func change(_ stack: StackID, _ delta: Int64) {
    // A corrupt huge id is folded into 0 ("no stack") rather than growing the array to it.
    let i = stack.rawValue < 1 << 24 ? Int(stack.rawValue) : 0
    if i >= byStack.count { byStack += repeatElement(0, count: Swift.max(i + 1 - byStack.count, byStack.count)) }
    byStack[i] &+= delta
    lastMarker.touch(i)
    lastSample.touch(i)
  }

  /// Everything gathered, with the replay's end state, in seconds since start (see ``clock``).
  /// `residency` is every RESIDENCY region the reader collected; the exit snapshot is picked out.
  func data(
    replay: Replay, header: DumpHeader?, residency: [ResidencyRegion] = [], largestBlocks: Int = 8
  ) -> SummaryData {
    let state = replay.state
    let seconds = clock(header, clocks: state.clocks)
    var top: [SummaryData.Block] = []
    var mapped: [StackID: SummaryData.MappedGroup] = [:]
    var heapBlocks: [(address: UInt64, size: UInt64, stack: StackID)] = []
    replay.forEachLiveBlock { address, block, bytes, kind in
      switch kind {
      case .heap:
        heapBlocks.append((address, bytes, block.stack))
        guard top.count < largestBlocks || bytes > top[top.count - 1].size else { return }
        top.insert(
          SummaryData.Block(size: bytes, stack: block.stack),
          at: top.firstIndex { $0.size < bytes } ?? top.count)
        if top.count > largestBlocks { top.removeLast() }
      case .mapping:
        if allocatorStacks[block.stack] == true { return }
        mapped[block.stack, default: SummaryData.MappedGroup(stack: block.stack, bytes: 0, regions: 0, lengths: [])]
          .bytes += bytes
        mapped[block.stack]!.regions += 1
        mapped[block.stack]!.lengths.insert(block.size)
      }
    }
    // The main executable is the first module the recorder lists; the brk heap follows its end.
    let executableEnd = state.modules.entries.first.map { e in
      e.record.segments.map { e.record.base &+ $0.vaddr &+ $0.memsz }.max() ?? 0
    } ?? 0
    let layouts = HeapLayout.layouts(
      blocks: heapBlocks, executableEnd: executableEnd, pageSize: UInt64(header?.pageSize ?? 4096))
    let positive: ([Int64]?) -> [StackID: UInt64] = { bytes in
      var out: [StackID: UInt64] = [:]
      for (i, b) in (bytes ?? []).enumerated() where b > 0 { out[StackID(UInt32(i))] = UInt64(b) }
      return out
    }
    let peakTicks = peak.ticks
    return SummaryData(
      samples: samples.map {
        SummaryData.Sample(
          time: seconds($0.ticks), label: $0.label, memory: $0.memory, liveHeap: $0.liveHeap,
          liveBlocks: $0.liveBlocks, mapped: $0.mapped)
      },
      markers: markers.map { var p = $0.point; p.time = seconds($0.ticks); return p },
      peak: PeakPoint(
        bytes: peak.bytes, time: seconds(peakTicks), includesMapped: peak.includesMapped,
        previousMarker: peak.markersBefore > 0 ? markers[peak.markersBefore - 1].point.label : nil,
        nextMarker: peak.markersBefore < markers.count ? markers[peak.markersBefore].point.label : nil),
      firstMarkerByStack: positive(firstMarker), lastMarkerByStack: positive(lastMarker.bytes),
      firstSampleByStack: positive(firstSample), lastSampleByStack: positive(lastSample.bytes),
      largestBlocks: top, mappedByStack: mapped.values.sorted { $0.bytes > $1.bytes }, trims: trims,
      allocatorMapped: allocatorMapped, heapLayouts: layouts,
      exitResidency: state.end == nil
        ? [] : residency.filter { $0.stream == .process && $0.timestamp >= (lastProcessSampleTicks ?? .max) },
      endLiveHeap: state.heapBytes, endLiveBlocks: Int(state.heapBlocks), endMapped: userMapped(state),
      atLastMarker: atLastMarker,
      duration: seconds(state.timestamp), sawEnd: state.end != nil)
  }

  /// Ticks to seconds since start: the rate between the header's start and the last CLOCK record
  /// when they are at least 10 ms apart, else the header's first estimate.
  private func clock(_ header: DumpHeader?, clocks: [(ticks: UInt64, nanoseconds: UInt64)]) -> (UInt64) -> Double {
    let start = header?.startTicks ?? 0
    var rate = Double(header?.ticksPerSecond ?? 1_000_000_000)
    if let startNs = header?.startMonotonicNanoseconds, let last = clocks.last,
      last.nanoseconds > startNs + 10_000_000, last.ticks > start
    {
      rate = Double(last.ticks - start) / (Double(last.nanoseconds - startNs) / 1e9)
    }
    return { ticks in ticks > start ? Double(ticks - start) / rate : 0 }
  }
}

/// What ``SummaryAggregator`` gathered, before sites are named.
public struct SummaryData: Sendable {
  public struct Sample: Sendable, Hashable {
    public var time: Double
    /// The marker this sample follows (the recorder writes one after each marker).
    public var label: String?
    public var memory: MemorySample
    public var liveHeap: UInt64
    public var liveBlocks: Int
    public var mapped: UInt64
  }
  public struct Block: Sendable, Hashable {
    public var size: UInt64
    public var stack: StackID
  }
  /// The live heap at a marker, with its largest blocks (those of 64 KiB or more), largest first.
  public struct MarkerHeap: Sendable, Hashable {
    public var name: String
    public var liveHeap: UInt64
    public var largestBlocks: [Block]
  }
  public struct MappedGroup: Sendable, Hashable {
    public var stack: StackID
    public var bytes: UInt64
    public var regions: Int
    /// The distinct mapping lengths (pymalloc arenas are all 1 MiB).
    public var lengths: Set<UInt64>
  }

  public var samples: [Sample]
  public var markers: [SeriesPoint]
  /// The moment of maximum tracked memory (live heap + the program's own mappings).
  public var peak: PeakPoint
  /// Tracked bytes (live heap + mapped) per stack at the first and last marker and sample.
  public var firstMarkerByStack: [StackID: UInt64]
  public var lastMarkerByStack: [StackID: UInt64]
  public var firstSampleByStack: [StackID: UInt64]
  public var lastSampleByStack: [StackID: UInt64]
  /// The largest live heap blocks at the end, largest first.
  public var largestBlocks: [Block]
  /// Mappings still mapped at the end, grouped by the stack that mapped them, largest first.
  public var mappedByStack: [MappedGroup]
  public var trims: [TrimObservation]
  /// Bytes mapped by the allocator itself at the end (jemalloc's extents): part of its footprint,
  /// not of the mapped regions.
  public var allocatorMapped: UInt64
  /// Where the live blocks of glibc's heaps sit at the end, main heap first (see ``HeapLayout``).
  public var heapLayouts: [HeapLayout]
  /// The recorder's `mincore` snapshot at exit (empty without END or without RESIDENCY records).
  public var exitResidency: [ResidencyRegion]
  public var endLiveHeap: UInt64
  public var endLiveBlocks: Int
  public var endMapped: UInt64
  /// The live heap at the last marker: a program's last labelled state, before any teardown.
  public var atLastMarker: MarkerHeap?
  /// Seconds from start to the last event.
  public var duration: Double
  public var sawEnd: Bool
}
