// What `heapwise summary` adds for a sampled dump (docs/SAMPLING.md): its figures are estimates,
// and how far off they may be. One set of values (SampledSummary), rendered as text here and
// encoded as the `sampling` object of `summary --format json`.
import Foundation
import HeapwiseAnalysis

/// The uncertainty of a sampled summary, as data.
public struct SampledSummary: Encodable, Sendable {
  /// An estimate with its interval.
  public struct Figure: Encodable, Sendable {
    public var estimate: Double
    public var low: Double
    public var high: Double
    public var standardError: Double
    public var confidence: Double
    init(_ e: Estimate) {
      estimate = e.value; low = e.low; high = e.high; standardError = e.standardError; confidence = 0.95
    }
  }
  public struct MarkerFigure: Encodable, Sendable {
    public var marker: String
    /// Live heap and mappings at the marker.
    public var tracked: Figure
  }
  public struct Growth: Encodable, Sendable {
    public var basis: String
    /// Last minus first point of the series.
    public var rise: Figure
    /// The least-squares slope, per marker or per second (`rate_per`).
    public var rate: Figure?
    public var ratePer: String
    /// The spread a rise must exceed for the verdict to call it growth (or a fall): at least the
    /// rise's 95% half-width.
    public var noiseBytes: UInt64
    /// Whether the rise's interval excludes zero.
    public var riseExceedsNoise: Bool
    public var trend: String
  }

  /// R: one byte in `sampleRateBytes` is sampled on average.
  public var sampleRateBytes: UInt64
  /// C, the bytes the sampler added to each allocation (format 1.4); nil when 0.
  public var offsetBytes: UInt64?
  public var seed: UInt64
  public var recordedBlocks: UInt64?
  public var droppedBlocks: UInt64?
  /// Recorded blocks live at the end (the samples behind `liveHeap`).
  public var recordedLive: UInt64
  public var liveHeap: Figure
  /// Tracked bytes at the moment the estimated series peaked, with that moment's interval.
  public var peak: Figure
  public var peakMethod = "estimate at the estimated peak moment"
  public var atMarker: MarkerFigure?
  public var growth: Growth?
  /// The smallest change of the live heap that is not sampling noise (its 95% half-width).
  public var smallestRealChangeBytes: UInt64

  public init?(_ report: SummaryReport) {
    guard let h = report.sampled else { return nil }
    sampleRateBytes = h.parameters.meanBytes
    offsetBytes = h.parameters.offsetBytes == 0 ? nil : h.parameters.offsetBytes
    seed = h.parameters.seed
    recordedBlocks = h.stats?.recordedBlocks
    droppedBlocks = h.stats?.droppedBlocks
    recordedLive = h.recordedLive
    liveHeap = Figure(h.liveHeap)
    peak = Figure(h.peak)
    atMarker = h.atMarker.map { MarkerFigure(marker: $0.name, tracked: Figure($0.tracked)) }
    let g = report.facts.growth
    if let d = g.sampledDelta {
      growth = Growth(
        basis: g.basis.rawValue, rise: Figure(d), rate: g.sampledSlope.map(Figure.init),
        ratePer: g.basis == .markers ? "marker" : "second", noiseBytes: g.noise,
        riseExceedsNoise: abs(d.value) > d.halfWidth, trend: g.trend.rawValue)
    }
    smallestRealChangeBytes = Units.clampedUInt64(h.liveHeap.halfWidth.rounded())
  }
}

public enum SampledSummaryText {
  public static func render(_ report: SummaryReport) -> String {
    guard let s = SampledSummary(report) else { return "" }
    return render(s)
  }

  static func bytes(_ x: Double) -> String {
    x < 0 ? "-" + Units.bytes(Units.clampedUInt64((-x).rounded())) : Units.bytes(Units.clampedUInt64(x.rounded()))
  }

  static func interval(_ f: SampledSummary.Figure) -> String {
    "\(bytes(f.estimate)), 95% interval [\(bytes(f.low)), \(bytes(f.high))]"
  }

  public static func render(_ s: SampledSummary) -> String {
    var out = "sampled: \(EstimateReport.law(meanBytes: s.sampleRateBytes, offsetBytes: s.offsetBytes ?? 0)) (seed \(s.seed)); "
    out += "the heap figures and the verdict are estimates from the recorded blocks\n"
    out += "  live heap at the end \(interval(s.liveHeap)) from \(s.recordedLive) recorded blocks"
    if s.liveHeap.estimate > 0 { out += String(format: " (±%.1f%%)", 100 * (s.liveHeap.high - s.liveHeap.estimate) / s.liveHeap.estimate) }
    out += ": a change smaller than ±\(Units.bytes(s.smallestRealChangeBytes)) is within the sampling noise\n"
    out += "  peak \(interval(s.peak)) (the estimate at the moment the estimated heap peaked; the highest of a noisy series tends to overshoot)\n"
    if let m = s.atMarker { out += "  at marker \(m.marker): \(interval(m.tracked))\n" }
    if let g = s.growth {
      out += "  growth over the \(g.basis): rise \(interval(g.rise))"
      if let r = g.rate { out += "; rate \(bytes(r.estimate)) per \(g.ratePer), 95% interval [\(bytes(r.low)), \(bytes(r.high))]" }
      out += "\n"
      out += g.riseExceedsNoise
        ? "  the rise is beyond the sampling noise; the verdict counts only changes of at least \(Units.bytes(g.noiseBytes))\n"
        : "  the rise is within the sampling noise: no growth or fall is claimed from it (changes under \(Units.bytes(g.noiseBytes)) count as flat)\n"
    }
    if let d = s.droppedBlocks, d > 0 {
      out += "  warning: \(d) sampled blocks were dropped (the recorder's live set was full; raise HEAPWISE_SAMPLE_CAPACITY)\n"
    }
    return out
  }
}
