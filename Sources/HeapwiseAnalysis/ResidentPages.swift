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
