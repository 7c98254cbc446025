// One binary search for the analysis' sorted id lists (StackCounterTable's stack ids,
// ResidentPages' word indices).

extension RandomAccessCollection where Element: Comparable, Index == Int {
  /// The first position whose element is not less than `value` (endIndex when there is none).
  func lowerBound(of value: Element) -> Int {
    var lo = startIndex, hi = endIndex
    while lo < hi {
      let mid = lo + (hi - lo) / 2
      if self[mid] < value { lo = mid + 1 } else { hi = mid }
    }
    return lo
  }
}
