import HeapwiseFormat

/// One SAMPLE record, read into named figures. Keys are those of docs/FORMAT.md ("Sample keys");
/// a figure the recorder did not write is nil.
public struct MemorySample: Sendable, Hashable {
  /// `statm` resident pages, in bytes.
  public var rss: UInt64?
  /// `statm` shared pages: resident pages backed by a file (code, mapped files) or shmem.
  public var fileRSS: UInt64?
  /// `smaps_rollup` Anonymous.
  public var anonymous: UInt64?
  /// `smaps_rollup` Swap.
  public var swap: UInt64?
  /// The recorder's own memory (buffers, stack table, thread states).
  public var recorderBytes: UInt64?
  public var allocator: AllocatorStatistics

  public init(
    rss: UInt64? = nil, fileRSS: UInt64? = nil, anonymous: UInt64? = nil, swap: UInt64? = nil,
    recorderBytes: UInt64? = nil, allocator: AllocatorStatistics = .unavailable
  ) {
    self.rss = rss
    self.fileRSS = fileRSS
    self.anonymous = anonymous
    self.swap = swap
    self.recorderBytes = recorderBytes
    self.allocator = allocator
  }

  public init(_ record: SampleRecord) {
    var v: [UInt64: UInt64] = [:]
    for pair in record.values { v[pair.key] = pair.value }
    rss = v[Key.rss] ?? v[Key.rollupRss]
    fileRSS = v[Key.fileRSS]
    anonymous = v[Key.rollupAnonymous]
    swap = v[Key.rollupSwap]
    recorderBytes = v[Key.recorder]
    allocator = .unavailable
    if let arena = v[Key.mallinfo], let hblkhd = v[Key.mallinfo + 3],
      let uordblks = v[Key.mallinfo + 4], let fordblks = v[Key.mallinfo + 5]
    {
      allocator = .glibc(
        GlibcMallinfo(
          arena: arena, hblkhd: hblkhd, uordblks: uordblks, fordblks: fordblks,
          fsmblks: v[Key.mallinfo + 7] ?? 0))
    } else if let allocated = v[Key.jemalloc], let resident = v[Key.jemalloc + 2] {
      allocator = .jemalloc(
        JemallocStatistics(
          allocated: allocated, active: v[Key.jemalloc + 1] ?? allocated, resident: resident,
          retained: v[Key.jemalloc + 4] ?? 0, metadata: v[Key.jemalloc + 5] ?? 0))
    } else if let allocated = v[Key.tcmalloc], let heap = v[Key.tcmalloc + 1] {
      allocator = .tcmalloc(
        TcmallocStatistics(
          allocated: allocated, heapSize: heap, pageheapFree: v[Key.tcmalloc + 2] ?? 0,
          pageheapUnmapped: v[Key.tcmalloc + 3] ?? 0))
    }
  }

  private enum Key {
    static let rss: UInt64 = 2
    static let fileRSS: UInt64 = 3
    static let rollupRss: UInt64 = 10
    static let rollupAnonymous: UInt64 = 12
    static let rollupSwap: UInt64 = 14
    static let mallinfo: UInt64 = 20
    static let jemalloc: UInt64 = 30
    static let tcmalloc: UInt64 = 36
    static let recorder: UInt64 = 40
  }
}

/// What the allocator underneath said about itself, when the recorder could ask.
public enum AllocatorStatistics: Sendable, Hashable {
  case unavailable
  case glibc(GlibcMallinfo)
  case jemalloc(JemallocStatistics)
  case tcmalloc(TcmallocStatistics)

  public var name: String? {
    switch self {
    case .unavailable: nil
    case .glibc: "glibc malloc"
    case .jemalloc: "jemalloc"
    case .tcmalloc: "tcmalloc"
    }
  }
}

/// The `mallinfo2` fields the split uses. Quirks measured on glibc 2.36: `uordblks` counts chunk
/// sizes (malloc(64) adds 80) and counts chunks parked in the tcache as in use; `fordblks` keeps
/// counting free pages that `malloc_trim` returned to the kernel.
public struct GlibcMallinfo: Sendable, Hashable {
  /// Bytes obtained with sbrk/mmap for all arenas (not counting mmapped chunks).
  public var arena: UInt64
  /// Bytes in chunks mmapped on their own (large blocks).
  public var hblkhd: UInt64
  /// Bytes in chunks malloc considers in use.
  public var uordblks: UInt64
  /// Bytes in free chunks, resident or not.
  public var fordblks: UInt64
  /// Bytes in free fastbin chunks (part of fordblks).
  public var fsmblks: UInt64

  public init(arena: UInt64, hblkhd: UInt64, uordblks: UInt64, fordblks: UInt64, fsmblks: UInt64 = 0) {
    self.arena = arena
    self.hblkhd = hblkhd
    self.uordblks = uordblks
    self.fordblks = fordblks
    self.fsmblks = fsmblks
  }
}

/// jemalloc's `stats.*` figures.
public struct JemallocStatistics: Sendable, Hashable {
  public var allocated: UInt64
  public var active: UInt64
  /// Bytes in physically resident pages the allocator mapped (an upper bound, pages granularity).
  public var resident: UInt64
  /// Virtual memory kept mapped but returned to the kernel: never resident.
  public var retained: UInt64
  public var metadata: UInt64

  public init(allocated: UInt64, active: UInt64, resident: UInt64, retained: UInt64, metadata: UInt64) {
    self.allocated = allocated
    self.active = active
    self.resident = resident
    self.retained = retained
    self.metadata = metadata
  }
}

/// gperftools tcmalloc's numeric properties.
public struct TcmallocStatistics: Sendable, Hashable {
  public var allocated: UInt64
  public var heapSize: UInt64
  public var pageheapFree: UInt64
  /// Part of the heap released to the kernel: not resident.
  public var pageheapUnmapped: UInt64

  public init(allocated: UInt64, heapSize: UInt64, pageheapFree: UInt64, pageheapUnmapped: UInt64) {
    self.allocated = allocated
    self.heapSize = heapSize
    self.pageheapFree = pageheapFree
    self.pageheapUnmapped = pageheapUnmapped
  }
}
