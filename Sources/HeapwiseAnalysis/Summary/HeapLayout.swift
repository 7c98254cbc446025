import HeapwiseFormat

/// Where the live blocks of one glibc heap sit at the end of the run: which pages they occupy and
/// which block is at the top. Freed memory in a page that still holds a live byte cannot be
/// returned to the kernel, not even by `malloc_trim(0)`; and `free` shrinks a heap only from its
/// top, down to its highest live block. So these are the blocks that pin retained memory.
///
/// Computed from addresses alone, without residency: a page counts as pinned when a live block
/// overlaps it, whether or not the kernel still holds it.
public struct HeapLayout: Sendable, Hashable {
  public enum Kind: String, Sendable, Hashable {
    /// The main arena's brk heap, right after the executable.
    case main
    /// A heap of a thread arena: a 64 MiB-aligned mapping of its own.
    case threadArena
  }

  /// Live blocks of one stack in the heap.
  public struct StackShare: Sendable, Hashable {
    public var stack: StackID
    public var blocks: Int
    public var bytes: UInt64
    /// Distinct pages its blocks overlap.
    public var pages: Int
  }

  public typealias Block = (address: UInt64, size: UInt64, stack: StackID)

  public var kind: Kind
  public var pageSize: UInt64
  /// Lowest live address and highest live end.
  public var low: UInt64
  public var high: UInt64
  public var blocks: Int
  public var bytes: UInt64
  /// Distinct pages overlapped by any live block.
  public var pinnedPages: Int
  /// The block with the highest address: the heap cannot shrink below its end.
  public var top: (address: UInt64, size: UInt64, stack: StackID)
  /// Sorted by pages, most first.
  public var byStack: [StackShare]
  /// The heap's live blocks in address order: pages are counted by walking them, so no set of
  /// pages is ever built (a heap of millions of blocks stays cheap).
  let sortedBlocks: [Block]

  public static func == (a: HeapLayout, b: HeapLayout) -> Bool {
    a.kind == b.kind && a.low == b.low && a.high == b.high && a.pinnedPages == b.pinnedPages
      && a.byStack == b.byStack && a.top.address == b.top.address
  }
  public func hash(into hasher: inout Hasher) {
    hasher.combine(low)
    hasher.combine(pinnedPages)
  }

  /// Bytes from the lowest live address to the highest live end.
  public var span: UInt64 { high - low }

  /// glibc's thread arenas allocate from heaps of HEAP_MAX_SIZE (64 MiB on 64-bit) aligned to
  /// their size; every block of one heap shares the address bits above.
  static let threadHeapBits: UInt64 = 26
  /// A chunk glibc mmapped on its own: page-aligned chunk, so the block starts 16 bytes into a page,
  /// and at least the default mmap threshold.
  static func isMmappedChunk(_ b: Block, pageSize: UInt64) -> Bool {
    b.address % pageSize == 16 && b.size >= 128 << 10
  }

  /// Lays out the live heap `blocks` into glibc's heaps: the main heap is the first cluster of
  /// blocks above the main executable's end (mmapped chunks and thread arenas sit near the shared
  /// libraries, terabytes higher, so a gap of 64 GiB ends it); every 64 MiB-aligned window above
  /// that holds blocks other than mmapped chunks is a thread arena's heap. Main heap first, then
  /// arenas by span, largest first.
  public static func layouts(blocks: [Block], executableEnd: UInt64, pageSize: UInt64) -> [HeapLayout] {
    guard pageSize > 0 else { return [] }
    let sorted = blocks.filter { $0.address >= executableEnd && $0.size > 0 }.sorted { $0.address < $1.address }
    guard !sorted.isEmpty else { return [] }
    var mainEnd = sorted.count
    for i in sorted.indices.dropFirst() where sorted[i].address - sorted[i - 1].address >= 1 << 36 {
      mainEnd = i
      break
    }
    var result: [HeapLayout] = []
    if let main = HeapLayout(kind: .main, blocks: sorted[..<mainEnd], pageSize: pageSize) { result.append(main) }
    var windows: [UInt64: [Block]] = [:]
    for b in sorted[mainEnd...] where !isMmappedChunk(b, pageSize: pageSize) {
      windows[b.address >> threadHeapBits, default: []].append(b)
    }
    result += windows.values.compactMap { HeapLayout(kind: .threadArena, blocks: $0[...], pageSize: pageSize) }
      .sorted { $0.span != $1.span ? $0.span > $1.span : $0.low < $1.low }
    return result
  }

  /// One heap from its blocks, sorted by address. Nil when there are none.
  init?(kind: Kind, blocks: ArraySlice<Block>, pageSize: UInt64) {
    guard let first = blocks.first, pageSize > 0 else { return nil }
    self.kind = kind
    self.pageSize = pageSize
    low = first.address
    sortedBlocks = Array(blocks)
    var high: UInt64 = 0
    var top = first
    var bytes: UInt64 = 0
    var index: [StackID: Int] = [:]
    var stacks: [StackID] = []
    var shares: [(blocks: Int, bytes: UInt64)] = []
    for b in blocks {
      high = Swift.max(high, b.address.addingSaturated(b.size))
      if b.address >= top.address { top = b }
      bytes = bytes.addingSaturated(b.size)
      let i = index[b.stack] ?? {
        index[b.stack] = stacks.count
        stacks.append(b.stack)
        shares.append((0, 0))
        return stacks.count - 1
      }()
      shares[i].blocks += 1
      shares[i].bytes = shares[i].bytes.addingSaturated(b.size)
    }
    self.high = high
    self.blocks = blocks.count
    self.bytes = bytes
    self.top = (top.address, top.size, top.stack)
    pinnedPages = 0
    byStack = []
    let counts = countPages(groups: stacks.count, group: { index[$0]! }, regions: nil)
    pinnedPages = counts.pinned
    byStack = stacks.indices.map {
      StackShare(stack: stacks[$0], blocks: shares[$0].blocks, bytes: shares[$0].bytes, pages: counts.groups[$0].pages)
    }.sorted { $0.pages != $1.pages ? $0.pages > $1.pages : $0.stack < $1.stack }
  }

  /// Distinct pages the live blocks overlap, in all and per group (`group` maps a block's stack
  /// to 0..<groups), and of those the resident ones when `regions` is given. Blocks are walked in
  /// address order, so each group's pages come in increasing order and its last page is all it
  /// needs to count distinct ones. Pages are counted as ranges, never one by one: a block's size
  /// comes from the file, and a 2^48-byte block is 2^36 pages.
  func countPages(groups: Int, group: (StackID) -> Int, regions: [ResidencyRegion]?)
    -> (pinned: Int, residentPinned: Int, groups: [(pages: Int, resident: Int)])
  {
    let resident = regions.map { ResidentPageCounter($0, pageSize: pageSize) }
    var lastPage: UInt64? = nil
    var lastByGroup = [UInt64?](repeating: nil, count: groups)
    var result = [(pages: Int, resident: Int)](repeating: (0, 0), count: groups)
    var pinned = 0
    var residentPinned = 0
    for b in sortedBlocks where b.size > 0 {
      let g = group(b.stack)
      let first = b.address / pageSize
      let (end, wrapped) = b.address.addingReportingOverflow(b.size - 1)
      let last = (wrapped ? UInt64.max : end) / pageSize
      // The pages of [first, last] not counted yet, after `previous`.
      func fresh(after previous: UInt64?) -> (UInt64, UInt64)? {
        guard let previous else { return (first, last) }
        guard previous < last else { return nil }
        return (Swift.max(first, previous + 1), last)
      }
      if let (from, to) = fresh(after: lastPage) {
        lastPage = to
        pinned = pinned.addingSaturated(to - from + 1)
        if let resident { residentPinned = residentPinned.addingSaturated(resident.count(from, to)) }
      }
      if let (from, to) = fresh(after: lastByGroup[g]) {
        lastByGroup[g] = to
        result[g].pages = result[g].pages.addingSaturated(to - from + 1)
        if let resident { result[g].resident = result[g].resident.addingSaturated(resident.count(from, to)) }
      }
    }
    return (pinned, residentPinned, result)
  }
}

/// Resident pages of a snapshot's regions, counted over a page range in time logarithmic in the
/// number of regions: per region, a running count of resident pages per bitmap byte. Regions that
/// overlap (only a damaged dump has them) are cut so that every page belongs to one.
struct ResidentPageCounter {
  private struct Span {
    var first: UInt64  // page number of bitmap bit 0
    var from: UInt64  // pages [from, to] of this span, inclusive
    var to: UInt64
    var bitmap: [UInt8]
    var prefix: [Int]  // prefix[k]: resident pages in bitmap bytes 0..<k
  }
  private var spans: [Span] = []

  init(_ regions: [ResidencyRegion], pageSize: UInt64) {
    var covered: UInt64? = nil
    for r in regions.filter({ $0.pages > 0 }).sorted(by: { $0.start < $1.start }) {
      // The first page at or after `start`: page p is bit (p - first) of the bitmap.
      let first = r.start / pageSize + (r.start % pageSize == 0 ? 0 : 1)
      let (lastSum, wrapped) = first.addingReportingOverflow(UInt64(r.pages) - 1)
      let last = wrapped ? UInt64.max : lastSum
      var from = first
      if let covered {
        guard covered < last else { continue }
        from = Swift.max(from, covered + 1)
      }
      guard from <= last else { continue }
      var prefix = [Int](repeating: 0, count: r.bitmap.count + 1)
      for (k, byte) in r.bitmap.enumerated() { prefix[k + 1] = prefix[k] + byte.nonzeroBitCount }
      spans.append(Span(first: first, from: from, to: last, bitmap: r.bitmap, prefix: prefix))
      covered = last
    }
  }

  /// Resident pages among pages `from...to`.
  func count(_ from: UInt64, _ to: UInt64) -> Int {
    // The first span that ends at or after `from`.
    var lo = 0
    var hi = spans.count
    while lo < hi {
      let mid = (lo + hi) / 2
      if spans[mid].to < from { lo = mid + 1 } else { hi = mid }
    }
    var total = 0
    var i = lo
    while i < spans.count && spans[i].from <= to {
      let s = spans[i]
      let a = Swift.max(from, s.from) - s.first
      let b = Swift.min(to, s.to) - s.first
      total += Self.bits(s, upTo: b + 1) - Self.bits(s, upTo: a)
      i += 1
    }
    return total
  }

  /// Set bits among bitmap bits 0..<n.
  private static func bits(_ s: Span, upTo n: UInt64) -> Int {
    let byte = Int(Swift.min(n / 8, UInt64(s.bitmap.count)))
    var total = s.prefix[byte]
    let rest = n % 8
    if byte < s.bitmap.count && rest > 0 && n / 8 < UInt64(s.bitmap.count) {
      total += (s.bitmap[byte] & UInt8((1 << rest) - 1)).nonzeroBitCount
    }
    return total
  }
}

/// What the recorder's `mincore` snapshot says about one heap: how many of its pages were
/// resident, and how many of those a live block overlaps.
public struct HeapResidency: Sendable, Hashable {
  /// Resident pages of the heap's mapping.
  public var residentPages: Int
  /// Resident pages that a live block overlaps: their free bytes cannot be returned.
  public var residentPinnedPages: Int
  /// Per stack: resident pages its blocks overlap.
  public var residentPinnedByStack: [StackID: Int]
  /// Resident pages no live block overlaps: `malloc_trim(0)` can return them.
  public var residentFreePages: Int { residentPages - residentPinnedPages }
}

extension HeapLayout {
  /// The heap's residency in `regions` (one snapshot): the main heap is the `[heap]` mapping,
  /// a thread arena's heap the anonymous mapping inside its 64 MiB window. Nil when the snapshot
  /// has no region for it.
  public func residency(in regions: [ResidencyRegion]) -> HeapResidency? {
    let mine = ownRegions(regions)
    guard !mine.isEmpty else { return nil }
    let stacks = byStack.map(\.stack)
    let index = Dictionary(uniqueKeysWithValues: stacks.enumerated().map { ($1, $0) })
    let counts = countPages(groups: stacks.count, group: { index[$0]! }, regions: mine)
    return HeapResidency(
      residentPages: mine.reduce(0) { $0 + $1.residentPages },
      residentPinnedPages: counts.residentPinned,
      residentPinnedByStack: Dictionary(uniqueKeysWithValues: stacks.indices.map { (stacks[$0], counts.groups[$0].resident) }))
  }

  /// The snapshot's regions that belong to this heap: the main heap is the `[heap]` mapping (in
  /// one or more chunks), a thread arena's heap the anonymous mapping inside its 64 MiB window.
  func ownRegions(_ regions: [ResidencyRegion]) -> [ResidencyRegion] {
    let window: (UInt64, UInt64)
    let wanted: UInt64
    switch kind {
    case .main:
      window = (0, UInt64.max)
      wanted = ResidencyRegion.Kind.heap.rawValue
    case .threadArena:
      let start = (low >> Self.threadHeapBits) << Self.threadHeapBits
      window = (start, start.addingSaturated(1 << Self.threadHeapBits))
      wanted = ResidencyRegion.Kind.anonymous.rawValue
    }
    return regions.filter { r in
      r.kind == wanted && r.start < window.1 && r.start.addingSaturated(UInt64(r.pages).multipliedSaturated(pageSize)) > window.0
    }
  }
}
