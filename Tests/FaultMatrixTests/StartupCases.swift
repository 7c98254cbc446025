// Allocations made before the recorder's own constructor runs: other libraries' constructors run
// first (dependencies are initialised before the preloaded library), and their blocks must be in
// the record, or their later frees are "unmatched" and peaks are understated.
import Foundation
import Testing

@Suite("Fault matrix: startup") struct StartupCases {
  @Test func aLibraryConstructorsMallocIsRecorded() throws {
    let lib = try Matrix.build("ctorlib.c", as: "libctorlib.so", flags: ["-shared", "-fPIC"])
    let program = try Matrix.build("faults.c", as: "faults-ctorlib",
                                   flags: ["-DWITH_CTORLIB", lib, "-Wl,-rpath," + (lib as NSString).deletingLastPathComponent])
    let dir = Matrix.freshDirectory("ctorlib")
    let result = try Matrix.record(program, ["ctorlib"], in: dir)
    #expect(result.status == 0)
    let dump = try Replay(path: try Matrix.onlyDump(in: dir))
    #expect(dump.count(size: 777) == 1)
    #expect(dump.unmatchedFrees == 0)
    #expect(dump.live(ofSize: 777) == 0)
  }

  /// libstdc++ allocates its exception emergency pool (72,704 B with GCC 12) in its constructor.
  @Test func libstdcxxEmergencyPoolIsRecorded() throws {
    let program = try Matrix.build("cxxops.cpp")
    let dir = Matrix.freshDirectory("eh-pool")
    try Matrix.record(program, ["ops"], in: dir)
    let dump = try Replay(path: try Matrix.onlyDump(in: dir))
    let pool = dump.live.values.filter { $0.function == .malloc && $0.size >= 64 * 1024 }
    #expect(pool.count == 1, "live malloc blocks of 64 KiB or more: \(pool.map(\.size))")
    #expect(dump.lastTimestamp <= dump.endTimestamp ?? 0)  // stamped on the dump's clock
  }

  /// Under jemalloc the first hooked call comes from libstdc++'s constructor (jemalloc brings it):
  /// one stream for the one thread, every stamp on the dump's clock, the leaks exact.
  @Test func firstCallBeforeOurConstructorOnJemalloc() throws {
    let jemalloc = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
    try #require(FileManager.default.fileExists(atPath: jemalloc), "run tools/install-deps.sh")
    let program = try Matrix.build("faults.c")
    let dir = Matrix.freshDirectory("early-jemalloc")
    let result = try Matrix.record(program, ["single-threaded"], in: dir, preload: [jemalloc])
    #expect(result.status == 0)
    let dump = try Replay(path: try Matrix.onlyDump(in: dir))
    #expect(dump.threads.count == 1)
    #expect(dump.lastTimestamp <= dump.endTimestamp ?? 0)
    #expect(dump.live.values.contains { $0.size >= 64 * 1024 })  // libstdc++'s pool
    #expect(dump.count(.malloc) >= 200_000)
  }
}
