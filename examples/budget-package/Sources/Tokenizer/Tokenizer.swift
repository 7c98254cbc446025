/// Splits ASCII text into words, reusing one buffer for the token ranges: after the first call
/// of a given size, tokenizing allocates nothing.
public struct Tokenizer {
  public private(set) var tokens: [Range<Int>] = []

  public init(capacity: Int) {
    tokens.reserveCapacity(capacity)
  }

  /// Replaces ``tokens`` with the words of `text`.
  public mutating func tokenize(_ text: UnsafeBufferPointer<UInt8>) {
    tokens.removeAll(keepingCapacity: true)
    var start: Int? = nil
    for i in 0..<text.count {
      let isSpace = text[i] == 0x20 || text[i] == 0x0A
      if isSpace, let s = start {
        tokens.append(s..<i)
        start = nil
      } else if !isSpace && start == nil {
        start = i
      }
    }
    if let s = start { tokens.append(s..<text.count) }
  }
}

/// A word counter that keeps one heap object per distinct word: the allocations a budget
/// should see grow with the number of new words, and only with that.
public final class WordCounter {
  public final class Entry {
    public var count = 0
    public init() {}
  }

  private var entries: [UInt64: Entry] = [:]

  public init(capacity: Int) { entries.reserveCapacity(capacity) }

  public func add(hash: UInt64) {
    if let entry = entries[hash] {
      entry.count += 1
    } else {
      let entry = Entry()
      entry.count = 1
      entries[hash] = entry
    }
  }

  public var distinctWords: Int { entries.count }
}
