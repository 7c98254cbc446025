import HeapwiseFormat
import TestSupport
import Testing

@testable import HeapwiseAnalysis

private let MiB: UInt64 = 1 << 20

struct SummaryRSSSplitTests {
  @Test func glibcSplitAddsUp() throws {
    let sample = MemorySample(
      rss: 100 * MiB, fileRSS: 10 * MiB, recorderBytes: 2 * MiB,
      allocator: .glibc(GlibcMallinfo(arena: 80 * MiB, hblkhd: 0, uordblks: 30 * MiB, fordblks: 50 * MiB)))
    let split = try #require(RSSSplit(sample: sample, liveHeap: 20 * MiB, liveBlocks: 7, mapped: 5 * MiB))
    #expect(split.liveHeap.bytes == 20 * MiB)
    #expect(split.mapped.bytes == 5 * MiB)
    // arena + hblkhd - live = 60 MiB; fits in the 63 MiB of anonymous memory left.
    #expect(split.allocatorHeld?.bytes == 60 * MiB)
    #expect(split.otherDetail.map(\.part.bytes) == [10 * MiB, 2 * MiB, 3 * MiB])
    #expect(split.other.bytes == 15 * MiB)
    #expect(split.sum == split.rss.bytes)
    #expect(split.notes.isEmpty)
    #expect(split.liveHeap.method.contains("7 blocks"))
  }

  /// A pandas job with pyarrow: Arrow's bundled mimalloc reserves 1 GiB it never touches. Mappings
  /// arrive by their resident pages; the reservation is only a note, and the pool's resident pages
  /// are a part of their own.
  @Test func untouchedReservationDoesNotHideTheLiveHeap() throws {
    let sample = MemorySample(
      rss: 128 * MiB, fileRSS: 65 * MiB, recorderBytes: 5 * MiB,
      allocator: .glibc(GlibcMallinfo(arena: 20 * MiB, hblkhd: 0, uordblks: 20 * MiB, fordblks: 0)))
    let split = try #require(
      RSSSplit(
        sample: sample, liveHeap: 20 * MiB, liveBlocks: 133_419, mapped: 3 * MiB, privateResident: [.arrow: 30 * MiB],
        reserved: 1_100 * MiB))
    #expect(split.liveHeap.bytes == 20 * MiB)
    #expect(split.privateAllocators.map(\.allocator) == [.arrow] && split.privateBytes == 30 * MiB)
    #expect(split.mapped.bytes == 3 * MiB)
    #expect(split.notes.contains { $0.contains("reserve 1.1 GiB of address space") })
    #expect(split.sum == split.rss.bytes)
  }

  @Test func trimmedPagesInFordblksAreNotCountedResident() throws {
    // After malloc_trim, fordblks still counts 300 MiB that the kernel no longer holds.
    let sample = MemorySample(
      rss: 50 * MiB, fileRSS: 5 * MiB, recorderBytes: 0,
      allocator: .glibc(GlibcMallinfo(arena: 330 * MiB, hblkhd: 0, uordblks: 30 * MiB, fordblks: 300 * MiB)))
    let split = try #require(RSSSplit(sample: sample, liveHeap: 25 * MiB, liveBlocks: 1, mapped: 0))
    #expect(split.allocatorHeld?.bytes == 20 * MiB)
    #expect(split.otherDetail.last?.part.bytes == 0)
    #expect(split.notes.count == 1)
    #expect(split.notes[0].hasPrefix("285 MiB that the allocator counts as its own is not resident"))
    #expect(split.sum == split.rss.bytes)
  }

  /// A sample without allocator statistics in a dump whose allocator answered elsewhere says the
  /// statistics were not read then, not that the allocator is unknown (a glibc pandas job's peak).
  @Test func allocatorStatisticsMissingFromOneSample() throws {
    let sample = MemorySample(rss: 64 * MiB, fileRSS: 4 * MiB, allocator: .unavailable)
    let unknown = try #require(RSSSplit(sample: sample, liveHeap: 30 * MiB, liveBlocks: 1, mapped: 0))
    #expect(unknown.notes.contains { $0.hasPrefix("Allocator statistics unavailable (not glibc") })
    let notRead = try #require(
      RSSSplit(sample: sample, liveHeap: 30 * MiB, liveBlocks: 1, mapped: 0, allocatorAnswers: true))
    #expect(notRead.allocatorHeld == nil)
    #expect(notRead.notes.contains { $0.hasPrefix("Allocator statistics were not read at this moment") })
    #expect(!notRead.notes.contains { $0.contains("not glibc") })
  }

  @Test func jemallocAndTcmalloc() throws {
    let je = MemorySample(
      rss: 64 * MiB, fileRSS: 4 * MiB,
      allocator: .jemalloc(JemallocStatistics(allocated: 30 * MiB, active: 32 * MiB, resident: 50 * MiB, retained: 90 * MiB, metadata: MiB)))
    let jeSplit = try #require(RSSSplit(sample: je, liveHeap: 30 * MiB, liveBlocks: 1, mapped: 0))
    #expect(jeSplit.allocatorHeld?.bytes == 20 * MiB)
    #expect(jeSplit.allocatorHeld?.method.contains("stats.resident") == true)
    let tc = MemorySample(
      rss: 64 * MiB, fileRSS: 4 * MiB,
      allocator: .tcmalloc(TcmallocStatistics(allocated: 30 * MiB, heapSize: 70 * MiB, pageheapFree: 10 * MiB, pageheapUnmapped: 30 * MiB)))
    let tcSplit = try #require(RSSSplit(sample: tc, liveHeap: 30 * MiB, liveBlocks: 1, mapped: 0))
    #expect(tcSplit.allocatorHeld?.bytes == 10 * MiB)
  }

  @Test func unknownAllocatorLeavesItsShareInOther() throws {
    let sample = MemorySample(rss: 64 * MiB, fileRSS: 4 * MiB)
    let split = try #require(RSSSplit(sample: sample, liveHeap: 30 * MiB, liveBlocks: 1, mapped: 0))
    #expect(split.allocatorHeld == nil)
    #expect(split.other.bytes == 34 * MiB)
    #expect(split.notes.first?.hasPrefix("Allocator statistics unavailable") == true)
    #expect(split.sum == split.rss.bytes)
  }

  @Test func untouchedBlocksAreCapped() throws {
    // calloc(1 GiB) never written: tracked as live, not resident.
    let sample = MemorySample(rss: 20 * MiB, fileRSS: 4 * MiB, allocator: .unavailable)
    let split = try #require(RSSSplit(sample: sample, liveHeap: 1024 * MiB, liveBlocks: 1, mapped: 0))
    #expect(split.liveHeap.bytes == 16 * MiB)
    #expect(split.notes.contains { $0.hasPrefix("1008 MiB of the live heap is not resident") })
  }

  @Test func partsAlwaysSumToRSS() throws {
    var rng = SplitMix(seed: 42)
    for _ in 0..<500 {
      let rss = rng.next() % (1 << 34)
      let stats: AllocatorStatistics =
        switch rng.next() % 3 {
        case 0: .unavailable
        case 1:
          .glibc(GlibcMallinfo(arena: rng.next() % (1 << 34), hblkhd: rng.next() % (1 << 30), uordblks: 0, fordblks: 0))
        default:
          .jemalloc(JemallocStatistics(allocated: 0, active: 0, resident: rng.next() % (1 << 34), retained: 0, metadata: 0))
        }
      let sample = MemorySample(
        rss: rss, fileRSS: rng.next() % (1 << 34), anonymous: nil,
        recorderBytes: rng.next() % (1 << 26), allocator: stats)
      let split = try #require(
        RSSSplit(sample: sample, liveHeap: rng.next() % (1 << 34), liveBlocks: 1, mapped: rng.next() % (1 << 33)))
      #expect(split.sum == rss)
    }
  }

  @Test func sampleRecordKeys() {
    func record(_ pairs: [(UInt64, UInt64)]) -> SampleRecord {
      SampleRecord(values: pairs.map { SampleRecord.Value(key: $0.0, value: $0.1) })
    }
    let glibc = MemorySample(
      record([(2, 1000), (3, 100), (12, 800), (20, 500), (23, 64), (24, 300), (25, 200), (27, 16), (40, 7), (99, 1)]))
    #expect(glibc.rss == 1000 && glibc.fileRSS == 100 && glibc.anonymous == 800 && glibc.recorderBytes == 7)
    #expect(glibc.allocator == .glibc(GlibcMallinfo(arena: 500, hblkhd: 64, uordblks: 300, fordblks: 200, fsmblks: 16)))
    let je = MemorySample(record([(10, 900), (30, 1), (31, 2), (32, 3), (33, 4), (34, 5), (35, 6)]))
    #expect(je.rss == 900)  // smaps_rollup Rss when statm is missing
    #expect(je.allocator == .jemalloc(JemallocStatistics(allocated: 1, active: 2, resident: 3, retained: 5, metadata: 6)))
    let tc = MemorySample(record([(36, 1), (37, 2), (38, 3), (39, 4)]))
    #expect(tc.allocator == .tcmalloc(TcmallocStatistics(allocated: 1, heapSize: 2, pageheapFree: 3, pageheapUnmapped: 4)))
    #expect(MemorySample(record([(2, 5)])).allocator == .unavailable)
  }
}
