// Thread storms: every thread is recorded exactly, and the recorder's memory follows the threads
// alive at once, not every thread ever started (states and buffers are recycled).
import Foundation
import Testing

@Suite("Fault matrix: threads") struct ThreadCases {
  func peakRSS(_ output: String) -> Int? {
    output.split(separator: "\n").first { $0.hasPrefix("maxrss ") }.flatMap { Int($0.dropFirst(7)) }
  }

  @Test func shortThreadsTwentyAtATimeKeepMemoryBounded() throws {
    let program = try Matrix.build("faults.c")
    var peaks: [Int: Int] = [:]
    for threads in [200, 2000] {
      let dir = Matrix.freshDirectory("churn-\(threads)")
      let result = try Matrix.record(program, ["thread-churn", "\(threads)"], in: dir)
      #expect(result.status == 0)
      peaks[threads] = try #require(peakRSS(result.stdout))
      let dump = try Replay(path: try Matrix.onlyDump(in: dir))
      #expect(dump.count(size: 31) == threads)      // one per thread, none lost
      #expect(dump.threads.count == threads + 1)    // and the main thread
      #expect(dump.unmatchedFrees == 0)
      #expect(dump.live(ofSize: 31) == 0)
      // The recorder's own figure (sample key 40) at the end: buffers written and tables.
      let recorder = dump.samples.last?.values.first { $0.key == 40 }?.value ?? .max
      #expect(recorder < 4 << 20, "recorder memory \(recorder) B after \(threads) threads")
    }
    // Ten times the threads: the same memory, give or take (before: +52 KiB per exited thread).
    let growth = (peaks[2000] ?? 0) - (peaks[200] ?? 0)
    #expect(growth < 8 * 1024, "max RSS grew by \(growth) KiB from 200 to 2,000 threads")
  }
}
