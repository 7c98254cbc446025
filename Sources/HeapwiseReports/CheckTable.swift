// `heapwise check`'s pass/fail table, rendered from the evaluated rows (CheckRow, HeapwiseAnalysis).
import HeapwiseAnalysis
import HeapwiseFormat

/// The pass/fail table.
public enum CheckTable {
  public static func format(_ value: UInt64, bytes: Bool) -> String {
    bytes ? Units.bytes(value) : String(value)
  }

  /// A row's top sites as the table and the JSON give them: `name (amount)`.
  public static func topSites(_ row: CheckRow) -> [String] {
    row.topSites.map { "\($0.name) (\(format($0.value, bytes: row.quantity.isBytes)))" }
  }

  /// The excess, exact when rounding would hide it ("+1 B").
  static func excess(_ row: CheckRow, _ measured: UInt64) -> String {
    let over = measured - row.limit
    guard row.quantity.isBytes else { return "+\(over)" }
    return over < 1024 ? "+\(over) B" : "+" + Units.bytes(over)
  }

  /// A sampled dump's measured figures are estimates: `[low, high]`.
  static func interval(_ row: CheckRow) -> String {
    guard let e = row.estimate else { return "" }
    let b = row.quantity.isBytes
    return " [\(format(Units.clampedUInt64(e.low.rounded()), bytes: b)), \(format(Units.clampedUInt64(e.high.rounded()), bytes: b))]"
  }

  /// What a verdict on a sampled dump's estimate is worth (`sampling`: the dump's, nil for a full one).
  public static func samplingNote(_ sampling: SamplingParameters) -> String {
    let r = Units.bytes(sampling.meanBytes)
    return "note: sampled dump (\(EstimateReport.law(meanBytes: sampling.meanBytes, offsetBytes: sampling.offsetBytes)), seed \(sampling.seed)): measured figures are estimates, "
      + "[low, high] their 95% interval, and \"within noise\" marks a verdict the sampling could have turned (the limit is inside the interval); "
      + "peak is the estimate at the estimated peak moment. Blocks that no sample hit are not seen, so a pass on a small limit "
      + "(under a few times \(r), such as --max-leaked 0) does not show that the limit holds: check those without sampling\n"
  }

  public static func render(_ rows: [CheckRow], sampling: SamplingParameters? = nil) -> String {
    var table: [[String]] = [["budget", "limit", sampling == nil ? "measured" : "measured (estimate)", "result"]]
    for row in rows {
      var limit = format(row.limit, bytes: row.quantity.isBytes)
      var measured = row.measured.map { format($0, bytes: row.quantity.isBytes) } ?? "unknown"
      // Rounded alike but different ("102 KiB" both): show the bytes.
      if let m = row.measured, m != row.limit, measured == limit {
        limit = "\(row.limit) B"
        measured = "\(m) B"
      }
      measured += interval(row)
      var result: String
      if let m = row.measured {
        result = row.passed ? "pass" : "FAIL \(excess(row, m))"
        if row.limitWithinNoise { result += " (within noise)" }
      } else {
        result = "FAIL (no END record: the process did not exit normally)"
      }
      table.append([row.budget, limit, measured, result])
    }
    let widths = (0..<4).map { col in table.map { $0[col].count }.max() ?? 0 }
    var text = sampling.map(samplingNote) ?? ""
    for (i, cells) in table.enumerated() {
      let line = cells.enumerated().map { col, cell in
        let pad = String(repeating: " ", count: widths[col] - cell.count)
        return col == 0 || col == 3 ? cell + pad : pad + cell  // numbers right-aligned
      }.joined(separator: "   ")
      text += line.replacingTrailingSpaces() + "\n"
      if i > 0, !rows[i - 1].topSites.isEmpty {
        text += "    top sites: " + topSites(rows[i - 1]).joined(separator: ", ") + "\n"
      }
    }
    let failed = rows.filter { !$0.passed }.count
    let budgets = rows.count == 1 ? "1 budget" : "\(rows.count) budgets"
    text += "heapwise check: \(budgets), " + (failed == 0 ? "all held\n" : "\(failed) exceeded\n")
    return text
  }
}

extension String {
  fileprivate func replacingTrailingSpaces() -> String {
    var s = self
    while s.last == " " { s.removeLast() }
    return s
  }
}
