import Testing
import HeapwiseBudget

@Suite struct ByteCountTests {
  @Test func unitsMultiplyByPowersOf1024() {
    #expect(ByteCount.kibibytes(64).bytes == 65_536)
    #expect(ByteCount.mebibytes(2).bytes == 2_097_152)
    #expect(ByteCount.gibibytes(1).bytes == 1_073_741_824)
    #expect(ByteCount.bytes(7) == 7)
  }

  @Test func printsWholeUnitsExactlyAndBytesOtherwise() {
    #expect(ByteCount.kibibytes(64).description == "64 KiB")
    #expect(ByteCount.mebibytes(3).description == "3 MiB")
    #expect(ByteCount(65_537).description == "65537 B")
    #expect(ByteCount(0).description == "0 B")
    #expect(ByteCount(1536).description == "1536 B")
  }

  @Test func ordersByBytes() {
    #expect(ByteCount.kibibytes(1) < ByteCount(1025))
    #expect(ByteCount(1024) == .kibibytes(1))
  }
}
