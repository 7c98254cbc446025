// The hooks' sampling entry calls the real allocator without the allocator flag (hooks.c,
// "SAMPLING MODE'S ENTRY"); these cases check that the two things the flag told still hold under
// `--sample`: the allocator's own mappings are not the program's, and an _exit from a signal
// handler that interrupted the allocator does not ask it for statistics (which would hang).
import Foundation
import HeapwiseFormat
import Testing

@Suite("Fault matrix: the sampling entry") struct SamplingEntryCases {
  static let sample = ["HEAPWISE_SAMPLE": "524288", "HEAPWISE_SAMPLE_SEED": "1"]

  /// 40,000 kept blocks of 1,000 B (jemalloc and tcmalloc map extents for them from inside
  /// malloc, through the hooked mmap) and one 1 MiB mapping of the program's own: that one is
  /// recorded, with its unmapping, and nothing else; the exit sample has the allocator's statistics
  /// (the stack check that replaces the flag does not drop them on an ordinary exit).
  @Test(arguments: AllocatorCases.allocators)
  func allocatorMappingsStayTheAllocators(_ allocator: String) throws {
    if !allocator.isEmpty { try #require(FileManager.default.fileExists(atPath: allocator), "run tools/install-deps.sh") }
    let program = try Matrix.build("sampling_entry.c")
    let dir = Matrix.freshDirectory("sampling-entry-maps")
    let result = try Matrix.record(program, ["heap"], in: dir, environment: Self.sample,
                                   preload: allocator.isEmpty ? [] : [allocator])
    #expect(result.status == 0 && result.stdout == "mapped\n", "\(result.stderr)")
    let dump = try Replay(path: try Matrix.onlyDump(in: dir))
    #expect(dump.mappings.map(\.length) == [1 << 20])
    #expect(dump.unmappings.map(\.length) == [1 << 20])
    #expect(dump.end?.reason == 0)
    let statistics: UInt64 = allocator.isEmpty ? 20 : allocator.contains("jemalloc") ? 30 : 36
    #expect(dump.samples.last?[statistics] != nil, "the exit sample has no allocator statistics")
  }

  /// _exit(7) from a SIGALRM handler while the main thread churns 2-64 KiB blocks (glibc's arena
  /// path, under its lock: a second thread exists) at 12 moments. Without the stack check the exit
  /// path's mallinfo2 waited for that lock in about a third of the runs.
  @Test func exitFromAHandlerInsideTheAllocator() throws {
    try Self.exitInAllocator("exit-in-allocator", environment: Self.sample)
  }

  /// The same with a thread made by pthread_create, so the writer thread runs and may be waiting
  /// in mallinfo2 for the lock the exiting thread holds: the exit path must not join it. Full
  /// tracking (the allocator flag) and `--sample` (the stack check) both.
  @Test(arguments: [false, true])
  func exitFromAHandlerInsideTheAllocatorWithAWriterThread(sampled: Bool) throws {
    try Self.exitInAllocator("exit-in-allocator-writer",
                             environment: (sampled ? Self.sample : [:]).merging(["HEAPWISE_INTERVAL_MS": "1"]) { $1 })
  }

  static func exitInAllocator(_ mode: String, environment: [String: String]) throws {
    let program = try Matrix.build("sampling_entry.c")
    for i in 0..<12 {
      let dir = Matrix.freshDirectory("sampling-entry-exit")
      let result = try Matrix.record(program, [mode, "\(20_000 + i * 13_331)"], in: dir,
                                     environment: environment, deadline: 30)
      #expect(result.status == 7 && !result.signaled, "\(mode): status \(result.status): \(result.stderr)")
      let dump = try Replay(path: try Matrix.onlyDump(in: dir))
      #expect(dump.end?.reason == 1, "\(mode)")  // _exit
    }
  }
}
