// The live heap blocks by address: open addressing with linear probing and backward-shift
// deletion, in flat arrays. A malloc/free pair costs one insert and one remove, with no
// allocation once the table has grown to the live set. Address 0 marks an empty slot (no
// allocator returns it).
import HeapwiseFormat

/// What the replay remembers about one live block.
public struct LiveBlock: Sendable, Hashable {
  public var size: UInt64
  /// Timestamp of the allocation.
  public var timestamp: UInt64
  /// Ordinal of the allocation in replay order, from 1.
  public var serial: UInt64
  public var stack: StackID
  /// The allocating thread's stream.
  public var stream: StreamID

  public init(size: UInt64, timestamp: UInt64, serial: UInt64, stack: StackID, stream: StreamID) {
    self.size = size; self.timestamp = timestamp; self.serial = serial; self.stack = stack; self.stream = stream
  }
}

struct LiveBlockTable {
  private var keys: [UInt64]
  private var values: [LiveBlock]
  private var mask: Int
  private(set) var count = 0

  init(capacity: Int = 1 << 12) {
    var n = 16
    while n < capacity * 2 { n <<= 1 }
    keys = [UInt64](repeating: 0, count: n)
    values = [LiveBlock](repeating: LiveBlock(size: 0, timestamp: 0, serial: 0, stack: .none, stream: .process), count: n)
    mask = n - 1
  }

  @inline(__always)
  private func slot(_ address: UInt64) -> Int {
    // Fibonacci hashing: blocks are 16-byte aligned, so the low bits alone would cluster.
    Int(truncatingIfNeeded: (address &* 0x9E37_79B9_7F4A_7C15) >> 20) & mask
  }

  /// Inserts a block; returns the one it replaced at the same address, if any.
  @discardableResult
  mutating func insert(_ address: UInt64, _ block: LiveBlock) -> LiveBlock? {
    if (count + 1) * 4 > keys.count * 3 { grow() }
    var i = slot(address)
    while true {
      let k = keys[i]
      if k == 0 {
        keys[i] = address
        values[i] = block
        count += 1
        return nil
      }
      if k == address {
        let old = values[i]
        values[i] = block
        return old
      }
      i = (i + 1) & mask
    }
  }

  /// Removes and returns the block at `address`.
  mutating func remove(_ address: UInt64) -> LiveBlock? {
    var i = slot(address)
    while true {
      let k = keys[i]
      if k == 0 { return nil }
      if k == address { break }
      i = (i + 1) & mask
    }
    let found = values[i]
    // Backward shift: pull later entries of the probe run into the hole.
    var hole = i
    var j = (i + 1) & mask
    while keys[j] != 0 {
      let home = slot(keys[j])
      // Move j into the hole unless its home lies cyclically in (hole, j].
      let distanceToJ = (j &- home) & mask
      let distanceToHole = (hole &- home) & mask
      if distanceToHole < distanceToJ {
        keys[hole] = keys[j]
        values[hole] = values[j]
        hole = j
      }
      j = (j + 1) & mask
    }
    keys[hole] = 0
    count -= 1
    return found
  }

  func lookup(_ address: UInt64) -> LiveBlock? {
    var i = slot(address)
    while true {
      let k = keys[i]
      if k == 0 { return nil }
      if k == address { return values[i] }
      i = (i + 1) & mask
    }
  }

  /// Every live block, in no particular order.
  func forEach(_ body: (UInt64, LiveBlock) -> Void) {
    for i in keys.indices where keys[i] != 0 { body(keys[i], values[i]) }
  }

  private mutating func grow() {
    let oldKeys = keys, oldValues = values
    keys = [UInt64](repeating: 0, count: oldKeys.count * 2)
    values = [LiveBlock](repeating: oldValues[0], count: oldKeys.count * 2)
    mask = keys.count - 1
    count = 0
    for i in oldKeys.indices where oldKeys[i] != 0 { insert(oldKeys[i], oldValues[i]) }
  }
}
