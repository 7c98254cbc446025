import HeapwiseFormat

/// The summary's part of the replay (`Replay`): tracked memory at every marker and sample,
/// per-stack tracked bytes at the ends of the series, and trim probes labelled by the marker they
/// follow. The live blocks themselves stay with the replay.
///
/// Markers, samples and trims are matched by stream (the recorder writes a marker's sample and
/// probe in the marker's stream), so the driver sets ``stream`` before replaying each event; see
/// ``SummaryReport/summarize(_:debugSearchPaths:thresholds:timelineRows:)``.
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

  /// Per-stack bytes as they were at the last commit, updated only for stacks that changed since:
  /// a commit costs what changed, not the number of stacks.
  private struct Checkpoint {
    var taken = false
    var bytes: [StackID: Int64] = [:]
    var touched: Set<StackID> = []

    mutating func commit(from current: [StackID: Int64]) {
      if taken {
        for stack in touched { bytes[stack] = current[stack] ?? 0 }
      } else {
        bytes = current
        taken = true
      }
      touched.removeAll(keepingCapacity: true)
    }
  }

  /// The stream of the event being replayed; set by the driver.
  public var stream: StreamID = .process
  /// CLOCK records (the replay does not forward them); added by the driver.
  var clocks: [(ticks: UInt64, nanoseconds: UInt64)] = []

  private var byStack: [StackID: Int64] = [:]
  private var firstMarker = Checkpoint()
  private var lastMarker = Checkpoint()
  private var firstSample = Checkpoint()
  private var lastSample = Checkpoint()
  private(set) var samples: [Sample] = []
  private(set) var markers: [(ticks: UInt64, point: SeriesPoint)] = []
  private(set) var trims: [TrimObservation] = []
  /// The marker each stream set last, until the sample that follows it.
  private var pendingMarker: [StreamID: String] = [:]
  /// Whether mapped regions were part of the peak when it was reached.
  private(set) var peakIncludesMapped = false

  public init() {}

  public func allocated(_ block: LiveBlock, address: UInt64, kind: BlockKind, state: ReplayState) {
    change(block.stack, Int64(block.size))
  }

  public func freed(
    _ block: LiveBlock, bytes: UInt64, whole: Bool, kind: BlockKind, by function: AllocatorFunction,
    state: ReplayState
  ) {
    change(block.stack, -Int64(bytes))
  }

  public func reachedPeak(state: ReplayState) { peakIncludesMapped = state.mappedBytes > 0 }

  public func marker(_ marker: MarkerRecord, state: ReplayState) {
    markers.append(
      (state.timestamp, SeriesPoint(time: 0, label: marker.name, liveHeap: state.heapBytes, mapped: state.mappedBytes)))
    pendingMarker[stream] = marker.name
    if !firstMarker.taken { firstMarker.commit(from: byStack) }
    lastMarker.commit(from: byStack)
  }

  public func sample(_ sample: SampleRecord, state: ReplayState) {
    samples.append(
      Sample(
        ticks: state.timestamp, label: pendingMarker.removeValue(forKey: stream),
        memory: MemorySample(sample), liveHeap: state.heapBytes, liveBlocks: Int(state.heapBlocks),
        mapped: state.mappedBytes))
    if !firstSample.taken { firstSample.commit(from: byStack) }
    lastSample.commit(from: byStack)
  }

  public func trim(_ trim: TrimRecord, state: ReplayState) {
    trims.append(TrimObservation(label: pendingMarker[stream], rssBefore: trim.rssBefore, rssAfter: trim.rssAfter))
  }

  private func change(_ stack: StackID, _ delta: Int64) {
    byStack[stack, default: 0] += delta
    firstMarker.touched.insert(stack)
    lastMarker.touched.insert(stack)
    firstSample.touched.insert(stack)
    lastSample.touched.insert(stack)
  }

  /// Everything gathered, with the replay's end state, in seconds since start (see ``clock``).
  func data(replay: Replay, header: DumpHeader?, largestBlocks: Int = 8) -> SummaryData {
    let state = replay.state
    let seconds = clock(header)
    var top: [SummaryData.Block] = []
    var mapped: [StackID: SummaryData.MappedGroup] = [:]
    replay.forEachLiveBlock { _, block, bytes, kind in
      switch kind {
      case .heap:
        guard top.count < largestBlocks || bytes > top[top.count - 1].size else { return }
        top.insert(
          SummaryData.Block(size: bytes, stack: block.stack),
          at: top.firstIndex { $0.size < bytes } ?? top.count)
        if top.count > largestBlocks { top.removeLast() }
      case .mapping:
        mapped[block.stack, default: SummaryData.MappedGroup(stack: block.stack, bytes: 0, regions: 0, lengths: [])]
          .bytes += bytes
        mapped[block.stack]!.regions += 1
        mapped[block.stack]!.lengths.insert(block.size)
      }
    }
    let positive: ([StackID: Int64]) -> [StackID: UInt64] = { $0.compactMapValues { $0 > 0 ? UInt64($0) : nil } }
    let peakTicks = state.peakTimestamp
    return SummaryData(
      samples: samples.map {
        SummaryData.Sample(
          time: seconds($0.ticks), label: $0.label, memory: $0.memory, liveHeap: $0.liveHeap,
          liveBlocks: $0.liveBlocks, mapped: $0.mapped)
      },
      markers: markers.map { var p = $0.point; p.time = seconds($0.ticks); return p },
      peak: PeakPoint(
        bytes: state.peakBytes, time: seconds(peakTicks), includesMapped: peakIncludesMapped,
        previousMarker: markers.last { $0.ticks <= peakTicks }?.point.label,
        nextMarker: markers.first { $0.ticks > peakTicks }?.point.label),
      firstMarkerByStack: positive(firstMarker.bytes), lastMarkerByStack: positive(lastMarker.bytes),
      firstSampleByStack: positive(firstSample.bytes), lastSampleByStack: positive(lastSample.bytes),
      largestBlocks: top, mappedByStack: mapped.values.sorted { $0.bytes > $1.bytes }, trims: trims,
      endLiveHeap: state.heapBytes, endLiveBlocks: Int(state.heapBlocks), endMapped: state.mappedBytes,
      duration: seconds(state.timestamp), sawEnd: state.end != nil)
  }

  /// Ticks to seconds since start: the rate between the header's start and the last CLOCK record
  /// when they are at least 10 ms apart, else the header's first estimate.
  private func clock(_ header: DumpHeader?) -> (UInt64) -> Double {
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
  public struct MappedGroup: Sendable, Hashable {
    public var stack: StackID
    public var bytes: UInt64
    public var regions: Int
    /// The distinct mapping lengths (pymalloc arenas are all 1 MiB).
    public var lengths: Set<UInt64>
  }

  public var samples: [Sample]
  public var markers: [SeriesPoint]
  /// The moment of maximum tracked memory.
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
  public var endLiveHeap: UInt64
  public var endLiveBlocks: Int
  public var endMapped: UInt64
  /// Seconds from start to the last event.
  public var duration: Double
  public var sawEnd: Bool
}
