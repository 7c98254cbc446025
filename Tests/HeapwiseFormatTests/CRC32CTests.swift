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
