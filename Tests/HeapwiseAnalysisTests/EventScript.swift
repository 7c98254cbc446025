import HeapwiseAnalysis
import HeapwiseFormat

/// Builds events in replay order with increasing timestamps, for replays without a dump file.
struct EventScript {
  var events: [Event] = []
  var now: UInt64 = 1000
  /// The regions of the RESIDENCY records added, handed to the replay as a DumpReader would.
  var regions: [ResidencyRegion] = []

  private mutating func add(_ r: Record, stream: UInt32) {
    now += 10
    events.append(Event(timestamp: now, stream: StreamID(stream), record: r))
  }

  mutating func alloc(_ address: UInt64, _ size: UInt64, stack: UInt32, stream: UInt32 = 1,
                      function: AllocatorFunction = .malloc) {
    add(.alloc(Allocation(function: function, address: address, size: size, stack: StackID(stack))), stream: stream)
  }
  mutating func free(_ address: UInt64, stream: UInt32 = 1, function: AllocatorFunction = .free) {
    add(.free(Deallocation(function: function, address: address)), stream: stream)
  }
  mutating func realloc(_ old: UInt64, to new: UInt64, _ size: UInt64, stack: UInt32, stream: UInt32 = 1) {
    free(old, stream: stream, function: .realloc)
    alloc(new, size, stack: stack, stream: stream, function: .realloc)
  }
  mutating func mmap(_ address: UInt64, _ length: UInt64, stack: UInt32, anonymous: Bool = true, stream: UInt32 = 1) {
    add(.mmap(Mapping(address: address, length: length, protection: 3, flags: anonymous ? 0x22 : 0x02,
                      fd: anonymous ? -1 : 3, stack: StackID(stack))), stream: stream)
  }
  mutating func munmap(_ address: UInt64, _ length: UInt64, stream: UInt32 = 1) {
    add(.munmap(Unmapping(address: address, length: length)), stream: stream)
  }
  mutating func mremap(_ old: UInt64, _ oldLength: UInt64, to new: UInt64, _ newLength: UInt64, stack: UInt32) {
    add(.mremap(Remapping(oldAddress: old, oldLength: oldLength, newAddress: new, newLength: newLength,
                          stack: StackID(stack))), stream: 1)
  }
  mutating func stack(_ id: UInt32, _ frames: [UInt64]) {
    add(.stack(StackRecord(id: StackID(id), frames: frames)), stream: 0)
  }
  mutating func module(_ id: UInt32, path: String, base: UInt64, size: UInt64) {
    add(.module(ModuleRecord(id: ModuleID(id), base: base, path: path, buildID: [],
                             segments: [ModuleSegment(vaddr: 0, memsz: size, flags: 5)])), stream: 0)
  }
  mutating func marker(_ name: String, stream: UInt32 = 1) {
    add(.marker(MarkerRecord(source: 0, name: name)), stream: stream)
  }
  mutating func madvise(_ address: UInt64, _ length: UInt64, advice: UInt64 = RangeAdvice.dontNeed) {
    add(.madvise(RangeAdvice(address: address, length: length, advice: advice)), stream: 1)
  }
  mutating func mprotect(_ address: UInt64, _ length: UInt64, protection: UInt64) {
    add(.mprotect(RangeProtection(address: address, length: length, protection: protection)), stream: 1)
  }
  /// A residency snapshot of one anonymous region of 4 KiB pages: `resident` lists page indexes.
  mutating func residency(_ start: UInt64, pages: Int, resident: [Int], stream: UInt32 = 1) {
    add(.skipped(tag: RecordTag.residency), stream: stream)
    var bitmap = [UInt8](repeating: 0, count: (pages + 7) / 8)
    for i in resident { bitmap[i / 8] |= 1 << UInt8(i % 8) }
    regions.append(ResidencyRegion(timestamp: now, stream: StreamID(stream), start: start, pages: pages,
                                   kind: ResidencyRegion.Kind.anonymous.rawValue, bitmap: bitmap))
  }
  mutating func end() { add(.end(EndRecord(reason: 0, signal: 0)), stream: 0) }
  /// A sampled dump's parameters (SAMPLING, or SAMPLING_OFFSET when C is not 0).
  mutating func sampling(_ p: SamplingParameters) { add(.sampling(p), stream: 1) }

  /// Replays the script through StackMetrics (plus `extra`) and returns both.
  func replay(markers: Set<String> = [], extra: [any ReplayAggregator] = []) -> (Replay, StackMetrics) {
    let metrics = StackMetrics(snapshotMarkers: markers)
    let replay = Replay(aggregators: [metrics] + extra, residency: regions)
    var source = EventList(events)
    replay.run(&source)
    return (replay, metrics)
  }
}

extension StackMetrics {
  func at(_ stack: UInt32) -> StackCounters {
    counters[Int(stack)]
  }
}
