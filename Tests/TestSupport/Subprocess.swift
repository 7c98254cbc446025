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
  }

  public struct Timeout: Error, CustomStringConvertible {
    public var description: String
  }

  /// Runs `executable` with exactly `environment` (nil: this process's own) in `directory`.
  public static func run(
    _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
    directory: URL? = nil, timeout: TimeInterval = 120
  ) throws -> Result {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = environment }
    if let directory { process.currentDirectoryURL = directory }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let outReader = PipeReader(out), errReader = PipeReader(err)
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning && Date() < deadline { usleep(2_000) }
    if process.isRunning {
      kill(process.processIdentifier, SIGKILL)
      process.waitUntilExit()
      throw Timeout(description: "\(executable) \(arguments.joined(separator: " ")) did not finish in \(Int(timeout)) s")
    }
    process.waitUntilExit()
    return Result(
      status: process.terminationStatus, signaled: process.terminationReason == .uncaughtSignal,
      stdout: outReader.text, stderr: errReader.text)
  }

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

/// Reads a pipe to its end on a thread of its own; `text` waits for the end.
private final class PipeReader: @unchecked Sendable {
  private final class Box: @unchecked Sendable { var data = Data() }
  private let box = Box()
  private let thread: Thread

  init(_ pipe: Pipe) {
    let box = self.box
    thread = Thread { box.data = pipe.fileHandleForReading.readDataToEndOfFile() }
    thread.start()
  }

  var text: String {
    while !thread.isFinished { usleep(1_000) }
    return String(decoding: box.data, as: UTF8.self)
  }
}
