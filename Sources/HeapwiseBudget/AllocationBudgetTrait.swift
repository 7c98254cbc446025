import Testing

/// A Swift Testing trait that fails a test whose body allocates more than its budget.
///
/// ```swift
/// @Test(.allocationBudget(maxAllocations: 10, maxBytes: .kibibytes(64), maxLeakedBytes: 0))
/// func parsesHeader() throws { ... }
/// ```
///
/// Each test case is measured on its own task (``AllocationScope/task``), so tests running in
/// parallel do not count each other's allocations. The measurement includes the testing library's
/// own work between the trait and the body, a small fixed number of allocations (see
/// docs/BUDGETS.md); budgets of zero are best checked with ``measureAllocations(in:captureSites:_:)-(_,_,()->Void)``
/// inside the test.
public struct AllocationBudgetTrait: TestTrait, TestScoping {
  public var budget: AllocationBudget
  public var scope: AllocationScope
  public var sourceLocation: SourceLocation

  public func provideScope(
    for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
  ) async throws {
    // Suites and whole parameterized functions are not measured as one: each case is.
    guard testCase != nil else { return try await function() }
    let usage = try await measureAllocations(in: scope) { try await function() }
    for message in budget.failureMessages(for: usage) {
      Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
    }
  }
}

extension Trait where Self == AllocationBudgetTrait {
  /// Fails the test when its body exceeds any of the given limits; nil limits are not checked.
  public static func allocationBudget(
    maxAllocations: Int? = nil, maxBytes: ByteCount? = nil, maxPeakBytes: ByteCount? = nil,
    maxLeakedBytes: ByteCount? = nil, maxLeakedBlocks: Int? = nil, scope: AllocationScope = .task,
    sourceLocation: SourceLocation = #_sourceLocation
  ) -> Self {
    AllocationBudgetTrait(
      budget: AllocationBudget(
        maxAllocations: maxAllocations, maxBytes: maxBytes, maxPeakBytes: maxPeakBytes,
        maxLeakedBytes: maxLeakedBytes, maxLeakedBlocks: maxLeakedBlocks),
      scope: scope, sourceLocation: sourceLocation)
  }
}
