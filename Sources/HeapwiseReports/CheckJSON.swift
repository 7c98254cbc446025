// `heapwise check --format json`: the same verdict as the table, for a CI step to read
// (schema in docs/BUDGETS.md, "JSON output").
import HeapwiseAnalysis

public struct CheckJSON: Encodable {
  struct Budget: Encodable {
    /// As the table names it: "peak live", "allocations in *Parser*".
    var budget: String
    /// The option or budget-file key: "max-peak", "max-leaked", "max-allocations", "max-allocated".
    var key: String
    /// Site rules: the function glob; nil for the whole run.
    var function: String?
    var limit: UInt64
    /// Null when the dump cannot tell (leaks without an END record).
    var measured: UInt64?
    var passed: Bool
    var topSites: [String]
    /// A sampled dump's: `measured` is an estimate with this 95% interval, and whether the limit
    /// lies inside it (the verdict is within the sampling noise). Absent for a full dump.
    var estimate: EstimateReport.Interval?
    var limitWithinNoise: Bool?

    enum CodingKeys: String, CodingKey { case budget, key, function, limit, measured, passed, topSites, estimate, limitWithinNoise }

    /// `function` and `measured` are written as null rather than left out, so every row has
    /// every key.
    public func encode(to encoder: any Encoder) throws {
      var c = encoder.container(keyedBy: CodingKeys.self)
      try c.encode(budget, forKey: .budget)
      try c.encode(key, forKey: .key)
      try c.encode(function, forKey: .function)
      try c.encode(limit, forKey: .limit)
      try c.encode(measured, forKey: .measured)
      try c.encode(passed, forKey: .passed)
      try c.encode(topSites, forKey: .topSites)
      try c.encodeIfPresent(estimate, forKey: .estimate)
      try c.encodeIfPresent(limitWithinNoise, forKey: .limitWithinNoise)
    }
  }

  var schema = "heapwise.check/1"
  var command: [String]
  /// The command's exit status (128 + signal when a signal ended it).
  var commandStatus: Int32
  /// The dumps checked, one per process; `kept` says whether they are still on disk.
  var dumps: [String]
  var kept: Bool
  var budgets: [Budget]
  /// A sampled dump's sampling (the first process's); absent for a full dump.
  var sampling: EstimateReport.Sampling?
  /// Every budget held and the command succeeded.
  var passed: Bool

  public init(command: [String], commandStatus: Int32, dumps: [String], kept: Bool, rows: [CheckRow],
              sampling: EstimateReport.Sampling? = nil) {
    self.sampling = sampling
    self.command = command
    self.commandStatus = commandStatus
    self.dumps = dumps
    self.kept = kept
    budgets = rows.map {
      Budget(budget: $0.budget, key: $0.quantity.rawValue, function: $0.function, limit: $0.limit,
             measured: $0.measured, passed: $0.passed, topSites: CheckTable.topSites($0),
             estimate: $0.estimate.map(EstimateReport.Interval.init), limitWithinNoise: $0.estimate == nil ? nil : $0.limitWithinNoise)
    }
    passed = commandStatus == 0 && rows.allSatisfy(\.passed)
  }

  public var text: String { JSONReport.encode(self) }
}
