import HeapwiseFormat

/// Replays a dump's events into what the summary needs: the live heap and mapped regions at every
/// marker and sample, the peak, per-stack tracked bytes at the ends of the series, trim probes,
/// and the live blocks and regions left at the end. Memory is bounded by the live set and the
/// number of samples, not by the number of events.
///
/// Feed it events in replay order with ``consume(_:)``, then call ``finish()``.
public struct SummaryCollector {
  /// A SAMPLE with the tracked state at its timestamp.
  public struct Sample: Sendable, Hashable {
    public var ticks: UInt64
    /// The marker this sample follows (the recorder writes one after each marker).
    public var label: String?
    public var memory: MemorySample
    public var liveHeap: UInt64
    public var liveBlocks: Int
    public var mapped: UInt64
  }

  /// A MARKER with the tracked state at its timestamp.
  public struct Marker: Sendable, Hashable {
    public var ticks: UInt64
    public var name: String
    public var liveHeap: UInt64
    public var mapped: UInt64
  }

  private struct Block {
    var size: UInt64
    var stack: StackID
  }

  /// Per-stack bytes as they were at the last commit, updated only for stacks that changed since.
  private struct Checkpoint {
    var taken = false
    var bytes: [StackID: Int64] = [:]
    var touched: Set<StackID> = []

    mutating func commit(from current: [StackID: Int64]) {
      if !taken {
        bytes = current
        taken = true
      } else {
        for stack in touched { bytes[stack] = current[stack] ?? 0 }
      }
      touched.removeAll(keepingCapacity: true)
    }
  }

  private var blocks: [UInt64: Block] = [:]
  private var regions = MappedRegions()
  private(set) var liveHeap: UInt64 = 0
  /// Live heap plus mapped bytes per allocating stack.
  private var byStack: [StackID: Int64] = [:]
  private var firstMarker = Checkpoint()
  private var lastMarker = Checkpoint()
  private var firstSample = Checkpoint()
  private var lastSample = Checkpoint()

  private var samples: [Sample] = []
  private var markers: [Marker] = []
  private var trims: [(label: String?, record: TrimRecord)] = []
  /// The marker each stream set last, until the sample that follows it.
  private var pendingMarker: [StreamID: String] = [:]
  private var lastMarkerName: String?
  private var stacks: [StackID: [UInt64]] = [:]
  private var modules: [ModuleRecord] = []
  private var clocks: [(ticks: UInt64, nanoseconds: UInt64)] = []
  private var peak: (bytes: UInt64, ticks: UInt64, phase: String?) = (0, 0, nil)
  private var lastTicks: UInt64 = 0
  private var sawEnd = false

  public init() {}

  public mutating func consume(_ event: Event) {
    lastTicks = Swift.max(lastTicks, event.timestamp)
    switch event.record {
    case .alloc(let a):
      if let old = blocks.updateValue(Block(size: a.size, stack: a.stack), forKey: a.address) {
        // An allocation over a live block: its free was not seen. Drop the old one.
        liveHeap -= old.size
        change(old.stack, -Int64(old.size))
      }
      liveHeap += a.size
      change(a.stack, Int64(a.size))
      if liveHeap > peak.bytes { peak = (liveHeap, event.timestamp, lastMarkerName) }
    case .free(let f):
      if let old = blocks.removeValue(forKey: f.address) {
        liveHeap -= old.size
        change(old.stack, -Int64(old.size))
      }
    case .mmap(let m):
      // PROT_NONE reservations are address space, not memory; file mappings are counted by the
      // kernel as file-backed.
      guard m.isAnonymous, m.protection != 0 else { return }
      var moved: [(StackID, Int64)] = []
      regions.map(start: m.address, length: m.length, stack: m.stack) { moved.append(($0, $1)) }
      for (stack, delta) in moved { change(stack, delta) }
    case .munmap(let u):
      var moved: [(StackID, Int64)] = []
      regions.unmap(start: u.address, length: u.length) { moved.append(($0, $1)) }
      for (stack, delta) in moved { change(stack, delta) }
    case .mremap(let r):
      guard let stack = regions.stack(at: r.oldAddress) else { return }
      var moved: [(StackID, Int64)] = []
      regions.unmap(start: r.oldAddress, length: r.oldLength) { moved.append(($0, $1)) }
      regions.map(start: r.newAddress, length: r.newLength, stack: stack) { moved.append(($0, $1)) }
      for (stack, delta) in moved { change(stack, delta) }
    case .stack(let s):
      stacks[s.id] = s.frames
    case .module(let m):
      modules.append(m)
    case .sample(let record):
      let label = pendingMarker.removeValue(forKey: event.stream)
      samples.append(
        Sample(
          ticks: event.timestamp, label: label, memory: MemorySample(record), liveHeap: liveHeap,
          liveBlocks: blocks.count, mapped: regions.bytes))
      if !firstSample.taken { firstSample.commit(from: byStack) }
      lastSample.commit(from: byStack)
    case .marker(let m):
      markers.append(Marker(ticks: event.timestamp, name: m.name, liveHeap: liveHeap, mapped: regions.bytes))
      pendingMarker[event.stream] = m.name
      lastMarkerName = m.name
      if !firstMarker.taken { firstMarker.commit(from: byStack) }
      lastMarker.commit(from: byStack)
    case .trim(let t):
      trims.append((pendingMarker[event.stream], t))
    case .clock(let ns):
      clocks.append((event.timestamp, ns))
    case .end:
      sawEnd = true
    case .thread, .unload, .skipped:
      break
    }
  }

  private mutating func change(_ stack: StackID, _ delta: Int64) {
    byStack[stack, default: 0] += delta
    firstMarker.touched.insert(stack)
    lastMarker.touched.insert(stack)
    firstSample.touched.insert(stack)
    lastSample.touched.insert(stack)
  }

  /// Everything gathered, with timestamps converted to seconds since start using `header` (and
  /// the dump's CLOCK records, which refine the tick rate).
  public func finish(header: DumpHeader? = nil, largestBlocks: Int = 8) -> SummaryData {
    let seconds = clock(header)
    var top: [(UInt64, StackID)] = []
    for block in blocks.values where top.count < largestBlocks || block.size > top[top.count - 1].0 {
      let at = top.firstIndex { $0.0 < block.size } ?? top.count
      top.insert((block.size, block.stack), at: at)
      if top.count > largestBlocks { top.removeLast() }
    }
    var mappedByStack: [StackID: (bytes: UInt64, count: Int, lengths: Set<UInt64>)] = [:]
    for r in regions.regions {
      mappedByStack[r.stack, default: (0, 0, [])].bytes += r.length
      mappedByStack[r.stack]!.count += 1
      mappedByStack[r.stack]!.lengths.insert(r.length)
    }
    let nonzero: ([StackID: Int64]) -> [StackID: UInt64] = { d in
      d.compactMapValues { $0 > 0 ? UInt64($0) : nil }
    }
    return SummaryData(
      samples: samples.map {
        SummaryData.Sample(
          time: seconds($0.ticks), label: $0.label, memory: $0.memory, liveHeap: $0.liveHeap,
          liveBlocks: $0.liveBlocks, mapped: $0.mapped)
      },
      markers: markers.map {
        SeriesPoint(time: seconds($0.ticks), label: $0.name, liveHeap: $0.liveHeap, mapped: $0.mapped)
      },
      peak: PeakPoint(
        bytes: peak.bytes, time: seconds(peak.ticks), previousMarker: peak.phase,
        nextMarker: markers.first { $0.ticks >= peak.ticks }?.name),
      firstMarkerByStack: nonzero(firstMarker.bytes), lastMarkerByStack: nonzero(lastMarker.bytes),
      firstSampleByStack: nonzero(firstSample.bytes), lastSampleByStack: nonzero(lastSample.bytes),
      largestBlocks: top.map { SummaryData.Block(size: $0.0, stack: $0.1) },
      mappedByStack: mappedByStack.map {
        SummaryData.MappedGroup(stack: $0.key, bytes: $0.value.bytes, regions: $0.value.count, lengths: $0.value.lengths)
      }.sorted { $0.bytes > $1.bytes },
      trims: trims.map {
        TrimObservation(label: $0.label, rssBefore: $0.record.rssBefore, rssAfter: $0.record.rssAfter)
      },
      endLiveHeap: liveHeap, endLiveBlocks: blocks.count, endMapped: regions.bytes,
      duration: seconds(lastTicks), stacks: stacks, modules: modules, sawEnd: sawEnd)
  }

  /// Ticks to seconds since start: the rate from the first to the last CLOCK record when they
  /// span at least 10 ms, else the header's estimate.
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

/// What ``SummaryCollector`` gathered, before sites are named.
public struct SummaryData: Sendable {
  public struct Sample: Sendable, Hashable {
    public var time: Double
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
    /// The distinct region lengths (pymalloc arenas are all 1 MiB).
    public var lengths: Set<UInt64>
  }

  public var samples: [Sample]
  public var markers: [SeriesPoint]
  /// The moment of maximum live heap.
  public var peak: PeakPoint
  /// Tracked bytes (live heap + mapped) per stack at the first and last marker and sample.
  public var firstMarkerByStack: [StackID: UInt64]
  public var lastMarkerByStack: [StackID: UInt64]
  public var firstSampleByStack: [StackID: UInt64]
  public var lastSampleByStack: [StackID: UInt64]
  public var largestBlocks: [Block]
  /// Regions still mapped at the end, grouped by the stack that mapped them, largest first.
  public var mappedByStack: [MappedGroup]
  public var trims: [TrimObservation]
  public var endLiveHeap: UInt64
  public var endLiveBlocks: Int
  public var endMapped: UInt64
  /// Seconds from start to the last event.
  public var duration: Double
  public var stacks: [StackID: [UInt64]]
  public var modules: [ModuleRecord]
  public var sawEnd: Bool
}
