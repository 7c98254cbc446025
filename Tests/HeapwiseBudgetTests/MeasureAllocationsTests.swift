import HeapwiseBudget
import Testing

/// Exact counts on deterministic code. These run in parallel with each other, which is itself
/// part of the test: a task measurement must not see the others.
@Suite struct MeasureAllocationsTests {
  let here = "MeasureAllocationsTests.swift"
  let support = "Support.swift"

  @Test func countsEveryMallocAndFree() throws {
    let usage = try measureAllocations { allocateAndFree(25, size: 48) }
    #expect(usage.allocations == 25)
    #expect(usage.frees == 25)
    #expect(usage.bytesAllocated == 25 * 48)
    #expect(usage.peakBytes == 48)
    #expect(usage.leakedBlocks == 0)
    #expect(usage.liveBytesDelta == 0)
    #expect(usage.allocations(at: "\(support):\(allocateAndFreeLine)") == 25)
    #expect(usage.description == "25 allocations (1200 B), 25 frees, peak 48 B, 0 leaked blocks (0 B)")
  }

  @Test func countsClassInstances() throws {
    let usage = try measureAllocations {
      for _ in 0..<10 { keep(Payload()) }
      keep(nil)
    }
    #expect(usage.allocations == 10)
    #expect(usage.frees == 10)
    #expect(usage.leakedBlocks == 0)
    #expect(usage.bytesAllocated % 10 == 0 && usage.bytesAllocated > 0)
  }

  @Test func emptyBodyAllocatesNothing() throws {
    let usage = try measureAllocations {}
    #expect(usage.allocations == 0 && usage.frees == 0 && usage.bytesAllocated == 0)
  }

  @Test func blocksLeftAllocatedAreLeaks() throws {
    var blocks = Blocks(capacity: 3)
    let usage = try measureAllocations { blocks.allocate(3, size: 100) }
    blocks.release()
    #expect(usage.allocations == 3)
    #expect(usage.leakedBlocks == 3)
    #expect(usage.leakedBytes == 300)
    #expect(usage.liveBytesDelta == 300)
    #expect(usage.peakBytes == 300)
    let leaks = usage.topSites(by: .leakedBytes)
    #expect(leaks.count == 1)
    #expect(leaks.first?.leakedBlocks == 3)
  }

  @Test func peakIsTheMostLiveAtOnce() throws {
    var blocks = Blocks(capacity: 5)
    let usage = try measureAllocations {
      blocks.allocate(5, size: 64)
      blocks.release()
      allocateAndFree(1, size: 200)
    }
    #expect(usage.peakBytes == 320)
    #expect(usage.bytesAllocated == 520)
    #expect(usage.leakedBytes == 0)
  }

  @Test func freeingOlderBlocksShrinksTheLiveDelta() throws {
    let old = UnsafeMutableRawPointer.allocate(byteCount: 1000, alignment: 8)
    let usage = try measureAllocations { old.deallocate() }
    #expect(usage.allocations == 0)
    #expect(usage.frees == 1)
    #expect(usage.olderFrees == 1)
    #expect(usage.olderBytesFreed >= 1000)
    #expect(usage.liveBytesDelta <= -1000)
  }

  @Test func aBlockFreedByAnotherThreadIsNotLeaked() throws {
    let worker = Worker()
    defer { worker.stop() }
    var blocks = Blocks(capacity: 1)
    let usage = try measureAllocations {
      blocks.allocate(1, size: 72)
      worker.free(blocks[0])
    }
    #expect(usage.allocations == 1)
    #expect(usage.frees == 0)  // the owner freed nothing
    #expect(usage.leakedBlocks == 0)
  }

  @Test(arguments: [AllocationScope.task, .thread])
  func ownScopesDoNotSeeOtherThreads(scope: AllocationScope) throws {
    let worker = Worker()
    defer { worker.stop() }
    let usage = try measureAllocations(in: scope) {
      worker.allocate(100)
      allocateAndFree(4)
    }
    #expect(usage.allocations == 4)
    #expect(usage.allocations(at: "\(support):\(workerAllocateLine)") == 0)
  }

  /// Other tests run at the same time, so the process-wide total is not exact here; what the
  /// worker allocated, attributed to its line, is.
  @Test func processScopeSeesOtherThreads() throws {
    let worker = Worker()
    defer { worker.stop() }
    let usage = try measureAllocations(in: .process) { worker.allocate(100, with: processWorkerAllocate) }
    #expect(usage.allocations >= 100)
    #expect(usage.allocations(at: "\(support):\(processWorkerLine)") == 100)
  }

  @Test func nestedScopesBothCount() throws {
    var inner: AllocationUsage?
    let outer = try measureAllocations {
      allocateAndFree(3)
      inner = try measureAllocations { allocateAndFree(2, size: 16) }
    }
    #expect(inner?.allocations == 2)
    // The outer scope also sees the inner one collecting its results after it stopped, so
    // compare the allocations of the measured line, not the total.
    #expect(outer.allocations(at: "\(support):\(allocateAndFreeLine)") == 5)
    #expect(outer.allocations >= 5)
  }

  @Test func asyncBodyIsCountedAcrossThreadHops() async throws {
    let usage = try await measureAllocations {
      for _ in 0..<20 {
        allocateAndFree(1)
        await Task.yield()  // may resume on another thread
      }
    }
    // Each Task.yield also allocates a job to resume the task: the runtime's, not counted.
    #expect(usage.allocations == 20)
    #expect(usage.allocations(at: "\(support):\(allocateAndFreeLine)") == 20)
    #expect(usage.runtimeAllocations >= 20)
    #expect(usage.leakedBlocks == 0)
  }

  @Test func childTasksAreNotTheTask() async throws {
    let usage = try await measureAllocations {
      async let child: Void = workerAllocate(30)
      allocateAndFree(2)
      await child
    }
    #expect(usage.allocations == 2)
    #expect(usage.allocations(at: "\(support):\(workerAllocateLine)") == 0)
  }

  @Test func concurrentMeasurementsAreIndependent() async throws {
    let counts = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
      for n in [5, 11, 17, 23] {
        group.addTask {
          let usage = try await measureAllocations {
            for _ in 0..<n {
              allocateAndFree(1)
              await Task.yield()
            }
          }
          return (n, usage.allocations)
        }
      }
      var results: [(Int, Int)] = []
      for try await r in group { results.append(r) }
      return results
    }
    for (expected, measured) in counts { #expect(measured == expected) }
  }

  /// In a debug build, iterating an Array through generic code mallocs a coroutine frame per
  /// element: frame memory, not counted. The first measurement to see one teaches the C side,
  /// which from then on leaves them out of the peak too.
  @Test func coroutineFramesAreNotCounted() throws {
    let values: [UInt64] = [1, 2, 3, 4, 5, 6, 7]
    var sum: UInt64 = 0
    let first = try measureAllocations { for v in values { sum &+= v } }
    let second = try measureAllocations { for v in values { sum &+= v } }
    #expect(sum == 56)
    #expect(first.allocations == 0 && second.allocations == 0)
    #expect(second.peakBytes == 0)
    #if DEBUG
    // One frame per element; the first measurement may also have filled metadata caches.
    #expect(second.runtimeAllocations == values.count)
    #endif
  }

  @Test func withoutSitesStillCounts() throws {
    let usage = try measureAllocations(captureSites: false) { allocateAndFree(6) }
    #expect(usage.allocations == 6)
    #expect(usage.stacks.isEmpty)
  }

  @Test func errorsFromTheBodyPropagate() {
    struct Boom: Error {}
    #expect(throws: Boom.self) { try measureAllocations { throw Boom() } }
  }
}
