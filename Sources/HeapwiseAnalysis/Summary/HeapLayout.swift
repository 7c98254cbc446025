import HeapwiseFormat

/// Where the live blocks of glibc's main heap (the brk heap) sit, at the end of the run: which
/// pages they occupy and which block is at the top. Freed memory in a page that still holds a live
/// byte cannot be returned to the kernel, not even by `malloc_trim(0)`; and `free` shrinks the
/// brk heap only down to its highest live block. So these are the blocks that pin retained memory.
///
/// Computed from addresses alone, without residency: a page counts as pinned when a live block
/// overlaps it, whether or not the kernel still holds it.
public struct HeapLayout: Sendable, Hashable {
  /// Live blocks of one stack in the brk heap.
  public struct StackShare: Sendable, Hashable {
    public var stack: StackID
    public var blocks: Int
    public var bytes: UInt64
    /// Distinct pages its blocks overlap.
    public var pages: Int
  }

  public var pageSize: UInt64
  /// Lowest live address and highest live end in the brk heap.
  public var low: UInt64
  public var high: UInt64
  public var blocks: Int
  public var bytes: UInt64
  /// Distinct pages overlapped by any live block.
  public var pinnedPages: Int
  /// The block with the highest address: the brk heap cannot shrink below its end.
  public var top: (address: UInt64, size: UInt64, stack: StackID)
  /// Sorted by pages, most first.
  public var byStack: [StackShare]

  public static func == (a: HeapLayout, b: HeapLayout) -> Bool {
    a.low == b.low && a.high == b.high && a.pinnedPages == b.pinnedPages && a.byStack == b.byStack
      && a.top.address == b.top.address
  }
  public func hash(into hasher: inout Hasher) { hasher.combine(low); hasher.combine(pinnedPages) }

  /// Bytes from the lowest live address to the highest live end.
  public var span: UInt64 { high - low }

  /// Lays out `blocks` (address, size, stack) of the live heap. The brk heap is the first cluster
  /// of blocks above the main executable's end: mmapped chunks and other arenas sit near the
  /// shared libraries, terabytes higher, so a gap of 64 GiB or more ends it. Nil with no block there.
  public init?(
    blocks: [(address: UInt64, size: UInt64, stack: StackID)], executableEnd: UInt64, pageSize: UInt64
  ) {
    let sorted = blocks.filter { $0.address >= executableEnd && $0.size > 0 }.sorted { $0.address < $1.address }
    guard let first = sorted.first, pageSize > 0 else { return nil }
    var cluster: ArraySlice = sorted[...]
    for i in sorted.indices.dropFirst() where sorted[i].address - sorted[i - 1].address >= 1 << 36 {
      cluster = sorted[..<i]
      break
    }
    self.pageSize = pageSize
    low = first.address
    var high: UInt64 = 0
    var top = first
    var pages = Set<UInt64>()
    var shares: [StackID: (blocks: Int, bytes: UInt64, pages: Set<UInt64>)] = [:]
    var bytes: UInt64 = 0
    for b in cluster {
      let end = b.address + b.size
      if end > high { high = end }
      if b.address >= top.address { top = b }
      bytes += b.size
      shares[b.stack, default: (0, 0, [])].blocks += 1
      shares[b.stack]!.bytes += b.size
      for page in (b.address / pageSize)...((end - 1) / pageSize) {
        pages.insert(page)
        shares[b.stack]!.pages.insert(page)
      }
    }
    self.high = high
    self.blocks = cluster.count
    self.bytes = bytes
    self.top = (top.address, top.size, top.stack)
    pinnedPages = pages.count
    byStack = shares.map { StackShare(stack: $0.key, blocks: $0.value.blocks, bytes: $0.value.bytes, pages: $0.value.pages.count) }
      .sorted { $0.pages != $1.pages ? $0.pages > $1.pages : $0.stack < $1.stack }
  }
}
