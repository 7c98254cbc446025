// `heapwise record` under `timeout`: the SIGTERM meant for the run reaches the recorded program,
// which ends and writes a complete dump instead of running on as an orphan.
import Foundation
import HeapwiseFormat
import Testing

@Suite struct RecordSignalTests {
  @Test func sigtermIsPassedToTheRecordedProgram() throws {
    try CLI.requireLibrary()
    let ws = try Workspace("sigterm")
    let sleeper = try ws.compile("sleeper", """
      #include <stdlib.h>
      #include <unistd.h>
      int main(void) { void *volatile p = malloc(777); (void)p; for (;;) pause(); }
      """)
    let dump = ws.path("sleeper.heapwise")
    let r = try CLI.runProcess("/usr/bin/timeout", ["-s", "TERM", "2", CLI.executable, "record", "-o", dump, "--", sleeper],
                               in: ws.url)
    #expect(r.status == 124)  // timeout's own status: the time ran out
    #expect(r.stderr.contains("dump written to \(dump)"))
    let reader = try DumpReader(path: dump)
    var end: EndRecord?, live777 = 0
    while let e = reader.next() {
      if case .end(let x) = e.record { end = x }
      if case .alloc(let a) = e.record, a.size == 777 { live777 += 1 }
    }
    #expect(end?.reason == EndRecord.Reason.fatalSignal.rawValue)
    #expect(end?.signal == UInt64(SIGTERM))
    #expect(live777 == 1)
    let left = try CLI.runProcess("/usr/bin/pgrep", ["-f", sleeper])
    #expect(left.stdout.isEmpty, "the recorded program was left running")
  }
}
