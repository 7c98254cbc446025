import HeapwiseFormat
import TestSupport
import Testing

/// The fast path of reading (block records decoded in chunks, handed out in runs, optionally on
/// the read-ahead thread) against an order worked out here from what was written: every field
/// width a varint can have, streams that interleave record by record and stretches where one
/// stream runs alone for several chunks, rare records in between, compressed and plain frames.
@Suite struct BlockRunTests {

  /// Writes the dump and returns the events a reader must produce, in order.
  static func randomDump(seed: UInt64) -> (bytes: [UInt8], expected: [String]) {
    var rng = SplitMix(seed: seed)
    var d = DumpEncoder()
    // (timestamp, stream, order written) -> description; sorted, this is the merge order.
    var expected: [(UInt64, UInt32, Int, String)] = []
    let streams: [UInt32] = [1, 2, 3]
    var clocks: [UInt32: UInt64] = [1: 0, 2: 0, 3: 0]
    var seqs: [UInt32: UInt32] = [1: 0, 2: 0, 3: 0]
    var written = 0
    // Phases: all streams interleaved, then stream 2 alone for many chunks, then interleaved.
    let phases: [(start: Int, end: Int, busy: [UInt32])] = [(0, 30_000, streams), (30_000, 90_000, [2]), (90_000, 120_000, streams)]
    for (phase, (start, end, busy)) in phases.enumerated() {
      for s in busy {
        var ts = max(clocks[s]!, UInt64(start))
        let count = busy.count == 1 ? 12_000 : 3_000
        var frame = FrameBuilder(baseTimestamp: clocks[s]!)
        var inFrame = 0
        let flush = { (frame: inout FrameBuilder, ts: UInt64) in
          d.append(frame, stream: s, seq: seqs[s]!, compress: (seqs[s]! + UInt32(phase)) % 2 == 0)
          seqs[s]! += 1
          frame = FrameBuilder(baseTimestamp: ts)
          inFrame = 0
        }
        for _ in 0..<count {
          ts += UInt64(end - start) / UInt64(count) / 2 + rng.next() % 3
          let line: String
          // Rare records only where streams interleave; the stream alone writes big frames of
          // block records, so whole chunks pass through.
          switch busy.count == 1 ? 2 + rng.next() % 98 : rng.next() % 100 {
          case 0:
            frame.marker(ts, "m\(written)")
            line = "marker 0 m\(written)"
          case 1:
            let id = UInt32(truncatingIfNeeded: rng.next() % 1000 + 1), caller = rng.next()
            frame.stack(ts, id: id, frames: [0x1000, caller])
            line = "stack \(id) 0x1000,0x\(String(caller, radix: 16))"
          case 2..<50:
            let addr = rng.next(), size = rng.anyWidth()
            let stack = UInt32(truncatingIfNeeded: rng.next() % 3 == 0 ? rng.anyWidth() : rng.next() % 50)
            let function = UInt8(rng.next() % 9 + 1)
            frame.alloc(ts, addr, size, stack: stack, function: function)
            line = "\(AllocatorFunction(rawValue: function)!) 0x\(String(addr, radix: 16)) \(size) \(stack)"
          default:
            let addr = rng.anyWidth()
            let function: UInt8 = [0, 0, 0, 3, 4][Int(rng.next() % 5)]
            frame.free(ts, addr, function: function)
            let f = AllocatorFunction(rawValue: function)!
            line = "\(f == .free ? "free" : "free/\(f)") 0x\(String(addr, radix: 16))"
          }
          expected.append((ts, s, written, "\(ts) s\(s) \(line)"))
          written += 1
          inFrame += 1
          if inFrame == (busy.count == 1 ? 9_000 : 700) { flush(&frame, ts) }
        }
        if inFrame > 0 { flush(&frame, ts) }
        clocks[s] = ts
      }
    }
    var end = FrameBuilder(baseTimestamp: 200_000)
    end.end(200_000)
    d.append(end, stream: 0, seq: 0)
    expected.append((200_000, 0, written, "200000 s0 end 0 0"))
    expected.sort { ($0.0, $0.1, $0.2) < ($1.0, $1.1, $1.2) }
    return (d.bytes, expected.map(\.3))
  }

  @Test(arguments: [false, true])
  func eventsMatchWhatWasWritten(readAhead: Bool) throws {
    let (bytes, expected) = Self.randomDump(seed: 7)
    let reader = try DumpReader(path: temporaryDump(bytes), options: ReaderOptions(readAhead: readAhead, limits: .unlimited))
    #expect(reader.readsAhead == readAhead)
    let events = reader.readAll().map(describe)
    #expect(events.count == expected.count)
    #expect(events == expected)
    #expect(reader.warnings.isEmpty)
    #expect(reader.sawEnd)
  }

  /// Runs hold one stream's records in order; whole chunks pass through when one stream runs alone.
  @Test(arguments: [false, true])
  func runsFlattenToTheSameOrder(readAhead: Bool) throws {
    let (bytes, expected) = Self.randomDump(seed: 11)
    let reader = try DumpReader(path: temporaryDump(bytes), options: ReaderOptions(readAhead: readAhead, limits: .unlimited))
    var events: [String] = []
    var longest = 0
    loop: while true {
      switch reader.nextStep() {
      case .blocks(let run):
        #expect(!run.records.isEmpty)
        longest = max(longest, run.records.count)
        for r in run.records { events.append(describe(Event(timestamp: r.timestamp, stream: run.stream, record: r.record))) }
      case .event(let e):
        events.append(describe(e))
      case .end:
        break loop
      }
    }
    #expect(events == expected)
    #expect(longest >= 4096, "a stream alone should come out a whole chunk at a time")
    #expect(reader.nextStep().isEnd)
  }

  /// A corrupt record stops the reading at the same event in both modes, with the same warning.
  @Test func corruptRecordStopsBothModesAlike() throws {
    var d = DumpEncoder()
    var a = FrameBuilder(baseTimestamp: 1)
    for i in 0..<3000 { a.alloc(UInt64(i + 1), UInt64(0x1000 + 16 * i), 32, stack: 1) }
    // An ALLOC whose address varint runs past ten bytes.
    a.raw([0x01, 0x00] + [UInt8](repeating: 0xff, count: 11) + [0x01])
    for _ in 0..<60 { a.free(4000, 0x1000) }
    d.append(a, stream: 1, seq: 0, compress: true)
    var b = FrameBuilder(baseTimestamp: 1)
    for i in 0..<4000 { b.free(UInt64(i + 1), UInt64(0x1000 + 16 * i)) }
    d.append(b, stream: 2, seq: 0)
    let path = temporaryDump(d.bytes)
    var results: [[String]] = []
    var warnings: [[DumpWarning]] = []
    for readAhead in [false, true] {
      let reader = try DumpReader(path: path, options: ReaderOptions(readAhead: readAhead, limits: .unlimited))
      results.append(reader.readAll().map(describe))
      warnings.append(reader.warnings)
    }
    #expect(results[0] == results[1])
    #expect(warnings[0] == warnings[1])
    #expect(results[0].filter { $0.contains(" s1 malloc") }.count == 3000)
    #expect(warnings[0].contains { if case .corrupt(_, let reason) = $0 { reason.contains("malformed varint") } else { false } })
  }

  /// Records whose every field is a ten-byte varint (valid, if not canonical), then one cut a byte
  /// short, at the very end of an uncompressed frame at the end of the file: the fast loop must
  /// stop short of reading past the payload, and the checked decoder report the cut record.
  @Test(arguments: [false, true])
  func widestRecordsAtTheEndOfTheFile(readAhead: Bool) throws {
    func wide(_ v: UInt64) -> [UInt8] {
      (0..<9).map { UInt8(truncatingIfNeeded: (v >> (7 * UInt64($0))) & 0x7f) | 0x80 } + [UInt8(v >> 63)]
    }
    var d = DumpEncoder()
    var f = FrameBuilder(baseTimestamp: 5)
    var expected: [String] = []
    var previous: UInt64 = 0
    for i in 0..<6 {
      let address = 0x7000_0000_0000 + UInt64(i) * 0x40
      let delta = Int64(bitPattern: address &- previous)
      previous = address
      f.raw([0x01] + wide(1) + wide(UInt64(bitPattern: (delta << 1) ^ (delta >> 63))) + wide(1 << 40 + UInt64(i)) + wide(7))
      expected.append("\(6 + i) s1 malloc 0x\(String(address, radix: 16)) \(1 << 40 + UInt64(i)) 7")
    }
    f.raw(Array(([0x01] + wide(1) + wide(2) + wide(3) + wide(7)).dropLast()))
    d.append(f, stream: 1, seq: 0)
    let reader = try DumpReader(path: temporaryDump(d.bytes), options: ReaderOptions(readAhead: readAhead, limits: .unlimited))
    #expect(reader.readAll().map(describe) == expected)
    #expect(reader.warnings.contains { if case .corrupt(_, let reason) = $0 { reason.hasPrefix("record runs past the end") } else { false } })
  }

  /// RESIDENCY regions and pass-2 warnings reach the reader the same way from the read-ahead
  /// thread as from the foreground, with enough records between them to fill many batches.
  @Test func residencyAndWarningsCrossTheThread() throws {
    var d = DumpEncoder()
    for seq in 0..<4 {
      var f = FrameBuilder(baseTimestamp: UInt64(seq) * 100_000)
      for i in 0..<20_000 {
        let ts = UInt64(seq) * 100_000 + UInt64(i)
        f.alloc(ts, 0x1000 + UInt64(i) * 16, 32, stack: 1)
        if i % 5_000 == 0 {
          // One region: start, 3 pages, heap, a bitmap byte with pages 0 and 2 resident.
          var body: [UInt8] = []
          body.appendUVarint(1)
          body.appendUVarint(0x5555_0000 + UInt64(i))
          body.appendUVarint(3)
          body.appendUVarint(0)
          body.appendUVarint(1)
          body.append(0b101)
          f.skippable(ts, tag: 0x80, body: body)
        }
      }
      // Stream 2 skips seq 2: a gap (pass 1) ...
      if seq != 2 { d.append(f, stream: 2, seq: UInt32(seq), compress: true) }
    }
    // ... and stream 3 ends in a corrupt record (pass 2).
    var bad = FrameBuilder(baseTimestamp: 350_000)
    bad.free(350_000, 0x1000)
    bad.raw([0x7f, 0x00])
    d.append(bad, stream: 3, seq: 0)
    let path = temporaryDump(d.bytes)
    var seen: [([String], [ResidencyRegion], [DumpWarning])] = []
    for readAhead in [false, true] {
      let reader = try DumpReader(path: path, options: ReaderOptions(readAhead: readAhead, limits: .unlimited))
      seen.append((reader.readAll().map(describe), reader.residency, reader.warnings))
    }
    #expect(seen[0].0 == seen[1].0)
    #expect(seen[0].1 == seen[1].1)
    #expect(seen[0].2 == seen[1].2)
    #expect(seen[1].1.count == 12)
    #expect(seen[1].1.first?.pages == 3 && seen[1].1.first?.bitmap == [0b101])
    #expect(seen[1].2.contains(.sequenceGap(stream: StreamID(2), missing: 2...2)))
    #expect(seen[1].2.contains { if case .corrupt(_, let reason) = $0 { reason.hasPrefix("unknown record tag 0x7f") } else { false } })
  }

  /// A hundred streams (so chunks shrink to 2,621 records) that interleave: the same order in
  /// both modes as computed from what was written.
  @Test(arguments: [false, true])
  func manyStreams(readAhead: Bool) throws {
    var rng = SplitMix(seed: 5)
    var d = DumpEncoder()
    var expected: [(UInt64, UInt32, Int, String)] = []
    for s in 1...100 {
      var ts = rng.next() % 1000
      var f = FrameBuilder(baseTimestamp: ts)
      for i in 0..<1000 {
        ts += rng.next() % 50
        let address = 0x1000 + UInt64(i) * 16
        f.alloc(ts, address, UInt64(i), stack: UInt32(s))
        expected.append((ts, UInt32(s), i, "\(ts) s\(s) malloc 0x\(String(address, radix: 16)) \(i) \(s)"))
      }
      d.append(f, stream: UInt32(s), seq: 0, compress: s % 2 == 0)
    }
    expected.sort { ($0.0, $0.1, $0.2) < ($1.0, $1.1, $1.2) }
    let reader = try DumpReader(path: temporaryDump(d.bytes), options: ReaderOptions(readAhead: readAhead, limits: .unlimited))
    #expect(reader.readAll().map(describe) == expected.map(\.3))
  }

  /// A reader dropped halfway stops its read-ahead thread (the test would hang otherwise).
  @Test func droppingAReaderHalfwayStopsItsThread() throws {
    let (bytes, _) = Self.randomDump(seed: 3)
    let path = temporaryDump(bytes)
    for taken in [0, 1, 5000] {
      let reader = try DumpReader(path: path, options: ReaderOptions(readAhead: true, limits: .unlimited))
      for _ in 0..<taken { _ = reader.next() }
    }
  }
}

extension ReadStep {
  var isEnd: Bool { if case .end = self { true } else { false } }
}

extension SplitMix {
  /// A value of a random bit length, so that every varint length from 1 to 10 bytes occurs.
  mutating func anyWidth() -> UInt64 { next() >> (next() % 64) }
}
