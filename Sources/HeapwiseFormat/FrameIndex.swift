// Pass 1: walk the frame headers, check each frame's CRC, and list every stream's frames in seq
// order. No payload is decompressed here, so this pass costs one CRC over the file.

/// Where one frame lives in the file.
struct FrameRef {
  var offset: Int
  var stream: UInt32
  var seq: UInt32
  var baseTimestamp: UInt64
  var storedSize: Int
  var rawSize: Int
  var compressed: Bool
  /// Timestamp deltas count units of 2^timeShift (a coarse-time frame, docs/FORMAT.md).
  var timeShift: UInt64 = 0
  var payloadOffset: Int { offset + FormatConstants.frameHeaderSize }
}

struct FrameIndex {
  /// Streams in ascending stream number, each with its frames in seq order.
  var streams: [(stream: StreamID, frames: [FrameRef])] = []
  var warnings: [DumpWarning] = []
  /// Bytes of frames that passed the checks (for progress).
  var validBytes: Int = 0
  var frameCount: Int = 0

  init(file: UnsafeRawBufferPointer, from start: Int, maxStream: UInt32 = .max, release: (Range<Int>) -> Void = { _ in }) {
    var byStream: [UInt32: [FrameRef]] = [:]
    var offset = start
    let size = file.count
    let headerSize = FormatConstants.frameHeaderSize
    while offset < size {
      guard size - offset >= headerSize, let base = file.baseAddress else {
        warnings.append(.truncated(offset: offset))
        break
      }
      let h = base + offset
      func u32(_ at: Int) -> UInt32 { UInt32(littleEndian: h.loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
      let stored = u32(0)
      let raw = u32(4)
      let flags = UInt16(littleEndian: h.loadUnaligned(fromByteOffset: 24, as: UInt16.self))
      let compressed = flags & FormatConstants.frameFlagCompressed != 0
      if stored > FormatConstants.maxFrameSize || raw > FormatConstants.maxFrameSize {
        warnings.append(.corrupt(offset: offset, reason: "frame size over the 64 MiB limit"))
        break
      }
      if size - offset - headerSize < Int(stored) {
        warnings.append(.truncated(offset: offset))
        break
      }
      var crc = CRC32C.update(0, UnsafeRawBufferPointer(start: h, count: 28))
      crc = CRC32C.update(crc, UnsafeRawBufferPointer(start: h + headerSize, count: Int(stored)))
      if crc != u32(28) {
        warnings.append(.corrupt(offset: offset, reason: "checksum mismatch"))
        break
      }
      if u32(8) > maxStream {
        warnings.append(.corrupt(offset: offset, reason: "stream \(u32(8)) over the limit \(maxStream)"))
        break
      }
      if !compressed && raw != stored {
        warnings.append(.corrupt(offset: offset, reason: "raw size differs from stored size in an uncompressed frame"))
        break
      }
      let ref = FrameRef(
        offset: offset, stream: u32(8), seq: u32(12),
        baseTimestamp: UInt64(littleEndian: h.loadUnaligned(fromByteOffset: 16, as: UInt64.self)),
        storedSize: Int(stored), rawSize: Int(raw), compressed: compressed,
        timeShift: flags & FormatConstants.frameFlagCoarseTime != 0 ? FormatConstants.coarseTimeShift : 0)
      release(offset..<(offset + headerSize + Int(stored)))
      byStream[ref.stream, default: []].append(ref)
      frameCount += 1
      offset += headerSize + Int(stored)
      validBytes = offset - start
    }
    for stream in byStream.keys.sorted() {
      // Written in seq order, but a reader must not rely on it.
      var frames = byStream[stream]!.sorted { ($0.seq, $0.offset) < ($1.seq, $1.offset) }
      var kept: [FrameRef] = []
      kept.reserveCapacity(frames.count)
      var expected: UInt32 = 0
      for f in frames {
        if let last = kept.last, last.seq == f.seq {
          warnings.append(.duplicateFrame(stream: StreamID(stream), seq: f.seq))
          continue
        }
        if f.seq > expected {
          warnings.append(.sequenceGap(stream: StreamID(stream), missing: expected...(f.seq - 1)))
        }
        kept.append(f)
        expected = f.seq &+ 1
      }
      frames = kept
      streams.append((StreamID(stream), frames))
    }
  }
}
