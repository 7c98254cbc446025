// `record` as a wrapper, and bad input to the readers: a one-line message and the documented
// exit status (docs/ANALYSIS.md), never a crash.
import Foundation
import Testing

@Suite(.serialized) struct CommandLineTests {
  static let exitWith = """
    #include <signal.h>
    #include <stdlib.h>
    #include <string.h>
    int main(int argc, char **argv) {
      void *p = malloc(10);
      (void)p;
      if (argc > 1 && strcmp(argv[1], "kill") == 0) {
        sigset_t set; /* the test runner may have SIGTERM blocked, and a mask is inherited */
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigprocmask(SIG_UNBLOCK, &set, 0);
        raise(SIGTERM);
      }
      return argc > 1 ? atoi(argv[1]) : 0;
    }
    """

  @Test func recordPassesArgumentsAndExitStatusThrough() throws {
    try CLI.requireLibrary()
    let ws = try Workspace("status")
    defer { ws.remove() }
    let exe = try ws.compile("status", Self.exitWith)
    let dump = try ws.record(exe, ["3", "two words", ""], dump: "s.heapwise", expectStatus: 3)
    let header = try CLI.run(["records", dump, "--limit", "0"], in: ws.url)
    #expect(header.stdout.contains("# command line: \(exe) 3 two words \n"), "\(header.stdout)")
    _ = try ws.record(exe, ["kill"], dump: "k.heapwise", expectStatus: 128 + 15)
  }

  @Test func recordDefaultOutputNamesTheCommandAndPid() throws {
    try CLI.requireLibrary()
    let ws = try Workspace("default")
    defer { ws.remove() }
    let exe = try ws.compile("status", Self.exitWith)
    let r = try CLI.run(["record", exe], in: ws.url)
    #expect(r.status == 0, "\(r.stderr)")
    let files = try FileManager.default.contentsOfDirectory(atPath: ws.url.path).filter { $0.hasSuffix(".heapwise") }
    #expect(files.count == 1 && files[0].hasPrefix("heapwise.status.") , "\(files)")
    #expect(r.stderr.contains("dump written to heapwise.status."), "\(r.stderr)")
  }

  @Test func badInputGetsOneLineAndAStatus() throws {
    let ws = try Workspace("bad")
    defer { ws.remove() }
    func check(_ name: String, _ bytes: [UInt8], status: Int32, message: String) throws {
      let path = ws.path(name)
      _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
      for command in [["top", path], ["records", path], ["compare", path, path]] {
        let r = try CLI.run(command)
        #expect(r.status == status, "\(command): \(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1, "\(command): \(r.stderr)")
        #expect(r.stderr.contains(message), "\(command): \(r.stderr)")
        #expect(r.stdout.isEmpty)
      }
    }
    try check("empty", [], status: 1, message: "empty file")
    try check("text", Array("hello, world\n".utf8), status: 1, message: "not a heapwise dump")
    var newer = Array("HEAPWISE".utf8) + [2, 0, 0, 0]
    newer += [UInt8](repeating: 0, count: 100)
    try check("newer", newer, status: 1, message: "unsupported format version 2.0")
    let missing = try CLI.run(["top", ws.path("does-not-exist")])
    #expect(missing.status == 1 && missing.stderr.contains("No such file"))
  }

  @Test func truncatedAndCorruptDumpsReportWhatWasRead() throws {
    try CLI.requireLibrary()
    let ws = try Workspace("damaged")
    defer { ws.remove() }
    let dump = try ws.record(try ws.compile("leaks", GroundTruthTests.leaks), dump: "whole.heapwise",
                             extra: ["--no-compress"])
    let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dump)))
    // Cut inside the last frame.
    let cut = ws.path("cut.heapwise")
    _ = FileManager.default.createFile(atPath: cut, contents: Data(bytes[0..<(bytes.count - 5)]))
    let t = try CLI.run(["top", cut])
    #expect(t.status == 0, "\(t.stderr)")
    #expect(t.stderr.contains("warning") && t.stderr.contains("truncated dump"), "\(t.stderr)")
    #expect(t.stdout.contains("heapwise top:"))
    // A flipped byte in the middle of the file breaks a frame's checksum.
    var flipped = bytes
    flipped[bytes.count / 2] ^= 0xff
    let bad = ws.path("corrupt.heapwise")
    _ = FileManager.default.createFile(atPath: bad, contents: Data(flipped))
    let c = try CLI.run(["top", bad])
    #expect(c.status == 2, "\(c.stderr)")
    #expect(c.stderr.contains("corrupt frame at byte"), "\(c.stderr)")
    #expect(c.stdout.contains("heapwise top:"))
  }

  @Test func usageErrors() throws {
    let r = try CLI.run(["compare", "a.heapwise"])
    #expect(r.status == 64)
    let t = try CLI.run(["top", "x.heapwise", "--by", "traceback", "--cumulative"])
    #expect(t.status == 64)
    #expect(try CLI.run(["record"]).status == 64)
  }
}
