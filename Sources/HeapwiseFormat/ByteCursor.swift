// Bounds-checked reads over a raw buffer: `available` is checked before every read, so a corrupt
// or cut buffer ends in a thrown `CursorError`, never a trap.

struct CursorError: Error {
  enum Kind { case truncated, malformed }
  var kind: Kind
  /// Offset within the buffer where the bad read started.
  var offset: Int
}

struct ByteCursor {
  let base: UnsafeRawPointer
  let count: Int
  var position: Int = 0

  init(base: UnsafeRawPointer, count: Int) {
    self.base = base
    self.count = count
  }

  var available: Int { count - position }
  var isAtEnd: Bool { position >= count }

  @inline(__always)
  mutating func byte() throws(CursorError) -> UInt8 {
    guard position < count else { throw CursorError(kind: .truncated, offset: position) }
    let b = base.load(fromByteOffset: position, as: UInt8.self)
    position += 1
    return b
  }

  @inline(__always)
  mutating func littleEndian<T: FixedWidthInteger>(_: T.Type) throws(CursorError) -> T {
    let n = MemoryLayout<T>.size
    guard available >= n else { throw CursorError(kind: .truncated, offset: position) }
    let v = base.loadUnaligned(fromByteOffset: position, as: T.self)
    position += n
    return T(littleEndian: v)
  }

  /// LEB128; more than 10 bytes, or bits beyond 64, is malformed.
  @inline(__always)
  mutating func uvarint() throws(CursorError) -> UInt64 {
    // One- and two-byte values (most deltas, sizes and stack ids) take the fast path.
    if position + 1 < count {
      let b0 = base.load(fromByteOffset: position, as: UInt8.self)
      if b0 < 0x80 { position += 1; return UInt64(b0) }
      let b1 = base.load(fromByteOffset: position + 1, as: UInt8.self)
      if b1 < 0x80 { position += 2; return UInt64(b0 & 0x7f) | UInt64(b1) << 7 }
    } else if position < count {
      let b0 = base.load(fromByteOffset: position, as: UInt8.self)
      if b0 < 0x80 { position += 1; return UInt64(b0) }
    }
    return try uvarintSlow()
  }

  mutating func uvarintSlow() throws(CursorError) -> UInt64 {
    let start = position
    var result: UInt64 = 0
    var shift: UInt64 = 0
    while true {
      guard position < count else { throw CursorError(kind: .truncated, offset: start) }
      let b = base.load(fromByteOffset: position, as: UInt8.self)
      position += 1
      if shift == 63 && b > 1 { throw CursorError(kind: .malformed, offset: start) }
      result |= UInt64(b & 0x7f) << shift
      if b < 0x80 { return result }
      shift += 7
      if shift > 63 { throw CursorError(kind: .malformed, offset: start) }
    }
  }

  @inline(__always)
  mutating func svarint() throws(CursorError) -> Int64 {
    let u = try uvarint()
    return Int64(bitPattern: (u >> 1) ^ (0 &- (u & 1)))
  }

  /// A uvarint that must fit in UInt32 (ids, counts).
  @inline(__always)
  mutating func uvarint32() throws(CursorError) -> UInt32 {
    let start = position
    let v = try uvarint()
    guard v <= UInt64(UInt32.max) else { throw CursorError(kind: .malformed, offset: start) }
    return UInt32(v)
  }

  mutating func bytes(_ n: Int) throws(CursorError) -> UnsafeRawBufferPointer {
    guard n >= 0, available >= n else { throw CursorError(kind: .truncated, offset: position) }
    let r = UnsafeRawBufferPointer(start: base + position, count: n)
    position += n
    return r
  }

  /// A uvarint length followed by that many bytes.
  mutating func lengthPrefixed() throws(CursorError) -> UnsafeRawBufferPointer {
    let start = position
    let n = try uvarint()
    guard n <= UInt64(available) else { throw CursorError(kind: .truncated, offset: start) }
    return try bytes(Int(n))
  }
}

extension String {
  /// Text fields are UTF-8 where they are text, but any bytes are accepted (invalid ones become U+FFFD).
  init(dumpBytes: UnsafeRawBufferPointer) {
    self = String(decoding: dumpBytes.bindMemory(to: UInt8.self), as: UTF8.self)
  }
}
