// Record tag bytes of dump format 1.1 (docs/FORMAT.md, "Records").
// CShim/hw_format.h holds the same numbers; a test in Tests/RecorderTests keeps them equal.

/// The tag byte that opens every record.
public enum RecordTag {
  /// ALLOC tags are `allocBase + function code` for codes 1 ... 9 (malloc ... pvalloc).
  public static let allocBase: UInt8 = 0x00
  public static let allocFirst: UInt8 = 0x01
  public static let allocLast: UInt8 = 0x09
  /// FREE tags are `freeBase + function code` for codes 0 (free), 3 (realloc), 4 (reallocarray).
  public static let freeBase: UInt8 = 0x10
  public static let free: UInt8 = 0x10
  public static let freeRealloc: UInt8 = 0x13
  public static let freeReallocArray: UInt8 = 0x14
  public static let mmap: UInt8 = 0x20
  public static let munmap: UInt8 = 0x21
  public static let mremap: UInt8 = 0x22
  /// madvise with MADV_DONTNEED, MADV_FREE or MADV_REMOVE (format 1.1).
  public static let madvise: UInt8 = 0x23
  /// mprotect (format 1.1).
  public static let mprotect: UInt8 = 0x24
  public static let stack: UInt8 = 0x30
  public static let thread: UInt8 = 0x31
  public static let module: UInt8 = 0x40
  public static let unload: UInt8 = 0x41
  public static let sample: UInt8 = 0x50
  public static let clock: UInt8 = 0x51
  public static let marker: UInt8 = 0x52
  public static let trim: UInt8 = 0x53
  /// Tags from here to `skippableLast` carry a uvarint body length after the timestamp delta.
  public static let skippableFirst: UInt8 = 0x80
  public static let skippableLast: UInt8 = 0xfe
  /// The first skippable record: resident pages at a marker or at exit (`ResidencyRegion`).
  public static let residency: UInt8 = 0x80
  public static let end: UInt8 = 0xff
}

/// Fixed numbers of the container around the records.
public enum FormatConstants {
  public static let magic: [UInt8] = Array("HEAPWISE".utf8)
  public static let major: UInt16 = 1
  public static let minor: UInt16 = 1
  /// Fixed part of the header, before the exe and cmdline strings.
  public static let headerFixedSize = 64
  public static let frameHeaderSize = 32
  /// A frame larger than this is corrupt (both stored and raw sizes).
  public static let maxFrameSize: UInt32 = 64 << 20
  /// At most this many addresses in one STACK record.
  public static let maxStackFrames = 256
  /// Frame flags bit 0: the payload is one zstd frame.
  public static let frameFlagCompressed: UInt16 = 1
  /// Timestamp deltas of the frame count units of 2^coarseTimeShift.
  public static let frameFlagCoarseTime: UInt16 = 2
  public static let coarseTimeShift: UInt64 = 16
  /// Header flags.
  public static let headerFlagTSC: UInt32 = 1
  public static let headerFlagTrimProbe: UInt32 = 2
  public static let headerFlagForkedChild: UInt32 = 4
}

/// The function an ALLOC or FREE record came from (the low bits of its tag).
public enum AllocatorFunction: UInt8, Sendable, CaseIterable, CustomStringConvertible {
  case free = 0
  case malloc = 1
  case calloc = 2
  case realloc = 3
  case reallocarray = 4
  case posixMemalign = 5
  case alignedAlloc = 6
  case memalign = 7
  case valloc = 8
  case pvalloc = 9

  public var description: String {
    switch self {
    case .free: "free"
    case .malloc: "malloc"
    case .calloc: "calloc"
    case .realloc: "realloc"
    case .reallocarray: "reallocarray"
    case .posixMemalign: "posix_memalign"
    case .alignedAlloc: "aligned_alloc"
    case .memalign: "memalign"
    case .valloc: "valloc"
    case .pvalloc: "pvalloc"
    }
  }
}
