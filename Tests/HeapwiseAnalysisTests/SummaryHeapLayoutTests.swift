import HeapwiseFormat
import Testing

@testable import HeapwiseAnalysis

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
