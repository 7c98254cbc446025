// Decodes the records of one frame's (decompressed) payload, one at a time. Alloc, free and map
// records decode into plain values with no allocation; the per-frame registers are the timestamp
// and `prev_addr` of docs/FORMAT.md.

/// Why a frame's payload could not be decoded to its end.
struct FrameDecodeError: Error {
  var reason: String
  /// Offset inside the payload.
  var offset: Int
}

struct FrameDecoder {
  private var cursor: ByteCursor
  private var timestamp: UInt64
  private var previousAddress: UInt64 = 0
  private let timeShift: UInt64
  let stream: StreamID
  /// The body of the RESIDENCY record just decoded, inside the payload (valid until the frame
  /// ends). Raw bytes rather than decoded regions keep this struct trivially copyable, which the
  /// merge relies on for speed; StreamMerge decodes them.
  var residencyBody: UnsafeRawBufferPointer?
  /// Highest stack id accepted and largest block size (ReaderLimits): the merge sets the first as
  /// STACK records are read. A record over either makes the frame corrupt.
  var stackLimit = UInt64(UInt32.max)
  var maxBlockSize = UInt64.max
  var rejectsWrappingBlocks = false

  init(payload: UnsafeRawBufferPointer, baseTimestamp: UInt64, stream: StreamID, timeShift: UInt64 = 0) {
    cursor = ByteCursor(base: payload.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, count: payload.count)
    timestamp = baseTimestamp
    self.timeShift = timeShift
    self.stream = stream
  }

  @inline(__always)
  private mutating func address() throws(CursorError) -> UInt64 {
    let a = previousAddress &+ UInt64(bitPattern: try cursor.svarint())
    previousAddress = a
    return a
  }

  /// Decodes ALLOC and FREE records into `out` until `capacity` of them, the end of the payload,
  /// or a record of another kind; returns how many. Anything unusual (another record, a varint
  /// longer than ten bytes, the last bytes of the payload) stops the loop before that record, for
  /// `next(into:)` to decode or to report, so this loop needs no bounds check per byte and never
  /// throws.
  mutating func decodeBlocks(into out: UnsafeMutablePointer<BlockRecord>, capacity: Int) -> Int {
    let base = cursor.base.assumingMemoryBound(to: UInt8.self)
    // The most this loop reads of one record is 41 bytes: the tag and four varints of up to ten
    // bytes each (a stack id's varint is read whole before its size is checked).
    let safeEnd = cursor.count &- 41
    var position = cursor.position
    var ts = timestamp, previous = previousAddress
    let shift = timeShift
    let maxStack = stackLimit, maxSize = maxBlockSize, checkEnd = rejectsWrappingBlocks
    var n = 0
    while n < capacity && position <= safeEnd {
      let start = position
      let tag = base[position]
      position &+= 1
      let isAlloc = tag &- RecordTag.allocFirst <= RecordTag.allocLast &- RecordTag.allocFirst
      guard isAlloc || RecordTag.isFree(tag),
            let delta = Self.uvarint(base, &position), let zigzag = Self.uvarint(base, &position)
      else { position = start; break }
      let address = previous &+ ((zigzag >> 1) ^ (0 &- (zigzag & 1)))
      var size: UInt64 = 0, stack: UInt64 = 0
      if isAlloc {
        guard let s = Self.uvarint(base, &position), let k = Self.uvarint(base, &position), k <= maxStack,
              s <= maxSize, address &+ s >= address || !checkEnd
        else { position = start; break }
        size = s
        stack = k
      }
      ts &+= delta << shift
      previous = address
      out[n] = BlockRecord(timestamp: ts, address: address, size: size, stack: UInt32(truncatingIfNeeded: stack), tag: tag)
      n &+= 1
    }
    cursor.position = position
    timestamp = ts
    previousAddress = previous
    return n
  }

  /// LEB128 with no bounds check (the caller leaves room); nil for more than ten bytes or bits
  /// beyond 64, which `ByteCursor` then reports. (A branch-free version that finds the length
  /// from one 8-byte load measured slower here: the lengths of a field repeat enough for the
  /// branch predictor.)
  @inline(__always)
  private static func uvarint(_ base: UnsafePointer<UInt8>, _ position: inout Int) -> UInt64? {
    let b0 = base[position]
    if b0 < 0x80 { position &+= 1; return UInt64(b0) }
    let b1 = base[position &+ 1]
    if b1 < 0x80 { position &+= 2; return UInt64(b0 & 0x7f) | UInt64(b1) << 7 }
    var result = UInt64(b0 & 0x7f) | UInt64(b1 & 0x7f) << 7
    var shift: UInt64 = 14
    var p = position &+ 2
    while shift < 63 {
      let b = base[p]
      p &+= 1
      result |= UInt64(b & 0x7f) << shift
      if b < 0x80 { position = p; return result }
      shift &+= 7
    }
    let last = base[p]
    guard last <= 1 else { return nil }
    position = p &+ 1
    return result | UInt64(last) << 63
  }

  /// Decodes the next record into `slot` (uninitialized memory) and returns true, or returns false
  /// at the end of the payload. Writing in place spares a copy and an optional per record.
  mutating func next(into slot: UnsafeMutablePointer<Event>) throws(FrameDecodeError) -> Bool {
    if cursor.isAtEnd { return false }
    let start = cursor.position
    do {
      let tag = try cursor.byte()
      timestamp &+= try cursor.uvarint() << timeShift
      slot.initialize(to: Event(timestamp: timestamp, stream: stream, record: try decodeBody(tag: tag, start: start)))
      return true
    } catch let e as CursorError {
      let what = e.kind == .truncated ? "record runs past the end of its frame" : "malformed varint"
      throw FrameDecodeError(reason: what, offset: e.offset)
    } catch let e as FrameDecodeError {
      throw e
    } catch {
      throw FrameDecodeError(reason: "\(error)", offset: start)
    }
  }

  /// ReaderLimits for one block record that starts at payload offset `start`.
  private func check(address: UInt64, size: UInt64, stack: UInt32, at start: Int) throws(FrameDecodeError) {
    guard UInt64(stack) <= stackLimit else {
      throw FrameDecodeError(reason: "stack id \(stack) beyond the limit \(stackLimit)", offset: start)
    }
    guard size <= maxBlockSize, address &+ size >= address || !rejectsWrappingBlocks else {
      throw FrameDecodeError(reason: "block of \(size) bytes at 0x\(String(address, radix: 16)) is impossible", offset: start)
    }
  }

  private mutating func decodeBody(tag: UInt8, start: Int) throws -> Record {
    // The two hot records first, with plain comparisons (a range pattern here was a generic call).
    if tag >= RecordTag.allocFirst && tag <= RecordTag.allocLast {
      let addr = try address()
      let size = try cursor.uvarint()
      let stack = try cursor.uvarint32()
      try check(address: addr, size: size, stack: stack, at: start)
      return .alloc(Allocation(
        function: AllocatorFunction(rawValue: tag)!, address: addr, size: size, stack: StackID(stack)))
    }
    if RecordTag.isFree(tag) {
      let addr = try address()
      return .free(Deallocation(function: AllocatorFunction(rawValue: tag - RecordTag.freeBase)!, address: addr))
    }
    switch tag {
    case RecordTag.mmap:
      let addr = try address()
      let length = try cursor.uvarint()
      let prot = try cursor.uvarint()
      let flags = try cursor.uvarint()
      let fd = try cursor.svarint()
      let stack = try cursor.uvarint32()
      try check(address: addr, size: length, stack: stack, at: start)
      return .mmap(Mapping(address: addr, length: length, protection: prot, flags: flags, fd: fd, stack: StackID(stack)))
    case RecordTag.munmap:
      let addr = try address()
      return .munmap(Unmapping(address: addr, length: try cursor.uvarint()))
    case RecordTag.mremap:
      let old = try address()
      let oldLength = try cursor.uvarint()
      let new = try address()
      let newLength = try cursor.uvarint()
      let stack = try cursor.uvarint32()
      try check(address: new, size: newLength, stack: stack, at: start)
      return .mremap(Remapping(oldAddress: old, oldLength: oldLength, newAddress: new, newLength: newLength, stack: StackID(stack)))
    case RecordTag.madvise:
      // Absolute addresses: these records leave the address register alone.
      return .madvise(RangeAdvice(address: try cursor.uvarint(), length: try cursor.uvarint(), advice: try cursor.uvarint()))
    case RecordTag.mprotect:
      return .mprotect(
        RangeProtection(address: try cursor.uvarint(), length: try cursor.uvarint(), protection: try cursor.uvarint()))
    case RecordTag.stack:
      let at = cursor.position
      let id = try cursor.uvarint32()
      let count = try cursor.uvarint()
      guard id >= 1 else { throw FrameDecodeError(reason: "stack id 0", offset: at) }
      guard UInt64(id) <= stackLimit else { throw FrameDecodeError(reason: "stack id \(id) beyond the limit \(stackLimit)", offset: at) }
      guard count <= UInt64(FormatConstants.maxStackFrames) else {
        throw FrameDecodeError(reason: "stack of \(count) frames (limit \(FormatConstants.maxStackFrames))", offset: at)
      }
      var frames = [UInt64]()
      frames.reserveCapacity(Int(count))
      var previous: UInt64 = 0
      for _ in 0..<count {
        previous &+= UInt64(bitPattern: try cursor.svarint())
        frames.append(previous)
      }
      return .stack(StackRecord(id: StackID(id), frames: frames))
    case RecordTag.thread:
      let tid = try cursor.uvarint()
      return .thread(ThreadRecord(tid: ThreadID(tid), name: String(dumpBytes: try cursor.lengthPrefixed())))
    case RecordTag.module:
      let id = try cursor.uvarint32()
      let base = try cursor.uvarint()
      let path = String(dumpBytes: try cursor.lengthPrefixed())
      let buildID = Array(try cursor.lengthPrefixed())
      let at = cursor.position
      let count = try cursor.uvarint()
      // Each segment takes at least 3 bytes: a larger count cannot be real.
      guard count <= UInt64(cursor.available / 3) else { throw FrameDecodeError(reason: "segment count \(count)", offset: at) }
      var segments = [ModuleSegment]()
      segments.reserveCapacity(Int(count))
      for _ in 0..<count {
        segments.append(ModuleSegment(vaddr: try cursor.uvarint(), memsz: try cursor.uvarint(), flags: try cursor.uvarint()))
      }
      return .module(ModuleRecord(id: ModuleID(id), base: base, path: path, buildID: buildID, segments: segments))
    case RecordTag.unload:
      return .unload(ModuleID(try cursor.uvarint32()))
    case RecordTag.sample:
      let at = cursor.position
      let count = try cursor.uvarint()
      guard count <= UInt64(cursor.available / 2) else { throw FrameDecodeError(reason: "sample count \(count)", offset: at) }
      var values = [SampleRecord.Value]()
      values.reserveCapacity(Int(count))
      for _ in 0..<count {
        let key = try cursor.uvarint(), at = cursor.position, value = try cursor.uvarint()
        // Byte figures and counts, summed by the reports: none can be real past the block limit.
        guard value <= maxBlockSize else { throw FrameDecodeError(reason: "sample value \(value) is impossible", offset: at) }
        values.append(.init(key: key, value: value))
      }
      return .sample(SampleRecord(values: values))
    case RecordTag.clock:
      return .clock(monotonicNanoseconds: try cursor.uvarint())
    case RecordTag.marker:
      let source = try cursor.uvarint()
      return .marker(MarkerRecord(source: source, name: String(dumpBytes: try cursor.lengthPrefixed())))
    case RecordTag.trim:
      let trim = TrimRecord(rssBefore: try cursor.uvarint(), rssAfter: try cursor.uvarint(), result: try cursor.uvarint())
      guard trim.rssBefore <= maxBlockSize, trim.rssAfter <= maxBlockSize else {
        throw FrameDecodeError(reason: "trim figures are impossible", offset: start)
      }
      return .trim(trim)
    case RecordTag.sampling, RecordTag.samplingOffset:
      let rate = try cursor.uvarint()
      guard rate >= 1 && rate <= maxBlockSize else {
        throw FrameDecodeError(reason: "sampling rate \(rate) is impossible", offset: start)
      }
      var p = SamplingParameters(meanBytes: rate, seed: try cursor.uvarint(), liveCapacity: try cursor.uvarint())
      if tag == RecordTag.samplingOffset {
        let at = cursor.position
        p.offsetBytes = try cursor.uvarint()
        guard p.offsetBytes <= maxBlockSize else {
          throw FrameDecodeError(reason: "sampling offset \(p.offsetBytes) is impossible", offset: at)
        }
      }
      return .sampling(p)
    case RecordTag.samplingStats:
      var body = ByteCursor(buffer: try cursor.lengthPrefixed())
      return .samplingStats(SamplingStats(recordedBlocks: try body.uvarint(), droppedBlocks: try body.uvarint(),
                                          liveBlocks: try body.uvarint()))
    case RecordTag.end:
      return .end(EndRecord(reason: try cursor.uvarint(), signal: try cursor.uvarint()))
    case RecordTag.residency:
      let body = try cursor.lengthPrefixed()
      residencyBody = body
      return .skipped(tag: tag)
    case RecordTag.pythonCode:
      return .pythonCode(try PythonCodeRecord(body: try cursor.lengthPrefixed()))
    case RecordTag.python:
      var body = ByteCursor(buffer: try cursor.lengthPrefixed())
      let version = try body.uvarint()
      let status = try body.uvarint()
      let allocator = String(dumpBytes: try body.lengthPrefixed())
      let path = String(dumpBytes: try body.lengthPrefixed())
      let reason = String(dumpBytes: try body.lengthPrefixed())
      return .python(PythonRuntimeRecord(versionHex: version, status: status, objectAllocator: allocator,
                                         interpreterPath: path, reason: reason))
    case RecordTag.aggregate:
      return .aggregate(try AggregateRecord(body: try cursor.lengthPrefixed(), stackLimit: stackLimit))
    default:
      if tag >= RecordTag.skippableFirst && tag <= RecordTag.skippableLast {
        _ = try cursor.lengthPrefixed()
        return .skipped(tag: tag)
      }
      throw FrameDecodeError(reason: "unknown record tag 0x\(String(tag, radix: 16))", offset: cursor.position - 2)
    }
  }
}
