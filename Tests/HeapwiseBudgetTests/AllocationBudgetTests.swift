import HeapwiseBudget
import Testing

// Two call sites with known counts and sizes, for the failure messages.
let parseLine = #line + 2
@inline(never) func parseLike() {
  for _ in 0..<9 { UnsafeMutableRawPointer.allocate(byteCount: 32, alignment: 8).deallocate() }
}
let bufferLine = #line + 2
@inline(never) func bufferLike() {
  for _ in 0..<5 { UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 8).deallocate() }
}

@Suite struct AllocationBudgetTests {
  let file = "AllocationBudgetTests.swift"

  func measureBoth() throws -> AllocationUsage {
    try measureAllocations {
      parseLike()
      bufferLike()
    }
  }

  @Test func namesTheLimitTheExcessAndTheTopSites() throws {
    let usage = try measureBoth()
    let budget = AllocationBudget(maxAllocations: 10)
    #expect(
      budget.failureMessages(for: usage) == [
        "allocation budget exceeded: 14 allocations > 10 (+4); top sites: "
          + "HeapwiseBudgetTests.parseLike() -> () (\(file):\(parseLine)) (9), "
          + "HeapwiseBudgetTests.bufferLike() -> () (\(file):\(bufferLine)) (5)"
      ])
  }

  @Test func ranksSitesByBytesForAByteLimit() throws {
    let usage = try measureBoth()
    let budget = AllocationBudget(maxBytes: 512)
    #expect(
      budget.failureMessage(for: usage)
        == "allocation budget exceeded: 608 B allocated > 512 B (+96 B); top sites: "
        + "HeapwiseBudgetTests.bufferLike() -> () (\(file):\(bufferLine)) (320 B), "
        + "HeapwiseBudgetTests.parseLike() -> () (\(file):\(parseLine)) (288 B)")
  }

  @Test func reportsLeaksWithWhereTheyWereAllocated() throws {
    var blocks = Blocks(capacity: 2)
    let usage = try measureAllocations { blocks.allocate(2, size: 100) }
    blocks.release()
    let message = AllocationBudget(maxLeakedBytes: 0).failureMessage(for: usage) ?? ""
    #expect(message.hasPrefix("allocation budget exceeded: 200 B leaked > 0 B (+200 B); leaked at: HeapwiseBudgetTests.Blocks.allocate("))
    #expect(message.contains(" (Support.swift:"))
    #expect(message.hasSuffix(" (200 B in 2 blocks)"))
  }

  @Test func everyExceededLimitGetsItsOwnLine() throws {
    let usage = try measureBoth()
    let budget = AllocationBudget(maxAllocations: 13, maxBytes: 607, maxPeakBytes: 63)
    let limits = budget.violations(of: usage).map(\.limit)
    #expect(limits == [.allocations, .bytes, .peakBytes])
    #expect(budget.violations(of: usage).map(\.description) == [
      "14 allocations > 13 (+1)", "608 B allocated > 607 B (+1 B)", "peak 64 B > 63 B (+1 B)",
    ])
    #expect(budget.failureMessages(for: usage).count == 3)
  }

  @Test func aBudgetThatHoldsHasNoMessage() throws {
    let usage = try measureBoth()
    let budget = AllocationBudget(
      maxAllocations: 14, maxBytes: 608, maxPeakBytes: 64, maxLeakedBytes: 0, maxLeakedBlocks: 0)
    #expect(budget.violations(of: usage).isEmpty)
    #expect(budget.failureMessage(for: usage) == nil)
  }
}
