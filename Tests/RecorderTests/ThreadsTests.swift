// Four threads, frees on other threads than the allocation, addresses handed out again at once:
// replay in timestamp order must give exactly the program's live set.
import Foundation
import HeapwiseFormat
import Testing

@Suite("Threads") struct ThreadsTests {
  @Test func crossThreadFreesAndReuseReplayExactly() throws {
    let program = try Harness.build("threads.c")
    for round in 0..<3 {  // the interleaving differs on every run
      let dir = Harness.freshDirectory("threads-\(round)")
      try Harness.record(program, in: dir)
      let facts = try DumpFacts(path: try Harness.onlyDump(in: dir))
      #expect(facts.unmatchedFrees == 0)
      #expect(facts.count(.malloc) == 60_000)   // 20,000 producer + 2 x 20,000 reusers
      #expect(facts.freed(.free) == 59_900)
      #expect(facts.live(ofSize: 48).count == 100)  // LEAKED in threads.c
      #expect(facts.threads.count == 5)             // main + 4
      #expect(Set(facts.threads.map(\.name)) == ["threads", "producer", "consumer", "reuser-a", "reuser-b"])
      #expect(Set(facts.threads.map(\.tid)).count == 5)
      #expect(facts.warnings.isEmpty)
    }
  }

  /// A block allocated on one thread and freed on another just as the consumer's exchange that
  /// received it completes late (handover.c): the free's stamp must follow that exchange. With an
  /// unordered TSC read in the free's hook, 3 to 3,130 of the 20,000 frees sorted before their own
  /// allocation in each of 9 rounds (none with an ordered one); a run where the two threads share a
  /// CPU throughout cannot show it, hence three runs.
  @Test func freeOfAHandedOverBlockSortsAfterItsAllocation() throws {
    let program = try Harness.build("handover.c")
    for round in 0..<3 {
      let dir = Harness.freshDirectory("handover-\(round)")
      try Harness.record(program, in: dir)
      let facts = try DumpFacts(path: try Harness.onlyDump(in: dir))
      #expect(facts.unmatchedFrees == 0)
      #expect(facts.count(size: 56) == 20_000)  // ROUNDS in handover.c
      #expect(facts.freed(.free) == 20_000)
      #expect(facts.live(ofSize: 56).isEmpty)
      #expect(facts.warnings.isEmpty)
    }
  }
}

/// Frame flags straight from the file: coarse-time frames while one thread records, full
/// resolution once a second one does (docs/FORMAT.md, "Coarse time").
@Suite("Coarse time") struct CoarseTimeTests {
  func frameFlags(_ path: String) throws -> [(stream: UInt32, flags: UInt16)] {
    let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    func u32(_ at: Int) -> UInt32 { bytes[at..<at + 4].reversed().reduce(0) { $0 << 8 | UInt32($1) } }
    var offset = Int(u32(12)), frames: [(UInt32, UInt16)] = []
    while offset + 32 <= bytes.count {
      frames.append((u32(offset + 8), UInt16(bytes[offset + 24]) | UInt16(bytes[offset + 25]) << 8))
      offset += 32 + Int(u32(offset))
    }
    return frames
  }

  @Test func singleThreadedFramesAreCoarse() throws {
    let dir = Harness.freshDirectory("coarse")
    try Harness.record(try Harness.build("functions.c"), in: dir)
    let threadFrames = try frameFlags(try Harness.onlyDump(in: dir)).filter { $0.stream != 0 }
    #expect(!threadFrames.isEmpty)
    #expect(threadFrames.allSatisfy { $0.flags & 2 != 0 })
  }

  @Test func secondThreadSwitchesToFullResolution() throws {
    let dir = Harness.freshDirectory("fine")
    try Harness.record(try Harness.build("threads.c"), in: dir)
    let frames = try frameFlags(try Harness.onlyDump(in: dir)).filter { $0.stream != 0 }
    // The main thread starts coarse (and may record nothing after the others start); every other
    // thread registers when a second stream exists, so all its frames are full resolution.
    let others = frames.filter { $0.stream != 1 }
    #expect(!others.isEmpty)
    #expect(others.allSatisfy { $0.flags & 2 == 0 })
  }
}
