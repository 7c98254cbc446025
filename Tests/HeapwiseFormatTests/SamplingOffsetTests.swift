// SAMPLING (0x54, formats 1.2 and 1.3) and SAMPLING_OFFSET (0x55, format 1.4): the parameters a
// sampled dump's weights come from. A dump without C reads as it always did (C = 0, the law
// 1 - exp(-s/R)); one with C weighs every block below R by 1 / (1 - exp(-(s + C)/R)).
import Foundation
@testable import HeapwiseFormat
import Testing

@Suite struct SamplingOffsetTests {
  static func parameters(_ build: (inout FrameBuilder) -> Void) throws -> SamplingParameters? {
    let path = temporaryDump(CraftedDumps.dump(build), name: "sampling-offset")
    defer { unlink(path) }
    let reader = try DumpReader(path: path)
    let events = reader.readAll()
    #expect(reader.warnings.isEmpty, "\(reader.warnings)")
    for e in events { if case .sampling(let p) = e.record { return p } }
    return nil
  }

  @Test func aSamplingRecordHasNoOffset() throws {
    let p = try #require(try Self.parameters { $0.sampling(100, rate: 524_288, seed: 7, capacity: 65_536) })
    #expect(p == SamplingParameters(meanBytes: 524_288, seed: 7, liveCapacity: 65_536, offsetBytes: 0))
    // The law of formats 1.2 and 1.3, bit for bit.
    for s: UInt64 in [1, 16, 48, 4096, 524_287] {
      #expect(p.probability(s) == -expm1(-Double(s) / 524_288), "\(s)")
    }
    #expect(p.probability(524_288) == 1 && p.probability(1 << 40) == 1)
  }

  @Test func aSamplingOffsetRecordCarriesC() throws {
    let p = try #require(try Self.parameters { $0.sampling(100, rate: 524_288, seed: 7, capacity: 65_536, offset: 512) })
    #expect(p == SamplingParameters(meanBytes: 524_288, seed: 7, liveCapacity: 65_536, offsetBytes: 512))
    for s: UInt64 in [0, 1, 16, 48, 4096, 524_287] {
      #expect(p.probability(s) == -expm1(-(Double(s) + 512) / 524_288), "\(s)")
    }
    // A 0-byte block now has a chance of its own, and a 16-byte one is 33 times likelier to be
    // kept than under the old law: weighing it by the old law's 1/p would count it 33 times over.
    #expect(p.probability(0) > 0)
    let old = SamplingParameters(meanBytes: 524_288, seed: 7, liveCapacity: 65_536)
    #expect(p.probability(16) / old.probability(16) > 32)
    // From R on, C changes nothing: every such block is recorded.
    #expect(p.probability(524_288) == 1)
  }

  /// The reader of a dump that predates C, a 1.3 reader (what this one was before 1.4), stops at
  /// the unknown fixed-body tag 0x55 instead of reading its blocks with weights for C = 0.
  @Test func theOffsetRecordIsNotSkippable() {
    #expect(RecordTag.samplingOffset < RecordTag.skippableFirst)
  }
}
