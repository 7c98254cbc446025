// Module paths come from the dump (issue 10, item 7): a FIFO or a device there must not block or
// feed the symbolizer forever.
import Foundation
import Testing

@testable import HeapwiseSymbols

@Suite struct ModuleFileTests {
  @Test(.timeLimit(.minutes(1))) func aFIFOOrADeviceIsNoModule() throws {
    let fifo = FileManager.default.temporaryDirectory.appendingPathComponent("heapwise-fifo-\(getpid())").path
    unlink(fifo)
    #expect(mkfifo(fifo, 0o600) == 0)
    defer { unlink(fifo) }
    // No writer: a blocking open would wait here forever.
    #expect(ElfFile.buildID(atPath: fifo) == nil)
    #expect(ElfFile.buildID(atPath: "/dev/zero") == nil)
    #expect(ElfFile.buildID(atPath: "/proc/self/exe") != nil)
  }
}
