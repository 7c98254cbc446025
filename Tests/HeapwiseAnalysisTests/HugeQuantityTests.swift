// Sizes and ids that a crafted dump can carry (issue 10, item 7): the analyses count pages as
// ranges, cap live memory at what an address space can hold, and never trap on a sum.
import HeapwiseFormat
import HeapwiseReports
import HeapwiseSymbols
import TestSupport
import Testing

@testable import HeapwiseAnalysis

@Suite struct HugeQuantityTests {
  /// A 2^48-byte block is 2^36 pages: once walked one by one (minutes), now one subtraction.
  @Test func aHugeBlockIsCountedAsARange() throws {
    let base: UInt64 = 0x5555_0010_0000
    let blocks: [HeapLayout.Block] = [(base, 1 << 48, StackID(1)), (base + 5 * 4096 + 10, 4096, StackID(2))]
    let layouts = try finishing(within: 60) {
      HeapLayout.layouts(blocks: blocks, executableEnd: 0x5555_0000_0000, pageSize: 4096)
    }
    let layout = try #require(layouts.first)
    #expect(layout.pinnedPages == 1 << 36)
    #expect(layout.byStack.first { $0.stack == StackID(1) }?.pages == 1 << 36)
    #expect(layout.byStack.first { $0.stack == StackID(2) }?.pages == 2)
    // Residency of a region over part of it: counted from the bitmap, not page by page.
    let start = base + (1 << 47)
    let region = ResidencyRegion(timestamp: 0, stream: .process, start: start, pages: 20, kind: 0,
                                 bitmap: [0b1010_1010, 0xff, 0b0000_0011])
    let counts = layout.countPages(groups: 2, group: { $0 == StackID(1) ? 0 : 1 }, regions: [region])
    #expect(counts.residentPinned == 4 + 8 + 2)
    #expect(counts.groups[0].resident == 14 && counts.groups[1].resident == 0)
  }

  @Test func residentPagesMatchAPageByPageCount() {
    // Random blocks and two overlapping regions against the definition, page by page.
    var rng = SplitMix(seed: 10)
    let page: UInt64 = 4096
    let base: UInt64 = 0x5555_0010_0000
    var blocks: [HeapLayout.Block] = []
    var address = base
    for _ in 0..<300 {
      address += rng.next() % 3000
      let size = 1 + rng.next() % 9000
      blocks.append((address, size, StackID(UInt32(rng.next() % 4))))
      address += size
    }
    let regions = [
      ResidencyRegion(timestamp: 0, stream: .process, start: base, pages: 200, kind: 0,
                      bitmap: (0..<25).map { _ in UInt8(truncatingIfNeeded: rng.next()) }),
      ResidencyRegion(timestamp: 0, stream: .process, start: base + 150 * page + 100, pages: 400, kind: 0,
                      bitmap: (0..<50).map { _ in UInt8(truncatingIfNeeded: rng.next()) }),
    ]
    let layout = HeapLayout(kind: .main, blocks: blocks[...], pageSize: page)!
    let counts = layout.countPages(groups: 4, group: { Int($0.rawValue) }, regions: regions)
    // The definition: a page is resident if the first region (by start) that covers it says so.
    func resident(_ p: UInt64) -> Bool {
      for r in regions.sorted(by: { $0.start < $1.start }) {
        let first = (r.start + page - 1) / page
        if p >= first && p < first + UInt64(r.pages) { return r.isResident(page: Int(p - first)) }
      }
      return false
    }
    var pages = Set<UInt64>()
    var byGroup = [Set<UInt64>](repeating: [], count: 4)
    for b in blocks {
      for p in (b.address / page)...((b.address + b.size - 1) / page) {
        pages.insert(p)
        byGroup[Int(b.stack.rawValue)].insert(p)
      }
    }
    #expect(counts.pinned == pages.count)
    #expect(counts.residentPinned == pages.filter(resident).count)
    for g in 0..<4 {
      #expect(counts.groups[g].pages == byGroup[g].count)
      #expect(counts.groups[g].resident == byGroup[g].filter(resident).count)
    }
  }

  /// Overlapping blocks, each possible, that add up past 2^64: the replay stops at 2^58 live
  /// bytes and counts the rest as impossible; the summary's sums then cannot overflow.
  @Test func liveMemoryIsCappedAndTheSummaryDoesNotTrap() throws {
    var script = EventScript()
    for i in 0..<300 as Range<UInt64> { script.alloc(0x5555_0010_0000 + i * 16, 1 << 56, stack: 1) }
    // Sample figures at the reader's limit (RSS, mallinfo arena, hblkhd, uordblks).
    script.now += 10
    script.events.append(Event(timestamp: script.now, stream: .process, record: .sample(SampleRecord(
      values: [2, 20, 23, 24].map { SampleRecord.Value(key: $0, value: 1 << 57) }))))
    script.end()
    let aggregator = SummaryAggregator()
    let replay = Replay(aggregators: [aggregator])
    var source = EventList(script.events)
    replay.run(&source)
    #expect(replay.state.heapBytes == Replay.maxLiveBytes)
    #expect(replay.state.impossibleBlocks == 296)
    let header = DumpHeader(pid: 1, executable: "/app", arguments: ["app"])
    let data = aggregator.data(replay: replay, header: header)
    let resolver = FrameResolver(state: replay.state, symbolizer: Symbolizer(options: SymbolizerOptions()))
    let report = SummaryReport(data: data, header: header, site: SummarySite.namer(resolver))
    #expect(!report.renderText(timeline: true, title: "x").isEmpty)
  }
}
