@testable import HeapwiseAnalysis
import HeapwiseFormat
import Testing

@Suite struct LiveBlockTableTests {
  /// Random inserts and removes, checked against a Dictionary, across several growths and with
  /// addresses that collide in the low bits.
  @Test func behavesLikeADictionary() {
    let table = LiveBlockTable(capacity: 4)
    var reference: [UInt64: UInt64] = [:]
    var rng = SystemRandomNumberGenerator()
    for step in 0..<50_000 {
      let address = UInt64.random(in: 1...4096, using: &rng) << 4
      if Bool.random(using: &rng) {
        let block = LiveBlock(size: UInt64(step), timestamp: 0, serial: UInt64(step), stack: .none, stream: .process)
        let old = table.insert(address, block)
        #expect(old?.size == reference[address])
        reference[address] = UInt64(step)
      } else {
        let removed = table.remove(address)
        #expect(removed?.size == reference.removeValue(forKey: address))
      }
    }
    #expect(table.count == reference.count)
    for (address, size) in reference { #expect(table.lookup(address)?.size == size) }
    var seen = 0
    table.forEach { _, _ in seen += 1 }
    #expect(seen == reference.count)
  }
}

@Suite struct MappingTableTests {
  @Test func cutsAndReportsWholeRemovals() {
    var t = MappingTable()
    var removals: [(UInt64, Bool)] = []
    let b = LiveBlock(size: 0x3000, timestamp: 0, serial: 1, stack: StackID(1), stream: .process)
    t.insert(start: 0x1000, length: 0x3000, block: b) { _ in Issue.record("nothing to replace") }
    t.remove(start: 0x2000, length: 0x1000) { removals.append(($0.bytes, $0.whole)) }
    #expect(t.pieces.map { [$0.start, $0.end] } == [[0x1000, 0x2000], [0x3000, 0x4000]])
    t.remove(start: 0, length: 0x10000) { removals.append(($0.bytes, $0.whole)) }
    #expect(removals.map(\.0) == [0x1000, 0x1000, 0x1000])
    #expect(removals.map(\.1) == [false, false, true])
    #expect(t.isEmpty)
  }

  @Test func fixedMappingReplacesWhatItOverlaps() {
    var t = MappingTable()
    var replaced: UInt64 = 0
    let a = LiveBlock(size: 0x2000, timestamp: 0, serial: 1, stack: StackID(1), stream: .process)
    let b = LiveBlock(size: 0x1000, timestamp: 0, serial: 2, stack: StackID(2), stream: .process)
    t.insert(start: 0x1000, length: 0x2000, block: a) { _ in }
    t.insert(start: 0x2000, length: 0x1000, block: b) { replaced += $0.bytes }
    #expect(replaced == 0x1000)
    #expect(t.pieces.map(\.block.serial) == [1, 2])
  }

  /// Found by the fuzzer: unaligned cuts (only a damaged dump has them) left a piece spanning
  /// more pages of its own grid than it kept, and the next cut past them built a range whose
  /// lower bound was above its upper one: a trap in `summary`. Every bytes figure stays exact.
  @Test func unalignedCutsPastTheKeptPagesAreEmptyNotATrap() {
    var t = MappingTable()
    var removed: UInt64 = 0
    let b = LiveBlock(size: 0x3000, timestamp: 0, serial: 1, stack: StackID(1), stream: .process)
    t.insert(start: 0, length: 0x3000, block: b) { _ in }
    // Each cut's right piece keeps the old grid's pages from the one after the cut, but starts
    // inside a page: after three cuts the piece [0x60, 0x3000) keeps no page and spans three.
    for cut: UInt64 in [0x10, 0x30, 0x50] { t.remove(start: cut, length: 0x10) { removed += $0.bytes } }
    t.clearResidency(start: 0x1060, length: 0x100) { _, _ in }
    #expect(t.residentBytes(start: 0x1060, length: 0x100) == 0)
    t.remove(start: 0x1060, length: 0x100) { removed += $0.bytes }
    t.remove(start: 0, length: 0x10000) { removed += $0.bytes }
    #expect(removed == 0x3000)
    #expect(t.isEmpty)
  }
}
