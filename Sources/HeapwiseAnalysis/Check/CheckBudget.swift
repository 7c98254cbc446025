// The budgets of `heapwise check`: parsed from options and a JSON file, evaluated on replayed
// dumps into typed rows (CheckRow) that HeapwiseReports renders as the table and the JSON.
// docs/BUDGETS.md ("heapwise check") describes the file.
import FoundationEssentials
import HeapwiseFormat
#if canImport(Glibc)
import Glibc
#endif

/// What a budget limits.
public enum CheckQuantity: String, CaseIterable, Sendable {
  case peak = "max-peak"
  case leaked = "max-leaked"
  case allocations = "max-allocations"
  case allocated = "max-allocated"

  public var isBytes: Bool { self != .allocations }

  /// How the table names it.
  public var title: String {
    switch self {
    case .peak: "peak live"
    case .leaked: "leaked at exit"
    case .allocations: "allocations"
    case .allocated: "bytes allocated"
    }
  }

  /// The site metric whose ranking explains a breach.
  public var metric: Metric {
    switch self {
    case .peak: .peak
    case .leaked: .leaked
    case .allocations: .count
    case .allocated: .allocated
    }
  }

  public func value(_ c: StackCounters) -> UInt64 {
    switch self {
    case .peak: c.peakBytes
    case .leaked: c.liveBytes
    case .allocations: c.allocations
    case .allocated: c.allocatedBytes
    }
  }
}

/// "200MiB", "1.5 GiB", "64k", "10MB", "4096", "5e6": a byte size (powers of 1024 for KiB/K,
/// of 1000 for KB) or, without a unit, a plain number.
public enum Quantity {
  public struct Invalid: Error, CustomStringConvertible {
    public var text: String
    public var description: String { "not a size or count: \"\(text)\" (examples: 200MiB, 0, 5e6)" }
  }

  static let units: [(String, Double)] = [
    ("kib", 0x1p10), ("mib", 0x1p20), ("gib", 0x1p30), ("tib", 0x1p40),
    ("k", 0x1p10), ("m", 0x1p20), ("g", 0x1p30), ("t", 0x1p40),
    ("kb", 1e3), ("mb", 1e6), ("gb", 1e9), ("tb", 1e12), ("b", 1),
  ]

  public static func parse(_ text: String, bytes: Bool) throws(Invalid) -> UInt64 {
    let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
    let numberEnd = trimmed.firstIndex { !("0123456789.eE+".contains($0)) } ?? trimmed.endIndex
    // An exponent's "e" must be followed by a digit, so "5e6" parses and "5eb" is rejected.
    guard let number = Double(trimmed[..<numberEnd]), number >= 0, number.isFinite else {
      throw Invalid(text: text)
    }
    let unit = trimmed[numberEnd...].trimmingCharacters(in: .whitespaces)
    var scale = 1.0
    if !unit.isEmpty {
      guard bytes, let found = units.first(where: { $0.0 == unit }) else { throw Invalid(text: text) }
      scale = found.1
    }
    let value = (number * scale).rounded()
    guard value < 1.8e19 else { throw Invalid(text: text) }
    return UInt64(value)
  }
}

/// The budget file: limits on the whole run and on the stacks that pass through a function.
///
/// ```json
/// { "max-peak": "200MiB", "max-leaked": 0, "max-allocations": 5e6,
///   "sites": [ { "function": "*Parser*", "max-allocations": 1000, "max-leaked": 0 } ] }
/// ```
public struct CheckBudget: Decodable {
  public var limits: [CheckQuantity: UInt64] = [:]
  public var sites: [SiteRule] = []

  /// Stacks with a frame whose function matches the glob (fnmatch: `*`, `?`, `[...]`).
  public struct SiteRule: Decodable {
    public var function: String
    public var limits: [CheckQuantity: UInt64]

    public init(from decoder: any Decoder) throws {
      let c = try decoder.container(keyedBy: AnyKey.self)
      function = try c.decode(String.self, forKey: AnyKey("function"))
      limits = try CheckBudget.limits(in: c, allowed: ["function"])
      if limits.isEmpty {
        throw DecodingError.dataCorruptedError(
          forKey: AnyKey("function"), in: c, debugDescription: "site \"\(function)\" has no limit")
      }
    }

    func matches(_ name: String) -> Bool { fnmatch(function, name, 0) == 0 }
  }

  public init() {}

  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: AnyKey.self)
    limits = try Self.limits(in: c, allowed: ["sites"])
    sites = try c.decodeIfPresent([SiteRule].self, forKey: AnyKey("sites")) ?? []
  }

  public static func load(_ path: String) throws -> CheckBudget {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw CheckError("cannot read budget file \(path)")
    }
    do {
      return try JSONDecoder().decode(CheckBudget.self, from: data)
    } catch let error as DecodingError {
      throw CheckError("\(path): \(Self.describe(error))")
    } catch {
      throw CheckError("\(path): \(error)")
    }
  }

  /// The max-* keys of an object; a key that is neither a limit nor in `allowed` is an error, so
  /// a misspelt limit is never silently ignored.
  static func limits(in c: KeyedDecodingContainer<AnyKey>, allowed: Set<String>) throws -> [CheckQuantity: UInt64] {
    var result: [CheckQuantity: UInt64] = [:]
    for key in c.allKeys {
      guard let quantity = CheckQuantity(rawValue: key.stringValue) else {
        if allowed.contains(key.stringValue) { continue }
        let known = (CheckQuantity.allCases.map(\.rawValue) + allowed.sorted()).joined(separator: ", ")
        throw DecodingError.dataCorruptedError(
          forKey: key, in: c, debugDescription: "unknown key \"\(key.stringValue)\" (known: \(known))")
      }
      let text: String
      if let n = try? c.decode(Double.self, forKey: key) {
        text = String(n)
      } else {
        text = try c.decode(String.self, forKey: key)
      }
      do {
        result[quantity] = try Quantity.parse(text, bytes: quantity.isBytes)
      } catch {
        throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: error.description)
      }
    }
    return result
  }

  static func describe(_ error: DecodingError) -> String {
    switch error {
    case .dataCorrupted(let context), .typeMismatch(_, let context), .valueNotFound(_, let context),
      .keyNotFound(_, let context):
      let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
      return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
    @unknown default:
      return "\(error)"
    }
  }
}

struct AnyKey: CodingKey {
  var stringValue: String
  var intValue: Int? { nil }
  init(_ string: String) { stringValue = string }
  init?(stringValue: String) { self.stringValue = stringValue }
  init?(intValue: Int) { nil }
}

public struct CheckError: Error, CustomStringConvertible {
  public var description: String
  init(_ description: String) { self.description = description }
}

/// A site that explains a breach, with its figure of the budget's quantity.
public struct CheckSite: Sendable, Hashable {
  /// As every output names a site (`SourceFrame.siteName`).
  public var name: String
  public var value: UInt64
}

/// One budget against the dumps: one line of the table.
public struct CheckRow: Sendable {
  /// As the table names it: "peak live", "*Parser*: allocations".
  public var budget: String
  public var quantity: CheckQuantity
  public var limit: UInt64
  /// Nil when the dump cannot tell (leaks without an END record).
  public var measured: UInt64?
  /// For a breach of the whole run: the sites that explain it.
  public var topSites: [CheckSite] = []
  /// For a site rule: its function glob.
  public var function: String? = nil
  /// A sampled dump's: `measured` is an estimate, with this interval (docs/SAMPLING.md). The
  /// verdict is the estimate's; when the limit lies inside the interval it could go either way.
  public var estimate: Estimate? = nil

  public var passed: Bool { measured.map { $0 <= limit } ?? false }
  /// The limit lies inside the estimate's 95% interval: the verdict is within the sampling noise.
  public var limitWithinNoise: Bool {
    guard let e = estimate, e.standardError > 0 else { return false }
    return e.low <= Double(limit) && Double(limit) <= e.high
  }
}

extension CheckBudget {
  /// One process's figures: the whole run's, and each site rule's (in file order).
  struct Figures {
    var total: [CheckQuantity: UInt64?] = [:]
    var rules: [[CheckQuantity: UInt64?]] = []
    /// A sampled dump's: the variance of each figure (absent when every block was recorded).
    var totalVariance: [CheckQuantity: Double]? = nil
    var ruleVariances: [[CheckQuantity: Double]] = []
  }

  /// Every limit against the replayed dumps (one per process), totals first, then site rules in
  /// file order. Over several processes counts and bytes add up, peak is the highest of any one
  /// process (they need not peak together), and leaks are unknown if any process did not exit
  /// normally.
  public func evaluate(_ analyses: [DumpAnalysis], suppressions: Suppressions = .init()) -> [CheckRow] {
    let figures = analyses.map { self.figures($0, suppressions) }
    func combine(_ quantity: CheckQuantity, _ values: [UInt64?]) -> UInt64? {
      if values.contains(where: { $0 == nil }) { return nil }
      let known = values.compactMap { $0 }
      return quantity == .peak ? known.max() ?? 0 : known.reduce(0, +)
    }
    // Sampled dumps: the estimate's variance, over processes as the value combines (independent
    // samples add; a peak is the highest process's).
    let sampled = figures.contains { $0.totalVariance != nil }
    func estimate(_ quantity: CheckQuantity, _ measured: UInt64?, _ values: [UInt64?], _ variances: [Double]) -> Estimate? {
      guard sampled, let measured else { return nil }
      let v = quantity == .peak
        ? values.indices.max(by: { (values[$0] ?? 0) < (values[$1] ?? 0) }).map { variances[$0] } ?? 0
        : variances.reduce(0, +)
      return Estimate(value: Double(measured), variance: v)
    }
    var rows: [CheckRow] = []
    for quantity in CheckQuantity.allCases {
      guard let limit = limits[quantity] else { continue }
      let values = figures.map { $0.total[quantity] ?? nil }
      var row = CheckRow(budget: quantity.title, quantity: quantity, limit: limit, measured: combine(quantity, values))
      row.estimate = estimate(quantity, row.measured, values, figures.map { $0.totalVariance?[quantity] ?? 0 })
      // The sites of the process that contributed most.
      if !row.passed && row.measured != nil,
        let top = values.indices.max(by: { (values[$0] ?? 0) < (values[$1] ?? 0) })
      {
        row.topSites = Self.topSites(analyses[top], quantity, suppressions)
      }
      rows.append(row)
    }
    for (r, rule) in sites.enumerated() {
      for quantity in CheckQuantity.allCases {
        guard let limit = rule.limits[quantity] else { continue }
        let values = figures.map { $0.rules[r][quantity] ?? nil }
        let measured = combine(quantity, values)
        rows.append(CheckRow(budget: "\(rule.function): \(quantity.title)", quantity: quantity, limit: limit, measured: measured,
                             function: rule.function,
                             estimate: estimate(quantity, measured, values, figures.map { $0.ruleVariances.isEmpty ? 0 : $0.ruleVariances[r][quantity] ?? 0 })))
      }
    }
    return rows
  }

  private func figures(_ analysis: DumpAnalysis, _ suppressions: Suppressions) -> Figures {
    let counters = analysis.metrics.counters
    let known = analysis.exitedNormally
    // Leaked: live at exit less what the suppressions say is no leak (docs/ANALYSIS.md).
    let leakCounters = analysis.leakCounters(suppressions).counters
    func values(_ c: StackCounters, leaked: UInt64, peak: UInt64) -> [CheckQuantity: UInt64?] {
      [.peak: peak, .leaked: known ? leaked : nil, .allocations: c.allocations, .allocated: c.allocatedBytes]
    }
    let sampled = analysis.state.sampling != nil
    // A sampled dump's variances: each figure's HT variance (SampleEstimate.swift).
    func variances(_ c: StackCounters, leaked: StackCounters, peak: Double) -> [CheckQuantity: Double] {
      [.peak: peak, .leaked: leaked.estimate?.live.bytesVariance ?? 0,
       .allocations: c.estimate?.allocated.countVariance ?? 0, .allocated: c.estimate?.allocated.bytesVariance ?? 0]
    }
    var total = StackCounters()
    for c in counters { total.add(c) }
    var leakedSum = StackCounters()
    for c in leakCounters { leakedSum.add(c) }
    let leakedTotal = leakCounters.reduce(UInt64(0)) { $0 &+ $1.liveBytes }
    var result = Figures(total: values(total, leaked: leakedTotal, peak: analysis.state.peakBytes))
    if sampled { result.totalVariance = variances(total, leaked: leakedSum, peak: analysis.state.peakBytesVariance) }
    guard !sites.isEmpty else { return result }
    let resolver = analysis.resolver
    for rule in sites {
      var sum = StackCounters()
      var leakedSum = StackCounters()
      var leaked: UInt64 = 0
      var matchCache: [Int32: Bool] = [:]
      for (i, c) in counters.enumerated() where i > 0 && !c.isZero {
        let frames = resolver.frames(of: StackID(UInt32(i)))
        let hit = frames.contains { f in
          if let m = matchCache[f] { return m }
          let m = resolver.frame(f).function.map(rule.matches) ?? false
          matchCache[f] = m
          return m
        }
        if hit {
          sum.add(c)
          leakedSum.add(leakCounters[i])
          leaked &+= leakCounters[i].liveBytes
        }
      }
      // A rule's peak: its stacks' bytes live at the process's peak.
      result.rules.append(values(sum, leaked: leaked, peak: sum.peakBytes))
      if sampled { result.ruleVariances.append(variances(sum, leaked: leakedSum, peak: sum.estimate?.peak.bytesVariance ?? 0)) }
    }
    return result
  }

  /// The three sites with the most of `quantity` (leaks without the suppressed ones).
  static func topSites(_ analysis: DumpAnalysis, _ quantity: CheckQuantity, _ suppressions: Suppressions) -> [CheckSite] {
    let table: SiteTable
    if quantity == .leaked {
      table = SiteTable(counters: analysis.leakCounters(suppressions).counters, resolver: analysis.resolver, options: SiteOptions())
    } else {
      guard let t = try? analysis.sites(options: SiteOptions()) else { return [] }
      table = t
    }
    return table.sorted(by: quantity.metric).prefix(3).map { site in
      CheckSite(name: site.label, value: quantity.value(site.counters))
    }
  }
}
