import Foundation
import TestSupport
import Testing

/// Builds examples/budget-package (which depends on this package by path) and runs its tests as
/// a user would: once as is, where every budget holds, and once with its deliberately failing
/// test enabled, whose message must name the limit, the excess and the two allocating lines.
///
/// The first build takes a minute or two; later ones reuse the scratch directory in the system's
/// temporary directory. HEAPWISE_SKIP_EXAMPLE_PACKAGE=1 skips it while iterating.
@Suite(.serialized, .disabled(if: ProcessInfo.processInfo.environment["HEAPWISE_SKIP_EXAMPLE_PACKAGE"] != nil))
struct ExamplePackageTests {
  static let repository = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
  static let example = repository.appendingPathComponent("examples/budget-package")
  static let scratch = FileManager.default.temporaryDirectory
    .appendingPathComponent("heapwise-budget-example-\(getuid())")

  struct Run {
    var status: Int32
    /// Standard output, then standard error.
    var output: String
  }

  /// `swift ARGUMENTS` on the example package; a hang fails after 15 minutes (a first build
  /// takes one or two).
  static func swift(_ arguments: [String], environment extra: [String: String] = [:]) throws -> Run {
    let r = try Subprocess.run(
      "/usr/bin/env", ["swift"] + arguments + ["--package-path", example.path, "--scratch-path", scratch.path],
      environment: Subprocess.environment(adding: extra), timeout: 900)
    return Run(status: r.exitCode, output: r.stdout + r.stderr)
  }

  /// The line of the example's test file that contains `text`.
  static func line(of text: String) throws -> Int {
    let file = example.appendingPathComponent("Tests/TokenizerTests/TokenizerBudgetTests.swift")
    let lines = try String(contentsOf: file, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
    return try #require(lines.firstIndex { $0.contains(text) }) + 1
  }

  @Test(.timeLimit(.minutes(15)))
  func buildsAndPassesThenReportsTheDeliberateFailure() throws {
    let build = try Self.swift(["build", "--build-tests"])
    try #require(build.status == 0, "\(build.output)")

    let run = try Self.swift(["test", "--skip-build"])
    #expect(run.status == 0, "\(run.output)")
    #expect(run.output.contains("Test run with 4 tests in 1 suite passed"), "\(run.output)")
    #expect(run.output.contains("Executed 2 tests, with 0 failures"), "\(run.output)")

    let failing = try Self.swift(
      ["test", "--skip-build", "--filter", "overBudget"],
      environment: ["BUDGET_EXAMPLE_SHOW_FAILURE": "1"])
    let entries = try Self.line(of: "WordCounter.Entry()")
    let blocks = try Self.line(of: "UnsafeMutableRawPointer.allocate(byteCount: 64")
    #expect(failing.status != 0)
    // Sites are named `function (file:line)`, as in every heapwise output.
    let message = failing.output.split(separator: "\n").first { $0.contains("allocation budget exceeded: 14 allocations > 10 (+4); top sites: ") }
    #expect(message?.contains(" (TokenizerBudgetTests.swift:\(entries)) (9), ") == true, "\(failing.output)")
    #expect(message?.contains(" (TokenizerBudgetTests.swift:\(blocks)) (5)") == true, "\(failing.output)")
  }
}
