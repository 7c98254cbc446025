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

/// Which live blocks pin glibc's heaps (from ``HeapLayout``), with sites named.
public struct HeapPinning: Sendable, Hashable, Encodable {
  public struct Site: Sendable, Hashable, Encodable {
    public var site: String
    public var blocks: Int
    public var bytes: UInt64
    public var pages: Int
    public init(site: String, blocks: Int, bytes: UInt64, pages: Int) {
      self.site = site
      self.blocks = blocks
      self.bytes = bytes
      self.pages = pages
    }
  }
  /// One heap: the main (brk) heap or a thread arena's.
  public struct Heap: Sendable, Hashable, Encodable {
    /// "main" or "threadArena".
    public var kind: String
    /// Pages from the lowest live address to the highest live end.
    public var spanPages: Int
    /// Pages overlapped by a live block.
    public var pinnedPages: Int
    public var blocks: Int
    /// The highest live block: the heap cannot shrink below it.
    public var topSize: UInt64
    public var topSite: String
    public init(kind: String, spanPages: Int, pinnedPages: Int, blocks: Int, topSize: UInt64, topSite: String) {
      self.kind = kind
      self.spanPages = spanPages
      self.pinnedPages = pinnedPages
      self.blocks = blocks
      self.topSize = topSize
      self.topSite = topSite
    }
  }
  public var pageSize: UInt64
  /// Main heap first, then thread arenas' heaps by span.
  public var heaps: [Heap]
  /// Sites by pinned pages over all heaps, most first.
  public var sites: [Site]
  public init(pageSize: UInt64, heaps: [Heap], sites: [Site]) {
    self.pageSize = pageSize
    self.heaps = heaps
    self.sites = sites
  }

  public var pinnedPages: Int { heaps.reduce(0) { $0 + $1.pinnedPages } }
  public var spanPages: Int { heaps.reduce(0) { $0 + $1.spanPages } }
  public var blocks: Int { heaps.reduce(0) { $0 + $1.blocks } }

  /// Evidence lines for retention.
  var evidence: [String] {
    let arenaCount = heaps.filter { $0.kind != "main" }.count
    let which =
      arenaCount == 0 ? "the main heap" : heaps.contains { $0.kind == "main" }
        ? "the main heap and \(plural(arenaCount, "thread arena heap"))" : plural(arenaCount, "thread arena heap")
    var lines = [
      "\(plural(blocks, "live block")) in \(which) overlap \(formatCount(pinnedPages)) of \(formatCount(spanPages)) pages"
        + " (\(formatBytes(UInt64(pinnedPages) * pageSize))): freed memory in those pages stays resident even after malloc_trim(0)"
    ]
    for s in sites.prefix(3) where s.pages * 10 >= pinnedPages {
      lines.append(
        "  \(s.site): \(plural(s.blocks, "block")) (\(formatBytes(s.bytes / UInt64(Swift.max(1, s.blocks)))) on average) in \(plural(s.pages, "page"))")
    }
    // The heaps whose top block keeps a quarter or more of the free span from being given back.
    let free = spanPages - pinnedPages
    let holding = heaps.filter { $0.spanPages > $0.pinnedPages && ($0.spanPages - $0.pinnedPages) * 4 >= free }
    let tail = "; only malloc_trim(0) returns the free pages in between"
    if let main = holding.first(where: { $0.kind == "main" }) {
      lines.append(
        "free() cannot shrink the main heap: its highest live block (\(formatBytes(main.topSize)) from \(main.topSite)) sits "
          + "\(formatBytes(UInt64(main.spanPages) * pageSize)) above its lowest" + tail)
    }
    let arenas = holding.filter { $0.kind != "main" }
    if arenas.count == 1, let arena = arenas.first {
      lines.append(
        "free() cannot shrink a thread arena's heap: its highest live block (\(formatBytes(arena.topSize)) from \(arena.topSite)) sits "
          + "\(formatBytes(UInt64(arena.spanPages) * pageSize)) above its lowest" + tail)
    } else if arenas.count > 1 {
      var sites: [String] = []
      for a in arenas where !sites.contains(a.topSite) { sites.append(a.topSite) }
      let widest = arenas.map { $0.spanPages }.max() ?? 0
      lines.append(
        "free() cannot shrink \(arenas.count) thread arena heaps: their highest live blocks (from \(sites.prefix(2).joined(separator: ", "))\(sites.count > 2 ? ", ..." : "")) sit "
          + "up to \(formatBytes(UInt64(widest) * pageSize)) above their lowest" + tail)
    }
    return lines
  }
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
  /// glibc's brk heap at the end: which live blocks pin it.
  public var heap: HeapPinning?

  public init(
    growth: GrowthAnalysis, siteChanges: [SiteChange] = [], peak: PeakPoint? = nil,
    end: RSSSplit? = nil, endLiveHeap: UInt64, endMapped: UInt64 = 0,
    largestBlocks: [LargeBlock] = [], trims: [TrimObservation] = [], allocator: String? = nil,
    peakRSS: UInt64? = nil, heap: HeapPinning? = nil
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

    let live = facts.endLiveHeap
    // Only blocks that matter on their own: each at least a tenth of the live heap.
    let blocks = facts.largestBlocks.prefix(thresholds.fewBlocksCount).filter { $0.size * 10 >= live }
    let held = blocks.reduce(0) { $0 + $1.size }
    if live >= thresholds.noiseBytes, !blocks.isEmpty,
      Double(held) >= Double(live) * thresholds.fewBlocksShare,
      rss.map({ Double(live) >= Double($0) * thresholds.fewBlocksShareOfRSS }) ?? true
    {
      let evidence = blocks.map { "\(formatBytes($0.size)) allocated at \($0.site)" }
      found.append(
        Finding(
          kind: .heldByFewBlocks,
          headline: "held by a few large blocks: \(formatBytes(held)) of the \(formatBytes(live)) live heap is \(plural(blocks.count, "block"))",
          evidence: evidence))
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
        evidence.append("live heap is \(percent(Double(live), of: Double(rss))) of RSS; allocator-held \(formatBytes(allocatorHeld))")
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
