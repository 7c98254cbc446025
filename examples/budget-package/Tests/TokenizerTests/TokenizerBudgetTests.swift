import HeapwiseBudget
import Testing
import Tokenizer

/// Swift Testing style: a budget trait on the test, or a measurement inside it.
@Suite struct TokenizerBudgetTests {
  static let text = Array("the quick brown fox jumps over the lazy dog".utf8)

  // The whole test body is measured: the tokenizer's buffer (1 allocation) and nothing else.
  @Test(.allocationBudget(maxAllocations: 1, maxBytes: .kibibytes(4), maxLeakedBytes: 0))
  func tokenizingAllocatesOnlyItsBuffer() {
    var tokenizer = Tokenizer(capacity: 16)
    Self.text.withUnsafeBufferPointer { tokenizer.tokenize($0) }
    #expect(tokenizer.tokens.count == 9)
  }

  @Test func tokenizingAgainAllocatesNothing() throws {
    var tokenizer = Tokenizer(capacity: 16)
    let usage = try Self.text.withUnsafeBufferPointer { text in
      try measureAllocations {
        for _ in 0..<100 { tokenizer.tokenize(text) }
      }
    }
    #expect(usage.allocations == 0)
    #expect(usage.liveBytesDelta <= 0)
  }

  @Test func aCounterAllocatesOncePerNewWord() throws {
    let counter = WordCounter(capacity: 64)
    let hashes: [UInt64] = [1, 2, 3, 1, 2, 3, 4]  // an array literal allocates: not in the scope
    let usage = try measureAllocations {
      for hash in hashes { counter.add(hash: hash) }
    }
    #expect(usage.allocations == 4)
    #expect(usage.leakedBlocks == 4)  // the entries stay in the counter
  }

  // Shows what a failure looks like; heapwise's test suite runs it with the variable set and
  // checks the message. It allocates 14 times from two lines against a budget of 10.
  @Test(.enabled(if: Environment.showFailure), .allocationBudget(maxAllocations: 10))
  func overBudget() {
    for _ in 0..<9 { _ = WordCounter.Entry() }
    for _ in 0..<5 { UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 8).deallocate() }
  }
}

enum Environment {
  static var showFailure: Bool { getenv("BUDGET_EXAMPLE_SHOW_FAILURE") != nil }
}

#if canImport(Glibc)
import Glibc
#endif
