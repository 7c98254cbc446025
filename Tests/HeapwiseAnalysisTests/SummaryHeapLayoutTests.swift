import HeapwiseFormat
import Testing

@testable import HeapwiseAnalysis
import HeapwiseReports

struct SummaryHeapLayoutTests {
  let page: UInt64 = 4096
  let exeEnd: UInt64 = 0x5555_0000_0000

  @Test func pagesTopAndShares() throws {
    let a = StackID(1)
    let b = StackID(2)
    let base = exeEnd + 0x10_0000
    let blocks: [(address: UInt64, size: UInt64, stack: StackID)] = [
          (base, 100, a),  // page 0
          (base + 200, 100, a),  // page 0 again
          (base + 4090, 100, b),  // straddles pages 0 and 1
          (base + 10 * 4096, 16, a),  // page 10: the top
          (exeEnd - 64, 32, b),  // below the executable's end: not the brk heap
          (0x7f00_0000_0010, 1 << 20, b),  // an mmapped chunk (page + 16), terabytes higher
        ]
    let layouts = HeapLayout.layouts(blocks: blocks, executableEnd: exeEnd, pageSize: page)
    #expect(layouts.count == 1)  // the mmapped chunk is no heap
    let layout = try #require(layouts.first)
    #expect(layout.kind == .main)
    #expect(layout.blocks == 4)
    #expect(layout.bytes == 316)
    #expect(layout.pinnedPages == 3)
    #expect(layout.low == base && layout.high == base + 10 * 4096 + 16)
    #expect(layout.top.address == base + 10 * 4096 && layout.top.stack == a)
    #expect(layout.byStack.map(\.stack) == [a, b])
    #expect(layout.byStack[0].pages == 2 && layout.byStack[0].blocks == 3)
    #expect(layout.byStack[1].pages == 2 && layout.byStack[1].blocks == 1)
  }

  @Test func nothingInTheHeap() {
    #expect(HeapLayout.layouts(blocks: [(0x7f00_0000_0000, 64, StackID(1))], executableEnd: 0x7f00_0000_1000, pageSize: page).isEmpty)
    #expect(HeapLayout.layouts(blocks: [], executableEnd: 0, pageSize: page).isEmpty)
  }

  @Test func threadArenasAreSeparateHeaps() {
    let s = StackID(3)
    let arenaA: UInt64 = 0x7f12_0400_0000  // 64 MiB-aligned
    let arenaB: UInt64 = 0x7f12_0800_0000
    let blocks: [(address: UInt64, size: UInt64, stack: StackID)] = [
      (exeEnd + 0x1000, 32, s),
      (arenaA + 0x8b0, 400, s), (arenaA + 0x100_0000, 400, s),
      (arenaB + 0x8b0, 400, s),
      (0x7f12_1000_0010, 1 << 20, s),  // an mmapped chunk: page + 16, 1 MiB
    ]
    let layouts = HeapLayout.layouts(blocks: blocks, executableEnd: exeEnd, pageSize: page)
    #expect(layouts.map(\.kind) == [.main, .threadArena, .threadArena])
    #expect(layouts[1].low == arenaA + 0x8b0 && layouts[1].blocks == 2)  // the wider arena first
    #expect(layouts[1].span == 0x100_0000 + 400 - 0x8b0)
    #expect(layouts[2].blocks == 1)
  }

  @Test func residencyFromTheExitSnapshot() throws {
    let s = StackID(4)
    let heapStart = exeEnd + 0x20_0000
    // Live blocks on pages 1 and 3 of an 8-page [heap]; pages 0..5 resident.
    let blocks: [(address: UInt64, size: UInt64, stack: StackID)] = [
      (heapStart + page + 16, 64, s), (heapStart + 3 * page + 100, 64, s),
    ]
    let layout = try #require(HeapLayout.layouts(blocks: blocks, executableEnd: exeEnd, pageSize: page).first)
    let heap = ResidencyRegion(timestamp: 1, stream: .process, start: heapStart, pages: 8, kind: 0, bitmap: [0b0011_1111])
    let stackArea = ResidencyRegion(timestamp: 1, stream: .process, start: 0x7ff0_0000_0000, pages: 8, kind: 1, bitmap: [0xff])
    let r = try #require(layout.residency(in: [stackArea, heap]))
    #expect(r.residentPages == 6)
    #expect(r.residentPinnedPages == 2)
    #expect(r.residentFreePages == 4)
    #expect(r.residentPinnedByStack[s] == 2)
    // Page 3 not resident: one pinned page left.
    let partly = ResidencyRegion(timestamp: 1, stream: .process, start: heapStart, pages: 8, kind: 0, bitmap: [0b0000_0011])
    #expect(layout.residency(in: [partly])?.residentPinnedPages == 1)
    #expect(layout.residency(in: [stackArea]) == nil)
  }

  @Test func residencyEvidence() {
    var heap = HeapPinning.Heap(kind: "main", spanPages: 100, pinnedPages: 40, blocks: 40, topSize: 100, topSite: "f (a.c:1)")
    heap.liveBytes = 4000
    heap.residentPages = 90
    heap.residentPinnedPages = 40
    var site = HeapPinning.Site(site: "f (a.c:1)", blocks: 40, bytes: 4000, pages: 40)
    site.residentPages = 40
    let pinning = HeapPinning(pageSize: 4096, heaps: [heap], sites: [site])
    #expect(pinning.evidence.prefix(3) == [
      "156 KiB of freed memory stays resident in the main heap because 40 surviving blocks keep a byte in 40 of its 90 resident pages: malloc_trim(0) cannot return those",
      "  f (a.c:1): 40 blocks (100 B on average) in 40 resident pages",
      "200 KiB more is resident in pages that hold no live block: malloc_trim(0) would return it",
    ])
  }

  @Test func pinningEvidence() {
    let pinning = HeapPinning(
      pageSize: 4096,
      heaps: [
        HeapPinning.Heap(kind: "main", spanPages: 16_384, pinnedPages: 10_000, blocks: 10_000, topSize: 100, topSite: "fill_site (frag.c:17)")
      ],
      sites: [
        HeapPinning.Site(site: "fill_site (frag.c:17)", blocks: 9_990, bytes: 999_000, pages: 9_990),
        HeapPinning.Site(site: "misc (x.c:1)", blocks: 10, bytes: 1000, pages: 10),
      ])
    #expect(pinning.evidence == [
      "10,000 live blocks in the main heap overlap 10,000 of 16,384 pages (39.1 MiB): freed memory in those pages stays resident even after malloc_trim(0)",
      "  fill_site (frag.c:17): 9,990 blocks (100 B on average) in 9,990 pages",
      "free() cannot shrink the main heap: its highest live block (100 B from fill_site (frag.c:17)) sits 64.0 MiB above its lowest; only malloc_trim(0) returns the free pages in between",
    ])
  }
}
