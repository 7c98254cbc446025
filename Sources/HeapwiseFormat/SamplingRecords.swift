// The records of a sampled dump (format 1.2, `record --sample`; docs/SAMPLING.md).
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// SAMPLING (tag 0x54) or, from format 1.4, SAMPLING_OFFSET (0x55): the dump records a Poisson
/// sample of the allocated bytes, one byte in `meanBytes` on average, each allocation below
/// `meanBytes` counting `offsetBytes` more bytes than it has; every block of `meanBytes` or more
/// is recorded.
public struct SamplingParameters: Sendable, Hashable {
  /// R: the mean distance in bytes between sampled bytes.
  public var meanBytes: UInt64
  /// The recorder's seed (given with `--seed`, else from the clock).
  public var seed: UInt64
  /// How many sampled blocks the recorder could hold live at once.
  public var liveCapacity: UInt64
  /// C: the virtual bytes the sampler adds to every allocation below R (0 in a SAMPLING record,
  /// the law of formats 1.2 and 1.3; docs/SAMPLING.md, "Why C").
  public var offsetBytes: UInt64
  public init(meanBytes: UInt64, seed: UInt64, liveCapacity: UInt64, offsetBytes: UInt64 = 0) {
    self.meanBytes = meanBytes; self.seed = seed; self.liveCapacity = liveCapacity; self.offsetBytes = offsetBytes
  }

  /// The probability that a block of `size` bytes was recorded: 1 - exp(-(size + C)/R), or 1
  /// from R on. The one definition of the sampling law on the analyzer's side.
  public func probability(_ size: UInt64) -> Double {
    size >= meanBytes ? 1 : -expm1(-(Double(size) + Double(offsetBytes)) / Double(meanBytes))
  }
}

/// SAMPLING_STATS (skippable tag 0x84), at a normal exit.
public struct SamplingStats: Sendable, Hashable {
  /// Blocks the sampler chose and recorded.
  public var recordedBlocks: UInt64
  /// Blocks the sampler chose but could not record: the recorder's live set was full.
  public var droppedBlocks: UInt64
  /// Sampled blocks live at exit.
  public var liveBlocks: UInt64
  public init(recordedBlocks: UInt64, droppedBlocks: UInt64, liveBlocks: UInt64) {
    self.recordedBlocks = recordedBlocks; self.droppedBlocks = droppedBlocks; self.liveBlocks = liveBlocks
  }
}
