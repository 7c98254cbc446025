// Recorded stacks resolve to the right functions, checked against the symbol table.
import Foundation
import HeapwiseFormat
import Testing

@Suite("Stacks") struct StacksTests {
  @Test func knownCallChainIsRecordedInOrder() throws {
    let program = try Harness.build("callchain.c")
    let dir = Harness.freshDirectory("callchain")
    try Harness.record(program, in: dir)
    let facts = try DumpFacts(path: try Harness.onlyDump(in: dir))
    let exe = try #require(facts.modules.first { $0.path == program }, "the executable's MODULE record")
    #expect(exe.buildID.count == 20)  // GNU build id, SHA-1
    let frames = try #require(facts.stackOfFirst(size: 5555))
    let symbols = try SymbolTable(executable: program)
    let names = frames.prefix(4).map { symbols.function(at: $0 - exe.base) ?? "?" }
    #expect(names == ["inner_fn", "middle_fn", "outer_fn", "main"])
    // The stack goes on below main, into libc's start code: unwinding did not stop early.
    #expect(frames.count > 4)
  }

  @Test func identicalStacksAreInternedOnce() throws {
    let program = try Harness.build("functions.c")
    let dir = Harness.freshDirectory("interning")
    try Harness.record(program, in: dir)
    let facts = try DumpFacts(path: try Harness.onlyDump(in: dir))
    // The ten malloc(100) calls share one call site, hence one stack record.
    #expect(facts.stacks.count == Set(facts.stacks.values).count)
    #expect(facts.allocationsBySize[100] == 15)
  }

  @Test func maxFramesLimitsDepth() throws {
    let program = try Harness.build("callchain.c")
    let dir = Harness.freshDirectory("maxframes")
    try Harness.record(program, in: dir, environment: ["HEAPWISE_MAX_FRAMES": "2"])
    let facts = try DumpFacts(path: try Harness.onlyDump(in: dir))
    #expect(facts.stackOfFirst(size: 5555)?.count == 2)
  }
}
