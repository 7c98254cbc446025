/// Which live blocks pin glibc's heaps (from ``HeapLayout``), with sites named.
public struct HeapPinning: Sendable, Hashable, Encodable {
  public struct Site: Sendable, Hashable, Encodable {
    public var site: String
    public var blocks: Int
    public var bytes: UInt64
    public var pages: Int
    /// Of those, resident at exit (absent without the recorder's residency snapshot).
    public var residentPages: Int?
    public init(site: String, blocks: Int, bytes: UInt64, pages: Int) {
      self.site = site
      self.blocks = blocks
      self.bytes = bytes
      self.pages = pages
    }
  }
  /// One heap: the main (brk) heap or a thread arena's.
  public struct Heap: Sendable, Hashable, Encodable {
    /// "main" or "threadArena".
    public var kind: String
    /// Pages from the lowest live address to the highest live end.
    public var spanPages: Int
    /// Pages overlapped by a live block.
    public var pinnedPages: Int
    public var blocks: Int
    /// The highest live block: the heap cannot shrink below it.
    public var topSize: UInt64
    public var topSite: String
    /// Bytes of the live blocks in this heap.
    public var liveBytes: UInt64 = 0
    /// From the recorder's `mincore` snapshot at exit, when there is one: resident pages of the
    /// heap's mapping, and those a live block overlaps.
    public var residentPages: Int?
    public var residentPinnedPages: Int?
    public init(kind: String, spanPages: Int, pinnedPages: Int, blocks: Int, topSize: UInt64, topSite: String) {
      self.kind = kind
      self.spanPages = spanPages
      self.pinnedPages = pinnedPages
      self.blocks = blocks
      self.topSize = topSize
      self.topSite = topSite
    }
  }
  public var pageSize: UInt64
  /// Main heap first, then thread arenas' heaps by span.
  public var heaps: [Heap]
  /// Sites by pinned pages over all heaps, most first.
  public var sites: [Site]
  public init(pageSize: UInt64, heaps: [Heap], sites: [Site]) {
    self.pageSize = pageSize
    self.heaps = heaps
    self.sites = sites
  }

  public var pinnedPages: Int { heaps.reduce(0) { $0 + $1.pinnedPages } }
  public var spanPages: Int { heaps.reduce(0) { $0 + $1.spanPages } }
  public var blocks: Int { heaps.reduce(0) { $0 + $1.blocks } }

  /// Resident pages over all heaps, and those a live block overlaps, when every heap has them.
  public var resident: (pages: Int, pinned: Int)? {
    var pages = 0
    var pinned = 0
    for h in heaps {
      guard let r = h.residentPages, let p = h.residentPinnedPages else { return nil }
      pages += r
      pinned += p
    }
    return (pages, pinned)
  }
}
