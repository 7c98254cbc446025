import HeapwiseBudget
import XCTest

final class XCTAssertAllocationsTests: XCTestCase {
  /// Failures recorded while `capturing`, instead of failing this test.
  private var captured: [String] = []
  private var capturing = false

  override func recordFailure(
    withDescription description: String, inFile filePath: String, atLine lineNumber: Int,
    expected: Bool
  ) {
    if capturing {
      captured.append(description)
    } else {
      super.recordFailure(
        withDescription: description, inFile: filePath, atLine: lineNumber, expected: expected)
    }
  }

  func testPassesWithinBudgetAndReturnsTheMeasurement() throws {
    let usage = try XCTAssertAllocations(maxAllocations: 4, maxLeakedBytes: 0) { allocateAndFree(4) }
    XCTAssertEqual(usage.allocations, 4)
    XCTAssertEqual(usage.frees, 4)
  }

  func testFailsWithTheBudgetMessage() throws {
    capturing = true
    try XCTAssertAllocations(maxAllocations: 1, "while parsing") { allocateAndFree(3) }
    capturing = false
    XCTAssertEqual(captured.count, 1)
    let message = captured.first ?? ""
    XCTAssertTrue(message.contains("allocation budget exceeded: 3 allocations > 1 (+2)"), message)
    XCTAssertTrue(message.contains(" (Support.swift:\(allocateAndFreeLine)) (3)"), message)
    XCTAssertTrue(message.contains("while parsing"), message)
  }

  func testAsyncBodyOnItsTask() async throws {
    capturing = true
    try await XCTAssertAllocations(maxAllocations: 1) {
      allocateAndFree(2)
      await Task.yield()
    }
    capturing = false
    XCTAssertEqual(captured.count, 1)
    XCTAssertTrue(captured.first?.contains("allocations > 1") == true)
  }
}
