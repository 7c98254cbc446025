import Foundation
import TestSupport
import Testing

/// `heapwise summary` run as a user would: the built executable next to this test bundle.
@Suite(.serialized)
struct SummaryCommandTests {
  static let heapwise = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    .deletingLastPathComponent().appendingPathComponent("heapwise").path

  let dir: String

  init() throws {
    var template = Array((NSTemporaryDirectory() + "heapwise-summary-cli-XXXXXX").utf8CString)
    guard let made = mkdtemp(&template) else { throw ExampleError("mkdtemp failed") }
    dir = String(cString: made)
  }

  /// Status, stdout and stderr of `heapwise arguments...`.
  static func heapwise(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
    let r = try Subprocess.run(heapwise, arguments, environment: Subprocess.environment(["LD_PRELOAD": nil]))
    return (r.exitCode, r.stdout, r.stderr)
  }

  @Test func recordThenSummarize() throws {
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let binary = "\(dir)/growing_cache"
    try SummaryExamplesTests.run([
      "cc", "-O1", "-g", "-I\(SummaryExamplesTests.repository)/CShim/include", "-o", binary,
      "\(SummaryExamplesTests.repository)/examples/growing_cache.c",
    ])
    let dump = "\(dir)/cache.heapwise"
    let recorded = try Self.heapwise(["record", "-o", dump, "--", binary, "4"])
    #expect(recorded.status == 0, "\(recorded.err)")

    let text = try Self.heapwise(["summary", dump, "--timeline"])
    #expect(text.status == 0)
    #expect(text.out.contains("\nverdict: growing: tracked memory rose "))
    #expect(text.out.contains("cache_insert (growing_cache.c:"))
    #expect(text.out.contains("\ntimeline (MiB)\n"))

    let json = try Self.heapwise(["summary", dump, "--format", "json"])
    #expect(json.status == 0)
    let object = try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any]
    #expect(object?["schema"] as? String == "heapwise.summary/1")
    #expect((object?["verdict"] as? [[String: Any]])?.first?["kind"] as? String == "growing")
  }

  @Test func notADumpIsOneLineAndStatusOne() throws {
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = "\(dir)/notes.txt"
    try "just some text, long enough to have a header's worth of bytes in it....\n"
      .write(toFile: path, atomically: true, encoding: .utf8)
    let result = try Self.heapwise(["summary", path])
    #expect(result.status == 1)
    #expect(result.out.isEmpty)
    #expect(result.err.split(separator: "\n").count == 1)
    #expect(result.err.contains("not a heapwise dump"))
  }
}
