import HeapwiseBudget
import Testing

@Suite struct AllocationBudgetTraitTests {
  @Test(.allocationBudget(maxAllocations: 3, maxBytes: 144, maxPeakBytes: 48, maxLeakedBytes: 0))
  func passesWithinItsBudget() {
    allocateAndFree(3)
  }

  @Test(.allocationBudget(maxAllocations: 0))
  func anEmptySyncTestAllocatesNothing() {}

  @Test(.allocationBudget(maxAllocations: 0))
  func anEmptyAsyncTestAllocatesNothing() async {}

  // The testing library's own work inside the body is not the test's.
  @Test(.allocationBudget(maxAllocations: 0, maxLeakedBytes: 0))
  func expectationsAreNotCounted() throws {
    let answer = 42
    #expect(answer == 42)
    #expect(String(answer) == "42")
    try #require(answer > 0)
  }

  @Test(.allocationBudget(maxAllocations: 2), arguments: [1, 2])
  func measuresEachCaseOnItsOwn(count: Int) {
    allocateAndFree(count)
  }

  @Test func recordsAnIssueWhenExceeded() async throws {
    let trait: AllocationBudgetTrait = .allocationBudget(maxAllocations: 2)
    let test = try #require(Test.current)
    try await withKnownIssue {
      try await trait.provideScope(for: test, testCase: Test.Case.current) { allocateAndFree(3) }
    } matching: { issue in
      issue.comments.contains {
        $0.rawValue.hasPrefix("allocation budget exceeded: 3 allocations > 2 (+1); top sites: ")
          && $0.rawValue.contains(" (Support.swift:\(allocateAndFreeLine)) (3)")
      }
    }
  }

  @Test func recordsALeak() async throws {
    let trait: AllocationBudgetTrait = .allocationBudget(maxLeakedBlocks: 0)
    let test = try #require(Test.current)
    let leaked = Slot()
    defer { leaked.pointer?.deallocate() }
    try await withKnownIssue {
      try await trait.provideScope(for: test, testCase: Test.Case.current) {
        leakLine = #line + 1
        leaked.pointer = UnsafeMutableRawPointer.allocate(byteCount: 24, alignment: 8)
      }
    } matching: { issue in
      issue.comments.contains {
        $0.rawValue.hasPrefix("allocation budget exceeded: 1 leaked block > 0 (+1); leaked at: ")
          && $0.rawValue.contains(" (AllocationBudgetTraitTests.swift:\(leakLine)) (24 B in 1 block)")
      }
    }
  }
}

nonisolated(unsafe) private var leakLine = 0

/// Holds a block past the end of a measurement; made before it, so not counted.
final class Slot: @unchecked Sendable {
  var pointer: UnsafeMutableRawPointer?
}
