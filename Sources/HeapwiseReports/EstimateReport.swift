// `heapwise top` on a sampled dump (docs/SAMPLING.md): TextReport.top and JSONReport.top, given
// the dump's sampling, show each estimate with its 95% interval; the pieces they use are here.
import HeapwiseAnalysis
import HeapwiseFormat

public enum EstimateReport {
  /// What a sampled dump says about its own sampling.
  public struct Sampling: Codable, Sendable {
    public var meanBytes: UInt64
    /// C, the bytes the sampler added to each allocation (format 1.4); nil when 0 (older dumps).
    public var offsetBytes: UInt64?
    public var seed: UInt64
    /// Blocks the recorder kept and, with its live set full, had to drop (nil without an END).
    public var recordedBlocks: UInt64?
    public var droppedBlocks: UInt64?
    /// An aggregated dump (`--sample --aggregate`): its peak figures are the last peak moment's.
    public var aggregated: Bool
    /// ... and their intervals are approximate (a 1.3 dump: no variance kept for the peak). Text
    /// only: the JSON keeps the fields it had.
    public var approximatePeak = false

    enum CodingKeys: String, CodingKey { case meanBytes, offsetBytes, seed, recordedBlocks, droppedBlocks, aggregated }

    public init(_ p: SamplingParameters, stats: SamplingStats?, aggregated: Bool = false, approximatePeak: Bool = false) {
      meanBytes = p.meanBytes; seed = p.seed; offsetBytes = p.offsetBytes == 0 ? nil : p.offsetBytes
      recordedBlocks = stats?.recordedBlocks; droppedBlocks = stats?.droppedBlocks
      self.aggregated = aggregated
      self.approximatePeak = aggregated && approximatePeak
    }
  }

  /// How a sampled dump was sampled, in words: "one byte in 512 KiB on average", and from format
  /// 1.4 ", each allocation under it counted 512 B larger" (C, docs/SAMPLING.md).
  public static func law(meanBytes: UInt64, offsetBytes: UInt64) -> String {
    "one byte in \(Units.bytes(meanBytes)) on average"
      + (offsetBytes == 0 ? "" : ", each allocation under it counted \(Units.bytes(offsetBytes)) larger")
  }

  /// An estimate in JSON: the value and its 95% interval.
  public struct Interval: Codable, Sendable {
    public var value: Double
    public var low: Double
    public var high: Double
    public var standardError: Double
    public init(_ e: Estimate) { value = e.value; low = e.low; high = e.high; standardError = e.standardError }
  }

  /// `[1.1 MiB, 1.3 MiB]`
  public static func byteInterval(_ e: Estimate) -> String {
    func b(_ x: Double) -> String { x < 0 ? "-" + Units.bytes(Units.clampedUInt64((-x).rounded())) : Units.bytes(Units.clampedUInt64(x.rounded())) }
    return "[\(b(e.low)), \(b(e.high))]"
  }

  public static func countInterval(_ e: Estimate) -> String {
    "[\(Units.clampedUInt64(e.low.rounded())), \(Units.clampedUInt64(e.high.rounded()))]"
  }

  /// The header note of a sampled report: what the figures are, and for peak and temporary, what
  /// their intervals do not cover (docs/SAMPLING.md).
  public static func note(_ sampling: Sampling, metric: Metric, marker: String? = nil) -> String {
    var s = "note: sampled dump (\(law(meanBytes: sampling.meanBytes, offsetBytes: sampling.offsetBytes ?? 0)), seed \(sampling.seed)): "
    s += "figures are estimates, [low, high] is the 95% interval\n"
    if sampling.aggregated && (metric == .peak || marker == MomentNames.peak) {
      if sampling.approximatePeak {
        s += "note: the recorder keeps no variance for a site's share of the last peak moment: these intervals are approximate, "
        s += "scaled from the variance per byte (per block) of the site's allocations\n"
      } else {
        s += "note: peak is the estimate at the last peak moment the recorder set (a peak of the estimated heap); the interval is that moment's\n"
      }
      return s + dropped(sampling)
    }
    switch metric {
    case .peak:
      s += "note: peak is the estimate at the moment the estimated heap peaked (the interval is that moment's; the highest of a noisy series tends to overshoot the true peak)\n"
    case .temporary:
      s += "note: temporary is an upper bound here: a block counts when its thread made no recorded allocation before freeing it, and unrecorded ones in between are not seen, so this overstates temporaries (the interval is the sampling noise of that bound)\n"
    default: break
    }
    return s + dropped(sampling)
  }

  static func dropped(_ sampling: Sampling) -> String {
    guard let d = sampling.droppedBlocks, d > 0 else { return "" }
    return "warning: the recorder's live set was full \(d) times; those blocks are missing (raise HEAPWISE_SAMPLE_CAPACITY)\n"
  }

  /// The note `compare` adds when either side is a sampled dump (`sameDump`: two markers of one).
  /// `paired`: the variances are those of the blocks live at one marker only (exact); otherwise,
  /// for two markers of one dump, the sum of both sides' (wider than need be).
  public static func compareNote(sameDump: Bool, paired: Bool) -> String {
    var s = "sampled dump: the changes are estimates; each line ends with their 95% intervals, and \"within noise\" "
    s += "when the size change's interval contains 0 (the change may be sampling noise alone)"
    if sameDump && !paired {
      s += "; the two moments share the blocks live at both, so these intervals are wider than need be (an upper bound)"
    }
    return s
  }

  /// ` change [-80 KiB, +1.1 MiB] bytes, [-300, +2700] allocations, within noise`
  public static func difference(size: Estimate, count: Estimate) -> String {
    func signedBytes(_ x: Double) -> String { Units.signedBytes(Int64(Units.clampedInt(x.rounded()))) }
    func signedCount(_ x: Double) -> String { Units.signedCount(Int64(Units.clampedInt(x.rounded()))) }
    var s = " change [\(signedBytes(size.low)), \(signedBytes(size.high))]"
    s += ", count change [\(signedCount(count.low)), \(signedCount(count.high))]"
    if size.withinNoise { s += ", within noise" }
    return s
  }

  /// `label: size=1.2 MiB [1.1 MiB, 1.3 MiB], count=3100 [2900, 3300], average=412 B, 41 sampled`
  static func line(_ label: String, _ c: StackCounters, metric: Metric) -> String {
    "\(DisplayPath.shorten(label)): " + figures(c, metric: metric)
  }

  static func figures(_ c: StackCounters, metric: Metric) -> String {
    let size = metric.size(c), count = metric.count(c)
    let e = c.estimates(metric)
    var s = "size=\(Units.bytes(size))"
    if let e { s += " \(byteInterval(e.size))" }
    s += ", count=\(count)"
    if let e { s += " \(countInterval(e.count))" }
    if count > 0 { s += ", average=\(Units.bytes(size / count))" }
    if let e { s += ", \(e.recorded) sampled" }
    return s
  }
}
