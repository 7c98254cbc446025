// fork, exec, vfork and posix_spawn under every follow setting: no name clash, no lost image,
// and every dump that ends has an END saying how.
import Foundation
import HeapwiseFormat
import Testing

@Suite("Fault matrix: processes") struct ProcessCases {
  struct Setting: Sendable, CustomStringConvertible {
    var fork: Bool, exec: Bool
    var description: String { "fork \(fork) exec \(exec)" }
  }

  /// A forked child allocates 5151 B and execs the program again (6161 B in the new image).
  @Test(arguments: [Setting(fork: false, exec: false), Setting(fork: true, exec: false),
                    Setting(fork: false, exec: true), Setting(fork: true, exec: true)])
  func forkThenExecUnderEveryFollowSetting(_ setting: Setting) throws {
    let program = try Matrix.build("faults.c")
    let dir = Matrix.freshDirectory("fork-exec")
    var env: [String: String] = [:]
    if setting.fork { env["HEAPWISE_FOLLOW_FORK"] = "1" }
    if setting.exec { env["HEAPWISE_FOLLOW_EXEC"] = "1" }
    let result = try Matrix.record(program, ["fork-exec"], in: dir, environment: env)
    #expect(result.status == 0)
    #expect(result.stderr.isEmpty, "\(result.stderr)")  // no "cannot create ... File exists"
    let dumps = try Matrix.dumps(in: dir).map { ($0, try Replay(path: $0)) }
    func holding(_ size: UInt64) -> [(String, Replay)] { dumps.filter { $0.1.count(size: size) > 0 } }
    #expect(holding(4141).count == 1)                     // the parent, always
    #expect(holding(5151).count == (setting.fork ? 1 : 0)) // the forked child before its exec
    // The exec'd image: the child's own in-place exec when it is followed, or a new root.
    #expect(holding(6161).count == (setting.fork || setting.exec ? 1 : 0))
    #expect(dumps.count == 1 + (setting.fork ? 1 : 0) + (setting.fork || setting.exec ? 1 : 0))
    if let child = holding(5151).first {
      #expect(child.1.end?.reason == EndRecord.Reason.exec.rawValue)  // ended by its exec
      #expect(child.1.header.flags & FormatConstants.headerFlagForkedChild != 0)
    }
    if setting.fork, let image = holding(6161).first {
      #expect(image.0.hasSuffix(".exec1.heapwise"))
    }
    for (path, dump) in dumps { #expect(dump.end != nil, "\(path) has no END") }
  }
}
