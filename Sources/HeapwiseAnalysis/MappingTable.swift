// Live anonymous mappings as sorted, non-overlapping address ranges. munmap may cut a mapping's
// middle (two pieces remain) or cover several mappings at once; mmap with MAP_FIXED replaces
// whatever it overlaps. Mappings are few next to heap blocks, so a sorted array is enough.

struct MappingTable {
  struct Piece {
    var start: UInt64
    var end: UInt64
    /// The mapping's allocation; `block.size` is the mapping's original length.
    var block: LiveBlock
  }

  /// What an unmap took away from one mapping.
  struct Removal {
    var block: LiveBlock
    var bytes: UInt64
    /// True when no piece of the mapping is left.
    var whole: Bool
  }

  private(set) var pieces: [Piece] = []
  /// Pieces left per mapping (by allocation serial), to tell a partial unmap from a whole one.
  private var pieceCount: [UInt64: Int] = [:]

  var isEmpty: Bool { pieces.isEmpty }

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
    let end = start &+ length
    remove(start: start, length: length, removed: replaced)
    let i = firstEnding(after: start)
    pieces.insert(Piece(start: start, end: end, block: block), at: i)
    pieceCount[block.serial] = 1
  }

  /// Removes [start, start + length) from every mapping it overlaps.
  mutating func remove(start: UInt64, length: UInt64, removed: (Removal) -> Void) {
    guard length > 0, !pieces.isEmpty else { return }
    let end = start &+ length < start ? UInt64.max : start &+ length
    var i = firstEnding(after: start)
    while i < pieces.count && pieces[i].start < end {
      let p = pieces[i]
      let cutStart = max(p.start, start), cutEnd = min(p.end, end)
      let bytes = cutEnd - cutStart
      let serial = p.block.serial
      var replacement: [Piece] = []
      if p.start < cutStart { replacement.append(Piece(start: p.start, end: cutStart, block: p.block)) }
      if cutEnd < p.end { replacement.append(Piece(start: cutEnd, end: p.end, block: p.block)) }
      pieces.replaceSubrange(i..<(i + 1), with: replacement)
      let left = (pieceCount[serial] ?? 1) - 1 + replacement.count
      if left == 0 { pieceCount[serial] = nil } else { pieceCount[serial] = left }
      removed(Removal(block: p.block, bytes: bytes, whole: left == 0))
      i += replacement.count
    }
  }
}
