// What the suites that run Tests/Programs under the real recorder share (RecorderTests' Harness,
// FaultMatrixTests' Matrix): the checkout, the preload library, a scratch directory, each program
// compiled once per run, and the dumps a run left.
import Foundation

public struct WorkspaceError: Error, CustomStringConvertible {
  public var description: String
  public init(_ description: String) { self.description = description }
}

public final class ProgramWorkspace: @unchecked Sendable {
  /// The checkout: this file is Tests/TestSupport/ProgramWorkspace.swift.
  public static let repo = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
  public static let programs = repo.appendingPathComponent("Tests/Programs")

  /// build/lib/libheapwise.so, built by `make lib` (which `make test` runs first).
  public static var library: String {
    get throws {
      let path = repo.appendingPathComponent("build/lib/libheapwise.so").path
      guard FileManager.default.fileExists(atPath: path) else {
        throw WorkspaceError("\(path) is missing: run `make lib` (or `make test`) first")
      }
      return path
    }
  }

  public let scratch: URL
  private let lock = NSLock()
  private var built: [String: String] = [:]

  /// A scratch directory `heapwise-NAME-PID` under the temporary directory.
  public init(_ name: String) {
    scratch = FileManager.default.temporaryDirectory.appendingPathComponent("heapwise-\(name)-\(getpid())")
    try? FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
  }

  /// A fresh, empty directory for one test's dumps.
  public func freshDirectory(_ name: String) -> URL {
    let dir = scratch.appendingPathComponent("\(name)-\(UUID().uuidString.prefix(8))")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
  }

  /// Compiles a program of Tests/Programs once per run, `-O0 -g` so that call chains are as
  /// written, with extra compiler arguments after the source.
  public func build(_ source: String, as name: String? = nil, flags: [String] = []) throws -> String {
    let name = name ?? (source as NSString).deletingPathExtension
    lock.lock()
    defer { lock.unlock() }
    if let done = built[name] { return done }
    let out = scratch.appendingPathComponent(name).path
    let compiler = source.hasSuffix(".cpp") ? "/usr/bin/c++" : "/usr/bin/cc"
    let args = ["-g", "-O0", "-pthread", "-I", Self.repo.appendingPathComponent("CShim/include").path,
                Self.programs.appendingPathComponent(source).path, "-o", out] + flags + ["-ldl"]
    let result = try Subprocess.run(compiler, args, environment: ["PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": NSTemporaryDirectory()])
    guard result.status == 0 else { throw WorkspaceError("compiling \(source) failed:\n\(result.stderr)") }
    built[name] = out
    return out
  }

  public static func dumps(in directory: URL) -> [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
    return names.filter { $0.hasSuffix(".heapwise") }.sorted().map { directory.appendingPathComponent($0).path }
  }

  /// The one dump a single-process run left.
  public static func onlyDump(in directory: URL) throws -> String {
    let found = dumps(in: directory)
    guard found.count == 1 else { throw WorkspaceError("expected one dump in \(directory.path), found \(found)") }
    return found[0]
  }
}
