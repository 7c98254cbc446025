// Signal handlers that allocate. glibc's malloc takes no arena lock while a process has one
// thread, so a handler's malloc interrupting the program's works (or corrupts the heap, as it
// does plain); with a second thread it can wait forever on the lock its own thread holds.
import Foundation
import Testing

@Suite("Fault matrix: signals") struct SignalCases {
  /// The root cause: the recorder must not make a single-threaded program multi-threaded.
  @Test func singleThreadedProgramStaysSingleThreaded() throws {
    let program = try Matrix.build("faults.c")
    let dir = Matrix.freshDirectory("single")
    let result = try Matrix.record(program, ["single-threaded"], in: dir)
    #expect(result.status == 0)
    #expect(result.stdout == "threads 1 single 1\n")
    let dump = try Replay(path: try Matrix.onlyDump(in: dir))
    #expect(dump.count(.malloc) >= 200_000)
    #expect(dump.end?.reason == 0)
    #expect(!dump.samples.isEmpty)
  }

  /// SIGALRM every 100 us, its handler malloc(24)/malloc(200)/free/free, main churning mixed
  /// sizes. The program may still break glibc's heap as it does plain (the handler is not
  /// async-signal-safe), but it must never hang, and what it finishes is recorded.
  @Test func allocatingSignalHandlerNeverHangs() throws {
    let program = try Matrix.build("faults.c")
    var finished = 0
    for round in 0..<3 {
      let dir = Matrix.freshDirectory("sigmalloc-\(round)")
      let result = try Matrix.record(program, ["signal-malloc", "1000000"], in: dir, deadline: 30)
      if result.status == 0 && !result.signaled {
        finished += 1
        let dump = try Replay(path: try Matrix.onlyDump(in: dir))
        #expect(dump.end?.reason == 0)
        #expect(dump.count(size: 24) > 0)  // the handler's allocations are recorded
      }
    }
    print("signal-malloc: \(finished) of 3 runs finished, the others crashed in glibc as plain runs do")
  }
}

@Suite("Fault matrix: marker signals") struct MarkerSignalCases {
  /// The marker signal to four allocating threads at once, ten times: each signal is one marker (two
  /// handlers at the same moment once claimed the same ring slot).
  @Test func markerSignalsOnFourThreadsAtOnce() throws {
    let program = try Matrix.build("faults.c")
    let dir = Matrix.freshDirectory("marker-storm")
    let signal = 36  // a realtime signal (SIGRTMIN is 34 on glibc): queued, unlike SIGUSR2
    let result = try Matrix.record(program, ["marker-storm", "\(signal)"], in: dir,
                                   environment: ["HEAPWISE_MARKER_SIGNAL": "\(signal)"])
    #expect(result.status == 0)
    let dump = try Replay(path: try Matrix.onlyDump(in: dir))
    #expect(dump.markers.filter { $0.source == 1 }.count == 40)
    #expect(Set(dump.markers.map(\.name)).count == dump.markers.count)
    #expect(dump.end?.reason == 0)
  }
}
