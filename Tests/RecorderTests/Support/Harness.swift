// Builds the ground-truth programs of Tests/Programs and runs them under the real preload library,
// as a user would: LD_PRELOAD plus HEAPWISE_* variables, a fresh directory per run.
import Foundation
import TestSupport
import Testing

enum Harness {
  static let repo = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
  static let programs = repo.appendingPathComponent("Tests/Programs")

  /// build/lib/libheapwise.so, built by `make lib` (which `make test` runs first).
  static var library: String {
    get throws {
      let path = repo.appendingPathComponent("build/lib/libheapwise.so").path
      guard FileManager.default.fileExists(atPath: path) else {
        throw HarnessError("\(path) is missing: run `make lib` (or `make test`) first")
      }
      return path
    }
  }

  static let scratch: URL = {
    let dir = FileManager.default.temporaryDirectory
      .appendingPathComponent("heapwise-recorder-tests-\(getpid())")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
  }()

  /// A fresh, empty directory for one test's dumps.
  static func freshDirectory(_ name: String) -> URL {
    let dir = scratch.appendingPathComponent("\(name)-\(UUID().uuidString.prefix(8))")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
  }

  private static let buildLock = NSLock()
  nonisolated(unsafe) private static var built: [String: String] = [:]

  /// Compiles a program once per test run; `-O0 -g` so call chains are as written.
  static func build(_ source: String, output: String? = nil, flags: [String] = []) throws -> String {
    let name = output ?? (source as NSString).deletingPathExtension
    buildLock.lock()
    defer { buildLock.unlock() }
    if let done = built[name] { return done }
    let out = scratch.appendingPathComponent(name).path
    let isCxx = source.hasSuffix(".cpp")
    let args = ["-g", "-O0", "-pthread", "-I", repo.appendingPathComponent("CShim/include").path,
                programs.appendingPathComponent(source).path, "-o", out] + flags + ["-ldl"]
    let result = try run(isCxx ? "/usr/bin/c++" : "/usr/bin/cc", args, environment: [:])
    guard result.status == 0 else { throw HarnessError("compiling \(source) failed:\n\(result.stderr)") }
    built[name] = out
    return out
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

  static func dumps(in directory: URL) -> [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
    return names.filter { $0.hasSuffix(".heapwise") }.sorted().map { directory.appendingPathComponent($0).path }
  }

  /// The one dump a single-process run left.
  static func onlyDump(in directory: URL) throws -> String {
    let found = dumps(in: directory)
    guard found.count == 1 else { throw HarnessError("expected one dump in \(directory.path), found \(found)") }
    return found[0]
  }
}

struct HarnessError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}
