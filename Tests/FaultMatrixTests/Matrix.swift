// The fault matrix's harness: builds a program of Tests/Programs, runs it under the real preload
// library with a deadline (a hang is the failure this suite exists to catch), and reads what the
// recorder wrote. docs/RECORDER.md's fault-matrix table lists every case with its observed result.
import Foundation
import HeapwiseFormat
import TestSupport

enum Matrix {
  static let workspace = ProgramWorkspace("fault-matrix")
  static var repo: URL { ProgramWorkspace.repo }
  static var programs: URL { ProgramWorkspace.programs }
  /// A case that has not ended by then has hung: far above any case's normal run time.
  static let deadline: TimeInterval = 60
  static var library: String { get throws { try ProgramWorkspace.library } }
  static var scratch: URL { workspace.scratch }
  static func freshDirectory(_ name: String) -> URL { workspace.freshDirectory(name) }
  static func build(_ source: String, as name: String? = nil, flags: [String] = []) throws -> String {
    try workspace.build(source, as: name, flags: flags)
  }

  /// Runs `program` under the recorder (dumps to `directory/d.%p.heapwise`); throws if it hangs.
  @discardableResult
  static func record(_ program: String, _ arguments: [String] = [], in directory: URL,
                     environment: [String: String] = [:], preload extra: [String] = [],
                     deadline: TimeInterval = deadline) throws -> Subprocess.Result {
    var env = ["PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": NSTemporaryDirectory(),
               "LD_PRELOAD": ([try library] + extra).joined(separator: " "),
               "HEAPWISE_OUTPUT": directory.appendingPathComponent("d.%p.heapwise").path]
    env.merge(environment) { $1 }
    return try Subprocess.run(program, arguments, environment: env, directory: directory, timeout: deadline)
  }

  /// The same program without the recorder, for what "behaves as plain" compares against.
  static func plain(_ program: String, _ arguments: [String] = [], in directory: URL,
                    environment: [String: String] = [:]) throws -> Subprocess.Result {
    var env = ["PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": NSTemporaryDirectory()]
    env.merge(environment) { $1 }
    return try Subprocess.run(program, arguments, environment: env, directory: directory, timeout: deadline)
  }

  static func dumps(in directory: URL) -> [String] { ProgramWorkspace.dumps(in: directory) }
  static func onlyDump(in directory: URL) throws -> String { try ProgramWorkspace.onlyDump(in: directory) }
}

/// What the cases check in a dump: the recorder tests' replay (TestSupport's DumpFacts).
typealias Replay = DumpFacts

extension DumpFacts {
  /// How many live blocks have `size` bytes.
  func live(ofSize size: UInt64) -> Int { live.values.filter { $0.size == size }.count }
}

struct MatrixError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}
