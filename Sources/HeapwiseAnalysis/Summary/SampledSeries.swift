// Sampled dumps (docs/SAMPLING.md): the summary's series (the estimated heap at each marker, or
// at each periodic sample) are Horvitz-Thompson sums over the recorded blocks live at each point,
// so they are correlated: a block live at two points adds to both. Any linear combination
// L = sum_i c_i y_i of the points (a rise last - first, a least-squares slope) is itself such a
// sum, L = sum_b w_b s_b a_b with a_b = sum of c_i over the points where block b was live, and its
// variance estimate is sum_b w_b (w_b - 1) s_b^2 a_b^2. A block is live over a contiguous range of
// points, [first point after its allocation, first point after its free), so each recorded block
// reduces to (range, w (w - 1) s^2), and blocks with the same range add up.
import HeapwiseFormat

/// The recorded blocks' live ranges over one series of points, with their summed variance terms.
public struct SeriesVariance: Sendable, Hashable {
  /// Variance terms of the blocks live over points [start, end).
  public private(set) var ranges: [Int64: Double] = [:]

  public init() {}

  @inline(__always)
  static func key(_ start: Int, _ end: Int) -> Int64 { Int64(start) << 32 | Int64(end) }

  mutating func add(start: Int, end: Int, _ v: Double) {
    guard start < end, v > 0 else { return }
    ranges[Self.key(start, end), default: 0] += v
  }

  /// The variance estimate of sum_i c_i y_i, for coefficients by point position.
  public func variance(_ coefficients: [(position: Int, c: Double)]) -> Double {
    let sorted = coefficients.sorted { $0.position < $1.position }
    var prefix = [0.0]
    for e in sorted { prefix.append(prefix.last! + e.c) }
    let positions = sorted.map(\.position)
    // Coefficients of the points in [start, end): two binary searches over the positions.
    func lowerBound(_ p: Int) -> Int {
      var lo = 0, hi = positions.count
      while lo < hi {
        let mid = (lo + hi) / 2
        if positions[mid] < p { lo = mid + 1 } else { hi = mid }
      }
      return lo
    }
    var total = 0.0
    for (key, v) in ranges {
      let start = Int(key >> 32), end = Int(key & 0xffff_ffff)
      let a = prefix[lowerBound(end)] - prefix[lowerBound(start)]
      total += v * a * a
    }
    return total
  }

  /// The variance estimate of the point at `position` alone.
  public func variance(at position: Int) -> Double { variance([(position, 1)]) }
}

/// Follows a sampled replay for the summary: for markers and for samples, which points each
/// recorded heap block was live at. Cheap: one binary search per free of a recorded block.
final class SampledSeriesTracker {
  /// The serial of the latest allocation when each point was taken (serials only grow).
  private var markerSerials: [UInt64] = []
  private var sampleSerials: [UInt64] = []
  private var lastSerial: UInt64 = 0
  private(set) var markers = SeriesVariance()
  private(set) var samples = SeriesVariance()

  @inline(__always)
  func allocated(serial: UInt64) { lastSerial = Swift.max(lastSerial, serial) }

  func marker() { markerSerials.append(lastSerial) }
  func sample() { sampleSerials.append(lastSerial) }

  /// A recorded heap block left (a free), or is still live at the end of the replay.
  func ended(_ block: LiveBlock, weight w: Double) {
    let s = Double(block.size), v = w * (w - 1) * s * s
    guard v > 0 else { return }
    markers.add(start: Self.firstPoint(after: block.serial, markerSerials), end: markerSerials.count, v)
    samples.add(start: Self.firstPoint(after: block.serial, sampleSerials), end: sampleSerials.count, v)
  }

  /// The first point taken after the allocation with `serial`.
  private static func firstPoint(after serial: UInt64, _ serials: [UInt64]) -> Int {
    var lo = 0, hi = serials.count
    while lo < hi {
      let mid = (lo + hi) / 2
      if serials[mid] < serial { lo = mid + 1 } else { hi = mid }
    }
    return lo
  }
}
