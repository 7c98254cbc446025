// Estimates from a sampled dump (`record --sample R`, docs/SAMPLING.md).
//
// The recorder keeps a block of s bytes with probability p(s) = 1 - exp(-(s + C)/R) (1 from R
// on; C from the dump, 0 before format 1.4: SamplingParameters.probability, the one definition),
// independently of every other block. Weighing each kept block by 1/p (Horvitz-Thompson) makes
// every sum over blocks unbiased: bytes, counts, live or allocated, per stack or in total, even
// when sizes vary within one stack (a per-stack average-size correction is not). The variance of
// such a sum is sum (1-p)/p * y^2 over all blocks, estimated without bias by
// sum (1-p)/p^2 * y^2 = w (w - 1) y^2 over the kept ones.
import HeapwiseFormat

/// The weight of a recorded block in a sampled dump.
public struct SampleWeight: Sendable, Hashable {
  public let parameters: SamplingParameters

  public init(_ parameters: SamplingParameters) { self.parameters = parameters }

  /// 1/p: how many blocks of this size one recorded block stands for.
  @inline(__always)
  public func weight(_ size: UInt64) -> Double {
    if size >= parameters.meanBytes { return 1 }
    let p = parameters.probability(size)
    return p > 0 ? 1 / p : 1  // C = 0: a 0-byte block is never sampled; one recorded anyway counts once
  }

  /// The bytes a recorded block stands for, w * s rounded (what the byte counters add up).
  @inline(__always)
  public func bytes(_ size: UInt64, weight w: Double) -> UInt64 {
    w == 1 ? size : Units.clampedUInt64((w * Double(size)).rounded())
  }
}

/// One figure of a sampled dump (a count and its bytes, over one set of recorded blocks): the
/// estimated count, kept as a fraction while it adds up (StackCounters holds it rounded, and the
/// weighted bytes), the variance estimates of both, and how many recorded blocks they rest on.
/// Variances add over disjoint sets of blocks.
public struct SampledFigure: Sendable, Hashable, Codable {
  public var count: Double = 0
  public var countVariance: Double = 0
  public var bytesVariance: Double = 0
  public var recorded: UInt64 = 0

  public init() {}

  /// A figure known without sampling error (variances 0).
  public init(count: Double) { self.count = count }

  public mutating func add(_ o: SampledFigure) {
    count += o.count; countVariance += o.countVariance; bytesVariance += o.bytesVariance
    recorded &+= o.recorded
  }

  /// A recorded block of `size` bytes and weight `w` joins the set.
  @inline(__always)
  public mutating func add(size: UInt64, weight w: Double) {
    let v = w * (w - 1), s = Double(size)
    count += w; countVariance += v; bytesVariance += v * s * s
    recorded &+= 1
  }

  /// It leaves the set (a free): its share goes, exactly as it came.
  @inline(__always)
  public mutating func remove(size: UInt64, weight w: Double) {
    let v = w * (w - 1), s = Double(size)
    count = Swift.max(0, count - w); countVariance = Swift.max(0, countVariance - v)
    bytesVariance = Swift.max(0, bytesVariance - v * s * s)
    recorded &-= Swift.min(1, recorded)
  }
}

/// Per stack (and, summed, per site): a sampled figure for each figure StackCounters has, named by
/// the Metric that reads it, so a report asks for `estimate[metric]` next to `metric.size(c)`.
public struct SampledCounters: Sendable, Hashable, Codable {
  /// Allocations made and their bytes.
  public var allocated = SampledFigure()
  /// Live now (at the end, or at the marker of a snapshot).
  public var live = SampledFigure()
  /// Live at the peak of the estimated heap (see docs/SAMPLING.md: the estimated peak moment).
  public var peak = SampledFigure()
  /// Blocks freed before their thread's next recorded allocation.
  public var temporary = SampledFigure()

  public init() {}

  public subscript(_ metric: Metric) -> SampledFigure {
    switch metric {
    case .live, .leaked: live
    case .peak: peak
    case .allocated, .count: allocated
    case .temporary: temporary
    }
  }

  public mutating func add(_ o: SampledCounters) {
    allocated.add(o.allocated); live.add(o.live); peak.add(o.peak); temporary.add(o.temporary)
  }
}

/// An estimate with its 95% interval (normal approximation: estimate ± 1.96 standard errors,
/// clipped at zero).
public struct Estimate: Sendable, Hashable, Codable {
  public static let z95 = 1.96
  public var value: Double
  public var standardError: Double
  /// A difference or a slope may be negative: its interval is not clipped at zero.
  public var signed = false
  public var low: Double { signed ? value - Self.z95 * standardError : Swift.max(0, value - Self.z95 * standardError) }
  public var high: Double { value + Self.z95 * standardError }
  /// The interval's half-width (what a change must exceed not to be sampling noise).
  public var halfWidth: Double { Self.z95 * standardError }
  /// A change whose interval holds 0 may be sampling noise alone (an exact figure is never noise).
  public var withinNoise: Bool { standardError > 0 && low <= 0 && 0 <= high }
  /// The interval's half-width relative to the estimate (0 when exact).
  public var relativeError: Double { value > 0 ? halfWidth / value : 0 }

  public init(value: Double, variance: Double, signed: Bool = false) {
    self.value = value
    self.signed = signed
    standardError = variance > 0 ? variance.squareRoot() : 0
  }
}

extension StackCounters {
  /// The estimates behind `metric`'s size and count (nil for a dump that recorded every block).
  public func estimates(_ metric: Metric) -> (size: Estimate, count: Estimate, recorded: UInt64)? {
    guard let e = estimate?[metric] else { return nil }
    return (Estimate(value: Double(metric.size(self)), variance: e.bytesVariance),
            Estimate(value: e.count, variance: e.countVariance), e.recorded)
  }
}

/// What a sampled dump's summary rests on: the estimated live heap at the end, at the peak and at
/// the marker judged, each with its interval (the growth's rise and slope are in
/// GrowthAnalysis.sampledDelta / sampledSlope).
public struct SampledHeap: Sendable {
  public var parameters: SamplingParameters
  public var stats: SamplingStats?
  public var liveHeap: Estimate
  /// Recorded blocks live at the end (the samples behind `liveHeap`).
  public var recordedLive: UInt64
  /// Live bytes (heap and resident mappings) at the moment the estimated series peaked, with the
  /// variance of the blocks live then. The peak of an estimated series is biased upward as an
  /// estimate of the true peak (the highest of many noisy values): this is the estimate at the
  /// estimated peak moment, unbiased for the heap at that moment (docs/SAMPLING.md).
  public var peak: Estimate
  /// Tracked bytes (live heap and mappings) at the marker judged (`--at`, `--to`).
  public var atMarker: (name: String, tracked: Estimate)?

  /// A sampled dump's estimates from a finished replay's state; nil when every block was
  /// recorded. (Taken from the replay the command already ran: a second read of the file would
  /// block on a FIFO and double the time.)
  public static func of(_ s: ReplayState) -> SampledHeap? {
    guard let p = s.sampling else { return nil }
    return SampledHeap(parameters: p, stats: s.samplingStats, liveHeap: Estimate(value: Double(s.heapBytes), variance: s.heapBytesVariance),
                       recordedLive: s.heapBlocks, peak: Estimate(value: Double(s.peakBytes), variance: s.peakBytesVariance))
  }
}
