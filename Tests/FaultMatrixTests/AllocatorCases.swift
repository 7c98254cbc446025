// Other allocators underneath, and C++: jemalloc and tcmalloc define operator new themselves
// and call their own allocator directly, so only hooks on the operators see C++ allocations.
import Foundation
import Testing

@Suite("Fault matrix: allocators and C++") struct AllocatorCases {
  static let allocators = ["", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
                           "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"]

  @Test(arguments: allocators)
  func everyOperatorIsCountedExactly(_ allocator: String) throws {
    if !allocator.isEmpty { try #require(FileManager.default.fileExists(atPath: allocator), "run tools/install-deps.sh") }
    let program = try Matrix.build("cxxops.cpp")
    let dir = Matrix.freshDirectory("cxx")
    let result = try Matrix.record(program, ["ops"], in: dir, preload: allocator.isEmpty ? [] : [allocator])
    #expect(result.status == 0)
    let dump = try Replay(path: try Matrix.onlyDump(in: dir), onlyFrom: program)
    #expect(dump.count(.new) == 100_010)
    #expect(dump.count(.newArray) == 1_011)
    #expect(dump.count(.newAligned) == 10)
    #expect(dump.count(.newArrayAligned) == 10)
    #expect(dump.frees[.new] == 100_010)
    #expect(dump.frees[.newArray] == 1_010)
    #expect(dump.frees[.newAligned] == 10)
    #expect(dump.frees[.newArrayAligned] == 10)
    #expect(dump.unmatchedFrees == 0)
    // Nothing seen twice on glibc (libstdc++'s operators call malloc).
    #expect(dump.count(size: 4) == 100_010)
    // The one leak is the only C++ block left; the allocator's own extents are not the
    // program's mappings (jemalloc maps 2 MiB at a time from inside malloc).
    #expect(dump.live.values.filter { $0.function == .newArray }.map(\.size) == [28])
    #expect(dump.mappings.isEmpty)
  }

  /// 20,000 exceptions, and 100 bad_alloc thrown by the real operator new through the hook's
  /// frame: the program behaves as plain, and its thread still records afterwards.
  @Test(arguments: allocators)
  func exceptionsPassThroughTheHooks(_ allocator: String) throws {
    let program = try Matrix.build("cxxops.cpp")
    let dir = Matrix.freshDirectory("exceptions")
    let result = try Matrix.record(program, ["exceptions"], in: dir, preload: allocator.isEmpty ? [] : [allocator])
    #expect(result.status == 0)
    #expect(result.stdout == "caught 10000 bad_alloc 100\n")
    let dump = try Replay(path: try Matrix.onlyDump(in: dir))
    #expect(dump.live.values.contains { $0.function == .newArray && $0.size == 12 })
    #expect(dump.count(size: 40) == 20_000)  // the vectors
    #expect(dump.end?.reason == 0)
  }
}

@Suite("Fault matrix: C23 sized frees") struct SizedFreeCases {
  /// free_sized/free_aligned_sized are frees (glibc 2.40+ has them; unhooked, every block they
  /// release would be a false leak).
  @Test func sizedFreesAreFrees() throws {
    let program = try Matrix.build("faults.c")
    let dir = Matrix.freshDirectory("sized-frees")
    let result = try Matrix.record(program, ["sized-frees"], in: dir)
    #expect(result.status == 0)
    let dump = try Replay(path: try Matrix.onlyDump(in: dir))
    #expect(dump.frees[.freeSized] == 10)
    #expect(dump.frees[.freeAlignedSized] == 10)
    #expect(dump.live(ofSize: 999) == 0 && dump.live(ofSize: 640) == 0)
    #expect(dump.unmatchedFrees == 0)
  }
}
