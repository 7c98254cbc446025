import Foundation
import HeapwiseFormat
import Testing

@Suite struct CraftedDumpTests {
  /// Rewrites Tests/FuzzCases/crafted-*.heapwise when HEAPWISE_WRITE_CRAFTED names a directory.
  @Test func writeCraftedCasesWhenAsked() throws {
    guard let dir = ProcessInfo.processInfo.environment["HEAPWISE_WRITE_CRAFTED"] else { return }
    for c in CraftedDumps.all {
      _ = FileManager.default.createFile(atPath: "\(dir)/crafted-\(c.name).heapwise", contents: Data(c.bytes))
    }
  }
}
