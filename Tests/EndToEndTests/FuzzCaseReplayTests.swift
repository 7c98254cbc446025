// Every input that ever crashed, hung or exhausted the analyzer (crafted by hand or found by
// tools/fuzz/run.sh) is a file in Tests/FuzzCases/, replayed here through every command that
// reads a dump: one-line messages on stderr, a documented status, never a crash, and memory within
// the fuzz harness's bound (tools/fuzz/README.md) over what the command takes on a small real dump.
import Foundation
import Testing

@Suite struct FuzzCaseReplayTests {
  static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("FuzzCases")

  static func commands(_ path: String) -> [[String]] {
    [
      ["records", path], ["top", path], ["top", path, "--metric", "peak", "--by", "traceback", "--limit", "0"],
      ["top", path, "--metric", "temporary", "--format", "json"], ["summary", path, "--timeline"],
      ["summary", path, "--format", "json"], ["compare", path, path], ["report", path, "-o", "-"],
      ["export", path, "--format", "pprof"], ["export", path, "--format", "speedscope"],
      ["export", path, "--format", "collapsed", "--metric", "peak"], ["summary", path],
    ]
  }

  /// Each command's peak RSS on a small dump recorded from `true` (a seed of the fuzzer).
  static let baseline: [Int] = {
    let seed = directory.deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("tools/fuzz/seeds/true-z.dump").path
    return commands(seed).map { (try? CLI.runMeasuringPeak($0))?.maxResidentBytes ?? 0 }
  }()

  /// The fuzz harness's bound on what an input adds (FuzzEntry.swift): 96 MiB + 64 x (file bytes
  /// + the raw sizes of its whole frames).
  static func memoryBound(_ bytes: [UInt8]) -> Int {
    func u32(_ at: Int) -> Int { (0..<4).reduce(0) { $0 | Int(bytes[at + $1]) << (8 * $1) } }
    var expanded = bytes.count
    var offset = bytes.count >= 16 ? u32(12) : 0
    while offset >= 16, offset + 32 <= bytes.count {
      let stored = u32(offset)
      guard stored <= bytes.count - offset - 32 else { break }
      expanded += min(u32(offset + 4), 64 << 20)
      offset += 32 + stored
    }
    return (96 << 20) + 64 * (bytes.count + expanded)
  }

  static var cases: [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
  }

  @Test func theCasesAreThere() {
    #expect(Self.cases.count >= 15, "\(Self.directory.path)")
  }

  @Test(arguments: cases)
  func replaysWithoutCrashing(name: String) throws {
    let path = Self.directory.appendingPathComponent(name).path
    let bound = Self.memoryBound(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
    for (command, base) in zip(Self.commands(path), Self.baseline) {
      let r = try CLI.runMeasuringPeak(command)
      #expect([0, 1, 2].contains(r.status), "\(name): \(command.dropLast()): status \(r.status): \(r.stderr.prefix(2000))")
      #expect(base > 0 && r.maxResidentBytes - base <= bound,
              "\(name): \(command.dropLast()): peak RSS \(r.maxResidentBytes) B, \(base) B on a small dump, bound \(bound) B over it")
      for line in r.stderr.split(separator: "\n") {
        #expect(line.hasPrefix("heapwise: "), "\(name): \(command.dropLast()): \(line)")
      }
    }
  }
}
