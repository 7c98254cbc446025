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

/// Storage is raw memory owned by the table: no copy-on-write check or exclusivity check on the
/// hot path (both showed in profiles when the arrays lived in a struct inside the replay).
final class LiveBlockTable {
  private var keys: UnsafeMutablePointer<UInt64>
  private var values: UnsafeMutablePointer<LiveBlock>
  private var capacity: Int
  private var mask: Int
  /// 64 - log2(capacity): the slot is the top bits of the product.
  private var shift: UInt64
  private(set) var count = 0

  init(capacity wanted: Int = 1 << 12) {
    var n = 16
    while n < wanted * 2 { n <<= 1 }
    capacity = n
    mask = n - 1
    shift = UInt64(64 - n.trailingZeroBitCount)
    keys = .allocate(capacity: n)
    keys.initialize(repeating: 0, count: n)
    values = .allocate(capacity: n)
  }

  deinit {
    keys.deallocate()
    values.deallocate()  // LiveBlock is trivial: nothing to deinitialize
  }

  @inline(__always)
  private func slot(_ address: UInt64) -> Int {
    // Fibonacci hashing (the top bits of the product): blocks are 16-byte aligned and close
    // together, so the address's own low bits would cluster.
    Int(truncatingIfNeeded: (address &* 0x9E37_79B9_7F4A_7C15) >> shift)
  }

  /// Inserts a block; returns the one it replaced at the same address, if any.
  @discardableResult
  func insert(_ address: UInt64, _ block: LiveBlock) -> LiveBlock? {
    if (count + 1) * 4 > capacity * 3 { grow() }
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
  func remove(_ address: UInt64) -> LiveBlock? {
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
      if (hole &- home) & mask < (j &- home) & mask {
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
    for i in 0..<capacity where keys[i] != 0 { body(keys[i], values[i]) }
  }

  private func grow() {
    let oldKeys = keys, oldValues = values, oldCapacity = capacity
    capacity *= 2
    mask = capacity - 1
    shift -= 1
    keys = .allocate(capacity: capacity)
    keys.initialize(repeating: 0, count: capacity)
    values = .allocate(capacity: capacity)
    count = 0
    for i in 0..<oldCapacity where oldKeys[i] != 0 { insert(oldKeys[i], oldValues[i]) }
    oldKeys.deallocate()
    oldValues.deallocate()
  }
}
