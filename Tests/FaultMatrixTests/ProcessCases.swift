// fork, exec, vfork and posix_spawn under every follow setting: no name clash, no lost image,
// and every dump that ends has an END saying how.
import Foundation
import HeapwiseFormat
import Testing

@Suite("Fault matrix: processes") struct ProcessCases {
  struct Setting: Sendable, CustomStringConvertible {
    var fork: Bool, exec: Bool
    var description: String { "fork \(fork) exec \(exec)" }
  }

  /// A forked child allocates 5151 B and execs the program again (6161 B in the new image).
  @Test(arguments: [Setting(fork: false, exec: false), Setting(fork: true, exec: false),
                    Setting(fork: false, exec: true), Setting(fork: true, exec: true)])
  func forkThenExecUnderEveryFollowSetting(_ setting: Setting) throws {
    let program = try Matrix.build("faults.c")
    let dir = Matrix.freshDirectory("fork-exec")
    var env: [String: String] = [:]
    if setting.fork { env["HEAPWISE_FOLLOW_FORK"] = "1" }
    if setting.exec { env["HEAPWISE_FOLLOW_EXEC"] = "1" }
    let result = try Matrix.record(program, ["fork-exec"], in: dir, environment: env)
    #expect(result.status == 0)
    #expect(result.stderr.isEmpty, "\(result.stderr)")  // no "cannot create ... File exists"
    let dumps = try Matrix.dumps(in: dir).map { ($0, try Replay(path: $0)) }
    func holding(_ size: UInt64) -> [(String, Replay)] { dumps.filter { $0.1.count(size: size) > 0 } }
    #expect(holding(4141).count == 1)                     // the parent, always
    #expect(holding(5151).count == (setting.fork ? 1 : 0)) // the forked child before its exec
    // The exec'd image: the child's own in-place exec when it is followed, or a new root.
    #expect(holding(6161).count == (setting.fork || setting.exec ? 1 : 0))
    #expect(dumps.count == 1 + (setting.fork ? 1 : 0) + (setting.fork || setting.exec ? 1 : 0))
    if let child = holding(5151).first {
      #expect(child.1.end?.reason == EndRecord.Reason.exec.rawValue)  // ended by its exec
      #expect(child.1.header.flags & FormatConstants.headerFlagForkedChild != 0)
    }
    if setting.fork, let image = holding(6161).first {
      #expect(image.0.hasSuffix(".exec1.heapwise"))
    }
    for (path, dump) in dumps { #expect(dump.end != nil, "\(path) has no END") }
  }

  /// execl, execlp and execle are rebuilt on execv, execvp and execve (glibc's call execve
  /// internally, past the hooks): each in-place exec ends the dump with reason exec and the new
  /// image records into `.exec1`; execlp finds the program on PATH, execle passes its
  /// environment (the target allocates 6262 B only when HW_EXEC_SIZE reaches it).
  @Test(arguments: ["l", "lp", "le"])
  func theListFormsOfExec(_ form: String) throws {
    let program = try Matrix.build("faults.c")
    let dir = Matrix.freshDirectory("exec-\(form)")
    let result = try Matrix.record(program, ["exec-list", form], in: dir)
    #expect(result.status == 0, "\(result.stderr)")
    let dumps = try Matrix.dumps(in: dir).map { ($0, try Replay(path: $0)) }
    #expect(dumps.count == 2, "\(dumps.map(\.0))")
    let before = dumps.first { $0.1.count(size: 5252) > 0 }
    #expect(before?.1.end?.reason == EndRecord.Reason.exec.rawValue)
    let image = dumps.first { $0.1.count(size: form == "le" ? 6262 : 6161) > 0 }
    #expect(image?.0.hasSuffix(".exec1.heapwise") == true, "\(dumps.map(\.0))")
    #expect(image?.1.end?.reason == EndRecord.Reason.exit.rawValue)
  }
}

@Suite("Fault matrix: fork, vfork, posix_spawn, ends") struct LifecycleCases {
  /// scenarios.c "fork": two threads allocate while the main thread forks three children that
  /// allocate 3 x 777 B each; with HEAPWISE_FOLLOW_FORK each child writes its own dump.
  @Test(arguments: [false, true])
  func forkWhileThreadsAllocate(_ follow: Bool) throws {
    let program = try Matrix.build("scenarios.c")
    let dir = Matrix.freshDirectory("fork-threads")
    let result = try Matrix.record(program, ["fork"], in: dir,
                                   environment: follow ? ["HEAPWISE_FOLLOW_FORK": "1"] : [:])
    #expect(result.status == 0)
    let dumps = try Matrix.dumps(in: dir).map { try Replay(path: $0) }
    #expect(dumps.count == (follow ? 4 : 1))
    let children = dumps.filter { $0.header.flags & 4 != 0 }
    #expect(children.count == (follow ? 3 : 0))
    for child in children { #expect(child.count(size: 777) == 3 && child.end?.reason == 0) }
    #expect(dumps.allSatisfy { $0.end != nil })
  }

  @Test func vforkChildThatFailsToExec() throws {
    let program = try Matrix.build("scenarios.c")
    let dir = Matrix.freshDirectory("vfork")
    let result = try Matrix.record(program, ["vfork"], in: dir)
    #expect(result.status == 0)
    let dump = try Replay(path: try Matrix.onlyDump(in: dir))
    #expect(dump.live(ofSize: 6060) == 1)  // the parent records on after the child's _exit
    #expect(dump.end?.reason == 0)
  }

  @Test(arguments: [false, true])
  func posixSpawnedChild(_ followExec: Bool) throws {
    let program = try Matrix.build("faults.c")
    let dir = Matrix.freshDirectory("spawn")
    let result = try Matrix.record(program, ["spawn"], in: dir,
                                   environment: followExec ? ["HEAPWISE_FOLLOW_EXEC": "1"] : [:])
    #expect(result.status == 0)
    let dumps = try Matrix.dumps(in: dir).map { try Replay(path: $0) }
    #expect(dumps.count == (followExec ? 2 : 1))
    #expect(dumps.filter { $0.count(size: 4141) == 1 }.count == 1)
    #expect(dumps.filter { $0.count(size: 6161) == 1 }.count == (followExec ? 1 : 0))
    #expect(dumps.allSatisfy { $0.end?.reason == 0 })
  }

  /// abort and SIGSEGV: the program dies of its signal, as plain, and the dump ends with END.
  @Test(arguments: [("abort", SIGABRT), ("segv", SIGSEGV)])
  func fatalSignals(_ mode: String, _ signal: Int32) throws {
    let program = try Matrix.build("scenarios.c")
    let dir = Matrix.freshDirectory(mode)
    let result = try Matrix.record(program, [mode], in: dir)
    #expect(result.signaled && result.status == signal)
    let dump = try Replay(path: try Matrix.onlyDump(in: dir))
    #expect(dump.end?.reason == 2 && dump.end?.signal == UInt64(signal))
    #expect(dump.live(ofSize: 4242) == 1)
  }

  /// kill -9 from outside at several moments of a long multi-threaded run: every dump is readable
  /// to its last whole frame.
  @Test func killNineMidRun() throws {
    let program = try Matrix.build("faults.c")
    for delay in [50_000, 200_000, 500_000] as [useconds_t] {
      let dir = Matrix.freshDirectory("kill9")
      let env = ["LD_PRELOAD": try Matrix.library, "HEAPWISE_OUTPUT": dir.appendingPathComponent("d.%p.heapwise").path,
                 "PATH": "/usr/bin:/bin"]
      let process = Process()
      process.executableURL = URL(fileURLWithPath: program)
      process.arguments = ["long-run", "50000000"]
      process.environment = env
      process.standardOutput = FileHandle.nullDevice
      try process.run()
      usleep(delay)
      kill(process.processIdentifier, SIGKILL)
      process.waitUntilExit()
      let dump = try Replay(path: try Matrix.onlyDump(in: dir))
      #expect(dump.end == nil)
      #expect(dump.header.pid == UInt32(process.processIdentifier))
    }
  }

  /// Two threads, 1.5 M allocations: the recorder's own memory stays bounded (buffers recycled).
  @Test func longRunKeepsRecorderMemoryBounded() throws {
    let program = try Matrix.build("faults.c")
    let dir = Matrix.freshDirectory("long-run")
    let result = try Matrix.record(program, ["long-run", "1500000"], in: dir)
    #expect(result.status == 0)
    let dump = try Replay(path: try Matrix.onlyDump(in: dir))
    let recorder = dump.samples.compactMap { s in s.values.first { $0.key == 40 }?.value }
    #expect(!recorder.isEmpty)
    // Tables and the buffers in flight; back-pressure caps the queue at 64 MiB in any case.
    #expect((recorder.max() ?? .max) < 16 << 20, "recorder memory peaked at \(recorder.max() ?? 0) B")
    #expect(dump.count(.malloc) >= 1_500_000 && dump.unmatchedFrees == 0)
  }
}
