@testable import HeapwiseFormat
import Testing

@Suite struct CRC32CTests {
  @Test func knownVectors() {
    // The check value of CRC-32C (RFC 3720, B.4).
    #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
    #expect(CRC32C.checksum([]) == 0)
  }

  @Test func incrementalEqualsWhole() {
    let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
    let whole = CRC32C.checksum(bytes)
    for split in [0, 1, 7, 8, 9, 500, 999, 1000] {
      let a = bytes.withUnsafeBytes { CRC32C.update(0, UnsafeRawBufferPointer(rebasing: $0[0..<split])) }
      let b = bytes.withUnsafeBytes { CRC32C.update(a, UnsafeRawBufferPointer(rebasing: $0[split...])) }
      #expect(b == whole)
    }
  }
}

extension CRC32CTests {
  /// The hardware path (taken on this machine when the CPU has the instruction) and the tables
  /// agree on every length and alignment around the 8-byte steps.
  @Test func hardwareEqualsTables() {
    let bytes = (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 17) }
    bytes.withUnsafeBytes { all in
      for start in 0..<9 {
        for end in stride(from: start, through: all.count, by: 7) {
          let slice = UnsafeRawBufferPointer(rebasing: all[start..<end])
          #expect(CRC32C.update(0x1234_5678, slice) == CRC32C.softwareUpdate(0x1234_5678, slice))
        }
      }
    }
    #expect(CRC32C.softwareUpdate(0, UnsafeRawBufferPointer(start: nil, count: 0)) == 0)
  }
}
