// The weights of a sampled dump come from its own law (docs/SAMPLING.md, "Why C"): with C = 0 (a
// SAMPLING record, formats 1.2 and 1.3) a block of s bytes below R stands for 1 / (1 - exp(-s/R))
// blocks, exactly as before format 1.4; with the C of a SAMPLING_OFFSET record, for
// 1 / (1 - exp(-(s + C)/R)). Blocks of R or more count once either way.
import Foundation
import HeapwiseFormat
import Testing

@testable import HeapwiseAnalysis
@testable import HeapwiseReports

@Suite struct SampleWeightTests {
  static let sizes: [UInt64] = [0, 16, 48, 1000, 8191, 8192, 100_000]

  /// Replays one allocation of each size on stack 1 under `p`, and returns its counters.
  static func counters(_ p: SamplingParameters) -> StackCounters {
    var s = EventScript()
    s.sampling(p)
    s.stack(1, [0x1000])
    for (i, size) in sizes.enumerated() { s.alloc(0x10_0000 + UInt64(i) << 20, size, stack: 1) }
    s.end()
    return s.replay().1.at(1)
  }

  static func expected(_ r: Double, _ c: Double) -> (count: Double, bytes: UInt64, variance: Double) {
    var count = 0.0, bytes: UInt64 = 0, variance = 0.0
    for s in sizes {
      let p = Double(s) >= r ? 1 : -expm1(-(Double(s) + c) / r)
      let w = p > 0 ? 1 / p : 1
      count += w; variance += w * (w - 1)
      bytes += w == 1 ? s : UInt64((w * Double(s)).rounded())
    }
    return (count, bytes, variance)
  }

  @Test(arguments: [0, 512] as [UInt64])
  func weightsFollowTheDumpsLaw(offset: UInt64) throws {
    let c = Self.counters(SamplingParameters(meanBytes: 8192, seed: 7, liveCapacity: 64, offsetBytes: offset))
    let e = try #require(c.estimate)
    let want = Self.expected(8192, Double(offset))
    #expect(abs(e.allocated.count - want.count) <= 1e-9 * want.count, "count \(e.allocated.count), want \(want.count)")
    #expect(abs(e.allocated.countVariance - want.variance) <= 1e-9 * want.variance)
    #expect(c.allocatedBytes == want.bytes)
    // The other law's weights are far from these: the test tells the two apart.
    let other = Self.expected(8192, offset == 0 ? 512 : 0)
    #expect(abs(e.allocated.count - other.count) > 0.5 * want.count)
  }

  /// What the reports say about a dump without C is what they said before format 1.4, word for
  /// word; with C they say it, and JSON carries `offset_bytes` only then.
  @Test func theReportsNameCOnlyWhenItIsThere() throws {
    let old = EstimateReport.Sampling(SamplingParameters(meanBytes: 8192, seed: 7, liveCapacity: 64), stats: nil)
    #expect(EstimateReport.note(old, metric: .live).hasPrefix("note: sampled dump (one byte in 8.0 KiB on average, seed 7): "))
    #expect(old.offsetBytes == nil)
    let new = EstimateReport.Sampling(SamplingParameters(meanBytes: 8192, seed: 7, liveCapacity: 64, offsetBytes: 512), stats: nil)
    #expect(EstimateReport.note(new, metric: .live).hasPrefix(
      "note: sampled dump (one byte in 8.0 KiB on average, each allocation under it counted 512 B larger, seed 7): "))
    #expect(new.offsetBytes == 512)
  }
}
