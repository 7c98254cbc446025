// The hot path of reading: ALLOC and FREE records (all but a handful of a dump's records) decode
// into `BlockRecord`, a 32-byte plain value, in runs of one stream. A reader hands a whole run to
// its consumer at once; everything else (maps, stacks, modules, samples, markers) still arrives
// as an `Event`. Keeping the two apart is what lets the hot loop avoid the `Record` enum, whose
// rare cases own arrays and strings and so make every copy of it go through value witnesses.

/// One ALLOC or FREE record.
public struct BlockRecord: Sendable, Hashable {
  /// In the dump's timestamp clock.
  public var timestamp: UInt64
  public var address: UInt64
  /// Bytes requested; 0 for a free.
  public var size: UInt64
  /// Raw `StackID` of an allocation; 0 for a free.
  public var stack: UInt32
  /// The record's tag: `RecordTag.allocFirst ... allocLast` or one of the FREE tags.
  public var tag: UInt8

  public init(timestamp: UInt64, address: UInt64, size: UInt64, stack: UInt32, tag: UInt8) {
    self.timestamp = timestamp; self.address = address; self.size = size; self.stack = stack; self.tag = tag
  }

  @inline(__always)
  public var isAllocation: Bool { tag <= RecordTag.allocLast }

  /// The allocating function, or for a free, `.free` / `.realloc` / `.reallocarray`.
  @inline(__always)
  public var function: AllocatorFunction {
    AllocatorFunction(rawValue: isAllocation ? tag : tag &- RecordTag.freeBase) ?? .free
  }

  /// The same record as the general `Record` value.
  public var record: Record {
    isAllocation
      ? .alloc(Allocation(function: function, address: address, size: size, stack: StackID(stack)))
      : .free(Deallocation(function: function, address: address))
  }
}

/// Consecutive block records of one stream, in replay order. The memory belongs to the reader and
/// stays valid until its next `nextStep()`.
public struct BlockRun: @unchecked Sendable {
  public let records: UnsafeBufferPointer<BlockRecord>
  public let stream: StreamID

  public init(records: UnsafeBufferPointer<BlockRecord>, stream: StreamID) {
    self.records = records
    self.stream = stream
  }
}

/// What a reader yields next: a run of block records, another event, or the end.
public enum ReadStep {
  case blocks(BlockRun)
  case event(Event)
  case end
}
