/// An ordinary least-squares line through a series, and how well it fits.
public struct LinearFit: Sendable, Hashable {
  public var slope: Double
  public var intercept: Double
  /// Coefficient of determination, 0...1: the share of the series' variance the line explains.
  /// 1 for a constant series (a flat line explains it exactly).
  public var rSquared: Double

  /// Nil with fewer than two points or when all x are equal.
  public init?(x: [Double], y: [Double]) {
    precondition(x.count == y.count)
    let n = Double(x.count)
    guard x.count >= 2 else { return nil }
    let meanX = x.reduce(0, +) / n
    let meanY = y.reduce(0, +) / n
    var sxx = 0.0
    var sxy = 0.0
    var syy = 0.0
    for i in x.indices {
      let dx = x[i] - meanX
      let dy = y[i] - meanY
      sxx += dx * dx
      sxy += dx * dy
      syy += dy * dy
    }
    guard sxx > 0 else { return nil }
    slope = sxy / sxx
    intercept = meanY - slope * meanX
    // r² of a simple regression is sxy² / (sxx syy).
    rSquared = syy == 0 ? 1 : min(1, (sxy * sxy) / (sxx * syy))
  }
}
