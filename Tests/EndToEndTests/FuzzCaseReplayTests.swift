// Every input that ever crashed, hung or exhausted the analyzer (crafted by hand or found by
// tools/fuzz/run.sh) is a file in Tests/FuzzCases/, replayed here through every command that
// reads a dump: one-line messages on stderr, a documented status, never a crash.
import Foundation
import Testing

@Suite struct FuzzCaseReplayTests {
  static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("FuzzCases")

  static var cases: [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
  }

  @Test func theCasesAreThere() {
    #expect(Self.cases.count >= 13, "\(Self.directory.path)")
  }

  @Test(arguments: cases)
  func replaysWithoutCrashing(name: String) throws {
    let path = Self.directory.appendingPathComponent(name).path
    let commands: [[String]] = [
      ["records", path], ["top", path], ["top", path, "--metric", "peak", "--by", "traceback", "--limit", "0"],
      ["top", path, "--metric", "temporary", "--format", "json"], ["summary", path, "--timeline"],
      ["summary", path, "--format", "json"], ["compare", path, path], ["report", path, "-o", "-"],
      ["export", path, "--format", "pprof"], ["export", path, "--format", "speedscope"],
      ["export", path, "--format", "collapsed", "--metric", "peak"],
    ]
    for command in commands {
      let r = try CLI.run(command)
      #expect([0, 1, 2].contains(r.status), "\(name): \(command.dropLast()): status \(r.status): \(r.stderr.prefix(2000))")
      for line in r.stderr.split(separator: "\n") {
        #expect(line.hasPrefix("heapwise: "), "\(name): \(command.dropLast()): \(line)")
      }
    }
  }
}
