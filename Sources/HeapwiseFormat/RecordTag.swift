// Record tag bytes of dump format 1.2 (docs/FORMAT.md, "Records").
// CShim/hw_format.h holds the same numbers; a test in Tests/RecorderTests keeps them equal.

/// The tag byte that opens every record.
public enum RecordTag {
  /// ALLOC tags are `allocBase + function code` for codes 1 ... 13 (malloc ... pvalloc, then
  /// the C++ `operator new` family, format 1.1).
  public static let allocBase: UInt8 = 0x00
  public static let allocFirst: UInt8 = 0x01
  public static let allocLast: UInt8 = 0x0d
  /// FREE tags are `freeBase + function code` for codes 0 (free), 3 (realloc), 4 (reallocarray),
  /// and (format 1.1) 10 ... 13 (`operator delete` family), 14 (free_sized), 15 (free_aligned_sized).
  public static let freeBase: UInt8 = 0x10
  public static let free: UInt8 = 0x10
  public static let freeRealloc: UInt8 = 0x13
  public static let freeReallocArray: UInt8 = 0x14
  public static let freeDeleteFirst: UInt8 = 0x1a
  public static let freeLast: UInt8 = 0x1f

  /// Whether `tag` is one of the FREE tags.
  @inline(__always)
  public static func isFree(_ tag: UInt8) -> Bool {
    tag == free || tag == freeRealloc || tag == freeReallocArray || (tag >= freeDeleteFirst && tag <= freeLast)
  }
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
  /// A sampled dump's parameters (format 1.2, `SamplingParameters`).
  public static let sampling: UInt8 = 0x54
  /// The same with C, the bytes the sampler adds to each allocation (format 1.4).
  public static let samplingOffset: UInt8 = 0x55
  /// Tags from here to `skippableLast` carry a uvarint body length after the timestamp delta.
  public static let skippableFirst: UInt8 = 0x80
  public static let skippableLast: UInt8 = 0xfe
  /// The first skippable record: resident pages at a marker or at exit (`ResidencyRegion`).
  public static let residency: UInt8 = 0x80
  /// A Python code object (`PythonCodeRecord`).
  public static let pythonCode: UInt8 = 0x82
  /// The CPython runtime (`PythonRuntimeRecord`).
  public static let python: UInt8 = 0x83
  /// What the sampler recorded and dropped, at exit (format 1.2, `SamplingStats`).
  public static let samplingStats: UInt8 = 0x84
  /// Per-site counters of aggregated mode (`AggregateRecord`, format 1.2).
  public static let aggregate: UInt8 = 0x85
  public static let end: UInt8 = 0xff
}

/// Fixed numbers of the container around the records.
public enum FormatConstants {
  public static let magic: [UInt8] = Array("HEAPWISE".utf8)
  public static let major: UInt16 = 1
  public static let minor: UInt16 = 4
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
  /// Format 1.2: recorded with `--aggregate` (per-site totals, no ALLOC/FREE events).
  public static let headerFlagAggregate: UInt32 = 8
  /// Format 1.2: the stream of an aggregated dump's latest totals, which each flush replaces.
  public static let aggregateStream: UInt32 = 0xffffff
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
  /// C++ `operator new` (also nothrow); as a FREE code, the matching `operator delete`.
  case new = 10
  case newArray = 11
  case newAligned = 12
  case newArrayAligned = 13
  /// C23's sized frees (FREE only).
  case freeSized = 14
  case freeAlignedSized = 15

  /// As a FREE code: the block's life ends here (free, operator delete, the sized frees), rather
  /// than a realloc moving it on.
  public var endsBlock: Bool { self != .realloc && self != .reallocarray }

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
    case .new: "new"
    case .newArray: "new_array"
    case .newAligned: "new_aligned"
    case .newArrayAligned: "new_array_aligned"
    case .freeSized: "free_sized"
    case .freeAlignedSized: "free_aligned_sized"
    }
  }
}
