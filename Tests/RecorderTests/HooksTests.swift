// Every interposed function is recorded with exact counts, also on top of other allocators.
import Foundation
import HeapwiseFormat
import Testing

@Suite("Hooks") struct HooksTests {
  /// The counts written next to each call in Tests/Programs/functions.c; `portable` leaves out
  /// reallocarray and pvalloc.
  func expectFunctionsCounts(_ facts: DumpFacts, portable: Bool = false,
                             sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(facts.count(.malloc) == 13, sourceLocation: sourceLocation)
    #expect(facts.count(.calloc) == 5, sourceLocation: sourceLocation)
    #expect(facts.count(.realloc) == 2, sourceLocation: sourceLocation)  // realloc(NULL) and a move
    #expect(facts.freed(.realloc) == 2, sourceLocation: sourceLocation)  // the move and realloc(p, 0)
    #expect(facts.count(.reallocarray) == (portable ? 0 : 2), sourceLocation: sourceLocation)
    #expect(facts.freed(.reallocarray) == (portable ? 0 : 1), sourceLocation: sourceLocation)
    #expect(facts.count(.posixMemalign) == 3, sourceLocation: sourceLocation)
    #expect(facts.count(.alignedAlloc) == 2, sourceLocation: sourceLocation)
    #expect(facts.count(.memalign) == 2, sourceLocation: sourceLocation)
    #expect(facts.count(.valloc) == 1, sourceLocation: sourceLocation)
    #expect(facts.count(.pvalloc) == (portable ? 0 : 1), sourceLocation: sourceLocation)
    #expect(facts.freed(.free) == (portable ? 23 : 25), sourceLocation: sourceLocation)
    #expect(facts.unmatchedFrees == 0, sourceLocation: sourceLocation)
    #expect(facts.live.count == 3, sourceLocation: sourceLocation)
    #expect(facts.liveBytes == 3000, sourceLocation: sourceLocation)
    #expect(facts.allocationsBySize[100] == 15, sourceLocation: sourceLocation)  // 10 malloc + 5 calloc(4, 25)
  }

  @Test func everyFunctionIsRecordedExactly() throws {
    let program = try Harness.build("functions.c")
    let dir = Harness.freshDirectory("functions")
    let result = try Harness.record(program, in: dir)
    #expect(result.status == 0)
    let facts = try DumpFacts(path: try Harness.onlyDump(in: dir))
    expectFunctionsCounts(facts)
    #expect(facts.warnings.isEmpty)
    #expect(facts.end?.reason == EndRecord.Reason.exit.rawValue)
  }

  @Test func mappingsIncludingPartialUnmapAndRemap() throws {
    let program = try Harness.build("functions.c")
    let dir = Harness.freshDirectory("mappings")
    try Harness.record(program, in: dir)
    let facts = try DumpFacts(path: try Harness.onlyDump(in: dir))
    let page = UInt64(sysconf(Int32(_SC_PAGESIZE)))
    #expect(facts.mappings.count == 1)
    let map = try #require(facts.mappings.first)
    #expect(map.length == 4 * page && map.isAnonymous)
    #expect(facts.unmappings.count == 1)
    #expect(facts.unmappings.first?.address == map.address + page)  // the hole in the middle
    #expect(facts.unmappings.first?.length == page)
    #expect(facts.remappings.count == 1)
    #expect(facts.remappings.first?.oldAddress == map.address + 2 * page)
    #expect(facts.remappings.first?.oldLength == 2 * page)
    #expect(facts.remappings.first?.newLength == 8 * page)
    // How allocators that map their own memory give pages back, for the resident count.
    #expect(facts.advices == [RangeAdvice(address: map.address + 3 * page, length: page, advice: RangeAdvice.dontNeed)])
    #expect(facts.protections == [RangeProtection(address: map.address, length: page, protection: 1)])
  }

  /// jemalloc and tcmalloc preloaded after heapwise: the hooks forward to them, counts unchanged.
  @Test(arguments: ["libjemalloc.so.2", "libtcmalloc_minimal.so.4"])
  func countsHoldOnTopOfAnotherAllocator(_ allocator: String) throws {
    let path = "/usr/lib/x86_64-linux-gnu/\(allocator)"
    try #require(FileManager.default.fileExists(atPath: path), "\(path) missing: run tools/install-deps.sh")
    let program = try Harness.build("functions.c")
    let dir = Harness.freshDirectory("alloc-\(allocator)")
    let result = try Harness.record(program, ["portable"], in: dir, preload: [path])
    #expect(result.status == 0)
    let facts = try DumpFacts(path: try Harness.onlyDump(in: dir))
    expectFunctionsCounts(facts, portable: true)
    let allocator = facts.samples.last?[SampleKey.allocator]
    #expect(allocator == (path.contains("jemalloc") ? 2 : 3))  // statistics come from that allocator
  }

  @Test func countsHoldWithJemallocLinkedIn() throws {
    try #require(FileManager.default.fileExists(atPath: "/usr/lib/x86_64-linux-gnu/libjemalloc.so"),
                 "libjemalloc-dev missing: run tools/install-deps.sh")
    let program = try Harness.build("functions.c", output: "functions-jemalloc", flags: ["-ljemalloc"])
    let dir = Harness.freshDirectory("linked-jemalloc")
    let result = try Harness.record(program, ["portable"], in: dir)
    #expect(result.status == 0)
    let facts = try DumpFacts(path: try Harness.onlyDump(in: dir))
    expectFunctionsCounts(facts, portable: true)
    #expect(facts.samples.last?[SampleKey.allocator] == 2)
  }

  /// operator new reaches malloc; the stack names the C++ caller, not only libstdc++.
  @Test func cxxNewAndDeleteAreSeenWithTheirCallers() throws {
    let program = try Harness.build("newdelete.cpp")
    let dir = Harness.freshDirectory("cxx")
    try Harness.record(program, in: dir)
    let facts = try DumpFacts(path: try Harness.onlyDump(in: dir))
    #expect(facts.allocationsBySize[44] == 1)
    #expect(facts.allocationsBySize[72] == 1)
    #expect(facts.unmatchedFrees == 0)
    let symbols = try SymbolTable(executable: program)
    let exe = try #require(facts.modules.first { $0.path == program })
    let newStack = try #require(facts.allocations.isEmpty ? nil : facts.stackOfFirst(size: 44))
    let frames = newStack.compactMap { symbols.function(at: $0 - exe.base) }
    #expect(frames.starts(with: ["make_ints()", "main"]) || frames.starts(with: ["_Z9make_intsv", "main"]))
  }
}
