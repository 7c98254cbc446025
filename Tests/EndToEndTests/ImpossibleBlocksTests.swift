// Blocks the replay skips because live memory would pass 2^58 bytes (only a damaged or crafted
// dump has them) are said, not dropped silently: a warning line in `top` and `summary`, and a
// field in their JSON.
import Foundation
import Testing

@Suite struct ImpossibleBlocksTests {
  /// 300 blocks of 2^56 bytes at distinct addresses: four fit under 2^58, 296 cannot.
  static let path = FuzzCaseReplayTests.directory.appendingPathComponent("crafted-overlapping-2p56.dump").path
  static let warning = "warning: 296 blocks in impossible states not replayed (live memory would have passed 256 PiB): the dump is damaged or crafted"

  @Test func topSaysHowManyBlocksWereSkipped() throws {
    let r = try CLI.run(["top", Self.path])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stdout.contains("total: size=256 PiB, count=4, 1 sites\n"), "\(r.stdout)")
    #expect(r.stdout.split(separator: "\n").last.map(String.init) == Self.warning, "\(r.stdout)")
    let json = try CLI.run(["top", Self.path, "--format", "json"])
    #expect(json.stdout.contains("\"impossible_blocks\" : 296"), "\(json.stdout)")
  }

  @Test func summarySaysItToo() throws {
    let r = try CLI.run(["summary", Self.path])
    #expect(r.stdout.split(separator: "\n").contains { $0 == Self.warning }, "\(r.stdout)")
    let json = try CLI.run(["summary", Self.path, "--format", "json"])
    #expect(json.stdout.contains("\"impossible_blocks\" : 296"), "\(json.stdout)")
  }

  @Test func aWholeDumpHasNone() throws {
    let path = FuzzCaseReplayTests.directory.appendingPathComponent("crafted-many-streams.dump").path
    let r = try CLI.run(["top", path])
    #expect(!r.stdout.contains("impossible"), "\(r.stdout)")
    let json = try CLI.run(["summary", path, "--format", "json"])
    #expect(json.stdout.contains("\"impossible_blocks\" : 0"), "\(json.stdout)")
  }
}
