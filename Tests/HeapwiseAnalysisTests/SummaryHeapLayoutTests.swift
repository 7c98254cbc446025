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
          (0x7f00_0000_0000, 1 << 20, b),  // an mmapped chunk, terabytes higher
        ]
    let layout = try #require(HeapLayout(blocks: blocks, executableEnd: exeEnd, pageSize: page))
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
    #expect(HeapLayout(blocks: [(0x7f00_0000_0000, 64, StackID(1))], executableEnd: 0x7f00_0000_1000, pageSize: page) == nil)
    #expect(HeapLayout(blocks: [], executableEnd: 0, pageSize: page) == nil)
  }

  @Test func pinningEvidence() {
    let pinning = HeapPinning(
      pageSize: 4096, spanPages: 16_384, pinnedPages: 10_000, blocks: 10_000, topSize: 100,
      topSite: "fill_site (frag.c:17)",
      sites: [
        HeapPinning.Site(site: "fill_site (frag.c:17)", blocks: 9_990, bytes: 999_000, pages: 9_990),
        HeapPinning.Site(site: "misc (x.c:1)", blocks: 10, bytes: 1000, pages: 10),
      ])
    #expect(pinning.evidence == [
      "10,000 live blocks in the brk heap overlap 10,000 of its 16,384 pages (39.1 MiB): freed memory in those pages stays resident even after malloc_trim(0)",
      "  fill_site (frag.c:17): 9,990 blocks (100 B on average) in 9,990 pages",
      "free() cannot shrink the heap: its highest live block (100 B from fill_site (frag.c:17)) sits 64.0 MiB above its lowest; only malloc_trim(0) returns the free pages in between",
    ])
  }
}
