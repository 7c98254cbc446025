import HeapwiseAnalysis
import HeapwiseReports
import Testing

@Suite struct ReportTextTests {
  @Test func humanUnits() {
    #expect(Units.bytes(0) == "0 B")
    #expect(Units.bytes(1023) == "1023 B")
    #expect(Units.bytes(1024) == "1.0 KiB")
    #expect(Units.bytes(3000) == "2.9 KiB")
    #expect(Units.bytes(512 * 1024) == "512 KiB")
    #expect(Units.bytes(1_258_291) == "1.2 MiB")
    #expect(Units.bytes(1024 * 1024 - 1) == "1.0 MiB")
    #expect(Units.bytes(5 << 40) == "5.0 TiB")
    #expect(Units.signedBytes(-1000) == "-1000 B")
    #expect(Units.signedBytes(0) == "+0 B")
    #expect(Units.signedCount(-3) == "-3" && Units.signedCount(1200) == "+1200")
    #expect(Units.seconds(0.2154) == "0.215 s" && Units.seconds(12.0) == "12.000 s")
  }

  @Test func siteLinesReadLikeTracemalloc() {
    #expect(TextReport.siteLine(label: "app.c:42", size: 1_258_291, count: 3100, sizeDifference: 524_288, countDifference: 1200)
      == "app.c:42: size=1.2 MiB (+512 KiB), count=3100 (+1200), average=405 B")
    #expect(TextReport.siteLine(label: "lib.c:7", size: 0, count: 0, sizeDifference: -64, countDifference: -1)
      == "lib.c:7: size=0 B (-64 B), count=0 (-1)")
  }

  @Test func frameText() {
    let inlined = SourceFrame(function: "step", file: "/src/a.c", line: 9, module: "app", moduleOffset: 0x10, isInlined: true)
    #expect(TextReport.frameText(inlined) == "step at /src/a.c:9 (inlined)")
    let bare = SourceFrame(function: nil, file: nil, line: nil, module: "libx.so", moduleOffset: 0x1f0, isInlined: false)
    #expect(TextReport.frameText(bare) == "libx.so+0x1f0")
    #expect(bare.portableKey == "libx.so+0x1f0")
    #expect(inlined.portableKey == "step|a.c|9")
  }
}
