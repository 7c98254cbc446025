// Module paths come from the dump (issue 10, item 7): a FIFO or a device there must not block or
// feed the symbolizer forever.
import Foundation
import TestSupport
import Testing

@testable import HeapwiseSymbols

@Suite struct ModuleFileTests {
  @Test func aFIFOOrADeviceIsNoModule() throws {
    let fifo = FileManager.default.temporaryDirectory.appendingPathComponent("heapwise-fifo-\(getpid())").path
    unlink(fifo)
    #expect(mkfifo(fifo, 0o600) == 0)
    defer { unlink(fifo) }
    // No writer: a blocking open would wait here forever.
    let ids = try finishing(within: 60) { [ElfFile.buildID(atPath: fifo), ElfFile.buildID(atPath: "/dev/zero")] }
    #expect(ids == [nil, nil])
    #expect(ElfFile.buildID(atPath: "/proc/self/exe") != nil)
  }
}
