import HeapwiseFormat

/// The anonymous regions a program mapped itself and has not unmapped, by address, with the stack
/// that mapped each. munmap and mremap may cover part of a region or several regions.
struct MappedRegions {
  struct Region: Hashable {
    var start: UInt64
    var end: UInt64
    var stack: StackID
    var length: UInt64 { end - start }
  }

  /// Sorted by start, never overlapping.
  private(set) var regions: [Region] = []
  private(set) var bytes: UInt64 = 0

  /// Maps [start, start+length); whatever it overlaps is replaced (MAP_FIXED). Calls `changed` for
  /// each stack whose mapped bytes moved.
  mutating func map(
    start: UInt64, length: UInt64, stack: StackID, changed: (StackID, Int64) -> Void
  ) {
    guard length > 0 else { return }
    unmap(start: start, length: length, changed: changed)
    let region = Region(start: start, end: start &+ length, stack: stack)
    regions.insert(region, at: firstIndex(endingAfter: start))
    bytes += length
    changed(stack, Int64(length))
  }

  /// Unmaps [start, start+length), splitting regions it covers in part.
  mutating func unmap(start: UInt64, length: UInt64, changed: (StackID, Int64) -> Void) {
    guard length > 0 else { return }
    let end = start &+ length
    var i = firstIndex(endingAfter: start)
    while i < regions.count && regions[i].start < end {
      let r = regions[i]
      let cutStart = Swift.max(r.start, start)
      let cutEnd = Swift.min(r.end, end)
      let cut = cutEnd - cutStart
      bytes -= cut
      changed(r.stack, -Int64(cut))
      var pieces: [Region] = []
      if r.start < cutStart { pieces.append(Region(start: r.start, end: cutStart, stack: r.stack)) }
      if cutEnd < r.end { pieces.append(Region(start: cutEnd, end: r.end, stack: r.stack)) }
      regions.replaceSubrange(i...i, with: pieces)
      i += pieces.count
    }
  }

  /// The stack of the region containing `address`, if any.
  func stack(at address: UInt64) -> StackID? {
    let i = firstIndex(endingAfter: address)
    guard i < regions.count, regions[i].start <= address else { return nil }
    return regions[i].stack
  }

  /// Index of the first region whose end is above `address`.
  private func firstIndex(endingAfter address: UInt64) -> Int {
    var low = 0
    var high = regions.count
    while low < high {
      let mid = (low + high) / 2
      if regions[mid].end <= address { low = mid + 1 } else { high = mid }
    }
    return low
  }
}
