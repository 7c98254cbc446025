import Foundation
import HeapwiseFormat
import Testing

@Suite struct DumpReaderTests {
  static let expectedSample = [
    "100 s0 module 1 /usr/bin/app segs=2",
    "110 s1 thread 77 main",
    "111 s1 stack 1 0x555500001234,0x555500001000",
    "120 s1 malloc 0x700000001000 100 1",
    "125 s2 thread 78 worker",
    "130 s1 calloc 0x700000002000 25 1",
    "140 s2 free 0x700000001000",
    "140 s2 malloc 0x700000001000 48 2",
    "141 s2 stack 2 0x555500001300",
    "150 s0 sample 2=1048576,41=3",
    "160 s0 marker 1 half",
    "400 s0 end 0 0",
  ]

  @Test(arguments: [false, true])
  func mergesStreamsByTimestamp(compress: Bool) throws {
    let reader = try DumpReader(path: temporaryDump(sampleDump(compress: compress)))
    #expect(reader.readAll().map(describe) == Self.expectedSample)
    #expect(reader.warnings.isEmpty)
    #expect(reader.sawEnd)
    #expect(reader.streamCount == 3)
    #expect(reader.header.pid == 4242)
    #expect(reader.header.arguments == ["app", "--flag"])
    #expect(reader.header.executable == "/usr/bin/app")
  }

  @Test func equalTimestampsGoToTheLowerStreamThenFileOrder() throws {
    var d = DumpEncoder()
    var a = FrameBuilder(baseTimestamp: 10)
    a.alloc(10, 0x1000, 1, stack: 1)
    a.alloc(10, 0x2000, 2, stack: 1)
    var b = FrameBuilder(baseTimestamp: 10)
    b.free(10, 0x3000)
    d.append(b, stream: 5, seq: 0)
    d.append(a, stream: 3, seq: 0)
    let events = try DumpReader(path: temporaryDump(d.bytes)).readAll().map(describe)
    #expect(events == ["10 s3 malloc 0x1000 1 1", "10 s3 malloc 0x2000 2 1", "10 s5 free 0x3000"])
  }

  @Test func framesOfOneStreamFollowSeqNotFileOrder() throws {
    var d = DumpEncoder()
    var f0 = FrameBuilder(baseTimestamp: 1)
    f0.alloc(1, 0x10, 1, stack: 1)
    var f1 = FrameBuilder(baseTimestamp: 5)
    f1.free(6, 0x10)
    var other = FrameBuilder(baseTimestamp: 3)
    other.alloc(3, 0x20, 2, stack: 1)
    d.append(f1, stream: 1, seq: 1)
    d.append(other, stream: 2, seq: 0)
    d.append(f0, stream: 1, seq: 0)
    d.append(f0, stream: 1, seq: 0)  // a repeat is ignored
    let reader = try DumpReader(path: temporaryDump(d.bytes))
    #expect(reader.readAll().map(describe) == ["1 s1 malloc 0x10 1 1", "3 s2 malloc 0x20 2 1", "6 s1 free 0x10"])
    #expect(reader.warnings.contains(.duplicateFrame(stream: StreamID(1), seq: 0)))
    #expect(reader.warnings.contains(.missingEnd))
  }

  /// Coarse-time frames count their deltas in units of 2^16; base_ts keeps its meaning.
  @Test func coarseTimeFramesScaleTheirDeltas() throws {
    var d = DumpEncoder()
    var f = FrameBuilder(baseTimestamp: 1_000_000)
    f.alloc(1_000_000, 0x10, 1, stack: 1)
    f.free(1_000_003, 0x10)   // a delta of 3 units: 3 << 16 ticks
    d.append(f, stream: 1, seq: 0, compress: true, coarseTime: true)
    var g = FrameBuilder(baseTimestamp: 1_000_000 + (2 << 16))
    g.alloc(1_000_000 + (2 << 16), 0x20, 2, stack: 1)
    d.append(g, stream: 2, seq: 0)
    let events = try DumpReader(path: temporaryDump(d.bytes)).readAll().map(describe)
    #expect(events == [
      "1000000 s1 malloc 0x10 1 1", "1131072 s2 malloc 0x20 2 1", "\(1_000_000 + (3 << 16)) s1 free 0x10",
    ])
  }

  @Test func reportsSequenceGaps() throws {
    var d = DumpEncoder()
    var f = FrameBuilder(baseTimestamp: 1)
    f.alloc(1, 0x10, 1, stack: 1)
    d.append(f, stream: 1, seq: 0)
    d.append(f, stream: 1, seq: 3)
    let reader = try DumpReader(path: temporaryDump(d.bytes))
    _ = reader.readAll()
    #expect(reader.warnings.contains(.sequenceGap(stream: StreamID(1), missing: 1...2)))
  }

  @Test func everyRecordKindRoundTrips() throws {
    var d = DumpEncoder()
    var f = FrameBuilder(baseTimestamp: 1_000_000)
    f.alloc(1_000_000, 0xffff_ffff_ffff_fff0, UInt64.max, stack: UInt32.max, function: 9)
    f.free(1_000_001, 0x10, function: 3)
    f.free(1_000_002, 0x20, function: 4)
    f.mmap(1_000_003, 0x7f00_0000_0000, 1 << 30, fd: 7, stack: 3)
    f.munmap(1_000_004, 0x7f00_0000_1000, 4096)
    f.mremap(1_000_005, 0x7f00_0000_0000, 4096, 0x7e00_0000_0000, 8192, stack: 4)
    f.unload(1_000_006, id: 9)
    f.clock(1_000_007, monotonic: 123_456_789)
    f.trim(1_000_008, before: 10, after: 5, result: 1)
    f.skippable(1_000_009, tag: 0x90, body: [1, 2, 3, 0xff])
    f.stack(1_000_010, id: 8, frames: [0x7fff_0000_0000, 0x10, 0x7fff_0000_0000])
    f.end(1_000_011, reason: 2, signal: 11)
    d.append(f, stream: 0, seq: 0, compress: true)
    // Extreme values decode as written once the reader's limits (CraftedDumpTests) are lifted.
    let events = try DumpReader(path: temporaryDump(d.bytes), options: ReaderOptions(limits: .unlimited)).readAll().map(describe)
    #expect(events == [
      "1000000 s0 pvalloc 0xfffffffffffffff0 18446744073709551615 4294967295",
      "1000001 s0 free/realloc 0x10",
      "1000002 s0 free/reallocarray 0x20",
      "1000003 s0 mmap 0x7f0000000000 1073741824 fd=7 3",
      "1000004 s0 munmap 0x7f0000001000 4096",
      "1000005 s0 mremap 0x7f0000000000 4096 0x7e0000000000 8192 4",
      "1000006 s0 unload 9",
      "1000007 s0 clock 123456789",
      "1000008 s0 trim 10 5 1",
      "1000009 s0 skipped 0x90",
      "1000010 s0 stack 8 0x7fff00000000,0x10,0x7fff00000000",
      "1000011 s0 end 2 11",
    ])
  }

  @Test func unknownFixedTagStopsAsCorrupt() throws {
    var d = DumpEncoder()
    var f = FrameBuilder(baseTimestamp: 1)
    f.alloc(1, 0x10, 1, stack: 1)
    f.raw([0x7e, 0])
    f.free(2, 0x10)
    d.append(f, stream: 1, seq: 0)
    let reader = try DumpReader(path: temporaryDump(d.bytes))
    #expect(reader.readAll().map(describe) == ["1 s1 malloc 0x10 1 1"])
    #expect(reader.warnings.contains { if case .corrupt = $0 { true } else { false } })
  }

  @Test func corruptChecksumStopsAndKeepsWhatCameBefore() throws {
    var d = DumpEncoder()
    var f = FrameBuilder(baseTimestamp: 1)
    f.alloc(1, 0x10, 1, stack: 1)
    d.append(f, stream: 1, seq: 0)
    let offset = d.bytes.count
    var g = FrameBuilder(baseTimestamp: 2)
    g.free(2, 0x10)
    d.append(g, stream: 1, seq: 1, corruptCRC: true)
    d.append(g, stream: 2, seq: 0)
    let reader = try DumpReader(path: temporaryDump(d.bytes))
    #expect(reader.readAll().map(describe) == ["1 s1 malloc 0x10 1 1"])
    #expect(reader.warnings.first == .corrupt(offset: offset, reason: "checksum mismatch"))
  }

  @Test func undecompressibleFrameIsCorrupt() throws {
    var d = DumpEncoder()
    var f = FrameBuilder(baseTimestamp: 1)
    f.alloc(1, 0x10, 1, stack: 1)
    d.append(f, stream: 1, seq: 0)
    // A frame flagged compressed whose payload is not zstd, with a valid CRC.
    var h: [UInt8] = []
    let junk: [UInt8] = [1, 2, 3, 4, 5]
    h.appendLE(UInt32(junk.count)); h.appendLE(UInt32(50)); h.appendLE(UInt32(1)); h.appendLE(UInt32(1))
    h.appendLE(UInt64(5)); h.appendLE(UInt16(1)); h.appendLE(UInt16(0))
    h.appendLE(CRC32C.checksum(h + junk))
    d.bytes += h + junk
    let reader = try DumpReader(path: temporaryDump(d.bytes))
    #expect(reader.readAll().count == 1)
    #expect(reader.warnings.contains { if case .corrupt = $0 { true } else { false } })
  }

  /// A cut dump loses whole frames at its end: each stream's events must be a prefix of that
  /// stream's events in the whole dump, and a cut inside a frame must be reported.
  @Test(arguments: [false, true])
  func cutAtEveryByteIsAPrefixOrAnError(compress: Bool) throws {
    let full = sampleDump(compress: compress)
    let reader = try DumpReader(path: temporaryDump(full))
    let all = reader.readAll()
    let headerSize = reader.header.headerSize
    func byStream(_ events: [Event]) -> [UInt32: [String]] {
      Dictionary(grouping: events, by: { $0.stream.rawValue }).mapValues { $0.map(describe) }
    }
    let allByStream = byStream(all)
    var boundaries: Set<Int> = [headerSize]
    var at = headerSize
    while at < full.count {
      at += 32 + Int(full[at]) | Int(full[at + 1]) << 8
      boundaries.insert(at)
    }
    for cut in 0..<full.count {
      let path = temporaryDump(Array(full[0..<cut]), name: "cut")
      defer { unlink(path) }
      do {
        let reader = try DumpReader(path: path)
        let events = reader.readAll()
        for (stream, got) in byStream(events) {
          #expect(Array(allByStream[stream]!.prefix(got.count)) == got, "cut at \(cut)")
        }
        #expect(events.count < all.count, "cut at \(cut)")
        let truncated = reader.warnings.contains { if case .truncated = $0 { true } else { false } }
        #expect(truncated == !boundaries.contains(cut), "cut at \(cut)")
      } catch let e {
        #expect(cut < headerSize, "cut at \(cut): \(e)")
      }
    }
  }

  @Test func everyByteFlippedNeverTraps() throws {
    let full = sampleDump(compress: true)
    for i in 0..<full.count {
      var bytes = full
      bytes[i] ^= 0x5a
      let path = temporaryDump(bytes, name: "flip")
      defer { unlink(path) }
      if let reader = try? DumpReader(path: path) { _ = reader.readAll() }
    }
  }
}
