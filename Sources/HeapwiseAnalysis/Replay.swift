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
  @exclusivity(unchecked) private var mappings: MappingTable
  /// The malloc's own mappings (jemalloc's extents), kept apart: see ReplayState.allocatorMappedBytes.
  private var allocatorMappings: MappingTable
  private let classifier = MappingClassifier()
  @exclusivity(unchecked) private var serial: UInt64 = 0
  /// RESIDENCY regions decoded but not yet replayed (the reader decodes a record's regions when
  /// it reads the record, a little before the replay reaches it).
  private var pendingResidency: [ResidencyRegion]
  /// The snapshot being applied (its records share stream and timestamp), until another event.
  private var openSnapshot: (stream: StreamID, timestamp: UInt64)?

  /// The aggregators again, as a chain of `let` links for the per-event calls: a `let` property
  /// is borrowed for a call, while an element loaded from an array is retained and released
  /// around every call (a tenth of the replay time in a profile).
  private let chain: AggregatorChain?
  /// The first aggregator when it is `StackMetrics` (as for `top`, `compare` and `check`), called
  /// directly, so its per-event work is inlined here instead of going through a witness table.
  private let metrics: StackMetrics?

  /// `pageSize` is the recorded process's (DumpHeader.pageSize). `residency` lists RESIDENCY
  /// regions known beforehand (for sources other than a DumpReader, which hands over its own).
  public init(aggregators: [any ReplayAggregator], pageSize: UInt64 = 4096, residency: [ResidencyRegion] = []) {
    self.aggregators = aggregators
    mappings = MappingTable(pageSize: pageSize)
    allocatorMappings = MappingTable(pageSize: pageSize)
    pendingResidency = residency
    metrics = aggregators.first as? StackMetrics
    chain = aggregators.dropFirst(metrics == nil ? 0 : 1).reversed().reduce(nil) { AggregatorChain($1, next: $0) }
  }

  /// Replays every event of `source`. `progress` is called about every 2^20 events.
  public func run(_ source: inout some EventSource, progress: ((ReplayState) -> Void)? = nil) {
    while true {
      let before = state.events
      switch source.nextStep() {
      case .blocks(let run): replay(run)
      case .event(let event):
        if case .skipped(RecordTag.residency) = event.record { pendingResidency += source.takeResidency() }
        replay(event)
      case .end:
        finish()
        return
      }
      if let progress, (before ^ state.events) >> 20 != 0 { progress(state) }
    }
  }

  /// Replays a run of block records (the hot path: no `Event` is built for them).
  public func replay(_ run: BlockRun) {
    if openSnapshot != nil { closeSnapshot() }
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
    if let open = openSnapshot {
      let sameSnapshot =
        if case .skipped(RecordTag.residency) = event.record {
          open.stream == event.stream && open.timestamp == event.timestamp
        } else { false }
      if !sameSnapshot { closeSnapshot() }
    }
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
      if allocatorMappings.pieces.contains(where: { $0.start < m.oldAddress &+ m.oldLength && m.oldAddress < $0.end }) {
        allocatorMappings.remove(start: m.oldAddress, length: m.oldLength) { state.allocatorMappedBytes &-= $0.bytes }
        allocatorMappings.insert(
          start: m.newAddress, length: m.newLength,
          block: LiveBlock(size: m.newLength, timestamp: state.timestamp, serial: 0, stack: m.stack, stream: event.stream)
        ) { state.allocatorMappedBytes &-= $0.bytes }
        state.allocatorMappedBytes &+= m.newLength
        return
      }
      guard overlapsTracked(m.oldAddress, m.oldLength) else { return }
      // The moved pages stay resident: carry their count over.
      let resident = mappings.residentBytes(start: m.oldAddress, length: m.oldLength)
      unmap(m.oldAddress, m.oldLength, by: .realloc)
      map(m.newAddress, m.newLength, stack: m.stack, stream: event.stream)
      mappings.markResident(start: m.newAddress, bytes: resident) { residentChanged($0, by: $1) }
      checkPeak()
    case .madvise(let a):
      mappings.clearResidency(start: a.address, length: a.length) { residentChanged($0, by: $1) }
    case .mprotect(let p):
      // PROT_NONE: the pages can no longer be the program's data (mimalloc and jemalloc decommit
      // this way, after a purge). Other protections change nothing resident.
      if p.protection == 0 {
        mappings.clearResidency(start: p.address, length: p.length) { residentChanged($0, by: $1) }
      }
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
    case .pythonCode(let c):
      state.python.add(c)
    case .python(let p):
      state.python.runtime = p
    case .sampling(let s):
      state.sampling = s
      state.sampleWeight = SampleWeight(s)
    case .samplingStats(let s):
      state.samplingStats = s
    case .aggregate(let a):
      state.aggregate.add(a, stream: event.stream, timestamp: event.timestamp)
    case .skipped(let tag):
      if tag == RecordTag.residency { applyResidency(stream: event.stream, timestamp: event.timestamp) }
    }
  }

  /// Applies the pending regions of the snapshot at (stream, timestamp) to the live mappings.
  private func applyResidency(stream: StreamID, timestamp: UInt64) {
    openSnapshot = (stream, timestamp)
    state.hasResidency = true
    var rest: [ResidencyRegion] = []
    for r in pendingResidency {
      guard r.stream == stream && r.timestamp == timestamp else {
        rest.append(r)
        continue
      }
      // The heap region is glibc's; only anonymous mappings can hold tracked pieces.
      guard r.kind == ResidencyRegion.Kind.anonymous.rawValue else { continue }
      mappings.setResidency(start: r.start, pages: r.pages, bitmap: r.bitmap) { residentChanged($0, by: $1) }
    }
    pendingResidency = rest
    checkPeak()
  }

  private func closeSnapshot() {
    guard let open = openSnapshot else { return }
    openSnapshot = nil
    let (stream, timestamp) = (state.stream, state.timestamp)
    state.stream = open.stream
    state.timestamp = open.timestamp
    for a in aggregators { a.residencySnapshot(state: state) }
    state.stream = stream
    state.timestamp = timestamp
  }

  private func residentChanged(_ block: LiveBlock, by delta: Int64) {
    state.mappedResidentBytes = UInt64(bitPattern: Int64(bitPattern: state.mappedResidentBytes) &+ delta)
    if case .privateAllocator(let p) = state.mappingOwners[block.stack] {
      state.privateResident[p] = UInt64(bitPattern: Int64(bitPattern: state.privateResident[p] ?? 0) &+ delta)
    }
    for a in aggregators { a.residentChanged(block, by: delta, state: state) }
  }

  public func finish() {
    closeSnapshot()
    for a in aggregators { a.finished(state: state) }
  }

  /// Calls `body` for every block still live (heap blocks, then mapping pieces with their
  /// reserved bytes).
  public func forEachLiveBlock(_ body: (UInt64, LiveBlock, UInt64, BlockKind) -> Void) {
    heap.forEach { body($0, $1, $1.size, .heap) }
    for p in mappings.pieces { body(p.start, p.block, p.end - p.start, .mapping) }
  }

  /// Live bytes (heap and mappings) can never exceed the address space: 2^58 is twice the
  /// largest (ReaderLimits.maxBlockSize). With blocks and sample figures capped likewise, sums of
  /// a few of them stay far from 2^64, so the reports' arithmetic cannot overflow.
  public static let maxLiveBytes: UInt64 = 1 << 58

  /// Every live mapping piece: start, block, reserved bytes, resident bytes.
  public func forEachLiveMapping(_ body: (UInt64, LiveBlock, UInt64, UInt64) -> Void) {
    let page = mappings.pageSize
    for p in mappings.pieces {
      body(p.start, p.block, p.end - p.start, Swift.min(UInt64(p.resident.count) * page, p.end - p.start))
    }
  }

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
      state.heapBytes &-= countedBytes(old.size, sign: -1)
      state.heapBlocks &-= 1
      metrics?.freed(old, bytes: old.size, whole: true, kind: .heap, by: .free, state: state)
      chain?.freed(old, bytes: old.size, whole: true, kind: .heap, by: .free, state: state)
    }
    state.heapBytes &+= countedBytes(size, sign: 1)
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
    state.heapBytes &-= countedBytes(block.size, sign: -1)
    state.heapBlocks &-= 1
    metrics?.freed(block, bytes: block.size, whole: true, kind: .heap, by: function, state: state)
    chain?.freed(block, bytes: block.size, whole: true, kind: .heap, by: function, state: state)
  }

  /// The live-heap bytes a block counts for: its size, or in a sampled dump its weighted size
  /// (then its variance goes into, or out of, `heapBytesVariance`).
  @inline(__always)
  private func countedBytes(_ size: UInt64, sign: Double) -> UInt64 {
    guard let sampling = state.sampleWeight else { return size }
    let w = sampling.weight(size), s = Double(size)
    state.heapBytesVariance = Swift.max(0, state.heapBytesVariance + sign * w * (w - 1) * s * s)
    return sampling.bytes(size, weight: w)
  }

  private func map(_ address: UInt64, _ length: UInt64, stack: StackID, stream: StreamID) {
    guard length > 0 else { return }  // an empty mapping would count a block that never ends
    guard length <= Self.maxLiveBytes &- state.liveBytes else {
      state.impossibleBlocks &+= 1
      return
    }
    serial &+= 1
    let block = LiveBlock(size: length, timestamp: state.timestamp, serial: serial, stack: stack, stream: stream)
    let owner = classifier.owner(of: stack, length: length, state: state)
    if owner == .malloc {
      allocatorMappings.insert(start: address, length: length, block: block) { state.allocatorMappedBytes &-= $0.bytes }
      state.allocatorMappedBytes &+= length
      return
    }
    state.mappingOwners[stack] = owner
    if case .privateAllocator(let p) = owner { state.privateReserved[p, default: 0] &+= length }
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
    if !allocatorMappings.isEmpty {
      allocatorMappings.remove(start: address, length: length) { state.allocatorMappedBytes &-= $0.bytes }
    }
  }

  private func unmapped(_ r: MappingTable.Removal, by function: AllocatorFunction) {
    if r.residentBytes > 0 { residentChanged(r.block, by: -Int64(r.residentBytes)) }
    if case .privateAllocator(let p) = state.mappingOwners[r.block.stack] {
      state.privateReserved[p] = (state.privateReserved[p] ?? 0) - Swift.min(r.bytes, state.privateReserved[p] ?? 0)
    }
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
      state.peakBytesVariance = state.heapBytesVariance
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
