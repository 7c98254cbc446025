/// Tracked memory at one point of the run: a marker, or a periodic sample.
public struct SeriesPoint: Sendable, Hashable {
  /// Seconds since the recording started.
  public var time: Double
  /// The marker's name; nil for a periodic sample.
  public var label: String?
  /// Live heap: requested bytes of blocks allocated and not freed.
  public var liveHeap: UInt64
  /// Resident bytes of tracked anonymous mappings (private allocators' included).
  public var mapped: UInt64
  /// The private allocators' share of ``mapped``.
  public var privateResident: UInt64
  /// Its index among the dump's markers, or among its samples (what SeriesVariance is keyed by).
  public var position: Int = 0

  public init(time: Double, label: String? = nil, liveHeap: UInt64, mapped: UInt64 = 0, privateResident: UInt64 = 0) {
    self.time = time
    self.label = label
    self.liveHeap = liveHeap
    self.mapped = mapped
    self.privateResident = privateResident
  }

  /// What the growth test looks at: live heap plus mapped regions, so memory a program manages
  /// itself through mmap (pymalloc arenas, a bundled mimalloc) counts as well.
  /// Saturated: only a damaged dump's figures reach 2^64, and a sum past it must not trap.
  public var tracked: UInt64 {
    let (sum, over) = liveHeap.addingReportingOverflow(mapped)
    return over ? .max : sum
  }
}

/// Where the series comes from: named markers (the user's units of work), or evenly spaced periodic
/// samples when the run has fewer than the minimum number of markers.
public enum SeriesBasis: String, Sendable, Hashable {
  case markers
  case samples
}

/// The growth test over a series of tracked memory: how much, how steadily, in which direction.
public struct GrowthAnalysis: Sendable, Hashable {
  public enum Trend: String, Sendable, Hashable {
    /// Fewer points than the test needs.
    case tooShort
    /// Smaller spread than the noise threshold.
    case flat
    /// Ended well above where it started, at or near its highest, and the rise is sustained (see
    /// ``isSustained``): growth.
    case rising
    /// Ended well above where it started, at or near its highest, but the rise is not sustained:
    /// a load that stepped up (in one step or a few) and stayed, not a trend.
    case steppedUp
    /// Ended well below where it started.
    case falling
    /// Went up and came back down (or the reverse) without a net trend.
    case mixed
  }

  public var basis: SeriesBasis
  public var points: [SeriesPoint]
  public var trend: Trend
  /// Last minus first tracked bytes.
  public var delta: Int64
  /// Line through tracked bytes against the point index (markers) or seconds (samples).
  public var fit: LinearFit?
  /// True when the fit explains at least the threshold share of the variance.
  public var isLinear: Bool
  /// Steps between consecutive points that went up by more than the noise threshold, of all steps.
  public var risingSteps: Int
  /// The spread under which the series counts as flat.
  public var noise: UInt64
  /// The largest rise between two consecutive points.
  public var largestStep: UInt64
  /// How much the later half of the steps rose (last point minus the point where it starts).
  public var laterRise: Int64
  /// Sampled dumps: the rise and the slope as estimates with their standard errors (nil when every
  /// block was recorded). Then ``noise`` is at least the rise's 95% half-width: growth, a fall or a
  /// spread is only claimed when it exceeds the sampling noise.
  public var sampledDelta: Estimate?
  public var sampledSlope: Estimate?

  public init(points: [SeriesPoint], basis: SeriesBasis, thresholds: VerdictThresholds = .init(),
              variance: SeriesVariance? = nil) {
    self.basis = basis
    self.points = points
    let y = points.map { Double($0.tracked) }
    let x = basis == .markers ? points.indices.map(Double.init) : points.map(\.time)
    fit = LinearFit(x: x, y: y)
    let top = points.map(\.tracked).max() ?? 0
    let bottom = points.map(\.tracked).min() ?? 0
    noise = Swift.max(thresholds.noiseBytes, UInt64(Double(top) * thresholds.flatFraction))
    if let variance, let first = points.first, let last = points.last {
      let rise = Double(last.tracked) - Double(first.tracked)
      let deltaVariance = points.count < 2 ? 0 : variance.variance([(first.position, -1), (last.position, 1)])
      let d = Estimate(value: rise, variance: deltaVariance, signed: true)
      sampledDelta = d
      noise = Swift.max(noise, Units.clampedUInt64(d.halfWidth.rounded(.up)))
      // The least-squares slope is sum c_i y_i with c_i = (x_i - mean x) / sum (x - mean x)^2.
      let mean = x.reduce(0, +) / Double(Swift.max(1, x.count))
      let sxx = x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
      if let fit, sxx > 0 {
        let c = zip(points, x).map { ($0.position, ($1 - mean) / sxx) }
        sampledSlope = Estimate(value: fit.slope, variance: variance.variance(c), signed: true)
      }
    }
    let first = points.first?.tracked ?? 0
    let last = points.last?.tracked ?? 0
    delta = Int64(bitPattern: last &- first)
    let step = noise / 4
    // Compared by difference: a damaged dump may hold figures near 2^64, where a sum overflows.
    risingSteps = zip(points, points.dropFirst()).filter { $1.tracked > $0.tracked && $1.tracked - $0.tracked > step }.count
    largestStep = zip(points, points.dropFirst()).map { $1.tracked > $0.tracked ? $1.tracked - $0.tracked : 0 }.max() ?? 0
    let steps = Swift.max(0, points.count - 1)
    let laterStart = points.isEmpty ? 0 : points.count - 1 - (steps + 1) / 2
    laterRise = points.isEmpty ? 0 : Int64(bitPattern: last &- points[laterStart].tracked)
    isLinear = (fit?.rSquared ?? 0) >= thresholds.linearRSquared

    let signedNoise = Int64(clamping: noise)
    if points.count < thresholds.minimumPoints {
      trend = .tooShort
    } else if top - bottom < noise {
      trend = .flat
    } else if delta >= signedNoise && Double(top - last) <= Double(top) * thresholds.nearTopFraction {
      trend = Self.isSustained(
        risingSteps: risingSteps, largestStep: largestStep, laterRise: laterRise, delta: delta, thresholds: thresholds)
        ? .rising : .steppedUp
    } else if delta <= -signedNoise {
      trend = .falling
    } else {
      trend = .mixed
    }
  }

  /// Whether a net rise is growth rather than a load: at least `minimumRisingSteps` steps rose
  /// (two steps cannot tell a trend from a load in two steps: a table, then its copy), no single
  /// step holds more than `largestStepShare` of the rise (one big step among small ones is a
  /// load), and the later half of the steps still rose by `laterRiseShare` of it (a series that
  /// climbed and then stayed put is a high-water mark in the making, not a leak).
  static func isSustained(
    risingSteps: Int, largestStep: UInt64, laterRise: Int64, delta: Int64, thresholds: VerdictThresholds
  ) -> Bool {
    guard delta > 0 else { return false }
    return risingSteps >= thresholds.minimumRisingSteps
      && Double(largestStep) <= Double(delta) * thresholds.largestStepShare
      && Double(laterRise) >= Double(delta) * thresholds.laterRiseShare
  }

  /// The longest run of at least two points at the end of the series whose spread is below the
  /// noise threshold, when the whole series is not flat: "flat across freed..steady3" after a
  /// fall is the evidence retention needs.
  public var flatTail: (range: ClosedRange<Int>, delta: Int64)? {
    guard trend != .flat, points.count >= 2 else { return nil }
    var start = points.count - 1
    var low = points[start].tracked
    var high = low
    while start > 0 {
      let v = points[start - 1].tracked
      if Swift.max(high, v) - Swift.min(low, v) >= noise { break }
      low = Swift.min(low, v)
      high = Swift.max(high, v)
      start -= 1
    }
    guard start < points.count - 1 else { return nil }
    let tail = points[start...]
    return (start...(points.count - 1), Int64(bitPattern: tail.last!.tracked &- tail.first!.tracked))
  }
}

extension Array where Element == SeriesPoint {
  /// At most `count` points spread evenly in time over the series (always keeping the first and
  /// the last): periodic samples every 20 ms would otherwise weigh the fit by the sampling rate.
  public func evenlySpaced(count: Int) -> [SeriesPoint] {
    guard self.count > count, count >= 2, let first, let last else { return self }
    var out: [SeriesPoint] = []
    var index = 0
    for k in 0..<count {
      let target = first.time + (last.time - first.time) * Double(k) / Double(count - 1)
      while index + 1 < self.count && self[index + 1].time <= target { index += 1 }
      if out.last != self[index] { out.append(self[index]) }
    }
    if out.last != last { out.append(last) }
    return out
  }
}
