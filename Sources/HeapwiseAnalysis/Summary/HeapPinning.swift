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

  /// Evidence lines for retention.
  var evidence: [String] {
    let arenaCount = heaps.filter { $0.kind != "main" }.count
    let which =
      arenaCount == 0 ? "the main heap" : heaps.contains { $0.kind == "main" }
        ? "the main heap and \(Units.plural(arenaCount, "thread arena heap"))" : Units.plural(arenaCount, "thread arena heap")
    var lines: [String] = []
    if let resident {
      // Measured: the recorder's mincore snapshot at exit.
      let live = heaps.reduce(0) { $0 + $1.liveBytes }
      let pinnedBytes = UInt64(resident.pinned) * pageSize
      lines.append(
        "\(Units.bytes(pinnedBytes - Swift.min(live, pinnedBytes))) of freed memory stays resident in \(which) because "
          + "\(Units.plural(blocks, "surviving block")) keep a byte in \(Units.count(resident.pinned)) of \(heaps.count == 1 ? "its" : "their") \(Units.count(resident.pages)) resident pages: malloc_trim(0) cannot return those")
      for s in sites.prefix(3) where (s.residentPages ?? 0) * 10 >= resident.pinned && (s.residentPages ?? 0) > 0 {
        lines.append(
          "  \(s.site): \(Units.plural(s.blocks, "block")) (\(Units.bytes(s.bytes / UInt64(Swift.max(1, s.blocks)))) on average) in \(Units.plural(s.residentPages ?? 0, "resident page"))")
      }
      let freePages = resident.pages - resident.pinned
      if freePages > 0 {
        lines.append(
          "\(Units.bytes(UInt64(freePages) * pageSize)) more is resident in pages that hold no live block: malloc_trim(0) would return it")
      }
    } else {
      lines.append(
        "\(Units.plural(blocks, "live block")) in \(which) overlap \(Units.count(pinnedPages)) of \(Units.count(spanPages)) pages"
          + " (\(Units.bytes(UInt64(pinnedPages) * pageSize))): freed memory in those pages stays resident even after malloc_trim(0)")
      for s in sites.prefix(3) where s.pages * 10 >= pinnedPages {
        lines.append(
          "  \(s.site): \(Units.plural(s.blocks, "block")) (\(Units.bytes(s.bytes / UInt64(Swift.max(1, s.blocks)))) on average) in \(Units.plural(s.pages, "page"))")
      }
    }
    // The heaps whose top block keeps a quarter or more of the free span from being given back.
    let free = spanPages - pinnedPages
    let holding = heaps.filter { $0.spanPages > $0.pinnedPages && ($0.spanPages - $0.pinnedPages) * 4 >= free }
    let tail = "; only malloc_trim(0) returns the free pages in between"
    if let main = holding.first(where: { $0.kind == "main" }) {
      lines.append(
        "free() cannot shrink the main heap: its highest live block (\(Units.bytes(main.topSize)) from \(main.topSite)) sits "
          + "\(Units.bytes(UInt64(main.spanPages) * pageSize)) above its lowest" + tail)
    }
    let arenas = holding.filter { $0.kind != "main" }
    if arenas.count == 1, let arena = arenas.first {
      lines.append(
        "free() cannot shrink a thread arena's heap: its highest live block (\(Units.bytes(arena.topSize)) from \(arena.topSite)) sits "
          + "\(Units.bytes(UInt64(arena.spanPages) * pageSize)) above its lowest" + tail)
    } else if arenas.count > 1 {
      var sites: [String] = []
      for a in arenas where !sites.contains(a.topSite) { sites.append(a.topSite) }
      let widest = arenas.map { $0.spanPages }.max() ?? 0
      lines.append(
        "free() cannot shrink \(arenas.count) thread arena heaps: their highest live blocks (from \(sites.prefix(2).joined(separator: ", "))\(sites.count > 2 ? ", ..." : "")) sit "
          + "up to \(Units.bytes(UInt64(widest) * pageSize)) above their lowest" + tail)
    }
    return lines
  }
}
