// Issue 10, item 8: help before `--`, one-line usage errors, RESIDENCY in `records`, and dumps
// read through a pipe or a FIFO.
import Foundation
import Testing

@Suite struct UsageAndInputTests {
  @Test(arguments: [["record", "--help"], ["record", "-o", "x.heapwise", "--help", "--", "./app"], ["check", "--help"],
                    ["check", "--max-leaked", "0", "-h", "--", "./app"], ["check", "--format", "json", "--help"],
                    ["record", "-o", "x.heapwise", "--help"]])
  func helpBeforeTheCommandPrintsHelp(arguments: [String]) throws {
    let r = try CLI.run(arguments)
    #expect(r.status == 0, "\(arguments): \(r.stderr)")
    #expect(r.stdout.contains("USAGE: heapwise \(arguments[0])"), "\(arguments): \(r.stdout)")
    #expect(r.stderr.isEmpty, "\(arguments): \(r.stderr)")
  }

  @Test func helpAfterTheCommandIsTheCommands() throws {
    try CLI.requireLibrary()
    let ws = try Workspace("help-passthrough")
    defer { ws.remove() }
    // The script prints its first argument: "--help" went to the program, not to heapwise.
    let r = try CLI.run(["record", "-o", ws.path("e.heapwise"), "--", "/bin/sh", "-c", "echo \"$1\"", "sh", "--help"])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stdout == "--help\n", "\(r.stdout)")
  }

  @Test(arguments: [
    (["compare", "a.heapwise"], "compare"), (["top", "x.heapwise", "--by", "traceback", "--cumulative"], "top"),
    (["record"], "record"), (["check", "--", "./app"], "check"), (["top"], "top"), (["top", "x", "--by", "nope"], "top"),
    (["summary", "--format", "xml", "x"], "summary"), (["nosuchcommand"], ""), (["records", "a", "b"], "records"),
  ])
  func usageErrorsAreOneLineAndStatus64(arguments: [String], command: String) throws {
    let r = try CLI.run(arguments)
    #expect(r.status == 64, "\(arguments): \(r.stderr)")
    let lines = r.stderr.split(separator: "\n")
    #expect(lines.count == 1, "\(arguments): \(r.stderr)")
    #expect(lines.first?.hasPrefix("heapwise: ") == true, "\(arguments): \(r.stderr)")
    #expect(r.stdout.isEmpty)
  }

  @Test func recordsPrintsResidency() throws {
    try CLI.requireLibrary()
    let ws = try Workspace("residency")
    defer { ws.remove() }
    let exe = try ws.compile("small", "#include <stdlib.h>\nint main(void) { void *p = malloc(5000); (void)p; return 0; }\n")
    let dump = try ws.record(exe, dump: "r.heapwise")
    let r = try CLI.run(["records", dump, "--no-header"])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(!r.stdout.contains("skipped record tag=0x80"), "\(r.stdout)")
    // The recorder snapshots the [heap] before END.
    let heap = r.stdout.split(separator: "\n").first { $0.contains(" residency heap 0x") }
    #expect(heap != nil, "\(r.stdout)")
    #expect(heap.map { $0.contains(" pages=") && $0.contains(" resident=") } == true)
  }

  @Test func dumpsReadThroughAPipeOrAFIFO() throws {
    try CLI.requireLibrary()
    let ws = try Workspace("pipe")
    defer { ws.remove() }
    let exe = try ws.compile("small", "#include <stdlib.h>\nint main(void) { void *p = malloc(5000); (void)p; return 0; }\n")
    let dump = try ws.record(exe, dump: "p.heapwise")
    let direct = try CLI.run(["top", dump, "--format", "json"])
    #expect(direct.status == 0, "\(direct.stderr)")
    // A pipe: the same report (the path differs).
    let piped = try CLI.runProcess("/bin/sh", ["-c", "cat '\(dump)' | '\(CLI.executable)' top /dev/stdin --format json"])
    #expect(piped.status == 0, "\(piped.stderr)")
    #expect(piped.stdout.replacingOccurrences(of: "/dev/stdin", with: dump) == direct.stdout)
    // A FIFO.
    let fifo = ws.path("fifo")
    #expect(mkfifo(fifo, 0o600) == 0)
    let viaFIFO = try CLI.runProcess("/bin/sh", ["-c", "cat '\(dump)' > '\(fifo)' & '\(CLI.executable)' summary '\(fifo)'"])
    #expect(viaFIFO.status == 0, "\(viaFIFO.stderr)")
    #expect(viaFIFO.stdout.contains("heapwise summary of"), "\(viaFIFO.stdout)")
    // An empty pipe is still "empty", one line, status 1.
    let empty = try CLI.runProcess("/bin/sh", ["-c", "'\(CLI.executable)' top /dev/stdin < /dev/null"])
    #expect(empty.status == 1 && empty.stderr.contains("empty"), "\(empty.stderr)")
  }
}
