// Four threads, frees on other threads than the allocation, addresses handed out again at once:
// replay in timestamp order must give exactly the program's live set.
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
      #expect(facts.warnings.isEmpty)
    }
  }
}
