// Live anonymous mappings as sorted, non-overlapping address ranges. munmap may cut a mapping's
// middle (two pieces remain) or cover several mappings at once; mmap with MAP_FIXED replaces
// whatever it overlaps. Mappings are few next to heap blocks, so a sorted array is enough.
//
// Each piece also knows which of its pages are resident (`ResidentPages`): a mapping counts by
// what is resident, its length is only what it reserved.

struct MappingTable {
  struct Piece {
    var start: UInt64
    var end: UInt64
    /// The mapping's allocation; `block.size` is the mapping's original length.
    var block: LiveBlock
    var resident: ResidentPages
  }

  /// What an unmap took away from one mapping.
  struct Removal {
    var block: LiveBlock
    var bytes: UInt64
    /// Resident bytes among them.
    var residentBytes: UInt64
    /// True when no piece of the mapping is left.
    var whole: Bool
  }

  private(set) var pieces: [Piece] = []
  /// Pieces left per mapping (by allocation serial), to tell a partial unmap from a whole one.
  private var pieceCount: [UInt64: Int] = [:]
  let pageSize: UInt64

  init(pageSize: UInt64 = 4096) { self.pageSize = Swift.max(pageSize, 1) }

  var isEmpty: Bool { pieces.isEmpty }

  private func pages(_ start: UInt64, _ end: UInt64) -> Int { pagesSpanned(end - start) }

  /// Pages that `bytes` from a page boundary touch, without overflowing near 2^64.
  private func pagesSpanned(_ bytes: UInt64) -> Int {
    Int(clamping: bytes / pageSize + (bytes % pageSize == 0 ? 0 : 1))
  }

  /// The pages of `piece` that [from, to) touches, in part or whole, clamped to the pages the
  /// piece keeps. A piece's pages count from its own start; real mappings start on page
  /// boundaries, but a damaged dump's unaligned cuts can leave a piece spanning more pages of its
  /// own grid than it kept, and a range past them is empty, not a trap.
  private func pageRange(_ p: Piece, _ from: UInt64, _ to: UInt64) -> Range<Int> {
    let first = Swift.min(Int(clamping: (from - p.start) / pageSize), p.resident.pages)
    let last = Swift.min(pagesSpanned(to - p.start), p.resident.pages)
    return first..<Swift.max(first, last)
  }

  /// Index of the first piece whose end is above `address`.
  private func firstEnding(after address: UInt64) -> Int {
    var lo = 0, hi = pieces.count
    while lo < hi {
      let mid = (lo + hi) / 2
      if pieces[mid].end <= address { lo = mid + 1 } else { hi = mid }
    }
    return lo
  }

  mutating func insert(start: UInt64, length: UInt64, block: LiveBlock, replaced: (Removal) -> Void) {
    guard length > 0 else { return }
    let end = Self.end(start, length)
    remove(start: start, length: length, removed: replaced)
    let i = firstEnding(after: start)
    pieces.insert(Piece(start: start, end: end, block: block, resident: ResidentPages(pages: pages(start, end))), at: i)
    pieceCount[block.serial] = 1
  }

  /// Removes [start, start + length) from every mapping it overlaps.
  mutating func remove(start: UInt64, length: UInt64, removed: (Removal) -> Void) {
    guard length > 0, !pieces.isEmpty else { return }
    let end = Self.end(start, length)
    var i = firstEnding(after: start)
    while i < pieces.count && pieces[i].start < end {
      let p = pieces[i]
      let cutStart = max(p.start, start), cutEnd = min(p.end, end)
      let bytes = cutEnd - cutStart
      let serial = p.block.serial
      let cutPages = pageRange(p, cutStart, cutEnd)
      var replacement: [Piece] = []
      if p.start < cutStart {
        replacement.append(
          Piece(start: p.start, end: cutStart, block: p.block, resident: p.resident.slice(0..<cutPages.lowerBound)))
      }
      if cutEnd < p.end {
        replacement.append(
          Piece(start: cutEnd, end: p.end, block: p.block, resident: p.resident.slice(cutPages.upperBound..<p.resident.pages)))
      }
      pieces.replaceSubrange(i..<(i + 1), with: replacement)
      let left = (pieceCount[serial] ?? 1) - 1 + replacement.count
      if left == 0 { pieceCount[serial] = nil } else { pieceCount[serial] = left }
      let resident = UInt64(p.resident.count(in: cutPages)) * pageSize
      removed(Removal(block: p.block, bytes: bytes, residentBytes: Swift.min(resident, bytes), whole: left == 0))
      i += replacement.count
    }
  }

  /// Indices of the pieces that overlap [start, end): pieces are sorted and disjoint, so they
  /// are consecutive.
  private func overlapping(_ start: UInt64, _ end: UInt64) -> Range<Int> {
    var i = firstEnding(after: start)
    let first = i
    while i < pieces.count && pieces[i].start < end { i += 1 }
    return first..<i
  }

  /// The end of [start, start + length), saturated at the top of the address space.
  private static func end(_ start: UInt64, _ length: UInt64) -> UInt64 {
    start &+ length < start ? UInt64.max : start &+ length
  }

  /// Pages of piece `i` that [start, end) touches, in part or whole.
  private func touchedPages(_ i: Int, _ start: UInt64, _ end: UInt64) -> Range<Int> {
    let p = pieces[i]
    return pageRange(p, max(p.start, start), min(p.end, end))
  }

  /// Applies one region of a residency snapshot (bit i of `bitmap` = page i from `start`) to the
  /// pieces it covers; `changed` gets each piece's block and its change in resident bytes.
  mutating func setResidency(
    start: UInt64, pages count: Int, bitmap: [UInt8], changed: (LiveBlock, Int64) -> Void
  ) {
    guard count > 0, !pieces.isEmpty else { return }
    let (span, over) = UInt64(count).multipliedReportingOverflow(by: pageSize)
    let end = over ? UInt64.max : Self.end(start, span)
    for i in overlapping(start, end) {
      let p = pieces[i]
      let from = max(p.start, start), to = min(p.end, end)
      // Pages of the piece that the region covers, and where they start in the region's bitmap.
      let firstPage = pagesSpanned(from - p.start)
      let lastPage = Swift.min(pagesSpanned(to - p.start), p.resident.pages)
      var delta = 0
      if firstPage < lastPage {
        let regionPage = Int((p.start + UInt64(firstPage) * pageSize - start) / pageSize)
        delta = bitmap.withUnsafeBufferPointer { pieces[i].resident.assign(firstPage..<lastPage, from: $0, bitOffset: regionPage) }
      }
      if delta != 0 { changed(p.block, Int64(delta) * Int64(pageSize)) }
    }
  }

  /// Marks [start, start + length) not resident (madvise purge, mprotect to PROT_NONE).
  /// A page the range touches in part counts as purged: the kernel rounds a purge's start down
  /// and its end up.
  mutating func clearResidency(start: UInt64, length: UInt64, changed: (LiveBlock, Int64) -> Void) {
    guard length > 0, !pieces.isEmpty else { return }
    let end = Self.end(start, length)
    for i in overlapping(start, end) {
      let cleared = pieces[i].resident.clear(touchedPages(i, start, end))
      if cleared > 0 { changed(pieces[i].block, -Int64(cleared) * Int64(pageSize)) }
    }
  }

  /// Resident bytes of the pieces that overlap [start, start + length) (for an mremap that
  /// moves them).
  func residentBytes(start: UInt64, length: UInt64) -> UInt64 {
    let end = Self.end(start, length)
    var total: UInt64 = 0
    for i in overlapping(start, end) { total += UInt64(pieces[i].resident.count(in: touchedPages(i, start, end))) * pageSize }
    return total
  }

  /// Marks the first `bytes` of the piece at `start` resident (an mremap carries the pages it
  /// moved; where they sit inside the new range is not known, the count is).
  mutating func markResident(start: UInt64, bytes: UInt64, changed: (LiveBlock, Int64) -> Void) {
    let i = firstEnding(after: start)
    guard i < pieces.count, pieces[i].start == start else { return }
    let n = Swift.min(Int(clamping: bytes / pageSize), pieces[i].resident.pages)
    let delta = pieces[i].resident.fill(0..<n)
    if delta != 0 { changed(pieces[i].block, Int64(delta) * Int64(pageSize)) }
  }
}
