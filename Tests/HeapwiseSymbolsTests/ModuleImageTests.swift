import Testing

@testable import HeapwiseSymbols

struct ModuleImageTests {
  static let exe = ModuleImage(
    path: "/bin/app", buildID: [0xab, 0x01], base: 0x5555_0000_0000,
    segments: [
      Segment(vaddr: 0, memsz: 0x1000, flags: 4), Segment(vaddr: 0x1000, memsz: 0x2000, flags: 5),
    ])
  static let lib = ModuleImage(
    path: "/lib/libx.so", buildID: [], base: 0x7f00_0000_0000,
    segments: [Segment(vaddr: 0, memsz: 0x800, flags: 5)])

  @Test func lookupRespectsSegmentBounds() {
    let map = ModuleMap([Self.lib, Self.exe])
    #expect(map.module(containing: 0x5555_0000_0000)?.path == "/bin/app")
    #expect(map.module(containing: 0x5555_0000_2fff)?.path == "/bin/app")
    #expect(map.module(containing: 0x5555_0000_3000) == nil)  // end is exclusive
    #expect(map.module(containing: 0x5554_ffff_ffff) == nil)
    #expect(map.module(containing: 0x7f00_0000_07ff)?.path == "/lib/libx.so")
    #expect(map.module(containing: 0x7f00_0000_0800) == nil)
    #expect(map.module(containing: 0) == nil)
    #expect(ModuleMap([]).module(containing: 42) == nil)
  }

  @Test func overlappingRangesStillFindTheContainingModule() {
    // A large segment followed by a small one inside it, then an address past the small one:
    // the search must walk back past the small range to the large one.
    let big = ModuleImage(
      path: "big", buildID: [], base: 0x1000, segments: [Segment(vaddr: 0, memsz: 0x10000, flags: 5)])
    let small = ModuleImage(
      path: "small", buildID: [], base: 0x2000, segments: [Segment(vaddr: 0, memsz: 0x100, flags: 5)])
    let map = ModuleMap([big, small])
    #expect(map.module(containing: 0x2050)?.path == "small")
    #expect(map.module(containing: 0x3000)?.path == "big")
    #expect(map.module(containing: 0x11000) == nil)
  }

  @Test func buildIDHexAndFrameNames() {
    #expect(Self.exe.buildIDHex == "ab01")
    let frame = SymbolizedFrame(
      function: nil, file: nil, line: nil, module: "/lib/libx.so", moduleOffset: 0x1a2b,
      isInlined: false, address: 0)
    #expect(frame.description == "libx.so+0x1a2b")
    var named = frame
    named.function = "f"
    #expect(named.description == "f in libx.so")
    named.file = "/src/x.c"
    named.line = 3
    #expect(named.description == "f at /src/x.c:3")
  }

  @Test func noteParserFindsGNUBuildID() {
    // An unrelated note first (namesz 5 pads to 8), then NT_GNU_BUILD_ID.
    var notes: [UInt8] = []
    func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { notes += $0 } }
    u32(5); u32(4); u32(1); notes += Array("stapx".utf8) + [0, 0, 0]; notes += [9, 9, 9, 9]
    u32(4); u32(3); u32(3); notes += Array("GNU\0".utf8); notes += [0xde, 0xad, 0xbe, 0]
    notes.withUnsafeBytes { #expect(CurrentProcess.gnuBuildID(notes: $0) == [0xde, 0xad, 0xbe]) }
    notes.removeLast(2)  // cut inside the descriptor: no result, no trap
    notes.withUnsafeBytes { #expect(CurrentProcess.gnuBuildID(notes: $0) == []) }
  }
}
