// Stamps reused while one thread records (docs/RECORDER.md, "Ordering"): a stamp is a TSC reading
// taken at or before its event, at most a few kernel ticks earlier, so time spent between events
// shows in the stamps however few clock reads the recorder made.
import Foundation
import HeapwiseFormat
import Testing

@Suite("Stamps") struct StampsTests {
  @Test func reusedStampsFollowTheClock() throws {
    let dir = Harness.freshDirectory("stamps")
    try Harness.record(try Harness.build("spaced.c"), in: dir)
    let reader = try DumpReader(path: try Harness.onlyDump(in: dir))
    var marked: [(size: UInt64, ticks: UInt64)] = [], last: UInt64 = 0
    while let event = reader.next() {
      guard case .alloc(let a) = event.record, event.stream != .process else { continue }
      #expect(event.timestamp >= last)  // one stream: never decreasing
      last = event.timestamp
      if (1000..<1020).contains(a.size) { marked.append((a.size, event.timestamp)) }
    }
    #expect(reader.warnings.isEmpty)
    #expect(marked.map(\.size) == Array(1000..<1020))
    let rate = Double(reader.header.ticksPerSecond)
    #expect(rate > 0)
    // Allocation i came at least 5 i ms after allocation 0. Its stamp is at most its event's time
    // and lags it by less than a kernel tick (<= 10 ms, checked at start) plus one coarse unit;
    // 30 ms leaves room for a timekeeping CPU that was descheduled for a few ticks.
    for (i, m) in marked.enumerated() where i > 0 {
      let gapMs = Double(m.ticks - marked[0].ticks) / rate * 1000
      #expect(gapMs >= 5 * Double(i) - 30, "allocation \(i): \(gapMs) ms after the first")
    }
  }

  /// A marker raised between two allocations sorts between them: the marker's own reading ends
  /// the reuse of earlier readings (hw_tls_stamp_other), so the allocation 1.5 ms later is stamped
  /// in a later coarse unit than the marker, not with a reading from before it.
  @Test func markersSortBetweenTheAllocationsAroundThem() throws {
    let dir = Harness.freshDirectory("stamps-markers")
    try Harness.record(try Harness.build("spaced.c"), ["markers"], in: dir)
    let reader = try DumpReader(path: try Harness.onlyDump(in: dir))
    var order: [String] = []
    while let event = reader.next() {
      switch event.record {
      case .alloc(let a) where (1100..<1130).contains(a.size) || (2100..<2130).contains(a.size): order.append("\(a.size)")
      case .marker(let m) where m.name.hasPrefix("signal-"): order.append("marker")
      default: break
      }
    }
    #expect(reader.warnings.isEmpty)
    let expected = (0..<30).flatMap { ["\(1100 + $0)", "marker", "\(2100 + $0)"] }
    #expect(order == expected)
  }
}
