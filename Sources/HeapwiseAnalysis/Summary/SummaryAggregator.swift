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
    /// Resident bytes of the program's own mappings (private allocators apart).
    var mapped: UInt64
    var privateResident: [PrivateAllocator: UInt64]
    var mappedReserved: UInt64
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
  /// The replay's peak (ReplayState.peakBytes, the one definition), with whether mappings were
  /// part of it and how many markers came before it (timestamps are too coarse to order a marker
  /// against the allocation just before it).
  private var peak: (bytes: UInt64, ticks: UInt64, includesMapped: Bool, markersBefore: Int) = (0, 0, false, 0)
  /// Each stream's last marker and its sample, whose mapped figures wait for the residency
  /// snapshot the recorder takes right after them (in the same stream).
  private var awaitingResidency: [StreamID: (marker: Int, sample: Int?)] = [:]
  /// Marker names whose per-stack bytes are kept (for `--from` / `--to`).
  private let keepStacksAt: Set<String>
  private(set) var stacksAtMarker: [String: [Int64]] = [:]

  /// Live heap blocks of at least `largeBlockFloor` bytes, by allocation serial: what "held by a
  /// few large blocks" looks at when it is judged at the last marker. The verdict only counts
  /// blocks of a tenth of a live heap of at least 1 MiB, so smaller ones never matter.
  @exclusivity(unchecked) private var largeBlocks: [UInt64: SummaryData.Block] = [:]
  static let largeBlockFloor: UInt64 = 64 << 10
  /// The live heap and its largest blocks at every marker, in order.
  private(set) var markerHeaps: [SummaryData.MarkerHeap] = []

  /// Sampled dumps: which points each recorded block was live at (SampledSeries.swift).
  private var sampledSeries: SampledSeriesTracker?

  public init(keepStacksAt markers: Set<String> = []) { keepStacksAt = markers }

  /// The tracker of a sampled dump, from its first event on (nil for a full dump).
  @inline(__always)
  private func series(_ state: ReplayState) -> SampledSeriesTracker? {
    guard state.sampleWeight != nil else { return nil }
    if sampledSeries == nil { sampledSeries = SampledSeriesTracker() }
    return sampledSeries
  }

  /// The bytes a heap block counts for: its size, or in a sampled dump its weighted size.
  @inline(__always)
  private static func counted(_ size: UInt64, _ state: ReplayState) -> Int64 {
    guard let w = state.sampleWeight else { return Int64(clamping: size) }
    return Int64(clamping: w.bytes(size, weight: w.weight(size)))
  }

  public func allocated(_ block: LiveBlock, address: UInt64, kind: BlockKind, state: ReplayState) {
    if state.sampleWeight != nil { series(state)?.allocated(serial: block.serial) }
    guard kind == .heap else { return }  // a mapping counts once pages are resident (residentChanged)
    if block.size >= Self.largeBlockFloor {
      largeBlocks[block.serial] = SummaryData.Block(size: block.size, stack: block.stack, serial: block.serial)
    }
    change(block.stack, Self.counted(block.size, state))
  }

  public func freed(
    _ block: LiveBlock, bytes: UInt64, whole: Bool, kind: BlockKind, by function: AllocatorFunction,
    state: ReplayState
  ) {
    guard kind == .heap else { return }
    if block.size >= Self.largeBlockFloor { largeBlocks[block.serial] = nil }
    if let w = state.sampleWeight {
      if whole { sampledSeries?.ended(block, weight: w.weight(block.size)) }
      change(block.stack, -Self.counted(bytes, state))
    } else {
      change(block.stack, -Int64(clamping: bytes))
    }
  }

  public func residentChanged(_ block: LiveBlock, by delta: Int64, state: ReplayState) {
    change(block.stack, delta)
  }

  public func reachedPeak(state: ReplayState) {
    peak = (state.peakBytes, state.peakTimestamp, state.mappedResidentBytes > 0, markers.count)
  }

  private static func privateTotal(_ state: ReplayState) -> UInt64 { state.privateResident.values.reduce(0, +) }
  /// Resident bytes of the program's own mappings, private allocators' apart.
  private static func ownMapped(_ state: ReplayState) -> UInt64 {
    state.mappedResidentBytes - Swift.min(privateTotal(state), state.mappedResidentBytes)
  }

  private func point(_ name: String, _ state: ReplayState) -> SeriesPoint {
    SeriesPoint(
      time: 0, label: name, liveHeap: state.heapBytes, mapped: state.mappedResidentBytes,
      privateResident: Self.privateTotal(state))
  }

  public func marker(_ marker: MarkerRecord, state: ReplayState) {
    series(state)?.marker()
    markers.append((state.timestamp, point(marker.name, state)))
    pendingMarker[state.stream] = marker.name
    awaitingResidency[state.stream] = (markers.count - 1, nil)
    markerHeaps.append(
      SummaryData.MarkerHeap(
        name: marker.name, liveHeap: state.heapBytes,
        largestBlocks: Array(
          largeBlocks.values.sorted { $0.size != $1.size ? $0.size > $1.size : $0.serial < $1.serial }.prefix(8)),
        mapped: Self.ownMapped(state), privateResident: state.privateResident))
    if firstMarker == nil { firstMarker = byStack }
    lastMarker.commit(from: byStack)
    if keepStacksAt.contains(marker.name), stacksAtMarker[marker.name] == nil { stacksAtMarker[marker.name] = byStack }
    if MomentNames.isPeak(marker) {
      // `--at peak` is the last peak moment: keep its stacks only, replacing the previous one's.
      if keepStacksAt.contains(MomentNames.peak) && !keepStacksAt.contains(marker.name) {
        if let previous = peakMoments.last, !keepStacksAt.contains(previous) { stacksAtMarker[previous] = nil }
        stacksAtMarker[marker.name] = byStack
      }
      peakMoments.append(marker.name)
    }
  }

  /// Names of the peak trigger's moments, in order (MomentNames).
  private(set) var peakMoments: [String] = []

  /// The snapshot the recorder took for the stream's last marker: its mapped figures are the
  /// marker's (the marker record itself comes before the measurement).
  public func residencySnapshot(state: ReplayState) {
    guard let waiting = awaitingResidency.removeValue(forKey: state.stream) else { return }
    let i = waiting.marker
    let name = markers[i].point.label ?? ""
    markers[i].point.mapped = state.mappedResidentBytes
    markers[i].point.privateResident = Self.privateTotal(state)
    markerHeaps[i].mapped = Self.ownMapped(state)
    markerHeaps[i].privateResident = state.privateResident
    if let s = waiting.sample {
      samples[s].mapped = Self.ownMapped(state)
      samples[s].privateResident = state.privateResident
      samples[s].mappedReserved = state.mappedBytes
    }
    if i == 0 { firstMarker = byStack }
    if i == markers.count - 1 { lastMarker.commit(from: byStack) }
    if keepStacksAt.contains(name), stacksAtMarker[name] != nil { stacksAtMarker[name] = byStack }
  }

  public func sample(_ sample: SampleRecord, state: ReplayState) {
    if state.stream == .process { lastProcessSampleTicks = state.timestamp }
    series(state)?.sample()
    let label = pendingMarker.removeValue(forKey: state.stream)
    samples.append(
      Sample(
        ticks: state.timestamp, label: label,
        memory: MemorySample(sample), liveHeap: state.heapBytes, liveBlocks: Int(state.heapBlocks),
        mapped: Self.ownMapped(state), privateResident: state.privateResident, mappedReserved: state.mappedBytes))
    if label != nil, let waiting = awaitingResidency[state.stream] {
      awaitingResidency[state.stream] = (waiting.marker, samples.count - 1)
    }
    if firstSample == nil { firstSample = byStack }
    lastSample.commit(from: byStack)
  }

  public func trim(_ trim: TrimRecord, state: ReplayState) {
    // The time it was really taken: a signal marker's probe runs on the writer thread, later.
    trims.append(
      TrimObservation(
        label: pendingMarker[state.stream], rssBefore: trim.rssBefore, rssAfter: trim.rssAfter,
        ticks: state.timestamp)
      .with(liveHeap: state.heapBytes))
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
      guard kind == .heap else { return }
      if let w = state.sampleWeight { sampledSeries?.ended(block, weight: w.weight(block.size)) }
      heapBlocks.append((address, bytes, block.stack))
      guard top.count < largestBlocks || bytes > top[top.count - 1].size else { return }
      top.insert(
        SummaryData.Block(size: bytes, stack: block.stack, serial: block.serial),
        at: top.firstIndex { $0.size < bytes } ?? top.count)
      if top.count > largestBlocks { top.removeLast() }
    }
    replay.forEachLiveMapping { _, block, reserved, resident in
      var group = mapped[block.stack] ?? SummaryData.MappedGroup(stack: block.stack, bytes: 0, regions: 0, lengths: [])
      group.bytes += resident
      group.reserved += reserved
      group.regions += 1
      group.lengths.insert(block.size)
      if case .privateAllocator(let p) = state.mappingOwners[block.stack] { group.privateAllocator = p }
      mapped[block.stack] = group
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
          liveBlocks: $0.liveBlocks, mapped: $0.mapped, privateResident: $0.privateResident,
          mappedReserved: $0.mappedReserved)
      },
      markers: markers.enumerated().map { i, m in
        var p = m.point
        p.time = seconds(m.ticks)
        p.position = i
        return p
      },
      peak: PeakPoint(
        bytes: peak.bytes, time: seconds(peakTicks), includesMapped: peak.includesMapped,
        previousMarker: peak.markersBefore > 0 ? markers[peak.markersBefore - 1].point.label : nil,
        nextMarker: peak.markersBefore < markers.count ? markers[peak.markersBefore].point.label : nil),
      firstMarkerByStack: positive(firstMarker), lastMarkerByStack: positive(lastMarker.bytes),
      firstSampleByStack: positive(firstSample), lastSampleByStack: positive(lastSample.bytes),
      largestBlocks: top, mappedByStack: mapped.values.sorted { $0.bytes != $1.bytes ? $0.bytes > $1.bytes : $0.reserved > $1.reserved },
      trims: trims.map { var t = $0; t.time = $0.ticks.map(seconds); return t },
      allocatorMapped: state.allocatorMappedBytes, heapLayouts: layouts,
      exitResidency: state.end == nil
        ? [] : residency.filter { $0.stream == .process && $0.timestamp >= (lastProcessSampleTicks ?? .max) },
      endLiveHeap: state.heapBytes, endLiveBlocks: Int(state.heapBlocks), endMapped: state.mappedResidentBytes,
      endPrivate: state.privateResident, markerHeaps: markerHeaps,
      stacksAtMarker: stacksAtMarker.mapValues(positive), hasResidency: state.hasResidency,
      duration: seconds(state.timestamp), sawEnd: state.end != nil,
      markerVariance: state.sampleWeight == nil ? nil : sampledSeries?.markers ?? SeriesVariance(),
      sampleVariance: state.sampleWeight == nil ? nil : sampledSeries?.samples ?? SeriesVariance())
  }

  /// Ticks to seconds since start: the rate between the header's start and the last CLOCK record
  /// when they are at least 10 ms apart, else the header's first estimate.
  private func clock(_ header: DumpHeader?, clocks: [(ticks: UInt64, nanoseconds: UInt64)]) -> (UInt64) -> Double {
    let start = header?.startTicks ?? 0
    var rate = Double(header?.ticksPerSecond ?? 1_000_000_000)
    if let startNs = header?.startMonotonicNanoseconds, let last = clocks.last,
      // Subtracted, not `startNs + 10 ms`: a damaged header's start near 2^64 overflowed that.
      last.nanoseconds > startNs, last.nanoseconds - startNs > 10_000_000, last.ticks > start
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
    /// Resident bytes of the program's own mappings (private allocators' apart).
    public var mapped: UInt64
    public var privateResident: [PrivateAllocator: UInt64] = [:]
    /// Reserved length of all tracked mappings.
    public var mappedReserved: UInt64 = 0
  }
  public struct Block: Sendable, Hashable {
    public var size: UInt64
    public var stack: StackID
    /// Allocation serial: the same block at two markers has the same one.
    public var serial: UInt64 = 0
  }
  /// The live heap at a marker, with its largest blocks (those of 64 KiB or more), largest first,
  /// and the mappings' resident bytes measured for it.
  public struct MarkerHeap: Sendable, Hashable {
    public var name: String
    public var liveHeap: UInt64
    public var largestBlocks: [Block]
    public var mapped: UInt64 = 0
    public var privateResident: [PrivateAllocator: UInt64] = [:]
  }
  public struct MappedGroup: Sendable, Hashable {
    public var stack: StackID
    /// Resident bytes.
    public var bytes: UInt64
    public var regions: Int
    /// The distinct mapping lengths (pymalloc arenas are all 1 MiB).
    public var lengths: Set<UInt64>
    /// Their reserved length.
    public var reserved: UInt64 = 0
    public var privateAllocator: PrivateAllocator?
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
  /// Resident bytes of all tracked mappings at the end (private allocators' included).
  public var endMapped: UInt64
  public var endPrivate: [PrivateAllocator: UInt64] = [:]
  /// The live heap at every marker, in order: the last is a program's last labelled state,
  /// before any teardown.
  public var markerHeaps: [MarkerHeap] = []
  /// Tracked bytes per stack at the markers asked for (`--from`, `--to`).
  public var stacksAtMarker: [String: [StackID: UInt64]] = [:]
  /// Whether the dump had residency snapshots (else mappings count 0 B resident).
  public var hasResidency = true
  public var atLastMarker: MarkerHeap? { markerHeaps.last }
  /// Seconds from start to the last event.
  public var duration: Double
  public var sawEnd: Bool
  /// Sampled dumps: the variances behind the series of markers and of samples (by position in
  /// ``markers`` and ``samples``); nil when every block was recorded.
  public var markerVariance: SeriesVariance? = nil
  public var sampleVariance: SeriesVariance? = nil
}
