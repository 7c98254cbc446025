import HeapwiseAnalysis
import HeapwiseFormat
import Testing

@Suite struct StackMetricsTests {
  @Test func twoSitesLiveTogetherAtThePeak() {
    var s = EventScript()
    s.alloc(0x100, 100, stack: 1)
    s.alloc(0x200, 25, stack: 2)   // peak: 125
    s.free(0x100)
    s.alloc(0x300, 60, stack: 3)   // 85 < 125: not a new peak
    s.free(0x200)
    s.end()
    let (replay, m) = s.replay()
    #expect(replay.state.peakBytes == 125)
    #expect(replay.state.peakBlocks == 2)
    #expect(m.at(1).peakBytes == 100 && m.at(1).peakBlocks == 1)
    #expect(m.at(2).peakBytes == 25)
    #expect(m.at(3).peakBytes == 0)
    #expect(m.at(3).liveBytes == 60 && m.at(1).liveBytes == 0 && m.at(2).liveBytes == 0)
    #expect(replay.state.liveBytes == 60)
  }

  /// A stray stack id (a damaged dump's, up to ReaderLimits.stackIDLead past its STACK records)
  /// costs one entry, not one per id below it: the table holds the stacks used, in id order, and
  /// a marker's snapshot the same.
  @Test func aStrayStackIDCostsOneEntry() {
    var s = EventScript()
    s.alloc(0x100, 100, stack: 65_000)
    s.alloc(0x200, 25, stack: 2)
    s.marker("m")
    s.free(0x100)
    s.alloc(0x300, 7, stack: 1)
    s.end()
    let (_, m) = s.replay(markers: ["m"])
    #expect(m.counters.ids == [1, 2, 65_000])
    #expect(m.counters.values.map(\.allocatedBytes) == [7, 25, 100])
    #expect(m.at(65_000).peakBytes == 100 && m.at(65_000).liveBytes == 0 && m.at(3).isZero)
    let snapshot = m.snapshots["m"]!
    #expect(snapshot.counters.ids == [2, 65_000])
    let atMarker = m.counters(at: snapshot)
    #expect(atMarker.ids == [1, 2, 65_000])
    #expect(atMarker.values.map(\.liveBytes) == [0, 25, 100])
  }

  @Test func peakMovesToTheLaterHigherMoment() {
    var s = EventScript()
    s.alloc(0x100, 100, stack: 1)
    s.free(0x100)
    s.alloc(0x200, 70, stack: 2)
    s.alloc(0x300, 70, stack: 2)   // 140: the new peak
    s.alloc(0x400, 1, stack: 1)    // 141: newer still
    s.free(0x200)
    s.free(0x300)
    let (replay, m) = s.replay()
    #expect(replay.state.peakBytes == 141)
    #expect(m.at(1).peakBytes == 1)
    #expect(m.at(2).peakBytes == 140 && m.at(2).peakBlocks == 2)
  }

  @Test func leakedBlocksAndTotals() {
    var s = EventScript()
    for i in 0..<10 { s.alloc(0x1000 + UInt64(i) * 0x100, 48, stack: 7) }
    for i in 0..<5 { s.alloc(0x9000 + UInt64(i) * 0x100, 16, stack: 8); s.free(0x9000 + UInt64(i) * 0x100) }
    s.end()
    let (replay, m) = s.replay()
    #expect(m.at(7).liveBytes == 480 && m.at(7).liveBlocks == 10)
    #expect(m.at(7).allocations == 10 && m.at(7).allocatedBytes == 480)
    #expect(m.at(8).allocations == 5 && m.at(8).liveBytes == 0)
    #expect(replay.state.end != nil)
  }

  @Test func temporaryMeansFreedBeforeTheThreadAllocatesAgain() {
    var s = EventScript()
    s.alloc(0x100, 10, stack: 1)          // freed right away: temporary
    s.free(0x100)
    s.alloc(0x200, 20, stack: 2)          // another allocation follows: not temporary
    s.alloc(0x300, 30, stack: 3)
    s.free(0x200)
    s.alloc(0x400, 40, stack: 4, stream: 1)
    s.alloc(0x500, 50, stack: 5, stream: 2)   // another thread's allocation does not count
    s.free(0x400, stream: 2)                  // freed on another thread, still temporary
    s.alloc(0x600, 60, stack: 6)
    s.realloc(0x600, to: 0x700, 70, stack: 6) // a realloc's free is not a free for this purpose
    let (_, m) = s.replay()
    #expect(m.at(1).temporary == 1 && m.at(1).temporaryBytes == 10)
    #expect(m.at(2).temporary == 0)
    #expect(m.at(4).temporary == 1 && m.at(4).temporaryBytes == 40)
    #expect(m.at(6).temporary == 0)
  }

  /// operator delete and the C23 sized frees end a block as free does (format 1.1 codes).
  @Test func deleteAndSizedFreesCountAsTemporaryToo() {
    var s = EventScript()
    s.alloc(0x100, 10, stack: 1, function: .new)
    s.free(0x100, function: .new)
    s.alloc(0x200, 20, stack: 2)
    s.free(0x200, function: .freeSized)
    let (_, m) = s.replay()
    #expect(m.at(1).temporary == 1 && m.at(2).temporary == 1)
  }

  @Test func reallocChainCountsEachStepAndLeavesTheLastLive() {
    var s = EventScript()
    s.alloc(0x100, 16, stack: 1)
    s.realloc(0x100, to: 0x100, 32, stack: 2)
    s.realloc(0x100, to: 0x200, 64, stack: 3)
    s.realloc(0x200, to: 0x300, 128, stack: 4)
    let (replay, m) = s.replay()
    #expect(m.at(1).liveBytes == 0 && m.at(2).liveBytes == 0 && m.at(3).liveBytes == 0)
    #expect(m.at(4).liveBytes == 128 && m.at(4).liveBlocks == 1)
    #expect((1...4).map { m.at($0).allocations } == [1, 1, 1, 1])
    #expect(replay.state.peakBytes == 128)
    #expect(replay.state.liveBlocks == 1)
  }

  @Test func unmatchedFreesAreCountedAndIgnored() {
    var s = EventScript()
    s.free(0xdead)
    s.alloc(0x100, 8, stack: 1)
    s.free(0x100)
    s.free(0x100)
    s.free(0)
    let (replay, m) = s.replay()
    #expect(replay.state.unmatchedFrees == 2)
    #expect(m.at(1).liveBytes == 0 && replay.state.liveBytes == 0)
  }

  @Test func allocationOverALiveAddressDropsTheOldBlock() {
    var s = EventScript()
    s.alloc(0x100, 8, stack: 1)
    s.alloc(0x100, 9, stack: 2)
    let (replay, m) = s.replay()
    #expect(replay.state.overwrittenBlocks == 1)
    #expect(m.at(1).liveBytes == 0 && m.at(2).liveBytes == 9 && replay.state.liveBytes == 9)
  }

  @Test func partialMunmapSplitsAMapping() {
    var s = EventScript()
    s.mmap(0x10000, 0x4000, stack: 1)
    s.munmap(0x11000, 0x1000)             // the middle: two pieces remain
    let (r1, m1) = s.replay()
    #expect(m1.at(1).reservedBytes == 0x3000 && m1.at(1).liveBlocks == 1)
    #expect(r1.state.mappedBytes == 0x3000 && r1.state.mappedBlocks == 1)
    s.munmap(0x10000, 0x1000)
    s.munmap(0x12000, 0x2000)
    let (r2, m2) = s.replay()
    #expect(m2.at(1).reservedBytes == 0 && m2.at(1).liveBlocks == 0)
    #expect(r2.state.mappedBytes == 0 && r2.state.mappedBlocks == 0)
    #expect(r2.state.peakBytes == 0)  // never measured resident: a reservation is not live memory
  }

  @Test func oneMunmapAcrossSeveralMappings() {
    var s = EventScript()
    s.mmap(0x10000, 0x1000, stack: 1)
    s.mmap(0x11000, 0x1000, stack: 2)
    s.mmap(0x13000, 0x1000, stack: 3)
    s.mmap(0x20000, 0x1000, stack: 4, anonymous: false)  // a file mapping is not tracked
    s.munmap(0x10800, 0x3000)
    let (r, m) = s.replay()
    #expect(m.at(1).reservedBytes == 0x800 && m.at(2).reservedBytes == 0 && m.at(3).reservedBytes == 0x800)
    #expect(m.at(4).allocations == 0)
    #expect(r.state.mappedBytes == 0x1000 && r.state.mappedBlocks == 2)
  }

  @Test func emptyMappingCountsNothing() {
    var s = EventScript()
    s.mmap(0x10000, 0, stack: 1)
    let (r, m) = s.replay()
    #expect(r.state.mappedBlocks == 0 && m.at(1).allocations == 0)
  }

  @Test func mremapMovesAndResizes() {
    var s = EventScript()
    s.mmap(0x10000, 0x2000, stack: 1)
    s.mremap(0x10000, 0x2000, to: 0x40000, 0x8000, stack: 2)
    s.mremap(0x90000, 0x1000, to: 0xA0000, 0x1000, stack: 3)  // not a tracked mapping
    let (r, m) = s.replay()
    #expect(m.at(1).reservedBytes == 0 && m.at(2).reservedBytes == 0x8000)
    #expect(m.at(3).allocations == 0)
    #expect(r.state.mappedBytes == 0x8000)
  }

  /// A mapping counts what is resident: nothing until a residency snapshot says so, less after a
  /// purge (madvise, mprotect to PROT_NONE) or a partial unmap; the reserved length stays apart.
  @Test func mappingsCountTheirResidentPages() {
    var s = EventScript()
    s.mmap(0x100000, 256 * 4096, stack: 1)        // a reservation of 1 MiB
    s.alloc(0x500, 10_000, stack: 2)
    s.residency(0x100000, pages: 256, resident: Array(0..<64))  // 256 KiB touched
    s.marker("touched")
    s.residency(0x100000, pages: 256, resident: Array(0..<64))
    s.madvise(0x100000 + 16 * 4096, 16 * 4096)     // 64 KiB purged
    s.mprotect(0x100000 + 48 * 4096, 8 * 4096, protection: 0)  // 32 KiB decommitted
    s.mprotect(0x100000, 4096, protection: 1)      // read-only: still resident
    s.munmap(0x100000, 4 * 4096)                   // 16 KiB unmapped with the range
    let (r, m) = s.replay(markers: ["touched"])
    #expect(m.at(1).reservedBytes == 252 * 4096)
    #expect(m.at(1).liveBytes == (64 - 16 - 8 - 4) * 4096)
    #expect(r.state.mappedResidentBytes == 36 * 4096 && r.state.mappedBytes == 252 * 4096)
    #expect(r.state.liveBytes == 10_000 + 36 * 4096)
    // The peak was the snapshot's 256 KiB with the heap block, not the 1 MiB reserved.
    #expect(r.state.peakBytes == 10_000 + 64 * 4096)
    #expect(m.counters(at: m.snapshots["touched"]!)[1].liveBytes == 64 * 4096)
  }

  /// A mapping made by the malloc underneath (jemalloc's extents) is its footprint: not a site,
  /// not part of the peak, which is the one the summary reports too.
  @Test func theAllocatorsOwnMappingsAreNotThePrograms() {
    var s = EventScript()
    s.module(1, path: "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", base: 0x7000_0000, size: 0x10000)
    s.stack(1, [0x7000_0100])
    s.mmap(0x100000, 64 * 4096, stack: 1)
    s.residency(0x100000, pages: 64, resident: Array(0..<64))
    s.alloc(0x500, 1000, stack: 2)
    let (r, m) = s.replay()
    #expect(r.state.allocatorMappedBytes == 64 * 4096 && r.state.mappedBytes == 0)
    #expect(m.at(1).allocations == 0 && r.state.peakBytes == 1000)
  }

  @Test func markerSnapshotsKeepLiveAtThatMoment() {
    var s = EventScript()
    s.alloc(0x100, 100, stack: 1)
    s.marker("first")
    s.alloc(0x200, 50, stack: 2)
    s.free(0x100)
    s.marker("second")
    s.marker("first")   // a repeated name keeps its first snapshot
    let (_, m) = s.replay(markers: ["first", "second"])
    let first = m.counters(at: m.snapshots["first"]!)
    let second = m.counters(at: m.snapshots["second"]!)
    #expect(first[1].liveBytes == 100 && first[2].liveBytes == 0)
    #expect(second[1].liveBytes == 0 && second[2].liveBytes == 50)
    #expect(m.snapshots.count == 2)
  }

  @Test func extraAggregatorsSeeTheSameReplay() {
    final class Counter: ReplayAggregator {
      var allocated = 0, freed = 0, peaks = 0
      func allocated(_ block: LiveBlock, address: UInt64, kind: BlockKind, state: ReplayState) { allocated += 1 }
      func freed(_ block: LiveBlock, bytes: UInt64, whole: Bool, kind: BlockKind, by function: AllocatorFunction,
                 state: ReplayState) { freed += 1 }
      func reachedPeak(state: ReplayState) { peaks += 1 }
    }
    var s = EventScript()
    s.alloc(0x100, 1, stack: 1)
    s.alloc(0x200, 1, stack: 1)
    s.free(0x100)
    let c = Counter()
    _ = s.replay(extra: [c])
    #expect(c.allocated == 2 && c.freed == 1 && c.peaks == 2)
  }
}
