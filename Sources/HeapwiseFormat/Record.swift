// Decoded records. Hot records (alloc, free, map events) are plain values, so decoding them never
// allocates; records that own strings or arrays are rare (one per stack, thread, module, sample).

/// One decoded record with the time and stream it belongs to.
public struct Event: Sendable {
  /// In the dump's timestamp clock (see `DumpHeader.ticksPerSecond`).
  public var timestamp: UInt64
  public var stream: StreamID
  public var record: Record

  public init(timestamp: UInt64, stream: StreamID, record: Record) {
    self.timestamp = timestamp
    self.stream = stream
    self.record = record
  }
}

public enum Record: Sendable {
  case alloc(Allocation)
  case free(Deallocation)
  case mmap(Mapping)
  case munmap(Unmapping)
  case mremap(Remapping)
  /// Pages of a range given back (MADV_DONTNEED, MADV_FREE, MADV_REMOVE).
  case madvise(RangeAdvice)
  /// A range's protection changed.
  case mprotect(RangeProtection)
  case stack(StackRecord)
  case thread(ThreadRecord)
  case module(ModuleRecord)
  case unload(ModuleID)
  case sample(SampleRecord)
  /// `CLOCK_MONOTONIC` in ns at this record's timestamp.
  case clock(monotonicNanoseconds: UInt64)
  case marker(MarkerRecord)
  case trim(TrimRecord)
  case end(EndRecord)
  /// A Python code object (skippable tag 0x82).
  case pythonCode(PythonCodeRecord)
  /// The CPython runtime (skippable tag 0x83).
  case python(PythonRuntimeRecord)
  /// A sampled dump's parameters (tag 0x54, format 1.2).
  case sampling(SamplingParameters)
  /// The sampler's counts at exit (skippable tag 0x84, format 1.2).
  case samplingStats(SamplingStats)
  /// Per-site counters of aggregated mode (skippable tag 0x85, format 1.2).
  case aggregate(AggregateRecord)
  /// A skippable record (tags 0x80 ... 0xfe) this reader does not know.
  case skipped(tag: UInt8)
}

public struct Allocation: Sendable, Hashable {
  public var function: AllocatorFunction
  public var address: UInt64
  /// Bytes requested (`n * size` for calloc).
  public var size: UInt64
  public var stack: StackID
  public init(function: AllocatorFunction, address: UInt64, size: UInt64, stack: StackID) {
    self.function = function; self.address = address; self.size = size; self.stack = stack
  }
}

public struct Deallocation: Sendable, Hashable {
  /// `.free`, or `.realloc` / `.reallocarray` for the old block of a realloc.
  public var function: AllocatorFunction
  public var address: UInt64
  public init(function: AllocatorFunction, address: UInt64) {
    self.function = function; self.address = address
  }
}

public struct Mapping: Sendable, Hashable {
  public var address: UInt64
  public var length: UInt64
  public var protection: UInt64
  public var flags: UInt64
  public var fd: Int64
  public var stack: StackID
  /// MAP_ANONYMOUS on Linux.
  public var isAnonymous: Bool { flags & 0x20 != 0 }
  public init(address: UInt64, length: UInt64, protection: UInt64, flags: UInt64, fd: Int64, stack: StackID) {
    self.address = address; self.length = length; self.protection = protection
    self.flags = flags; self.fd = fd; self.stack = stack
  }
}

public struct Unmapping: Sendable, Hashable {
  public var address: UInt64
  public var length: UInt64
  public init(address: UInt64, length: UInt64) { self.address = address; self.length = length }
}

public struct Remapping: Sendable, Hashable {
  public var oldAddress: UInt64
  public var oldLength: UInt64
  public var newAddress: UInt64
  public var newLength: UInt64
  public var stack: StackID
  public init(oldAddress: UInt64, oldLength: UInt64, newAddress: UInt64, newLength: UInt64, stack: StackID) {
    self.oldAddress = oldAddress; self.oldLength = oldLength
    self.newAddress = newAddress; self.newLength = newLength; self.stack = stack
  }
}

/// An madvise call that gives pages back: DONTNEED (4), FREE (8) or REMOVE (9).
public struct RangeAdvice: Sendable, Hashable {
  public var address: UInt64
  public var length: UInt64
  public var advice: UInt64
  public static let dontNeed: UInt64 = 4
  public static let free: UInt64 = 8
  public static let remove: UInt64 = 9
  public init(address: UInt64, length: UInt64, advice: UInt64) {
    self.address = address; self.length = length; self.advice = advice
  }
}

/// An mprotect call: `protection` is PROT_READ 1 | PROT_WRITE 2 | PROT_EXEC 4 (0: PROT_NONE).
public struct RangeProtection: Sendable, Hashable {
  public var address: UInt64
  public var length: UInt64
  public var protection: UInt64
  public init(address: UInt64, length: UInt64, protection: UInt64) {
    self.address = address; self.length = length; self.protection = protection
  }
}

public struct StackRecord: Sendable, Hashable {
  public var id: StackID
  /// Return addresses minus one, innermost first.
  public var frames: [UInt64]
  public init(id: StackID, frames: [UInt64]) { self.id = id; self.frames = frames }
}

public struct ThreadRecord: Sendable, Hashable {
  public var tid: ThreadID
  public var name: String
  public init(tid: ThreadID, name: String) { self.tid = tid; self.name = name }
}

public struct ModuleSegment: Sendable, Hashable {
  public var vaddr: UInt64
  public var memsz: UInt64
  /// 1 = X, 2 = W, 4 = R.
  public var flags: UInt64
  public init(vaddr: UInt64, memsz: UInt64, flags: UInt64) {
    self.vaddr = vaddr; self.memsz = memsz; self.flags = flags
  }
}

public struct ModuleRecord: Sendable, Hashable {
  public var id: ModuleID
  /// Load bias: runtime address = base + vaddr.
  public var base: UInt64
  public var path: String
  public var buildID: [UInt8]
  public var segments: [ModuleSegment]
  public init(id: ModuleID, base: UInt64, path: String, buildID: [UInt8], segments: [ModuleSegment]) {
    self.id = id; self.base = base; self.path = path; self.buildID = buildID; self.segments = segments
  }
  public func contains(_ address: UInt64) -> Bool {
    for s in segments where address &- (base &+ s.vaddr) < s.memsz { return true }
    return false
  }
}

/// Well-known SAMPLE keys (docs/FORMAT.md, "Sample keys").
public enum SampleKey {
  public static let virtualSize: UInt64 = 1
  public static let rss: UInt64 = 2
  public static let fileRSS: UInt64 = 3
  public static let rollupRss: UInt64 = 10
  public static let rollupPss: UInt64 = 11
  public static let rollupAnonymous: UInt64 = 12
  public static let rollupPrivateDirty: UInt64 = 13
  public static let rollupSwap: UInt64 = 14
  public static let mallinfoArena: UInt64 = 20
  public static let mallinfoUordblks: UInt64 = 24
  public static let mallinfoFordblks: UInt64 = 25
  public static let recorderMemory: UInt64 = 40
  public static let recorderStacks: UInt64 = 42
  public static let recorderBacklog: UInt64 = 43
  /// The allocator underneath: 0 unknown, 1 glibc, 2 jemalloc, 3 tcmalloc.
  public static let allocator: UInt64 = 44
}

public struct SampleRecord: Sendable, Hashable {
  public struct Value: Sendable, Hashable {
    public var key: UInt64
    public var value: UInt64
    public init(key: UInt64, value: UInt64) { self.key = key; self.value = value }
  }
  public var values: [Value]
  public init(values: [Value]) { self.values = values }
  public subscript(key: UInt64) -> UInt64? { values.first { $0.key == key }?.value }
}

public struct MarkerRecord: Sendable, Hashable {
  /// `trigger`: a moment the recorder set itself (format 1.2: peak-N, rss-SIZE; docs/AGGREGATE.md).
  public enum Source: UInt64, Sendable { case api = 0, signal = 1, trigger = 2 }
  /// Raw source number; see `Source`.
  public var source: UInt64
  public var name: String
  public init(source: UInt64, name: String) { self.source = source; self.name = name }
}

public struct TrimRecord: Sendable, Hashable {
  public var rssBefore: UInt64
  public var rssAfter: UInt64
  public var result: UInt64
  public init(rssBefore: UInt64, rssAfter: UInt64, result: UInt64) {
    self.rssBefore = rssBefore; self.rssAfter = rssAfter; self.result = result
  }
}

public struct EndRecord: Sendable, Hashable {
  public enum Reason: UInt64, Sendable { case exit = 0, underscoreExit = 1, fatalSignal = 2, exec = 3 }
  /// Raw reason number; see `Reason`.
  public var reason: UInt64
  public var signal: UInt64
  public init(reason: UInt64, signal: UInt64) { self.reason = reason; self.signal = signal }
}
