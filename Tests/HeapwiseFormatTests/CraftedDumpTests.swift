// The reader's limits (ReaderLimits, docs/FORMAT.md rule 5) on the crafted dumps of issue 10,
// item 7: each stops its frame as corrupt, names what was wrong, and keeps what came before.
import Foundation
@testable import HeapwiseFormat
import Testing

@Suite struct CraftedDumpTests {
  static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("FuzzCases")

  /// `HEAPWISE_WRITE_CRAFTED=1 swift test --filter CraftedDumpTests` rewrites the files.
  @Test func committedFilesAreWhatTheEncoderBuilds() throws {
    let write = ProcessInfo.processInfo.environment["HEAPWISE_WRITE_CRAFTED"] == "1"
    for c in CraftedDumps.all {
      let url = Self.directory.appendingPathComponent("crafted-\(c.name).dump")
      if write { try Data(c.bytes).write(to: url) }
      let committed = try? Data(contentsOf: url)
      #expect(committed.map(Array.init) == c.bytes, "\(url.path) is stale: rewrite it (see above)")
    }
  }

  static func read(_ name: String, limits: ReaderLimits = .init()) throws -> (events: [Event], warnings: [DumpWarning]) {
    let bytes = CraftedDumps.all.first { $0.name == name }!.bytes
    let path = temporaryDump(bytes, name: name)
    defer { unlink(path) }
    let reader = try DumpReader(path: path, options: ReaderOptions(limits: limits))
    let events = reader.readAll()
    return (events, reader.warnings)
  }

  static func corruptReason(_ warnings: [DumpWarning]) -> String? {
    for w in warnings { if case .corrupt(_, let reason) = w { return reason } }
    return nil
  }

  @Test(arguments: [
    ("stream-0xffffffff", "stream 4294967295 over the limit 16777216"),
    ("stream-2p30", "stream 1073741824 over the limit"),
    ("alloc-2p63", "block of 9223372036854775808 bytes at 0x100000 is impossible"),
    ("two-allocs-2p62", "block of 4611686018427387904 bytes"),
    ("alloc-end-wraps", "block of 8192 bytes at 0xfffffffffffff000 is impossible"),
    ("mmap-2p63", "block of 9223372036854775808 bytes at 0x7f0000000000"),
    ("stack-id-max", "stack id 4294967295 beyond the limit 65537"),
    ("stack-record-id-max", "stack id 4294967280 beyond the limit 65536"),
    ("stack-ids-stepping", "stack id 131072 beyond the limit 65537"),
    ("sampling-offset-2p63", "sampling offset 9223372036854775808 is impossible"),
  ])
  func overTheLimitIsCorrupt(name: String, reason: String) throws {
    let (events, warnings) = try Self.read(name)
    let found = Self.corruptReason(warnings)
    #expect(found?.contains(reason) == true, "\(name): \(warnings)")
    // Nothing over a limit ever reaches a consumer.
    for e in events {
      if case .alloc(let a) = e.record { #expect(a.size <= 1 << 57 && a.address &+ a.size >= a.address) }
    }
  }

  @Test func withoutLimitsTheSameDumpsDecode() throws {
    let (events, warnings) = try Self.read("alloc-2p63", limits: .unlimited)
    #expect(Self.corruptReason(warnings) == nil, "\(warnings)")
    #expect(events.contains { if case .alloc(let a) = $0.record { a.size == 1 << 63 } else { false } })
  }

  @Test func stackIDsMayRunAheadOfTheirRecordsByTheLead() throws {
    func dump(useID: UInt32) -> [UInt8] {
      CraftedDumps.dump { t in
        for id in 1...10 as ClosedRange<UInt32> { t.stack(101, id: id, frames: [0x1000 + UInt64(id)]) }
        t.alloc(110, 0x10_0000, 64, stack: useID)
      }
    }
    for (id, ok) in [(UInt32(10 + 65_536), true), (10 + 65_537, false)] {
      let path = temporaryDump(dump(useID: id), name: "lead")
      defer { unlink(path) }
      let reader = try DumpReader(path: path)
      let events = reader.readAll()
      #expect(events.contains { if case .alloc = $0.record { true } else { false } } == ok, "id \(id): \(reader.warnings)")
      #expect((Self.corruptReason(reader.warnings) != nil) == !ok, "id \(id): \(reader.warnings)")
    }
  }

  @Test func acceptedCasesDecodeWhole() throws {
    for name in ["alloc-2p48", "overlapping-2p56", "residency-wraps", "many-streams", "aggregate-peak-terms-2p62", "sampling-offset-large"] {
      let (events, warnings) = try Self.read(name)
      #expect(warnings.isEmpty, "\(name): \(warnings)")
      #expect(events.contains { if case .end = $0.record { true } else { false } }, "\(name)")
    }
  }

  @Test func sampleFiguresOverTheLimitAreCorrupt() throws {
    let bytes = CraftedDumps.dump { t in t.sample(110, [(2, 1 << 60)]) }
    let path = temporaryDump(bytes, name: "sample")
    defer { unlink(path) }
    let reader = try DumpReader(path: path)
    _ = reader.readAll()
    #expect(Self.corruptReason(reader.warnings)?.contains("sample value 1152921504606846976 is impossible") == true, "\(reader.warnings)")
  }
}
