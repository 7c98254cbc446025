// Which pages of one mapping piece are resident, as far as the dump says: set from the
// recorder's mincore snapshots (RESIDENCY records), cleared by madvise purges and mprotect to
// PROT_NONE, never set by a mapping call alone (an mmap reserves; only a touch makes a page
// resident). One bit a page: a 1 GiB reservation costs 32 KiB here.

struct ResidentPages: Sendable, Hashable {
  private var words: [UInt64]
  let pages: Int
  private(set) var count = 0

  init(pages: Int) {
    self.pages = pages
    words = pages == 0 ? [] : Array(repeating: 0, count: (pages + 63) / 64)
  }

  func isSet(_ i: Int) -> Bool { words[i >> 6] & (1 << UInt64(i & 63)) != 0 }

  /// Sets page `i` to `resident`; returns the change in resident pages (-1, 0, 1).
  @inline(__always)
  mutating func set(_ i: Int, _ resident: Bool) -> Int {
    let bit: UInt64 = 1 << UInt64(i & 63)
    let was = words[i >> 6] & bit != 0
    guard was != resident else { return 0 }
    words[i >> 6] ^= bit
    count += resident ? 1 : -1
    return resident ? 1 : -1
  }

  /// Sets pages `range` from `bitmap` (bit j of the bitmap, j = page - range.lowerBound +
  /// `bitOffset`); returns the change in resident pages. Word at a time: a snapshot of a 1 GiB
  /// region is 262,144 pages.
  mutating func assign(_ range: Range<Int>, from bitmap: UnsafeBufferPointer<UInt8>, bitOffset: Int) -> Int {
    var delta = 0
    var i = range.lowerBound
    @inline(__always) func bits(at bit: Int, count: Int) -> UInt64 {
      // Up to 64 bits from the bitmap starting at `bit`.
      var v: UInt64 = 0
      let firstByte = bit >> 3, shift = bit & 7
      let needed = (shift + count + 7) >> 3
      for k in 0..<Swift.min(needed, 9) where firstByte + k < bitmap.count {
        let byte = UInt64(bitmap[firstByte + k])
        if k == 0 { v |= byte >> UInt64(shift) } else { v |= byte << UInt64(8 * k - shift) }
      }
      return count == 64 ? v : v & ((1 << UInt64(count)) - 1)
    }
    while i < range.upperBound {
      let w = i >> 6, offset = i & 63
      let n = Swift.min(64 - offset, range.upperBound - i)
      let mask: UInt64 = (n == 64 ? ~0 : ((1 << UInt64(n)) - 1)) << UInt64(offset)
      let incoming = bits(at: i - range.lowerBound + bitOffset, count: n) << UInt64(offset)
      let old = words[w] & mask
      if old != incoming {
        delta += incoming.nonzeroBitCount - old.nonzeroBitCount
        words[w] = (words[w] & ~mask) | incoming
      }
      i += n
    }
    count += delta
    return delta
  }

  /// Clears pages `range`; returns how many were set.
  mutating func clear(_ range: Range<Int>) -> Int {
    var cleared = 0
    var i = range.lowerBound
    while i < range.upperBound {
      if i & 63 == 0 && i + 64 <= range.upperBound {
        let bits = words[i >> 6].nonzeroBitCount
        cleared += bits
        count -= bits
        words[i >> 6] = 0
        i += 64
      } else {
        cleared -= set(i, false)
        i += 1
      }
    }
    return cleared
  }

  /// Resident pages in `range`.
  func count(in range: Range<Int>) -> Int {
    var n = 0
    for i in range where isSet(i) { n += 1 }
    return n
  }

  /// The pages `range` as a piece of their own.
  func slice(_ range: Range<Int>) -> ResidentPages {
    var out = ResidentPages(pages: range.count)
    guard count > 0 else { return out }
    for i in range where isSet(i) { _ = out.set(i - range.lowerBound, true) }
    return out
  }
}
