// Runs a program for a test and collects what it printed. Both pipes are read while it runs (a
// program that fills one pipe while the test waits on the other would otherwise hang), and a
// deadline turns a hang into a failure.
import Foundation

public enum Subprocess {
  public struct Result: Sendable {
    /// The exit status, or the signal number when `signaled`.
    public var status: Int32
    public var signaled: Bool
    public var stdout: String
    public var stderr: String
    /// As a shell reports it: 128 + the signal when a signal ended the program.
    public var exitCode: Int32 { signaled ? 128 + status : status }
    /// The program's peak resident memory, when run by `runMeasuringPeak` (0 otherwise: this
    /// process's own wait4 cannot tell it, see Tests/Programs/peakrss.c).
    public var maxResidentBytes: Int = 0
  }

  public struct Timeout: Error, CustomStringConvertible {
    public var description: String
  }

  public struct SpawnFailure: Error, CustomStringConvertible {
    public var description: String
  }

  /// Runs `executable` with exactly `environment` (nil: this process's own) in `directory`.
  ///
  /// posix_spawn and waitpid on the child's own pid, not Foundation's Process: Process learns of
  /// an exit from SIGCHLD, and once (at load 2, with suites spawning in parallel) it never did, so a
  /// test waited 11 minutes on a zombie `sh` past its deadline, SIGKILL having nothing to kill.
  public static func run(
    _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
    directory: URL? = nil, timeout: TimeInterval = 120
  ) throws -> Result {
    var outFDs: [Int32] = [-1, -1], errFDs: [Int32] = [-1, -1]
    guard GNU.pipe2(&outFDs, O_CLOEXEC) == 0 else { throw SpawnFailure(description: "pipe: \(String(cString: strerror(errno)))") }
    guard GNU.pipe2(&errFDs, O_CLOEXEC) == 0 else {
      close(outFDs[0]); close(outFDs[1])
      throw SpawnFailure(description: "pipe: \(String(cString: strerror(errno)))")
    }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, outFDs[1], 1)
    posix_spawn_file_actions_adddup2(&actions, errFDs[1], 2)
    if let directory { _ = GNU.addchdir(&actions, directory.path) }
    // The child starts as from a shell: no blocked signals, default dispositions.
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var none = sigset_t(), all = sigset_t()
    sigemptyset(&none)
    sigfillset(&all)
    posix_spawnattr_setsigmask(&attributes, &none)
    posix_spawnattr_setsigdefault(&attributes, &all)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { for a in argv { free(a) } }
    let envStrings = environment.map { $0.map { "\($0.key)=\($0.value)" } }
    let envp: [UnsafeMutablePointer<CChar>?]? = envStrings.map { $0.map { strdup($0) } + [nil] }
    defer { for e in envp ?? [] { free(e) } }
    var pid: pid_t = 0
    let spawned = envp.map { env in
      env.withUnsafeBufferPointer { posix_spawn(&pid, executable, &actions, &attributes, argv, $0.baseAddress) }
    } ?? posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
    close(outFDs[1])
    close(errFDs[1])
    guard spawned == 0 else {
      close(outFDs[0]); close(errFDs[0])
      throw SpawnFailure(description: "\(executable): \(String(cString: strerror(spawned)))")
    }
    let outReader = PipeReader(outFDs[0]), errReader = PipeReader(errFDs[0])
    let deadline = Date().addingTimeInterval(timeout)
    var status: Int32 = 0
    while true {
      let r = waitpid(pid, &status, WNOHANG)
      if r == pid { break }
      if r == -1 && errno != EINTR { throw SpawnFailure(description: "waitpid: \(String(cString: strerror(errno)))") }
      if Date() >= deadline {
        kill(pid, SIGKILL)
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        throw Timeout(description: "\(executable) \(arguments.joined(separator: " ")) did not finish in \(Int(timeout)) s")
      }
      usleep(2_000)
    }
    let signal = status & 0x7f
    return Result(
      status: signal == 0 ? (status >> 8) & 0xff : signal, signaled: signal != 0,
      stdout: outReader.text, stderr: errReader.text)
  }

  /// `run`, through Tests/Programs/peakrss.c, with the program's own peak resident memory in
  /// `maxResidentBytes`.
  public static func runMeasuringPeak(
    _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
    directory: URL? = nil, timeout: TimeInterval = 120
  ) throws -> Result {
    let wrapper = try peakWorkspace.build("peakrss.c", flags: ["-O1"])
    let out = peakWorkspace.freshDirectory("peak").appendingPathComponent("peak").path
    defer { try? FileManager.default.removeItem(atPath: (out as NSString).deletingLastPathComponent) }
    var result = try run(wrapper, [out, executable] + arguments, environment: environment, directory: directory,
                         timeout: timeout)
    guard let text = try? String(contentsOfFile: out, encoding: .utf8), let peak = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
      throw SpawnFailure(description: "peakrss left no figure for \(executable): \(result.stderr.prefix(500))")
    }
    result.maxResidentBytes = peak
    return result
  }
  private static let peakWorkspace = ProgramWorkspace("peakrss")

  /// This process's environment with `changes` applied (a nil value removes the variable).
  public static func environment(_ changes: [String: String?]) -> [String: String] {
    var env = ProcessInfo.processInfo.environment
    for (key, value) in changes { env[key] = value }
    return env
  }

  /// This process's environment with `additions` set.
  public static func environment(adding additions: [String: String]) -> [String: String] {
    ProcessInfo.processInfo.environment.merging(additions) { $1 }
  }
}

/// glibc functions Swift's Glibc module leaves out (they need _GNU_SOURCE): pipe2, so the pipe is
/// close-on-exec from the start (a child spawned by another test in between would hold it open),
/// and posix_spawn's chdir action.
private enum GNU {
  typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
  typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
  static let pipe2 = unsafeBitCast(dlsym(UnsafeMutableRawPointer(bitPattern: 0), "pipe2")!, to: Pipe2.self)
  static let addchdir = unsafeBitCast(dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addchdir_np")!, to: AddChdir.self)
}

/// Reads a pipe (its read end, which it closes) to its end on a thread of its own; `text` waits for the end.
private final class PipeReader: @unchecked Sendable {
  private final class Box: @unchecked Sendable { var data = Data() }
  private let box = Box()
  private let thread: Thread

  init(_ fd: Int32) {
    let box = self.box
    thread = Thread { box.data = FileHandle(fileDescriptor: fd, closeOnDealloc: true).readDataToEndOfFile() }
    thread.start()
  }

  var text: String {
    while !thread.isFinished { usleep(1_000) }
    return String(decoding: box.data, as: UTF8.self)
  }
}
