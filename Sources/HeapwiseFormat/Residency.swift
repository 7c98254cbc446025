// RESIDENCY records (skippable tag 0x80): which pages of the heap and of anonymous mappings were
// resident at a marker or at exit. They stay `.skipped` in the event stream, so every consumer's
// exhaustive switch keeps working; `DumpReader.residency` collects them for those that want them.

/// The resident pages of one memory region (or one chunk of a large one) at one moment.
public struct ResidencyRegion: Sendable, Hashable {
  public enum Kind: UInt64, Sendable { case heap = 0, anonymous = 1 }
  /// When the snapshot was taken, and by which stream (a marker's thread, or 0 at exit).
  public var timestamp: UInt64
  public var stream: StreamID
  public var start: UInt64
  public var pages: Int
  /// Raw kind number; see `Kind`.
  public var kind: UInt64
  /// Bit `i % 8` of byte `i / 8` is set when page `i` was resident.
  public var bitmap: [UInt8]

  public init(timestamp: UInt64, stream: StreamID, start: UInt64, pages: Int, kind: UInt64, bitmap: [UInt8]) {
    self.timestamp = timestamp; self.stream = stream; self.start = start
    self.pages = pages; self.kind = kind; self.bitmap = bitmap
  }

  public func isResident(page i: Int) -> Bool {
    i >= 0 && i < pages && i / 8 < bitmap.count && bitmap[i / 8] & (1 << UInt8(i % 8)) != 0
  }

  public var residentPages: Int { bitmap.reduce(0) { $0 + $1.nonzeroBitCount } }
}

extension ResidencyRegion {
  /// Decodes a RESIDENCY body; nil when it is malformed (the record is then only skipped).
  static func decode(body: UnsafeRawBufferPointer, timestamp: UInt64, stream: StreamID) -> [ResidencyRegion]? {
    guard let base = body.baseAddress else { return [] }
    var c = ByteCursor(base: base, count: body.count)
    do {
      let count = try c.uvarint()
      var regions: [ResidencyRegion] = []
      for _ in 0..<min(count, 1 << 16) {
        let start = try c.uvarint(), pages = try c.uvarint(), kind = try c.uvarint()
        let bitmap = try c.lengthPrefixed()
        guard pages <= UInt64(bitmap.count) * 8 else { return nil }
        regions.append(ResidencyRegion(timestamp: timestamp, stream: stream, start: start, pages: Int(pages),
                                       kind: kind, bitmap: Array(bitmap.bindMemory(to: UInt8.self))))
      }
      return regions
    } catch {
      return nil
    }
  }
}
