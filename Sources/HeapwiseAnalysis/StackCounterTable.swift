// Per-stack counters keyed by stack id, holding only the stacks that something happened to.
// A recorder hands out stack ids densely from 1, but a damaged or crafted dump may use ids that
// run ahead of its STACK records (up to ReaderLimits.stackIDLead): an array indexed by id made
// every command walk, copy and zero that many entries, so what an analysis costs followed one
// number read from the file instead of what the file holds.

public struct StackCounterTable: Sendable, Sequence {
  /// Stack ids, ascending (the order reports list stacks in), and their counters.
  public private(set) var ids: [Int]
  public var values: [StackCounters]

  public init() {
    ids = []
    values = []
  }

  /// `ids` must be ascending and distinct, one per value.
  public init(ids: [Int], values: [StackCounters]) {
    precondition(ids.count == values.count)
    self.ids = ids
    self.values = values
  }

  /// From counters by id (`counters[id]`), keeping the non-zero ones.
  public init(byID counters: [Int: StackCounters]) {
    ids = counters.keys.sorted()
    values = ids.map { counters[$0]! }
  }

  /// Stacks held (not the highest id).
  public var count: Int { ids.count }

  /// Where `id` is, or where it would go.
  private func position(_ id: Int) -> Int { ids.lowerBound(of: id) }

  /// The counters of stack `id` (zero when it holds none).
  public subscript(_ id: Int) -> StackCounters {
    get {
      let p = position(id)
      return p < ids.count && ids[p] == id ? values[p] : StackCounters()
    }
    set {
      let p = position(id)
      if p < ids.count && ids[p] == id {
        values[p] = newValue
      } else {
        ids.insert(id, at: p)
        values.insert(newValue, at: p)
      }
    }
  }

  public func makeIterator() -> Zip2Sequence<[Int], [StackCounters]>.Iterator {
    zip(ids, values).makeIterator()
  }

  /// Each stack's counters transformed in place.
  public mutating func modifyEach(_ body: (Int, inout StackCounters) -> Void) {
    for p in values.indices { body(ids[p], &values[p]) }
  }
}
