// ResidentPages is sparse (only words with a resident page are stored): every operation is
// checked against a plain set of page numbers, over random operations on pieces of odd lengths,
// and a piece of 2^45 pages (a 2^57-byte mapping, the largest the reader accepts) must cost
// nothing until pages in it are resident.
@testable import HeapwiseAnalysis
import Testing

@Suite struct ResidentPagesTests {
  struct Generator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
      state &+= 0x9E37_79B9_7F4A_7C15
      var z = state
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
  }

  static func check(_ r: ResidentPages, _ model: Set<Int>, _ what: String) {
    #expect(r.count == model.count, "\(what): count \(r.count), model \(model.count)")
    for i in 0..<r.pages where r.isSet(i) != model.contains(i) {
      Issue.record("\(what): page \(i) is \(r.isSet(i)), model \(model.contains(i))")
      return
    }
  }

  @Test(arguments: [1, 63, 64, 65, 200, 1000])
  func matchesAPlainSet(pages: Int) {
    var rng = Generator(state: UInt64(pages))
    var r = ResidentPages(pages: pages)
    var model = Set<Int>()
    for step in 0..<400 {
      let a = Int.random(in: 0..<pages, using: &rng), b = Int.random(in: 0...pages, using: &rng)
      let range = min(a, b)..<max(a, b)
      switch Int.random(in: 0..<5, using: &rng) {
      case 0, 1:
        let offset = Int.random(in: 0..<13, using: &rng)
        let bitmap = (0..<((range.count + offset + 7) / 8 + 1)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        var expected = 0
        for i in range {
          let j = i - range.lowerBound + offset
          let on = bitmap[j / 8] & (1 << UInt8(j % 8)) != 0
          if on != model.contains(i) { expected += on ? 1 : -1 }
          if on { model.insert(i) } else { model.remove(i) }
        }
        let delta = bitmap.withUnsafeBufferPointer { r.assign(range, from: $0, bitOffset: offset) }
        #expect(delta == expected, "step \(step): assign \(range) delta")
      case 2:
        let expected = range.filter { model.contains($0) }.count
        model.subtract(range)
        #expect(r.clear(range) == expected, "step \(step): clear \(range)")
      case 3:
        let expected = range.filter { !model.contains($0) }.count
        model.formUnion(range)
        #expect(r.fill(range) == expected, "step \(step): fill \(range)")
      default:
        #expect(r.count(in: range) == range.filter { model.contains($0) }.count, "step \(step): count in \(range)")
        let s = r.slice(range)
        #expect(s.pages == range.count)
        Self.check(s, Set(model.filter { range.contains($0) }.map { $0 - range.lowerBound }), "step \(step): slice \(range)")
      }
      Self.check(r, model, "step \(step)")
    }
  }

  @Test func aHugePieceCostsWhatIsResidentInIt() {
    let pages = 1 << 45
    var r = ResidentPages(pages: pages)
    #expect(r.count(in: 0..<pages) == 0)
    #expect(r.clear(0..<pages) == 0)
    // Two resident words far apart, then every operation over the whole piece.
    let bitmap: [UInt8] = [0xff, 0x01]
    _ = bitmap.withUnsafeBufferPointer { r.assign((pages - 16)..<pages, from: $0, bitOffset: 0) }
    _ = bitmap.withUnsafeBufferPointer { r.assign(1000..<1016, from: $0, bitOffset: 0) }
    #expect(r.count == 18)
    #expect(r.count(in: 0..<pages) == 18)
    let tail = r.slice((pages / 2)..<pages)
    #expect(tail.count == 9 && tail.isSet(pages / 2 - 16) && tail.isSet(pages / 2 - 8) && !tail.isSet(pages / 2 - 7))
    #expect(r.clear(0..<pages) == 18 && r.count == 0)
  }
}
