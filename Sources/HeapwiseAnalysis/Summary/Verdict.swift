/// One site's tracked bytes at the first and last point of the series.
public struct SiteChange: Sendable, Hashable {
  /// The site, as the caller names it (usually `function (file:line)`).
  public var site: String
  public var before: UInt64
  public var after: UInt64
  public init(site: String, before: UInt64, after: UInt64) {
    self.site = site
    self.before = before
    self.after = after
  }
  public var delta: Int64 { Int64(bitPattern: after &- before) }
}

/// A live block, for "held by a few large blocks".
public struct LargeBlock: Sendable, Hashable {
  public var size: UInt64
  public var site: String
  public init(size: UInt64, site: String) {
    self.size = size
    self.site = site
  }
}

/// The live heap at the last marker, for the few-large-blocks test when the end does not show it
/// (a teardown, like CPython's at exit, frees everything after the program's last labelled state).
public struct MarkerHeapFacts: Sendable, Hashable {
  public var marker: String
  public var liveHeap: UInt64
  /// Largest first.
  public var largestBlocks: [LargeBlock]
  /// RSS of the sample the recorder took at that marker.
  public var rss: UInt64?
  public init(marker: String, liveHeap: UInt64, largestBlocks: [LargeBlock], rss: UInt64?) {
    self.marker = marker
    self.liveHeap = liveHeap
    self.largestBlocks = largestBlocks
    self.rss = rss
  }
}

/// The moment of maximum tracked memory (live heap + mapped regions).
public struct PeakPoint: Sendable, Hashable {
  public var bytes: UInt64
  /// Seconds since start.
  public var time: Double
  /// Whether mapped regions were part of it (else it is all live heap).
  public var includesMapped: Bool
  /// The last marker before the peak, if any.
  public var previousMarker: String?
  /// The first marker after the peak, if any.
  public var nextMarker: String?
  public init(
    bytes: UInt64, time: Double, includesMapped: Bool = false, previousMarker: String? = nil,
    nextMarker: String? = nil
  ) {
    self.bytes = bytes
    self.time = time
    self.includesMapped = includesMapped
    self.previousMarker = previousMarker
    self.nextMarker = nextMarker
  }

  /// "between start and loaded", "after loaded", "before filled", or nil without markers.
  public var phase: String? {
    switch (previousMarker, nextMarker) {
    case (let p?, let n?): "between markers \(p) and \(n)"
    case (let p?, nil): "after marker \(p)"
    case (nil, let n?): "before marker \(n)"
    case (nil, nil): nil
    }
  }
}

/// A `malloc_trim(0)` probe's result.
public struct TrimObservation: Sendable, Hashable {
  /// The marker it followed, or nil for the probe at exit.
  public var label: String?
  public var rssBefore: UInt64
  public var rssAfter: UInt64
  public init(label: String?, rssBefore: UInt64, rssAfter: UInt64) {
    self.label = label
    self.rssBefore = rssBefore
    self.rssAfter = rssAfter
  }
  public var returned: UInt64 { rssBefore - Swift.min(rssBefore, rssAfter) }
}

/// Everything the verdict looks at, gathered by the summary's replay.
public struct SummaryFacts: Sendable, Hashable {
  public var growth: GrowthAnalysis
  /// Sites sorted by growth, largest first.
  public var siteChanges: [SiteChange]
  public var peak: PeakPoint?
  /// The split at the end of the run (the last sample).
  public var end: RSSSplit?
  /// Live heap and mapped regions at the end.
  public var endLiveHeap: UInt64
  public var endMapped: UInt64
  /// The largest live blocks at the end, largest first.
  public var largestBlocks: [LargeBlock]
  public var trims: [TrimObservation]
  /// The allocator's name, when known.
  public var allocator: String?
  /// Highest RSS of any sample.
  public var peakRSS: UInt64?
  /// glibc's heaps at the end: which live blocks pin them.
  public var heap: HeapPinning?
  /// The live heap at the last marker.
  public var atLastMarker: MarkerHeapFacts?

  public init(
    growth: GrowthAnalysis, siteChanges: [SiteChange] = [], peak: PeakPoint? = nil,
    end: RSSSplit? = nil, endLiveHeap: UInt64, endMapped: UInt64 = 0,
    largestBlocks: [LargeBlock] = [], trims: [TrimObservation] = [], allocator: String? = nil,
    peakRSS: UInt64? = nil, heap: HeapPinning? = nil, atLastMarker: MarkerHeapFacts? = nil
  ) {
    self.growth = growth
    self.siteChanges = siteChanges
    self.peak = peak
    self.end = end
    self.endLiveHeap = endLiveHeap
    self.endMapped = endMapped
    self.largestBlocks = largestBlocks
    self.trims = trims
    self.allocator = allocator
    self.peakRSS = peakRSS
    self.heap = heap
    self.atLastMarker = atLastMarker
  }
}

/// The kinds of answer, in the order the verdict prefers them.
public enum VerdictKind: String, Sendable, Hashable, CaseIterable {
  /// Tracked memory keeps rising: a leak or an unbounded cache.
  case growing
  /// Most of the live heap is a handful of blocks (a view keeping a whole buffer alive).
  case heldByFewBlocks = "held by a few large blocks"
  /// Freed memory stays resident in the allocator.
  case retention
  /// Tracked memory peaked and came back down.
  case highWaterMark = "high-water mark"
  /// None of the above.
  case steady
}

/// One statement with its evidence.
public struct Finding: Sendable, Hashable {
  public var kind: VerdictKind
  public var headline: String
  public var evidence: [String]
  public init(kind: VerdictKind, headline: String, evidence: [String]) {
    self.kind = kind
    self.headline = headline
    self.evidence = evidence
  }
}

/// The answer: the primary finding first, then any others that also hold.
public struct Verdict: Sendable, Hashable {
  public var findings: [Finding]
  public var primary: Finding { findings[0] }

  /// Applies every test of docs/SUMMARY.md to `facts`. A pure function: same facts, same verdict.
  public init(_ facts: SummaryFacts, thresholds: VerdictThresholds = .init()) {
    var found: [Finding] = []
    let growth = facts.growth
    let rss = facts.end?.rss.bytes

    if growth.trend == .rising {
      let first = growth.points.first!
      let last = growth.points.last!
      var evidence = [
        "from \(formatBytes(first.tracked)) to \(formatBytes(last.tracked)); "
          + "\(growth.risingSteps) of \(growth.points.count - 1) steps rose; "
          + "linear fit R² \(twoDecimals(growth.fit?.rSquared ?? 0))"
          + (growth.rate.map { ", \($0)" } ?? "")
      ]
      if last.mapped > first.mapped + growth.noise / 4 {
        evidence.append(
          "of which mapped regions \(formatDelta(Int64(bitPattern: last.mapped &- first.mapped))), live heap \(formatDelta(Int64(bitPattern: last.liveHeap &- first.liveHeap)))")
      }
      // Sites under 1% of the growth are noise next to the ones that matter.
      let rising = facts.siteChanges.filter { $0.delta > 0 && $0.delta * 100 >= growth.delta }
        .prefix(thresholds.topSites)
      if !rising.isEmpty, growth.delta > 0 {
        evidence.append("top growing sites:")
        for site in rising {
          evidence.append(
            "  \(site.site): \(formatDelta(site.delta)) (\(percent(Double(site.delta), of: Double(growth.delta))) of the growth)")
        }
      }
      found.append(
        Finding(
          kind: .growing,
          headline: "growing: tracked memory rose \(formatBytes(UInt64(growth.delta))) across \(growth.span), "
            + (growth.isLinear ? "linearly" : "in steps"),
          evidence: evidence))
    }

    // At exit, else at the last marker: a teardown after the program's last labelled state
    // (CPython's at exit) frees what held the memory while it mattered.
    if let finding = Self.fewBlocks(
      live: facts.endLiveHeap, blocks: facts.largestBlocks, rss: rss, marker: nil, thresholds: thresholds)
    {
      found.append(finding)
    } else if let m = facts.atLastMarker,
      var finding = Self.fewBlocks(
        live: m.liveHeap, blocks: m.largestBlocks, rss: m.rss, marker: m.marker, thresholds: thresholds)
    {
      finding.evidence.append("at exit the live heap was \(formatBytes(facts.endLiveHeap)): freed after the last marker")
      found.append(finding)
    }

    let allocatorHeld = facts.end?.allocatorHeld?.bytes ?? 0
    let bestTrim = facts.trims.max(by: { $0.returned < $1.returned })
    let retained = Swift.max(allocatorHeld, bestTrim?.returned ?? 0)
    if retained >= thresholds.retentionBytes,
      rss.map({ Double(retained) >= Double($0) * thresholds.retentionShare }) ?? true
    {
      var evidence: [String] = []
      switch growth.trend {
      case .flat: evidence.append("tracked memory was flat across \(growth.span) (\(formatDelta(growth.delta)))")
      case .falling, .mixed:
        if let tail = growth.flatTail {
          evidence.append(
            "tracked memory was flat across \(tail.span) (\(formatDelta(tail.delta))), after \(growth.delta < 0 ? "falling" : "rising") by \(formatBytes(growth.delta.magnitude)) over \(growth.span)")
        } else {
          evidence.append("tracked memory ended \(formatDelta(growth.delta)) from where it started (\(growth.span))")
        }
      case .rising, .tooShort: break
      }
      if allocatorHeld > 0, let rss {
        evidence.append(
          "\(formatBytes(allocatorHeld)) freed memory stays resident in \(facts.allocator ?? "the allocator") (\(percent(Double(allocatorHeld), of: Double(rss))) of RSS)")
      }
      if let heap = facts.heap, facts.allocator == "glibc malloc" { evidence += heap.evidence }
      if let bestTrim {
        evidence.append(
          "malloc_trim(0) returned \(formatBytes(bestTrim.returned)) when probed \(bestTrim.label.map { "after marker \($0)" } ?? "at exit")")
      } else {
        evidence.append("not probed: record with --trim-probe to measure what malloc_trim(0) gives back")
      }
      let notALeak = growth.trend != .rising
      found.append(
        Finding(
          kind: .retention,
          headline: (notALeak ? "retention, not a leak: " : "retention: ")
            + "\(formatBytes(retained)) of freed memory stays resident in \(facts.allocator ?? "the allocator")",
          evidence: evidence))
    }

    let endTracked = facts.endLiveHeap + facts.endMapped
    if let peak = facts.peak, peak.bytes >= thresholds.noiseBytes,
      Double(endTracked) <= Double(peak.bytes) * thresholds.highWaterDrop
    {
      let what = peak.includesMapped ? "tracked memory" : "live heap"
      var evidence = [
        "\(what) peaked at \(formatBytes(peak.bytes)) at \(formatSeconds(peak.time))"
          + (peak.phase.map { " (\($0))" } ?? "")
          + " and came back down to \(formatBytes(endTracked))"
      ]
      var kept = false
      if let peakRSS = facts.peakRSS, let rss {
        kept = Double(rss) >= Double(peakRSS) * (1 - thresholds.highWaterDrop / 2)
        evidence.append(
          kept
            ? "RSS kept the peak: \(formatBytes(rss)) at exit, \(formatBytes(peakRSS)) at most"
            : "RSS came down too: \(formatBytes(rss)) at exit, \(formatBytes(peakRSS)) at most")
      }
      found.append(
        Finding(
          kind: .highWaterMark,
          headline: "high-water mark: \(what) peaked at \(formatBytes(peak.bytes))"
            + (peak.phase.map { " \($0)" } ?? "") + " and came back down"
            + (kept ? "; RSS kept the peak" : ""),
          evidence: evidence))
    }

    if found.isEmpty {
      var evidence: [String] = []
      switch growth.trend {
      case .tooShort:
        evidence.append(
          "growth not assessed: \(growth.points.count) point\(growth.points.count == 1 ? "" : "s"); set markers (heapwise_marker) or run longer")
      default:
        evidence.append("tracked memory \(growth.trend == .flat ? "was flat" : "ended \(formatDelta(growth.delta))") across \(growth.span)")
      }
      if let rss {
        evidence.append("live heap is \(percent(Double(facts.endLiveHeap), of: Double(rss))) of RSS; allocator-held \(formatBytes(allocatorHeld))")
      }
      found.append(
        Finding(
          kind: .steady,
          headline: "steady: no growth, retention or high-water mark found",
          evidence: evidence))
    }
    findings = found
  }
}

func twoDecimals(_ value: Double) -> String {
  let hundredths = Int((value * 100).rounded())
  let fraction = abs(hundredths % 100)
  return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
}

extension Verdict {
  /// Test 2 of docs/SUMMARY.md on one moment's live heap, its largest blocks and RSS.
  static func fewBlocks(
    live: UInt64, blocks largest: [LargeBlock], rss: UInt64?, marker: String?, thresholds: VerdictThresholds
  ) -> Finding? {
    // Only blocks that matter on their own: each at least a tenth of the live heap.
    let blocks = largest.prefix(thresholds.fewBlocksCount).filter { $0.size * 10 >= live }
    let held = blocks.reduce(0) { $0 + $1.size }
    guard live >= thresholds.noiseBytes, !blocks.isEmpty,
      Double(held) >= Double(live) * thresholds.fewBlocksShare,
      rss.map({ Double(live) >= Double($0) * thresholds.fewBlocksShareOfRSS }) ?? true
    else { return nil }
    return Finding(
      kind: .heldByFewBlocks,
      headline: "held by a few large blocks\(marker.map { " at marker \"\($0)\"" } ?? ""): \(formatBytes(held)) of the \(formatBytes(live)) live heap is \(plural(blocks.count, "block"))",
      evidence: blocks.map { "\(formatBytes($0.size)) allocated at \($0.site)" })
  }
}
