import HeapwiseBudget
import Tokenizer
import XCTest

/// XCTest style: the same budgets through XCTAssertAllocations.
final class TokenizerXCTests: XCTestCase {
  func testTokenizingAgainAllocatesNothing() throws {
    var tokenizer = Tokenizer(capacity: 16)
    let text = Array("a few words to split".utf8)
    try text.withUnsafeBufferPointer { text in
      tokenizer.tokenize(text)
      try XCTAssertAllocations(maxAllocations: 0, maxLeakedBytes: 0) {
        for _ in 0..<100 { tokenizer.tokenize(text) }
      }
    }
    XCTAssertEqual(tokenizer.tokens.count, 5)
  }

  func testCounterStaysWithinItsBudget() throws {
    let counter = WordCounter(capacity: 64)
    let hashes: [UInt64] = [7, 8, 9, 7]
    let usage = try XCTAssertAllocations(maxAllocations: 3, maxBytes: .kibibytes(1)) {
      for hash in hashes { counter.add(hash: hash) }
    }
    XCTAssertEqual(usage.allocations, 3)
  }
}
