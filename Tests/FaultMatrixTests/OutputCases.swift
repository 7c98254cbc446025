// Where the dump goes: a full disk, a directory the program cannot write, a planted symlink, a
// set-user-id program. The program always runs on as plain; the recorder says why in one line.
import Foundation
import Testing

@Suite("Fault matrix: output") struct OutputCases {
  /// RLIMIT_FSIZE makes writes past 8 KiB fail (EFBIG), as a full disk would (ENOSPC), from a
  /// multi-threaded program (the writer thread meets the failure) and a single-threaded one
  /// (the program's own thread writing inline meets it).
  @Test(arguments: ["long-run", "single-threaded"])
  func diskFullStopsRecordingButNotTheProgram(_ mode: String) throws {
    let program = try Matrix.build("faults.c")
    let dir = Matrix.freshDirectory("full")
    let env = ["HW_LIB": try Matrix.library, "HEAPWISE_OUTPUT": dir.appendingPathComponent("d.%p.heapwise").path,
               "PATH": "/usr/bin:/bin"]
    let script = "trap '' XFSZ; ulimit -f 8; LD_PRELOAD=$HW_LIB exec \"$0\" \(mode) 400000"
    let result = try Subprocess_run("/bin/bash", ["-c", script, program], env, dir)
    #expect(result.status == 0)
    let lines = result.stderr.split(separator: "\n")
    #expect(lines.count == 1 && lines.first?.contains("cannot write the dump") == true, "\(result.stderr)")
    let dump = try Replay(path: try Matrix.onlyDump(in: dir))  // what was written is readable
    #expect(dump.header.pid > 0)
  }

  @Test func unwritableDirectory() throws {
    let program = try Matrix.build("faults.c")
    let dir = Matrix.freshDirectory("unwritable")
    let result = try Matrix.record(program, ["single-threaded"], in: dir,
                                   environment: ["HEAPWISE_OUTPUT": "/proc/heapwise-no/x.%p.heapwise"])
    #expect(result.status == 0)
    #expect(result.stdout == "threads 1 single 1\n")
    #expect(result.stderr.split(separator: "\n").count == 1 && result.stderr.hasPrefix("heapwise: cannot create"))
  }

  @Test func plantedSymlinkIsNotFollowed() throws {
    let program = try Matrix.build("faults.c")
    let dir = Matrix.freshDirectory("symlink")
    let victim = dir.appendingPathComponent("victim.txt")
    try Data("keep".utf8).write(to: victim)
    let link = dir.appendingPathComponent("fixed.heapwise")
    try FileManager.default.createSymbolicLink(at: link, withDestinationURL: victim)
    let result = try Matrix.record(program, ["single-threaded"], in: dir, environment: ["HEAPWISE_OUTPUT": link.path])
    #expect(result.status == 0)
    #expect(result.stderr.contains("cannot create"))
    #expect(try String(contentsOf: victim, encoding: .utf8) == "keep")
  }

  @Test(.enabled(if: getuid() == 0, "needs root to hand the copy to another user"))
  func setuidProgramIsLeftAlone() throws {
    let dir = Matrix.freshDirectory("setuid")
    let copy = dir.appendingPathComponent("suid").path
    try FileManager.default.copyItem(atPath: try Matrix.build("faults.c"), toPath: copy)
    try FileManager.default.setAttributes([.ownerAccountName: "nobody"], ofItemAtPath: copy)
    try FileManager.default.setAttributes([.posixPermissions: 0o4755], ofItemAtPath: copy)
    let result = try Matrix.record(copy, ["single-threaded"], in: dir)
    #expect(result.status == 0)
    #expect(Matrix.dumps(in: dir).isEmpty)
  }
}

import TestSupport
private func Subprocess_run(_ exe: String, _ args: [String], _ env: [String: String], _ dir: URL) throws -> Subprocess.Result {
  try Subprocess.run(exe, args, environment: env, directory: dir, timeout: Matrix.deadline)
}
