// Builds the ground-truth programs of Tests/Programs and runs them under the real preload library,
// as a user would: LD_PRELOAD plus HEAPWISE_* variables, a fresh directory per run.
import Foundation
import TestSupport
import Testing

enum Harness {
  static let workspace = ProgramWorkspace("recorder-tests")
  static var repo: URL { ProgramWorkspace.repo }
  static var programs: URL { ProgramWorkspace.programs }
  static var library: String { get throws { try ProgramWorkspace.library } }
  static var scratch: URL { workspace.scratch }
  static func freshDirectory(_ name: String) -> URL { workspace.freshDirectory(name) }
  /// Compiles a program once per test run; `-O0 -g` so call chains are as written.
  static func build(_ source: String, output: String? = nil, flags: [String] = []) throws -> String {
    try workspace.build(source, as: output, flags: flags)
  }

  typealias Result = Subprocess.Result

  /// Runs a command with exactly `environment` added to a minimal base; waits at most `timeout`.
  @discardableResult
  static func run(_ executable: String, _ arguments: [String], environment: [String: String],
                  directory: URL? = nil, timeout: TimeInterval = 60) throws -> Result {
    var env = ["PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": NSTemporaryDirectory()]
    env.merge(environment) { _, new in new }
    do {
      return try Subprocess.run(executable, arguments, environment: env, directory: directory, timeout: timeout)
    } catch let t as Subprocess.Timeout {
      throw HarnessError("\(t.description) (deadlock?)")
    }
  }

  /// Runs `program` under the recorder with dumps going to `directory/name.%p.heapwise`.
  @discardableResult
  static func record(_ program: String, _ arguments: [String] = [], in directory: URL,
                     environment: [String: String] = [:], preload extra: [String] = []) throws -> Result {
    var env = environment
    env["LD_PRELOAD"] = ([try library] + extra).joined(separator: " ")
    if env["HEAPWISE_OUTPUT"] == nil {
      env["HEAPWISE_OUTPUT"] = directory.appendingPathComponent("dump.%p.heapwise").path
    }
    return try run(program, arguments, environment: env, directory: directory)
  }

  static func dumps(in directory: URL) -> [String] { ProgramWorkspace.dumps(in: directory) }
  static func onlyDump(in directory: URL) throws -> String { try ProgramWorkspace.onlyDump(in: directory) }
}

struct HarnessError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}
