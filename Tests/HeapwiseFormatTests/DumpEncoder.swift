// A test-only writer of dump format 1.0, written from docs/FORMAT.md independently of the C
// encoder, so the decoder is checked against the document and not only against the recorder.
import CZstd
import HeapwiseFormat

struct DumpEncoder {
  var bytes: [UInt8] = []

  /// Writes the header; `major` lets a test write a dump from a future version.
  init(pid: UInt32 = 4242, executable: String = "/usr/bin/app", arguments: [String] = ["app", "--flag"],
       major: UInt16 = 1, minor: UInt16 = 0, ticksPerSecond: UInt64 = 1_000_000_000, flags: UInt32 = 0) {
    var strings: [UInt8] = []
    strings.appendLE(UInt32(executable.utf8.count))
    strings += executable.utf8
    let cmd: [UInt8] = arguments.flatMap { Array($0.utf8) + [UInt8(0)] }
    strings.appendLE(UInt32(cmd.count))
    strings += cmd
    bytes += FormatConstants.magic
    bytes.appendLE(major)
    bytes.appendLE(minor)
    bytes.appendLE(UInt32(64 + strings.count))
    bytes.appendLE(pid)
    bytes.appendLE(UInt32(1))
    bytes.appendLE(UInt32(4096))
    bytes.appendLE(flags)
    bytes.appendLE(UInt64(1_700_000_000_000_000_000))
    bytes.appendLE(UInt64(5_000))
    bytes.appendLE(UInt64(1_000))
    bytes.appendLE(ticksPerSecond)
    bytes += strings
  }

  /// Appends a frame; `corruptCRC` writes a wrong checksum.
  mutating func append(_ frame: FrameBuilder, stream: UInt32, seq: UInt32, compress: Bool = false, corruptCRC: Bool = false,
                       coarseTime: Bool = false) {
    var stored = frame.payload
    var flags: UInt16 = coarseTime ? 2 : 0
    if compress {
      var out = [UInt8](repeating: 0, count: ZSTD_compressBound(stored.count))
      let n = out.withUnsafeMutableBytes { o in
        stored.withUnsafeBytes { s in ZSTD_compress(o.baseAddress, o.count, s.baseAddress, s.count, 3) }
      }
      precondition(ZSTD_isError(n) == 0)
      stored = Array(out[0..<n])
      flags |= 1
    }
    var h: [UInt8] = []
    h.appendLE(UInt32(stored.count))
    h.appendLE(UInt32(frame.payload.count))
    h.appendLE(stream)
    h.appendLE(seq)
    h.appendLE(frame.baseTimestamp)
    h.appendLE(flags)
    h.appendLE(UInt16(0))
    var crc = CRC32C.checksum(h + stored)
    if corruptCRC { crc ^= 1 }
    h.appendLE(crc)
    bytes += h + stored
  }
}

/// Builds one frame's payload with the two registers of the format.
struct FrameBuilder {
  let baseTimestamp: UInt64
  private var lastTimestamp: UInt64
  private var previousAddress: UInt64 = 0
  var payload: [UInt8] = []

  init(baseTimestamp: UInt64) {
    self.baseTimestamp = baseTimestamp
    lastTimestamp = baseTimestamp
  }

  private mutating func open(_ tag: UInt8, _ ts: UInt64) {
    precondition(ts >= lastTimestamp, "timestamps never decrease within a frame")
    payload.append(tag)
    payload.appendUVarint(ts - lastTimestamp)
    lastTimestamp = ts
  }

  private mutating func address(_ a: UInt64) {
    payload.appendSVarint(Int64(bitPattern: a &- previousAddress))
    previousAddress = a
  }

  mutating func alloc(_ ts: UInt64, _ addr: UInt64, _ size: UInt64, stack: UInt32, function: UInt8 = 1) {
    open(function, ts); address(addr); payload.appendUVarint(size); payload.appendUVarint(UInt64(stack))
  }
  mutating func free(_ ts: UInt64, _ addr: UInt64, function: UInt8 = 0) {
    open(0x10 + function, ts); address(addr)
  }
  mutating func mmap(_ ts: UInt64, _ addr: UInt64, _ length: UInt64, prot: UInt64 = 3, flags: UInt64 = 0x22, fd: Int64 = -1, stack: UInt32) {
    open(0x20, ts); address(addr)
    payload.appendUVarint(length); payload.appendUVarint(prot); payload.appendUVarint(flags)
    payload.appendSVarint(fd); payload.appendUVarint(UInt64(stack))
  }
  mutating func munmap(_ ts: UInt64, _ addr: UInt64, _ length: UInt64) {
    open(0x21, ts); address(addr); payload.appendUVarint(length)
  }
  mutating func mremap(_ ts: UInt64, _ old: UInt64, _ oldLength: UInt64, _ new: UInt64, _ newLength: UInt64, stack: UInt32) {
    open(0x22, ts); address(old); payload.appendUVarint(oldLength); address(new); payload.appendUVarint(newLength)
    payload.appendUVarint(UInt64(stack))
  }
  mutating func stack(_ ts: UInt64, id: UInt32, frames: [UInt64]) {
    open(0x30, ts); payload.appendUVarint(UInt64(id)); payload.appendUVarint(UInt64(frames.count))
    var prev: UInt64 = 0
    for f in frames { payload.appendSVarint(Int64(bitPattern: f &- prev)); prev = f }
  }
  mutating func thread(_ ts: UInt64, tid: UInt64, name: String) {
    open(0x31, ts); payload.appendUVarint(tid); payload.appendString(name)
  }
  mutating func module(_ ts: UInt64, id: UInt32, base: UInt64, path: String, buildID: [UInt8], segments: [(UInt64, UInt64, UInt64)]) {
    open(0x40, ts); payload.appendUVarint(UInt64(id)); payload.appendUVarint(base); payload.appendString(path)
    payload.appendUVarint(UInt64(buildID.count)); payload += buildID
    payload.appendUVarint(UInt64(segments.count))
    for s in segments { payload.appendUVarint(s.0); payload.appendUVarint(s.1); payload.appendUVarint(s.2) }
  }
  mutating func unload(_ ts: UInt64, id: UInt32) { open(0x41, ts); payload.appendUVarint(UInt64(id)) }
  mutating func sample(_ ts: UInt64, _ values: [(UInt64, UInt64)]) {
    open(0x50, ts); payload.appendUVarint(UInt64(values.count))
    for (k, v) in values { payload.appendUVarint(k); payload.appendUVarint(v) }
  }
  mutating func clock(_ ts: UInt64, monotonic: UInt64) { open(0x51, ts); payload.appendUVarint(monotonic) }
  mutating func marker(_ ts: UInt64, _ name: String, source: UInt64 = 0) {
    open(0x52, ts); payload.appendUVarint(source); payload.appendString(name)
  }
  mutating func trim(_ ts: UInt64, before: UInt64, after: UInt64, result: UInt64) {
    open(0x53, ts); payload.appendUVarint(before); payload.appendUVarint(after); payload.appendUVarint(result)
  }
  /// SAMPLING (0x54), or with `offset` SAMPLING_OFFSET (0x55, format 1.4).
  mutating func sampling(_ ts: UInt64, rate: UInt64, seed: UInt64, capacity: UInt64, offset: UInt64? = nil) {
    open(offset == nil ? 0x54 : 0x55, ts)
    payload.appendUVarint(rate); payload.appendUVarint(seed); payload.appendUVarint(capacity)
    if let offset { payload.appendUVarint(offset) }
  }
  mutating func skippable(_ ts: UInt64, tag: UInt8, body: [UInt8]) {
    open(tag, ts); payload.appendUVarint(UInt64(body.count)); payload += body
  }
  mutating func end(_ ts: UInt64, reason: UInt64 = 0, signal: UInt64 = 0) {
    open(0xff, ts); payload.appendUVarint(reason); payload.appendUVarint(signal)
  }
  mutating func raw(_ bytes: [UInt8]) { payload += bytes }
}

extension Array where Element == UInt8 {
  mutating func appendLE<T: FixedWidthInteger>(_ v: T) {
    Swift.withUnsafeBytes(of: v.littleEndian) { append(contentsOf: $0) }
  }
  mutating func appendUVarint(_ value: UInt64) {
    var v = value
    while v >= 0x80 { append(UInt8(v & 0x7f) | 0x80); v >>= 7 }
    append(UInt8(v))
  }
  mutating func appendSVarint(_ v: Int64) {
    appendUVarint(UInt64(bitPattern: (v << 1) ^ (v >> 63)))
  }
  mutating func appendString(_ s: String) {
    appendUVarint(UInt64(s.utf8.count)); append(contentsOf: s.utf8)
  }
}
