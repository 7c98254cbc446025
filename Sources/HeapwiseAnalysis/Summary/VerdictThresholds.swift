/// The numbers behind the verdict; docs/SUMMARY.md gives the reason for each default.
public struct VerdictThresholds: Sendable, Hashable {
  /// Fewest series points for a growth test: two points cannot tell a trend from a step.
  public var minimumPoints = 3
  /// Changes below this are noise (allocator granularity, arena growth by 128 KiB steps).
  public var noiseBytes: UInt64 = 1 << 20
  /// ... and so are changes below this share of the series' largest value.
  public var flatFraction = 0.05
  /// Growth needs at least this many rising steps: fewer is a load that stepped up.
  public var minimumRisingSteps = 3
  /// ... no single step holding more than this share of the rise ...
  public var largestStepShare = 2.0 / 3.0
  /// ... and the later half of the steps rising by at least this share of it.
  public var laterRiseShare = 0.25
  /// R² at or above which growth is called linear.
  public var linearRSquared = 0.8
  /// A rising series must end within this share of its highest point (else it rose and fell).
  public var nearTopFraction = 0.1
  /// Most points used when the series comes from periodic samples.
  public var samplePoints = 20
  /// Allocator-held memory counts as retention from this share of RSS ...
  public var retentionShare = 0.25
  /// ... and this many bytes.
  public var retentionBytes: UInt64 = 4 << 20
  /// A high-water mark: tracked memory at the end at most this share of its peak.
  public var highWaterDrop = 0.5
  /// "A few large blocks": at most this many blocks ...
  public var fewBlocksCount = 3
  /// ... holding at least this share of the live heap ...
  public var fewBlocksShare = 0.5
  /// ... when the live heap is at least this share of RSS (else the blocks do not matter).
  public var fewBlocksShareOfRSS = 0.25
  /// Sites listed as evidence.
  public var topSites = 5

  public init() {}
}
