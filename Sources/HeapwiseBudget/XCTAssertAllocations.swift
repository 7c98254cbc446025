import XCTest

/// XCTest's form of an allocation budget: fails the test when `body` exceeds a limit.
///
/// ```swift
/// func testParsesHeader() throws {
///   try XCTAssertAllocations(maxAllocations: 10, maxLeakedBytes: 0) { _ = parser.parse(header) }
/// }
/// ```
///
/// Counts the calling thread (XCTest runs a synchronous test method on one thread, outside any
/// Swift task); returns the measurement for further checks.
@discardableResult
public func XCTAssertAllocations(
  maxAllocations: Int? = nil, maxBytes: ByteCount? = nil, maxPeakBytes: ByteCount? = nil,
  maxLeakedBytes: ByteCount? = nil, maxLeakedBlocks: Int? = nil, in scope: AllocationScope = .task,
  _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line,
  _ body: () throws -> Void
) throws -> AllocationUsage {
  let usage = try measureAllocations(in: scope, body)
  let budget = AllocationBudget(
    maxAllocations: maxAllocations, maxBytes: maxBytes, maxPeakBytes: maxPeakBytes,
    maxLeakedBytes: maxLeakedBytes, maxLeakedBlocks: maxLeakedBlocks)
  report(budget, usage, message(), file, line)
  return usage
}

/// The `async` form, for `async` test methods; counts the calling task wherever it runs.
@discardableResult
public func XCTAssertAllocations(
  maxAllocations: Int? = nil, maxBytes: ByteCount? = nil, maxPeakBytes: ByteCount? = nil,
  maxLeakedBytes: ByteCount? = nil, maxLeakedBlocks: Int? = nil, in scope: AllocationScope = .task,
  _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line,
  _ body: () async throws -> Void
) async throws -> AllocationUsage {
  let usage = try await measureAllocations(in: scope, body)
  let budget = AllocationBudget(
    maxAllocations: maxAllocations, maxBytes: maxBytes, maxPeakBytes: maxPeakBytes,
    maxLeakedBytes: maxLeakedBytes, maxLeakedBlocks: maxLeakedBlocks)
  report(budget, usage, message(), file, line)
  return usage
}

private func report(
  _ budget: AllocationBudget, _ usage: AllocationUsage, _ message: String, _ file: StaticString,
  _ line: UInt
) {
  for failure in budget.failureMessages(for: usage) {
    XCTFail(message.isEmpty ? failure : "\(failure) - \(message)", file: file, line: line)
  }
}
