import HeapwiseFormat
import Testing

@Suite struct DumpHeaderTests {
  @Test func emptyFileIsAnError() {
    #expect(throws: DumpError.empty) { try DumpReader(path: temporaryDump([])) }
  }

  @Test func otherBytesAreNotADump() {
    #expect(throws: DumpError.notADump) { try DumpReader(path: temporaryDump(Array("#!/bin/sh\necho hi\n".utf8))) }
    #expect(throws: DumpError.notADump) { try DumpReader(path: temporaryDump([0x48, 0x45, 0x41, 0x50, 0x00])) }
  }

  @Test func newerMajorIsRejectedWithItsVersion() {
    let bytes = DumpEncoder(major: 2, minor: 7).bytes
    #expect(throws: DumpError.unsupportedVersion(major: 2, minor: 7)) { try DumpReader(path: temporaryDump(bytes)) }
    #expect(DumpError.unsupportedVersion(major: 2, minor: 7).description.contains("unsupported format version 2.7"))
  }

  @Test func newerMinorIsAccepted() throws {
    let reader = try DumpReader(path: temporaryDump(DumpEncoder(minor: 3).bytes))
    #expect(reader.header.minor == 3)
    #expect(reader.readAll().isEmpty)
  }

  @Test func headerFieldsAreRead() throws {
    let bytes = DumpEncoder(pid: 99, executable: "/opt/x y/app", arguments: ["app", "", "ü"], flags: 5).bytes
    let h = try DumpReader(path: temporaryDump(bytes)).header
    #expect(h.pid == 99 && h.ppid == 1 && h.pageSize == 4096)
    #expect(h.executable == "/opt/x y/app")
    #expect(h.arguments == ["app", "", "ü"])
    #expect(h.timestampsAreTSC && !h.trimProbe && h.isForkedChild)
    #expect(h.startTicks == 1_000 && h.ticksPerSecond == 1_000_000_000)
    #expect(h.headerSize == bytes.count)
  }

  @Test func cutHeaderIsTruncated() {
    let bytes = DumpEncoder().bytes
    #expect(throws: DumpError.truncatedHeader(size: 40)) { try DumpReader(path: temporaryDump(Array(bytes[0..<40]))) }
  }

  @Test func missingFileIsAnError() {
    #expect(throws: (any Error).self) { try DumpReader(path: "/nonexistent/heapwise/dump") }
  }
}
