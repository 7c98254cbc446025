// Markers, modules, fork, exec and every way a process can end.
import Foundation
import HeapwiseFormat
import Testing

@Suite("Lifecycle") struct LifecycleTests {
  func scenario(_ mode: String, _ extra: [String] = [], environment: [String: String] = [:])
    throws -> (Harness.Result, URL)
  {
    let program = try Harness.build("scenarios.c")
    let dir = Harness.freshDirectory(mode)
    let result = try Harness.record(program, [mode] + extra, in: dir, environment: environment)
    return (result, dir)
  }

  @Test func markersFromTheCAPIAndFromTheSignal() throws {
    let (result, dir) = try scenario("markers")
    #expect(result.status == 0)
    let facts = try DumpFacts(path: try Harness.onlyDump(in: dir))
    #expect(facts.markers.map(\.name) == ["after-first", "signal-1", "after-third"])
    #expect(facts.markers.map(\.source) == [0, 1, 0])
    // A sample follows every marker, and the periodic ones come on top.
    #expect(facts.samples.count >= 3)
    #expect(facts.samples.allSatisfy { ($0[2] ?? 0) > 0 })  // RSS
  }

  /// At every marker and at exit: mincore bitmaps of the heap and anonymous mappings. The page of a
  /// block the program just wrote is resident.
  @Test func residencySnapshotsCoverTheLiveHeap() throws {
    let (_, dir) = try scenario("markers")
    let facts = try DumpFacts(path: try Harness.onlyDump(in: dir))
    let snapshots = Set(facts.residency.map(\.timestamp))
    #expect(snapshots.count >= 4)  // three markers and the exit
    let heap = facts.residency.filter { $0.kind == ResidencyRegion.Kind.heap.rawValue }
    #expect(!heap.isEmpty)
    // The exit snapshot (the last one) comes after the block was allocated and written.
    let block = try #require(facts.live(ofSize: 3000).first)
    let page = UInt64(facts.header.pageSize)
    let last = try #require(facts.residency.map(\.timestamp).max())
    let holding = facts.residency.filter {
      $0.timestamp == last && block.address >= $0.start && block.address < $0.start + UInt64($0.pages) * page
    }
    #expect(holding.count == 1)
    #expect(holding.allSatisfy { $0.isResident(page: Int((block.address - $0.start) / page)) })
  }

  /// Between markers the writer takes residency snapshots on its own (within its CPU budget), so a
  /// mapping counts what was touched, not what was reserved; the purge after it is recorded.
  @Test func periodicResidencyOfATouchedReservation() throws {
    let (result, dir) = try scenario("resident")
    #expect(result.status == 0)
    let facts = try DumpFacts(path: try Harness.onlyDump(in: dir))
    let map = try #require(facts.mappings.first { $0.length == 8 << 20 })
    let page = UInt64(facts.header.pageSize)
    let exit = try #require(facts.residency.map(\.timestamp).max())
    let periodic = facts.residency.filter {
      $0.stream == .process && $0.timestamp < exit && $0.start <= map.address
        && map.address < $0.start + UInt64($0.pages) * page
    }
    #expect(!periodic.isEmpty, "a snapshot after the 350 ms idle, before the purge")
    // Before the purge a snapshot counts the 2 MiB touched, never the 8 MiB reserved.
    let resident = periodic.map { r in
      (0..<Int(map.length / page)).filter { r.isResident(page: Int((map.address - r.start) / page) + $0) }.count
    }
    #expect(resident.max() == Int((2 << 20) / page))
    #expect(facts.advices == [RangeAdvice(address: map.address, length: 1 << 20, advice: RangeAdvice.dontNeed)])
  }

  @Test func dlopenedModuleIsMappedAndItsUnloadRecorded() throws {
    let plugin = Harness.scratch.appendingPathComponent("plugin.so").path
    let build = try Harness.run("/usr/bin/cc", ["-g", "-O0", "-shared", "-fPIC",
      Harness.programs.appendingPathComponent("plugin.c").path, "-o", plugin], environment: [:])
    try #require(build.status == 0, "\(build.stderr)")
    let (result, dir) = try scenario("plugin", [plugin])
    #expect(result.status == 0, "\(result.stderr)")
    let facts = try DumpFacts(path: try Harness.onlyDump(in: dir))
    let module = try #require(facts.modules.first { $0.path == plugin })
    #expect(!module.buildID.isEmpty)
    let frames = try #require(facts.stackOfFirst(size: 3131))
    #expect(module.contains(frames[0]))  // the allocation was made inside the plugin
    #expect(facts.unloaded.contains(module.id))
    // Every module of the process was written at start, the executable first among them.
    #expect(facts.modules.contains { $0.path.hasSuffix("/scenarios") })
    #expect(facts.modules.contains { $0.path.contains("libc.so") })
  }

  @Test func forkWhileThreadsAllocateWithFollowFork() throws {
    let (result, dir) = try scenario("fork", environment: ["HEAPWISE_FOLLOW_FORK": "1"])
    #expect(result.status == 0)
    let dumps = Harness.dumps(in: dir)
    #expect(dumps.count == 4)  // the parent and three children, each under its own pid
    var children = 0
    for path in dumps {
      let facts = try DumpFacts(path: path)
      #expect(facts.unmatchedFrees == 0)
      #expect(facts.end != nil)
      if facts.header.isForkedChild {
        children += 1
        #expect(facts.live(ofSize: 777).count == 3)
        #expect(facts.live(ofSize: 4242).isEmpty)  // the parent's block is not the child's event
      } else {
        #expect(facts.live(ofSize: 777).isEmpty)
        #expect(facts.live(ofSize: 4242).count == 1)
      }
    }
    #expect(children == 3)
  }

  @Test func forkWithoutFollowForkRecordsOnlyTheParent() throws {
    let (result, dir) = try scenario("fork")
    #expect(result.status == 0)
    let facts = try DumpFacts(path: try Harness.onlyDump(in: dir))
    #expect(!facts.header.isForkedChild)
    #expect(facts.allocationsBySize[777] == nil)
    #expect(facts.warnings.isEmpty)  // the children never wrote into the parent's dump
  }

  /// A vfork child shares the parent's memory: its _exit after a failed exec must not end the
  /// parent's recording.
  @Test func vforkChildExitLeavesTheParentRecording() throws {
    let (result, dir) = try scenario("vfork")
    #expect(result.status == 0)
    let facts = try DumpFacts(path: try Harness.onlyDump(in: dir))
    #expect(facts.live(ofSize: 6060).count == 1)
    #expect(facts.end?.reason == EndRecord.Reason.exit.rawValue)
  }

  /// A wrapper that execs the real program keeps its pid: the new image is the same process and
  /// records on, into a ".exec1" dump.
  @Test func inPlaceExecRecordsTheNewImageToo() throws {
    let (result, dir) = try scenario("reexec")
    #expect(result.status == 0)
    let dumps = Harness.dumps(in: dir)
    #expect(dumps.count == 2)
    let next = try #require(dumps.first { $0.hasSuffix(".exec1.heapwise") })
    let facts = try DumpFacts(path: next)
    #expect(facts.header.arguments.last == "plain")
    #expect(facts.live(ofSize: 4242).count == 1)
    #expect(facts.end != nil)
  }

  @Test func execedChildrenAreRecordedOnlyWhenAsked() throws {
    let (_, quiet) = try scenario("exec")
    #expect(Harness.dumps(in: quiet).count == 1)
    let (_, followed) = try scenario("exec", environment: ["HEAPWISE_FOLLOW_EXEC": "1"])
    #expect(Harness.dumps(in: followed).count == 2)
  }

  @Test(arguments: [("exit", 3, EndRecord.Reason.exit), ("_exit", 4, .underscoreExit), ("return", 0, .exit)])
  func normalEndsWriteAnEndRecord(_ mode: String, _ status: Int32, _ reason: EndRecord.Reason) throws {
    let (result, dir) = try scenario(mode)
    #expect(result.status == status)
    let facts = try DumpFacts(path: try Harness.onlyDump(in: dir))
    #expect(facts.end?.reason == reason.rawValue)
    #expect(facts.live(ofSize: 4242).count == 1)
    #expect(facts.warnings.isEmpty)
  }

  @Test(arguments: [("abort", SIGABRT), ("segv", SIGSEGV)])
  func fatalSignalsLeaveACompleteDumpAndStillKill(_ mode: String, _ signal: Int32) throws {
    let (result, dir) = try scenario(mode)
    #expect(result.signaled && result.status == signal)  // the program died as it would have
    let facts = try DumpFacts(path: try Harness.onlyDump(in: dir))
    #expect(facts.end?.reason == EndRecord.Reason.fatalSignal.rawValue)
    #expect(facts.end?.signal == UInt64(signal))
    #expect(facts.live(ofSize: 4242).count == 1)
    // The END written from the signal handler is stamped when it was written: last, and close.
    let end = try #require(facts.endTimestamp)
    #expect(end >= facts.lastTimestamp)
    #expect(end - facts.lastTimestamp < facts.header.ticksPerSecond * 10)
  }

  @Test func kill9LeavesADumpReadableUpToItsLastFrame() throws {
    let (result, dir) = try scenario("kill9")
    #expect(result.signaled && result.status == SIGKILL)
    let facts = try DumpFacts(path: try Harness.onlyDump(in: dir))
    #expect(facts.end == nil)
    #expect(facts.warnings.contains(.missingEnd))
    #expect(!facts.warnings.contains { $0.isDamage })
    #expect(facts.count(.malloc) > 1000)  // whole frames written before the kill were all read
    #expect(facts.unmatchedFrees == 0)
  }
}
