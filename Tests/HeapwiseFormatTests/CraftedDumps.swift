// Dumps with valid checksums whose fields ask for absurd quantities: each once crashed, hung or
// exhausted the analyzer (issue 10, item 7). They are built here with DumpEncoder and kept as
// files in Tests/FuzzCases/crafted-NAME.dump, where EndToEndTests replays every file through every command.
// `HEAPWISE_WRITE_CRAFTED=DIR swift test --filter CraftedDumpTests` rewrites the files.
import HeapwiseFormat

enum CraftedDumps {
  /// A dump of one thread stream `stream` whose frame holds `body`, then the process stream's END.
  static func dump(stream: UInt32 = 1, ticksPerSecond: UInt64 = 1_000_000_000, end: UInt64 = 1000,
                   _ body: (inout FrameBuilder) -> Void) -> [UInt8] {
    var d = DumpEncoder(ticksPerSecond: ticksPerSecond)
    var t = FrameBuilder(baseTimestamp: 100)
    t.thread(100, tid: 7, name: "main")
    body(&t)
    d.append(t, stream: stream, seq: 0)
    var p = FrameBuilder(baseTimestamp: end)
    p.end(end)
    d.append(p, stream: 0, seq: 0)
    return d.bytes
  }

  static let all: [(name: String, bytes: [UInt8])] = [
    // `top` asked for 4 Gi per-stream slots (34 GB) and aborted.
    ("stream-0xffffffff", dump(stream: 0xffff_ffff) { t in
      t.stack(101, id: 1, frames: [0x1000])
      t.alloc(110, 0x10_0000, 64, stack: 1)
    }),
    // 8.4 GB of RSS for 170 bytes.
    ("stream-2p30", dump(stream: 1 << 30) { t in
      t.stack(101, id: 1, frames: [0x1000])
      t.alloc(110, 0x10_0000, 64, stack: 1)
    }),
    // `summary` trapped on an overflow.
    ("alloc-2p63", dump { t in
      t.stack(101, id: 1, frames: [0x1000])
      t.alloc(110, 0x10_0000, 1 << 63, stack: 1)
    }),
    ("two-allocs-2p62", dump { t in
      t.stack(101, id: 1, frames: [0x1000])
      t.alloc(110, 0x10_0000, 1 << 62, stack: 1)
      t.alloc(111, 0x20_0000, 1 << 62, stack: 1)
    }),
    // `summary` walked the block's 2^36 pages one by one: minutes.
    ("alloc-2p48", dump { t in
      t.stack(101, id: 1, frames: [0x1000])
      t.alloc(110, 0x5555_0000_0000, 1 << 48, stack: 1)
    }),
    // Overlapping blocks that are each possible but add up past 2^64.
    ("overlapping-2p56", dump { t in
      t.stack(101, id: 1, frames: [0x1000])
      for i in 0..<300 as Range<UInt64> { t.alloc(110 + i, 0x10_0000 + i * 16, 1 << 56, stack: 1) }
    }),
    // The block's end is past 2^64.
    ("alloc-end-wraps", dump { t in
      t.stack(101, id: 1, frames: [0x1000])
      t.alloc(110, 0xffff_ffff_ffff_f000, 0x2000, stack: 1)
    }),
    // Per-stack tables indexed by a stack id of 2^32 - 1.
    ("stack-id-max", dump { t in
      t.stack(101, id: 1, frames: [0x1000])
      t.alloc(110, 0x10_0000, 64, stack: 0xffff_ffff)
    }),
    ("stack-record-id-max", dump { t in
      t.stack(101, id: 0xffff_fff0, frames: [0x1000])
      t.alloc(110, 0x10_0000, 64, stack: 0xffff_fff0)
    }),
    // Stack ids that step up by 2^16 per record, each inside any fixed slack.
    ("stack-ids-stepping", dump { t in
      for i in 1...250 as ClosedRange<UInt32> {
        t.stack(100 + UInt64(i), id: i << 16, frames: [0x1000])
        t.alloc(100 + UInt64(i), 0x10_0000 + UInt64(i) * 64, 64, stack: i << 16)
      }
    }),
    ("mmap-2p63", dump { t in
      t.stack(101, id: 1, frames: [0x1000])
      t.mmap(110, 0x7f00_0000_0000, 1 << 63, stack: 1)
      t.mmap(111, 0x7f00_1000_0000, 1 << 63, stack: 1)
      t.mremap(112, 0x7f00_0000_0000, 1 << 63, 0xffff_0000_0000_0000, 1 << 63, stack: 1)
      t.munmap(113, 0xffff_ffff_ffff_0000, 1 << 63)
    }),
    // A heap block and a residency snapshot whose region ends past 2^64.
    ("residency-wraps", dump { t in
      t.stack(101, id: 1, frames: [0x1000])
      t.alloc(110, 0x5555_0000_0010, 64, stack: 1)
      var body: [UInt8] = []
      body.appendUVarint(1)
      body.appendUVarint(0xffff_ffff_ffff_f000)
      body.appendUVarint(64)
      body.appendUVarint(0)
      body.appendUVarint(8)
      body += [UInt8](repeating: 0xff, count: 8)
      t.skippable(120, tag: 0x80, body: body)
    }),
    // One tick a second and an END 2^62 ticks in: durations of 10^18 s, which the pprof
    // export's nanoseconds and the text's tenths of a second overflowed (found by tools/fuzz).
    ("duration-2p62-seconds", dump(ticksPerSecond: 1, end: 1 << 62) { t in
      t.stack(101, id: 1, frames: [0x1000])
      t.alloc(110, 0x10_0000, 64, stack: 1)
      t.marker(1 << 61, "half")
    }),
    // SAMPLING_OFFSET (format 1.4) with a C past any block: the reader stops the frame.
    ("sampling-offset-2p63", dump { t in
      t.sampling(100, rate: 8192, seed: 1, capacity: 64, offset: 1 << 63)
      t.stack(101, id: 1, frames: [0x1000])
      t.alloc(110, 0x10_0000, 64, stack: 1)
    }),
    // A C that is possible but dwarfs R: every block's weight is 1, a block of 0 bytes too.
    ("sampling-offset-large", dump { t in
      t.sampling(100, rate: 1, seed: 1, capacity: 64, offset: 1 << 56)
      t.stack(101, id: 1, frames: [0x1000])
      t.alloc(110, 0x10_0000, 0, stack: 1)
      t.alloc(111, 0x20_0000, 1 << 56, stack: 1)
      t.free(112, 0x10_0000)
    }),
  ] + [manyStreams, aggregatePeakTerms2p62]

  /// A sampled aggregated dump (format 1.4) whose 300 sites carry every counter and every peak
  /// variance term (1.4) at 2^62, the most the reader accepts: the peak's intervals sum them over
  /// the sites, and every figure derived from them must saturate, not trap.
  static var aggregatePeakTerms2p62: (name: String, bytes: [UInt8]) {
    let big: UInt64 = 1 << 62, sites: UInt64 = 300
    var d = DumpEncoder(minor: 4, flags: FormatConstants.headerFlagAggregate)
    var t = FrameBuilder(baseTimestamp: 100)
    // SAMPLING (0x54): mean bytes, seed, live capacity; the first record of a sampled dump.
    t.raw([RecordTag.sampling, 0]); t.raw([0x80, 0x40, 7, 0x80, 0x80, 0x40])
    t.thread(100, tid: 7, name: "main")
    for id in 1...UInt32(sites) { t.stack(101, id: id, frames: [0x1000 + UInt64(id)]) }
    t.marker(102, "peak-1", source: 2)
    d.append(t, stream: 1, seq: 0)
    var body: [UInt8] = []
    body.appendUVarint(0); body.appendUVarint(0); body.appendString("")
    body.appendUVarint(8192); body.appendUVarint(big); body.appendUVarint(big); body.appendUVarint(big)
    body.appendUVarint(sites)
    for _ in 0..<sites {
      body.appendUVarint(1)
      for _ in 0..<12 { body.appendUVarint(big) }
    }
    for _ in 0..<sites { for _ in 0..<3 { body.appendUVarint(big) } }
    var tail = FrameBuilder(baseTimestamp: 200)
    tail.skippable(200, tag: RecordTag.aggregate, body: body)
    d.append(tail, stream: FormatConstants.aggregateStream, seq: 0)
    var p = FrameBuilder(baseTimestamp: 1000)
    p.end(1000)
    d.append(p, stream: 0, seq: 0)
    return ("aggregate-peak-terms-2p62", d.bytes)
  }

  /// 4,000 streams of one tiny frame each, all open at once (each once cost a 128 KiB chunk).
  static var manyStreams: (name: String, bytes: [UInt8]) {
    var d = DumpEncoder()
    for s in 1...4_000 as ClosedRange<UInt32> {
      var t = FrameBuilder(baseTimestamp: 100)
      t.alloc(100, UInt64(s) << 12, 16, stack: 0)
      t.free(2000, UInt64(s) << 12)
      d.append(t, stream: s, seq: 0)
    }
    var p = FrameBuilder(baseTimestamp: 3000)
    p.end(3000)
    d.append(p, stream: 0, seq: 0)
    return ("many-streams", d.bytes)
  }
}
