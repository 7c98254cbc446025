// Estimates from a sampled dump (`record --sample R`, docs/SAMPLING.md).
//
// The recorder keeps a block of s bytes with probability p(s) = 1 - exp(-s/R) (1 from R on),
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
    return p > 0 ? 1 / p : 1  // a 0-byte block is never sampled; one recorded anyway counts once
  }

  /// The bytes a recorded block stands for, w * s rounded (what the byte counters add up).
  @inline(__always)
  public func bytes(_ size: UInt64, weight w: Double) -> UInt64 {
    w == 1 ? size : UInt64((w * Double(size)).rounded())
  }
}

/// Per stack (and, summed, per site): the sampled estimates that are not plain byte counters,
/// and the variance of every estimate. Variances add over disjoint sets of blocks.
public struct SampledCounters: Sendable, Hashable, Codable {
  /// Estimated allocations made, and live blocks (StackCounters holds them rounded).
  public var allocations: Double = 0
  public var liveBlocks: Double = 0
  public var allocationsVariance: Double = 0
  public var allocatedBytesVariance: Double = 0
  public var liveBlocksVariance: Double = 0
  public var liveBytesVariance: Double = 0
  /// Recorded (sampled) blocks behind the estimates: allocations, and those still live.
  public var recordedAllocations: UInt64 = 0
  public var recordedLive: UInt64 = 0

  public init() {}

  public mutating func add(_ o: SampledCounters) {
    allocations += o.allocations; liveBlocks += o.liveBlocks
    allocationsVariance += o.allocationsVariance; allocatedBytesVariance += o.allocatedBytesVariance
    liveBlocksVariance += o.liveBlocksVariance; liveBytesVariance += o.liveBytesVariance
    recordedAllocations &+= o.recordedAllocations; recordedLive &+= o.recordedLive
  }

  /// A block of `size` bytes with weight `w` became live.
  @inline(__always)
  mutating func allocated(size: UInt64, weight w: Double) {
    let v = w * (w - 1), s = Double(size)
    allocations += w; allocationsVariance += v; allocatedBytesVariance += v * s * s
    liveBlocks += w; liveBlocksVariance += v; liveBytesVariance += v * s * s
    recordedAllocations &+= 1; recordedLive &+= 1
  }

  /// It was freed: its live share goes, exactly as it came.
  @inline(__always)
  mutating func freed(size: UInt64, weight w: Double) {
    let v = w * (w - 1), s = Double(size)
    liveBlocks = Swift.max(0, liveBlocks - w); liveBlocksVariance = Swift.max(0, liveBlocksVariance - v)
    liveBytesVariance = Swift.max(0, liveBytesVariance - v * s * s)
    recordedLive &-= Swift.min(1, recordedLive)
  }
}

/// An estimate with its 95% interval (normal approximation: estimate ± 1.96 standard errors,
/// clipped at zero).
public struct Estimate: Sendable, Hashable, Codable {
  public var value: Double
  public var standardError: Double
  public var low: Double { Swift.max(0, value - 1.96 * standardError) }
  public var high: Double { value + 1.96 * standardError }
  /// The interval's half-width relative to the estimate (0 when exact).
  public var relativeError: Double { value > 0 ? 1.96 * standardError / value : 0 }

  public init(value: Double, variance: Double) {
    self.value = value
    standardError = variance > 0 ? variance.squareRoot() : 0
  }
}

extension StackCounters {
  /// The estimates of a sampled dump's counters (nil for a dump that recorded every block).
  public var liveBytesEstimate: Estimate? {
    estimate.map { Estimate(value: Double(liveBytes), variance: $0.liveBytesVariance) }
  }
  public var liveBlocksEstimate: Estimate? { estimate.map { Estimate(value: $0.liveBlocks, variance: $0.liveBlocksVariance) } }
  public var allocatedBytesEstimate: Estimate? {
    estimate.map { Estimate(value: Double(allocatedBytes), variance: $0.allocatedBytesVariance) }
  }
  public var allocationsEstimate: Estimate? {
    estimate.map { Estimate(value: $0.allocations, variance: $0.allocationsVariance) }
  }
}

/// The live heap of a sampled dump at its end, with its interval: what the summary's figures and
/// verdict rest on.
public struct SampledHeap: Sendable {
  public var parameters: SamplingParameters
  public var stats: SamplingStats?
  public var liveHeap: Estimate
  /// Recorded blocks live at the end (the samples behind `liveHeap`).
  public var recordedLive: UInt64

  /// A sampled dump's heap estimate from a finished replay's state; nil when every block was
  /// recorded. (Taken from the replay the command already ran: a second read of the file would
  /// block on a FIFO and double the time.)
  public static func of(_ s: ReplayState) -> SampledHeap? {
    guard let p = s.sampling else { return nil }
    return SampledHeap(parameters: p, stats: s.samplingStats, liveHeap: Estimate(value: Double(s.heapBytes), variance: s.heapBytesVariance),
                       recordedLive: s.heapBlocks)
  }
}
