// Runs the built `heapwise` command as a user would, and compiles C ground-truth programs.
import Foundation
import TestSupport
import Testing

/// `status` is as a shell reports it: 128 + the signal when a signal ended the program.
struct CommandResult {
  var status: Int32
  var stdout: String
  var stderr: String
  /// The command's peak resident memory (from `runMeasuringPeak` only).
  var maxResidentBytes = 0
}

enum CLI {
  /// The `heapwise` executable next to this test bundle (.build*/debug/).
  static let executable: String = {
    let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    return exe.deletingLastPathComponent().appendingPathComponent("heapwise").path
  }()

  /// build/lib/libheapwise.so of the checkout above the build directory, where `record` finds it.
  static var library: String? {
    var dir = URL(fileURLWithPath: executable).deletingLastPathComponent()
    while dir.path != "/" {
      let candidate = dir.appendingPathComponent("build/lib/libheapwise.so").path
      if FileManager.default.fileExists(atPath: candidate) { return candidate }
      dir = dir.deletingLastPathComponent()
    }
    return nil
  }

  /// Fails the test, with the fix, when the preload library has not been built.
  static func requireLibrary(sourceLocation: SourceLocation = #_sourceLocation) throws {
    if library == nil {
      Issue.record("build/lib/libheapwise.so is missing: run `make lib` in the repository first", sourceLocation: sourceLocation)
      throw MissingLibrary()
    }
  }
  struct MissingLibrary: Error {}

  @discardableResult
  static func run(_ arguments: [String], in directory: URL? = nil, environment: [String: String] = [:],
                  timeout: TimeInterval = 120) throws -> CommandResult {
    try runProcess(executable, arguments, in: directory, environment: environment, timeout: timeout)
  }

  /// `run`, with the command's own peak resident memory in `maxResidentBytes`.
  static func runMeasuringPeak(_ arguments: [String]) throws -> CommandResult {
    let r = try Subprocess.runMeasuringPeak(executable, arguments, environment: Subprocess.environment(["LD_PRELOAD": nil]))
    return CommandResult(status: r.exitCode, stdout: r.stdout, stderr: r.stderr, maxResidentBytes: r.maxResidentBytes)
  }

  /// Runs a program with this process's environment, without LD_PRELOAD, plus `environment`.
  static func runProcess(_ path: String, _ arguments: [String], in directory: URL? = nil,
                         environment: [String: String] = [:], timeout: TimeInterval = 120) throws -> CommandResult {
    var changes: [String: String?] = ["LD_PRELOAD": nil]
    for (k, v) in environment { changes[k] = v }
    let r = try Subprocess.run(path, arguments, environment: Subprocess.environment(changes), directory: directory,
                               timeout: timeout)
    return CommandResult(status: r.exitCode, stdout: r.stdout, stderr: r.stderr, maxResidentBytes: r.maxResidentBytes)
  }
}

/// A scratch directory with C programs compiled from source text.
struct Workspace {
  let url: URL

  init(_ name: String) throws {
    url = FileManager.default.temporaryDirectory.appendingPathComponent("heapwise-e2e-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  }

  func path(_ name: String) -> String { url.appendingPathComponent(name).path }

  /// Compiles `source` (C) with `cc -g -O0` into `name`; returns the executable's path.
  @discardableResult
  func compile(_ name: String, _ source: String, in subdirectory: String? = nil) throws -> String {
    var dir = url
    if let subdirectory {
      dir = url.appendingPathComponent(subdirectory)
      try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    let src = dir.appendingPathComponent("\(name).c")
    try source.write(to: src, atomically: true, encoding: .utf8)
    let exe = dir.appendingPathComponent(name).path
    let r = try CLI.runProcess("/usr/bin/cc", ["-g", "-O0", "-pthread", "-o", exe, src.path])
    if r.status != 0 { Issue.record("cc failed: \(r.stderr)") }
    return exe
  }

  /// Records `program` with `heapwise record -o <name>.heapwise`; returns the dump's path.
  func record(_ program: String, _ arguments: [String] = [], dump: String, extra: [String] = [],
              expectStatus: Int32 = 0, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
    let out = path(dump)
    let r = try CLI.run(["record", "-o", out] + extra + ["--", program] + arguments, in: url)
    #expect(r.status == expectStatus, "record: \(r.stderr)", sourceLocation: sourceLocation)
    #expect(r.stderr.contains("dump written to \(out)"), "record: \(r.stderr)", sourceLocation: sourceLocation)
    return out
  }

  func remove() { try? FileManager.default.removeItem(at: url) }
}

/// The 1-based line of the first line of `source` that contains `marker`.
func line(of marker: String, in source: String) -> Int {
  for (i, l) in source.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where l.contains(marker) {
    return i + 1
  }
  Issue.record("no line with \(marker)")
  return -1
}

/// The JSON report's sites as label → (size, count).
func jsonSites(_ text: String) throws -> [String: (size: UInt64, count: UInt64)] {
  let obj = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
  var result: [String: (UInt64, UInt64)] = [:]
  for site in obj?["sites"] as? [[String: Any]] ?? [] {
    let label = site["label"] as? String ?? "?"
    result[label] = ((site["size"] as? NSNumber)?.uint64Value ?? 0, (site["count"] as? NSNumber)?.uint64Value ?? 0)
  }
  return result
}

func jsonTotal(_ text: String) throws -> (size: UInt64, count: UInt64) {
  let obj = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
  let total = obj?["total"] as? [String: Any]
  return ((total?["size"] as? NSNumber)?.uint64Value ?? 0, (total?["count"] as? NSNumber)?.uint64Value ?? 0)
}
