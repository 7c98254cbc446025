// The growth test on a sampled dump's series (docs/SAMPLING.md, "Summary"): the rise and the slope
// are estimates whose variances come from the recorded blocks' live ranges, and growth is only
// claimed when the rise exceeds the sampling noise.
import Testing

@testable import HeapwiseAnalysis

private let MiB: UInt64 = 1 << 20

private func markers(_ mib: [UInt64]) -> [SeriesPoint] {
  mib.enumerated().map { i, v in
    var p = SeriesPoint(time: Double(i), label: "m\(i + 1)", liveHeap: v * MiB)
    p.position = i
    return p
  }
}

@Suite struct SampledGrowthTests {
  @Test func varianceOfACombinationWeighsEachBlockByItsMarkers() {
    var v = SeriesVariance()
    v.add(start: 0, end: 4, 3)  // live at all four markers
    v.add(start: 2, end: 4, 5)  // live at the last two
    v.add(start: 1, end: 2, 7)  // live at the second only
    // At one marker: the blocks live there.
    #expect(v.variance(at: 0) == 3)
    #expect(v.variance(at: 1) == 10)
    #expect(v.variance(at: 3) == 8)
    // The rise last - first: a block live at both cancels.
    #expect(v.variance([(0, -1), (3, 1)]) == 5)
    // Any combination: each block by the square of its coefficients' sum.
    let expected: Double = 3 * 4 + 5 * 1 + 7 * 4
    #expect(v.variance([(0, 1.0), (1, 2.0), (3, -1.0)]) == expected)
  }

  @Test func growthIsOnlyClaimedBeyondTheSamplingNoise() {
    let rising = markers([10, 12, 14, 16, 18])
    #expect(GrowthAnalysis(points: rising, basis: .markers).trend == .rising)
    // Quiet sampling: the same verdict, with the rise and slope as estimates.
    var quiet = SeriesVariance()
    quiet.add(start: 4, end: 5, Double(MiB * MiB) / 100)  // sd 0.1 MiB on the last point
    let q = GrowthAnalysis(points: rising, basis: .markers, variance: quiet)
    #expect(q.trend == .rising)
    #expect(q.sampledDelta?.value == Double(8 * MiB))
    #expect(abs((q.sampledDelta?.standardError ?? 0) - Double(MiB) / 10) < 1)
    // Slope coefficient of the last of five markers: (4 - 2) / 10.
    #expect(abs((q.sampledSlope?.standardError ?? 0) - 0.2 * Double(MiB) / 10) < 1)
    #expect(q.sampledDelta?.low ?? 0 > 0)
    // Noisy sampling: the rise (8 MiB) is within 1.96 sd of 5 MiB on the last point: no growth.
    var noisy = SeriesVariance()
    noisy.add(start: 4, end: 5, 25 * Double(MiB * MiB))
    let n = GrowthAnalysis(points: rising, basis: .markers, variance: noisy)
    #expect(n.noise >= UInt64(1.96 * 5 * Double(MiB)))
    #expect(n.trend == .flat)
    #expect((n.sampledDelta?.low ?? 0) < 0, "a signed estimate's interval is not clipped at zero")
  }
}
