// The replay engine: events in, block events out to the aggregators. It owns the live heap
// blocks and the live mappings, and keeps ReplayState's totals and peak.
// Hot stored properties here, in ReplayState and in StackMetrics are `@exclusivity(unchecked)`:
// dynamic exclusivity checks took a third of the time in a profile of a 10-million-pair dump,
// and a replay runs on one thread with no overlapping accesses.
import HeapwiseFormat

public final class Replay {
  public let state = ReplayState()
  public let aggregators: [any ReplayAggregator]
  private let heap = LiveBlockTable()
  @exclusivity(unchecked) private var mappings = MappingTable()
  @exclusivity(unchecked) private var serial: UInt64 = 0

  /// The aggregators again, as a chain of `let` links for the per-event calls: a `let` property
  /// is borrowed for a call, while an element loaded from an array is retained and released
  /// around every call (a tenth of the replay time in a profile).
  private let chain: AggregatorChain?
  /// The first aggregator when it is `StackMetrics` (as for `top`, `compare` and `check`), called
  /// directly, so its per-event work is inlined here instead of going through a witness table.
  private let metrics: StackMetrics?

  public init(aggregators: [any ReplayAggregator]) {
    self.aggregators = aggregators
    metrics = aggregators.first as? StackMetrics
    chain = aggregators.dropFirst(metrics == nil ? 0 : 1).reversed().reduce(nil) { AggregatorChain($1, next: $0) }
  }

  /// Replays every event of `source`. `progress` is called about every 2^20 events.
  public func run(_ source: inout some EventSource, progress: ((ReplayState) -> Void)? = nil) {
    while true {
      let before = state.events
      switch source.nextStep() {
      case .blocks(let run): replay(run)
      case .event(let event): replay(event)
      case .end:
        finish()
        return
      }
      if let progress, (before ^ state.events) >> 20 != 0 { progress(state) }
    }
  }

  /// Replays a run of block records (the hot path: no `Event` is built for them).
  public func replay(_ run: BlockRun) {
    let stream = run.stream
    state.stream = stream
    state.events &+= UInt64(run.records.count)
    for r in run.records {
      state.timestamp = r.timestamp
      if r.isAllocation {
        allocateHeap(address: r.address, size: r.size, stack: StackID(r.stack), stream: stream)
      } else {
        freeHeap(r.address, by: r.function)
      }
    }
  }

  /// Replays one event (for callers that drive the source themselves); call `finish()` at the end.
  public func replay(_ event: Event) {
    state.timestamp = event.timestamp
    state.stream = event.stream
    state.events &+= 1
    switch event.record {
    case .alloc(let a):
      allocateHeap(address: a.address, size: a.size, stack: a.stack, stream: event.stream)
    case .free(let f):
      freeHeap(f.address, by: f.function)
    case .mmap(let m):
      guard m.isAnonymous else { return }  // file mappings are not memory the program allocated
      map(m.address, m.length, stack: m.stack, stream: event.stream)
    case .munmap(let m):
      unmap(m.address, m.length, by: .free)
    case .mremap(let m):
      // Only a tracked mapping moves; mremap of a file mapping is not memory we track.
      guard overlapsTracked(m.oldAddress, m.oldLength) else { return }
      unmap(m.oldAddress, m.oldLength, by: .realloc)
      map(m.newAddress, m.newLength, stack: m.stack, stream: event.stream)
    case .stack(let s):
      state.stacks.add(s)
    case .thread(let t):
      state.threads.set(t, stream: event.stream)
    case .module(let m):
      state.modules.load(m, at: event.timestamp)
    case .unload(let id):
      state.modules.unload(id, at: event.timestamp)
    case .marker(let m):
      state.markers.append((m.name, event.timestamp))
      for a in aggregators { a.marker(m, state: state) }
    case .sample(let s):
      for a in aggregators { a.sample(s, state: state) }
    case .trim(let t):
      for a in aggregators { a.trim(t, state: state) }
    case .end(let e):
      state.end = e
      for a in aggregators { a.ended(e, state: state) }
    case .clock(let ns):
      state.clocks.append((event.timestamp, ns))
    case .skipped:
      break
    }
  }

  public func finish() {
    for a in aggregators { a.finished(state: state) }
  }

  /// Calls `body` for every block still live (heap blocks, then mapping pieces with their bytes).
  public func forEachLiveBlock(_ body: (UInt64, LiveBlock, UInt64, BlockKind) -> Void) {
    heap.forEach { body($0, $1, $1.size, .heap) }
    for p in mappings.pieces { body(p.start, p.block, p.end - p.start, .mapping) }
  }

  /// Live bytes (heap and mappings) can never exceed the address space: 2^58 is twice the
  /// largest (ReaderLimits.maxBlockSize). With blocks and sample figures capped likewise, sums of
  /// a few of them stay far from 2^64, so the reports' arithmetic cannot overflow.
  public static let maxLiveBytes: UInt64 = 1 << 58

  @inline(__always)
  private func allocateHeap(address: UInt64, size: UInt64, stack: StackID, stream: StreamID) {
    guard size <= Self.maxLiveBytes &- state.liveBytes else {
      state.impossibleBlocks &+= 1
      return
    }
    serial &+= 1
    let block = LiveBlock(size: size, timestamp: state.timestamp, serial: serial, stack: stack, stream: stream)
    if let old = heap.insert(address, block) {
      state.overwrittenBlocks &+= 1
      state.heapBytes &-= old.size
      state.heapBlocks &-= 1
      metrics?.freed(old, bytes: old.size, whole: true, kind: .heap, by: .free, state: state)
      chain?.freed(old, bytes: old.size, whole: true, kind: .heap, by: .free, state: state)
    }
    state.heapBytes &+= size
    state.heapBlocks &+= 1
    state.allocations &+= 1
    metrics?.allocated(block, address: address, kind: .heap, state: state)
    chain?.allocated(block, address: address, kind: .heap, state: state)
    checkPeak()
  }

  @inline(__always)
  private func freeHeap(_ address: UInt64, by function: AllocatorFunction) {
    guard let block = heap.remove(address) else {
      if address != 0 { state.unmatchedFrees &+= 1 }
      return
    }
    state.heapBytes &-= block.size
    state.heapBlocks &-= 1
    metrics?.freed(block, bytes: block.size, whole: true, kind: .heap, by: function, state: state)
    chain?.freed(block, bytes: block.size, whole: true, kind: .heap, by: function, state: state)
  }

  private func map(_ address: UInt64, _ length: UInt64, stack: StackID, stream: StreamID) {
    guard length > 0 else { return }  // an empty mapping would count a block that never ends
    guard length <= Self.maxLiveBytes &- state.liveBytes else {
      state.impossibleBlocks &+= 1
      return
    }
    serial &+= 1
    let block = LiveBlock(size: length, timestamp: state.timestamp, serial: serial, stack: stack, stream: stream)
    mappings.insert(start: address, length: length, block: block) { removed in
      unmapped(removed, by: .free)
    }
    state.mappedBytes &+= length
    state.mappedBlocks &+= 1
    state.allocations &+= 1
    for agg in aggregators { agg.allocated(block, address: address, kind: .mapping, state: state) }
    checkPeak()
  }

  private func unmap(_ address: UInt64, _ length: UInt64, by function: AllocatorFunction) {
    mappings.remove(start: address, length: length) { unmapped($0, by: function) }
  }

  private func unmapped(_ r: MappingTable.Removal, by function: AllocatorFunction) {
    state.mappedBytes &-= r.bytes
    if r.whole { state.mappedBlocks &-= 1 }
    for agg in aggregators { agg.freed(r.block, bytes: r.bytes, whole: r.whole, kind: .mapping, by: function, state: state) }
  }

  private func overlapsTracked(_ address: UInt64, _ length: UInt64) -> Bool {
    mappings.pieces.contains { $0.start < address &+ length && address < $0.end }
  }

  @inline(__always)
  private func checkPeak() {
    let live = state.liveBytes
    if live > state.peakBytes {
      state.peakBytes = live
      state.peakBlocks = state.liveBlocks
      state.peakTimestamp = state.timestamp
      state.peakEpoch &+= 1
      metrics?.reachedPeak(state: state)
      chain?.reachedPeak(state: state)
    }
  }
}

/// One link per aggregator; each forwards the hot events to its aggregator, then to the next link.
private final class AggregatorChain {
  let aggregator: any ReplayAggregator
  let next: AggregatorChain?

  init(_ aggregator: any ReplayAggregator, next: AggregatorChain?) {
    self.aggregator = aggregator
    self.next = next
  }

  func allocated(_ block: LiveBlock, address: UInt64, kind: BlockKind, state: ReplayState) {
    aggregator.allocated(block, address: address, kind: kind, state: state)
    next?.allocated(block, address: address, kind: kind, state: state)
  }

  func freed(_ block: LiveBlock, bytes: UInt64, whole: Bool, kind: BlockKind, by function: AllocatorFunction,
             state: ReplayState) {
    aggregator.freed(block, bytes: bytes, whole: whole, kind: kind, by: function, state: state)
    next?.freed(block, bytes: bytes, whole: whole, kind: kind, by: function, state: state)
  }

  func reachedPeak(state: ReplayState) {
    aggregator.reachedPeak(state: state)
    next?.reachedPeak(state: state)
  }
}
