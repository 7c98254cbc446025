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
    try expectStampsFollowTheClock(try Harness.onlyDump(in: dir))
  }

  /// Without the vvar words every stamp asks the vDSO, in hw_stamp_after_tick (platform.c): the
  /// same two rules, so the same guarantee.
  @Test func reusedStampsFollowTheClockThroughTheVDSOCall() throws {
    let dir = Harness.freshDirectory("stamps-vdso")
    try Harness.record(try Harness.build("spaced.c"), in: dir, environment: ["HEAPWISE_COARSE_WORDS": "0"])
    try expectStampsFollowTheClock(try Harness.onlyDump(in: dir))
  }

  /// spaced.c's twenty rounds: allocation i came at least 5 i ms after allocation 0.
  func expectStampsFollowTheClock(_ dump: String) throws {
    let reader = try DumpReader(path: dump)
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
    // Its stamp is at most its event's time and lags it by less than a kernel tick (<= 10 ms,
    // checked at start) plus one coarse unit; 30 ms leaves room for a timekeeping CPU that was
    // descheduled for a few ticks.
    for (i, m) in marked.enumerated() where i > 0 {
      let gapMs = Double(m.ticks - marked[0].ticks) / rate * 1000
      #expect(gapMs >= 5 * Double(i) - 30, "allocation \(i): \(gapMs) ms after the first")
    }
  }

  static var stampCheck: Regex<(Substring, Substring, Substring)> { #/stamp check: (\d+) coarse readings compared with the vvar words at \+0x[0-9a-f]+, (\d+) disagreed/# }

  /// The vvar words (platform.c) against the vDSO's coarse clock at every reading a stamp made
  /// (HEAPWISE_STAMP_CHECK=1): found on this kernel, and never a different tick.
  @Test func coarseWordsAgreeWithTheVDSO() throws {
    let dir = Harness.freshDirectory("stamps-check")
    let result = try Harness.record(try Harness.build("spaced.c"), in: dir, environment: ["HEAPWISE_STAMP_CHECK": "1"])
    #expect(result.status == 0)
    let m = try #require(result.stderr.firstMatch(of: Self.stampCheck), "\(result.stderr)")
    #expect(Int(m.1)! >= 20 * 201 * 2)  // both stamps of every pair
    #expect(Int(m.2)! == 0, "\(result.stderr)")
  }

  static let canMakeTimeNamespaces =
    (try? Harness.run("/usr/bin/unshare", ["--fork", "--time", "/bin/true"], environment: [:]).status) == 0

  /// A child forked into a new time namespace has other vvar pages than the words its parent
  /// found: it checks them, finds they disagree with its vDSO and asks the vDSO instead. Without
  /// that check its stamps would follow words that never move.
  @Test(.enabled(if: canMakeTimeNamespaces, "unshare(CLONE_NEWTIME) is not permitted here"))
  func forkChildInANewTimeNamespaceLeavesTheWords() throws {
    let program = try Harness.build("spaced.c")
    let checked = Harness.freshDirectory("stamps-timens-check")
    let result = try Harness.record(program, ["fork-timens"], in: checked,
                                    environment: ["HEAPWISE_STAMP_CHECK": "1", "HEAPWISE_FOLLOW_FORK": "1"])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stderr.contains("stamp check: no vvar words (the words disagreed with the vDSO in a fork child)"),
            "\(result.stderr)")
    let parent = try #require(result.stderr.firstMatch(of: Self.stampCheck), "\(result.stderr)")
    #expect(Int(parent.2)! == 0)

    let dir = Harness.freshDirectory("stamps-timens")
    let run = try Harness.record(program, ["fork-timens"], in: dir, environment: ["HEAPWISE_FOLLOW_FORK": "1"])
    #expect(run.status == 0, "\(run.stderr)")
    let dumps = Harness.dumps(in: dir)
    #expect(dumps.count == 2)
    let child = try #require(try dumps.first { try DumpFacts(path: $0).count(size: 1000) == 1 })
    try expectStampsFollowTheClock(child)
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
