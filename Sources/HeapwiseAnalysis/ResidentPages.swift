// Which pages of one mapping piece are resident, as far as the dump says: set from the
// recorder's mincore snapshots (RESIDENCY records), cleared by madvise purges and mprotect to
// PROT_NONE, never set by a mapping call alone (an mmap reserves; only a touch makes a page
// resident).
//
// Sparse: only the 64-page words that hold a resident page are stored, sorted by word. A
// mapping's length comes from the file (up to 2^57 bytes, ReaderLimits.maxBlockSize), so a
// structure sized by it is sized by one number in the file: a 297-byte dump with a 4 TiB MMAP
// took 128 MiB as a dense bitmap. A stored word needs a set bit, and a set bit comes from a
// RESIDENCY bitmap (8 bytes of bitmap at most fill one word) or is carried over from another
// piece by an mremap, so memory here is bounded by the bitmap bytes read (16 bytes a word).
// Every operation but `assign` walks stored words only, never the pages of a range, so no
// operation takes time in proportion to a length read from the file; `assign` walks the words of
// its range, which its bitmap covers (ResidencyRegion: pages <= 8 x bitmap bytes).

struct ResidentPages: Sendable, Hashable {
  /// Word index (page / 64) and its bits, sorted by index; no word is zero.
  private var indices: [Int] = []
  private var words: [UInt64] = []
  let pages: Int
  private(set) var count = 0

  init(pages: Int) { self.pages = pages }

  /// Position of the first stored word with index >= `word`.
  private func position(ofWord word: Int) -> Int { indices.lowerBound(of: word) }

  /// Positions of the stored words that hold any of pages `range`.
  private func positions(_ range: Range<Int>) -> Range<Int> {
    guard !range.isEmpty else { return 0..<0 }
    return position(ofWord: range.lowerBound >> 6)..<position(ofWord: ((range.upperBound - 1) >> 6) + 1)
  }

  /// The bits of word `word` that lie in pages `range`.
  @inline(__always)
  private static func mask(word: Int, _ range: Range<Int>) -> UInt64 {
    let lo = Swift.max(range.lowerBound - word << 6, 0), hi = Swift.min(range.upperBound - word << 6, 64)
    guard lo < hi else { return 0 }
    let n = hi - lo
    return (n == 64 ? ~0 : ((1 << UInt64(n)) - 1)) << UInt64(lo)
  }

  func isSet(_ i: Int) -> Bool {
    let p = position(ofWord: i >> 6)
    return p < indices.count && indices[p] == i >> 6 && words[p] & (1 << UInt64(i & 63)) != 0
  }

  /// Sets pages `range` from `bitmap` (bit j of the bitmap, j = page - range.lowerBound +
  /// `bitOffset`); returns the change in resident pages. Word at a time: a snapshot of a 1 GiB
  /// region is 262,144 pages.
  mutating func assign(_ range: Range<Int>, from bitmap: UnsafeBufferPointer<UInt8>, bitOffset: Int) -> Int {
    guard !range.isEmpty else { return 0 }
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
    // The words of the range, merged with the stored ones there, replace those.
    let old = positions(range)
    var newIndices: [Int] = [], newWords: [UInt64] = []
    var p = old.lowerBound
    var delta = 0
    var i = range.lowerBound
    while i < range.upperBound {
      let w = i >> 6, offset = i & 63
      let n = Swift.min(64 - offset, range.upperBound - i)
      let mask: UInt64 = (n == 64 ? ~0 : ((1 << UInt64(n)) - 1)) << UInt64(offset)
      let incoming = bits(at: i - range.lowerBound + bitOffset, count: n) << UInt64(offset)
      let stored = p < old.upperBound && indices[p] == w ? words[p] : 0
      if p < old.upperBound && indices[p] == w { p += 1 }
      delta += incoming.nonzeroBitCount - (stored & mask).nonzeroBitCount
      let merged = (stored & ~mask) | incoming
      if merged != 0 {
        newIndices.append(w)
        newWords.append(merged)
      }
      i += n
    }
    indices.replaceSubrange(old, with: newIndices)
    words.replaceSubrange(old, with: newWords)
    count += delta
    return delta
  }

  /// Sets pages `range`; returns how many were not set before. Walks the words of the range:
  /// the caller bounds it by pages already counted resident (an mremap's moved pages).
  mutating func fill(_ range: Range<Int>) -> Int {
    guard !range.isEmpty else { return 0 }
    let ones = [UInt8](repeating: 0xff, count: (range.count + 7) / 8)
    return ones.withUnsafeBufferPointer { assign(range, from: $0, bitOffset: 0) }
  }

  /// Clears pages `range`; returns how many were set.
  mutating func clear(_ range: Range<Int>) -> Int {
    let at = positions(range)
    var cleared = 0
    var keep = at.lowerBound
    for p in at {
      let m = Self.mask(word: indices[p], range)
      cleared += (words[p] & m).nonzeroBitCount
      let rest = words[p] & ~m
      if rest != 0 {
        indices[keep] = indices[p]
        words[keep] = rest
        keep += 1
      }
    }
    indices.removeSubrange(keep..<at.upperBound)
    words.removeSubrange(keep..<at.upperBound)
    count -= cleared
    return cleared
  }

  /// Resident pages in `range`.
  func count(in range: Range<Int>) -> Int {
    var n = 0
    for p in positions(range) { n += (words[p] & Self.mask(word: indices[p], range)).nonzeroBitCount }
    return n
  }

  /// The pages `range` as a piece of their own.
  func slice(_ range: Range<Int>) -> ResidentPages {
    var out = ResidentPages(pages: range.count)
    let shift = range.lowerBound
    // Each stored bit moves down by `shift` pages: a word splits across at most two words.
    for p in positions(range) {
      var bits = words[p] & Self.mask(word: indices[p], range)
      while bits != 0 {
        let page = indices[p] << 6 + bits.trailingZeroBitCount - shift
        let w = page >> 6
        let moved = (words[p] & Self.mask(word: indices[p], (w << 6 + shift)..<((w + 1) << 6 + shift)))
          & Self.mask(word: indices[p], range)
        // The bits of this word that land in output word w.
        let offset = (w << 6 + shift) - indices[p] << 6
        let shifted = offset >= 0 ? moved >> UInt64(offset) : moved << UInt64(-offset)
        if let last = out.indices.last, last == w {
          out.words[out.words.count - 1] |= shifted
        } else {
          out.indices.append(w)
          out.words.append(shifted)
        }
        out.count += moved.nonzeroBitCount
        bits &= ~moved
      }
    }
    return out
  }
}
