/// One site's tracked bytes at the first and last point of the series.
public struct SiteChange: Sendable, Hashable {
  /// The site, as the caller names it (usually `function (file:line)`).
  public var site: String
  public var before: UInt64
  public var after: UInt64
  /// The site's frames (from one of its stacks; nil for the line that sums small changes).
  public var frames: SiteFrames?
  public init(site: String, before: UInt64, after: UInt64, frames: SiteFrames? = nil) {
    self.site = site
    self.before = before
    self.after = after
    self.frames = frames
  }
  public var delta: Int64 { Int64(bitPattern: after &- before) }
}

/// A live block, for "held by a few large blocks".
public struct LargeBlock: Sendable, Hashable {
  public var size: UInt64
  public var site: String
  /// The first later marker at which the block was no longer live (nil: live to the last one).
  public var freedBefore: String?
  /// Where it was allocated, as frames.
  public var frames: SiteFrames?
  public init(size: UInt64, site: String, freedBefore: String? = nil, frames: SiteFrames? = nil) {
    self.size = size
    self.site = site
    self.freedBefore = freedBefore
    self.frames = frames
  }
}

/// What one private allocator held: resident bytes at the end, at the last marker and at the
/// start of the window judged, and what its regions reserve.
public struct PrivateHolding: Sendable, Hashable {
  public var allocator: PrivateAllocator
  public var atEnd: UInt64
  public var atLastMarker: UInt64?
  public var atStart: UInt64
  public var reserved: UInt64
  public init(allocator: PrivateAllocator, atEnd: UInt64, atLastMarker: UInt64?, atStart: UInt64, reserved: UInt64) {
    self.allocator = allocator
    self.atEnd = atEnd
    self.atLastMarker = atLastMarker
    self.atStart = atStart
    self.reserved = reserved
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
  /// Live heap plus resident mappings at the marker.
  public var tracked: UInt64
  /// The split of the marker's sample.
  public var split: RSSSplit?
  public var privateResident: [PrivateAllocator: UInt64]
  public init(
    marker: String, liveHeap: UInt64, largestBlocks: [LargeBlock], rss: UInt64?, tracked: UInt64? = nil,
    split: RSSSplit? = nil, privateResident: [PrivateAllocator: UInt64] = [:]
  ) {
    self.marker = marker
    self.liveHeap = liveHeap
    self.largestBlocks = largestBlocks
    self.rss = rss
    self.tracked = tracked ?? liveHeap
    self.split = split
    self.privateResident = privateResident
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
  /// The live heap when the probe ran: it is evidence only for a moment with the same heap.
  public var liveHeap: UInt64?
  /// When it was really taken, in ticks of the dump (the replay's) and in seconds since start:
  /// a signal marker's probe runs on the writer thread, after the marker's own moment.
  public var ticks: UInt64?
  public var time: Double?
  public init(label: String?, rssBefore: UInt64, rssAfter: UInt64, ticks: UInt64? = nil, time: Double? = nil) {
    self.label = label
    self.rssBefore = rssBefore
    self.rssAfter = rssAfter
    self.ticks = ticks
    self.time = time
  }
  public var returned: UInt64 { rssBefore - Swift.min(rssBefore, rssAfter) }

  func with(liveHeap: UInt64) -> TrimObservation {
    var t = self
    t.liveHeap = liveHeap
    return t
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
  /// glibc's heaps at the end: which live blocks pin them.
  public var heap: HeapPinning?
  /// The live heap at the last marker.
  public var atLastMarker: MarkerHeapFacts?
  /// The marker judged (`summary --at`, `--to`); nil: the whole run.
  public var judgedAt: MarkerHeapFacts?
  /// What each private allocator held.
  public var privateHoldings: [PrivateHolding] = []
  /// Whether the peak came before the marker judged (a later peak is not its past).
  public var peakBeforeJudged = true

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
  /// Resident in the regions of an allocator inside a library, whose blocks are not visible.
  case privateAllocator = "held by a private allocator"
  /// Freed memory stays resident in the allocator.
  case retention
  /// Tracked memory peaked and came back down.
  case highWaterMark = "high-water mark"
  /// None of the above.
  case steady
}

/// One statement with its evidence, and the values it rests on as data (`--format json`).
public struct Finding: Sendable, Hashable {
  public var kind: VerdictKind
  public var headline: String
  public var evidence: [String]
  /// The bytes the headline states.
  public var bytes: UInt64?
  /// Growth per marker (growing, on markers).
  public var ratePerMarker: Double?
  /// The markers it covers: the span of a series, or the marker judged.
  public var markers: [String] = []
  /// The sites it names.
  public var sites: [String] = []
  /// The same sites' frames, one per site (nil where a site has none).
  public var siteFrames: [SiteFrames?] = []
  /// The allocator that holds the memory (retention, private allocators).
  public var allocator: String?
  /// What to do about it.
  public var remedy: String?
  public init(
    kind: VerdictKind, headline: String, evidence: [String], bytes: UInt64? = nil, ratePerMarker: Double? = nil,
    markers: [String] = [], sites: [String] = [], siteFrames: [SiteFrames?]? = nil, allocator: String? = nil,
    remedy: String? = nil
  ) {
    self.siteFrames = siteFrames ?? sites.map { _ in nil }
    self.kind = kind
    self.headline = headline
    self.evidence = evidence
    self.bytes = bytes
    self.ratePerMarker = ratePerMarker
    self.markers = markers
    self.sites = sites
    self.allocator = allocator
    self.remedy = remedy
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
    // The moment judged: the marker asked for; for the whole run the last marker when there are
    // markers (a process that frees everything at exit, as CPython does, is judged on its labelled
    // states, not on its teardown), else the end.
    let moment = facts.judgedAt ?? facts.atLastMarker
    let split = facts.judgedAt != nil ? facts.judgedAt?.split : (facts.atLastMarker?.split ?? facts.end)
    let rss = facts.judgedAt != nil ? (facts.judgedAt?.split?.rss.bytes ?? facts.judgedAt?.rss) : facts.end?.rss.bytes
    let momentRSS = split?.rss.bytes ?? rss
    let momentName = facts.judgedAt?.marker

    if growth.trend == .rising {
      let first = growth.points.first!
      let last = growth.points.last!
      var evidence = [
        "from \(Units.bytes(first.tracked)) to \(Units.bytes(last.tracked)); "
          + "\(growth.risingSteps) of \(growth.points.count - 1) steps rose; "
          + "linear fit R² \(Units.twoDecimals(growth.fit?.rSquared ?? 0))"
          + (growth.rate.map { ", \($0)" } ?? "")
      ]
      if last.mapped > first.mapped + growth.noise / 4 {
        evidence.append(
          "of which mapped regions \(Units.signedBytes(Int64(bitPattern: last.mapped &- first.mapped))), live heap \(Units.signedBytes(Int64(bitPattern: last.liveHeap &- first.liveHeap)))")
      }
      // Sites under 1% of the growth are noise next to the ones that matter.
      let rising = facts.siteChanges.filter { $0.delta > 0 && $0.delta * 100 >= growth.delta }
        .prefix(thresholds.topSites)
      if !rising.isEmpty, growth.delta > 0 {
        evidence.append("top growing sites:")
        for site in rising {
          evidence.append(
            "  \(site.site): \(Units.signedBytes(site.delta)) (\(Units.percent(Double(site.delta), of: Double(growth.delta))) of the growth)")
          evidence += Self.siteFrameLines(site.frames, indent: "    ")
        }
      }
      found.append(
        Finding(
          kind: .growing,
          headline: "growing: tracked memory rose \(Units.bytes(UInt64(growth.delta))) across \(growth.span), "
            + (growth.isLinear ? "linearly" : "in steps"),
          evidence: evidence, bytes: UInt64(growth.delta),
          ratePerMarker: growth.basis == .markers ? growth.fit?.slope : nil,
          markers: growth.basis == .markers ? growth.points.compactMap(\.label) : [], sites: rising.map(\.site),
          siteFrames: rising.map(\.frames)))
    }

    // At exit, else at the last marker: a teardown after the program's last labelled state
    // (CPython's at exit) frees what held the memory while it mattered.
    if let m = facts.judgedAt {
      if let finding = Self.fewBlocks(
        live: m.liveHeap, blocks: m.largestBlocks, rss: m.rss, marker: m.marker, thresholds: thresholds)
      {
        found.append(finding)
      }
    } else if let finding = Self.fewBlocks(
      live: facts.endLiveHeap, blocks: facts.largestBlocks, rss: rss, marker: nil, thresholds: thresholds)
    {
      found.append(finding)
    } else if let m = facts.atLastMarker,
      var finding = Self.fewBlocks(
        live: m.liveHeap, blocks: m.largestBlocks, rss: m.rss, marker: m.marker, thresholds: thresholds)
    {
      finding.evidence.append("at exit the live heap was \(Units.bytes(facts.endLiveHeap)): freed after the last marker")
      found.append(finding)
    }

    // Private allocators: resident in their regions at the moment judged, grown since the window
    // started (a pool the job filled), and a real share of RSS.
    for h in facts.privateHoldings {
      let held = facts.judgedAt.map { $0.privateResident[h.allocator] ?? 0 } ?? h.atLastMarker ?? h.atEnd
      let grown = held - Swift.min(held, h.atStart)
      guard held >= thresholds.retentionBytes, grown >= thresholds.retentionBytes,
        momentRSS.map({ Double(held) >= Double($0) * thresholds.retentionShare }) ?? true
      else { continue }
      var evidence = [
        "\(Units.bytes(held)) resident in the regions it mapped"
          + (h.reserved > held ? " (\(Units.bytes(h.reserved)) reserved; the untouched rest counts 0 B)" : "")
          + (momentRSS.map { ", \(Units.percent(Double(held), of: Double($0))) of RSS" } ?? ""),
        "\(Units.signedBytes(Int64(grown))) since \(growth.points.first?.label.map { "marker \($0)" } ?? "the start"): kept by the pool after the program's frees",
      ]
      if let m = moment { evidence.append("the live heap at marker \(m.marker) was \(Units.bytes(m.liveHeap)): the blocks the recorder sees") }
      if facts.judgedAt == nil, facts.atLastMarker != nil, h.atEnd + thresholds.noiseBytes < held {
        evidence.append("at exit \(Units.bytes(h.atEnd)): the process's teardown freed the rest after the last marker")
      }
      evidence.append("remedy: " + h.allocator.remedy)
      found.append(
        Finding(
          kind: .privateAllocator,
          headline: "held by \(h.allocator.title)\(momentName.map { " at marker \"\($0)\"" } ?? ""): \(Units.bytes(held)) resident, blocks not visible",
          evidence: evidence, bytes: held, markers: [momentName ?? moment?.marker].compactMap { $0 },
          allocator: h.allocator.rawValue,
          remedy: h.allocator.remedy))
    }

    let allocatorHeld = split?.allocatorHeld?.bytes ?? 0
    // A probe is evidence for the moment judged only when it measured the same heap: one that ran
    // while the program was still freeing (a signal marker's probe runs later, on the writer
    // thread) says nothing about the end.
    let judgedHeap = facts.judgedAt?.liveHeap ?? facts.atLastMarker?.liveHeap ?? facts.endLiveHeap
    let sameMoment: (TrimObservation) -> Bool = { t in
      if let m = momentName { return t.label == m }
      guard let heap = t.liveHeap else { return true }
      let noise = Swift.max(thresholds.noiseBytes, judgedHeap / 20)
      return (heap > judgedHeap ? heap - judgedHeap : judgedHeap - heap) <= noise
    }
    let bestTrim = facts.trims.filter(sameMoment).max(by: { $0.returned < $1.returned })
    let unusedTrims = facts.trims.filter { !sameMoment($0) && $0.returned >= thresholds.retentionBytes }
    let retained = Swift.max(allocatorHeld, bestTrim?.returned ?? 0)
    if retained >= thresholds.retentionBytes,
      rss.map({ Double(retained) >= Double($0) * thresholds.retentionShare }) ?? true
    {
      var evidence: [String] = []
      switch growth.trend {
      case .flat: evidence.append("tracked memory was flat across \(growth.span) (\(Units.signedBytes(growth.delta)))")
      case .falling, .mixed:
        if let tail = growth.flatTail {
          evidence.append(
            "tracked memory was flat across \(tail.span) (\(Units.signedBytes(tail.delta))), after \(growth.delta < 0 ? "falling" : "rising") by \(Units.bytes(growth.delta.magnitude)) over \(growth.span)")
        } else {
          evidence.append("tracked memory ended \(Units.signedBytes(growth.delta)) from where it started (\(growth.span))")
        }
      case .steppedUp: evidence.append(Self.stepUpText(growth))
      case .rising, .tooShort: break
      }
      if allocatorHeld > 0, let rss {
        evidence.append(
          "\(Units.bytes(allocatorHeld)) freed memory stays resident in \(facts.allocator ?? "the allocator") (\(Units.percent(Double(allocatorHeld), of: Double(rss))) of RSS)")
      }
      if let heap = facts.heap, facts.allocator == "glibc malloc" { evidence += heap.evidence }
      if let bestTrim {
        evidence.append(
          "malloc_trim(0) returned \(Units.bytes(bestTrim.returned)) when probed \(bestTrim.label.map { "after marker \($0)" } ?? "at exit")"
            + (bestTrim.time.map { " (at \(Units.duration($0)))" } ?? ""))
      } else if !facts.trims.isEmpty {
        evidence.append("no probe measured this moment's heap")
      } else {
        evidence.append("not probed: record with --trim-probe to measure what malloc_trim(0) gives back")
      }
      let notALeak = growth.trend != .rising
      found.append(
        Finding(
          kind: .retention,
          headline: (notALeak ? "retention, not a leak: " : "retention: ")
            + "\(Units.bytes(retained)) of freed memory stays resident in \(facts.allocator ?? "the allocator")"
            + (momentName.map { " at marker \"\($0)\"" } ?? ""),
          evidence: evidence, bytes: retained, markers: momentName.map { [$0] } ?? [], allocator: facts.allocator,
          remedy: facts.allocator == "glibc malloc" ? "malloc_trim(0) gives free pages back; MALLOC_ARENA_MAX limits thread arenas" : nil))
    }
    let retentionFound = found.contains { $0.kind == .retention }

    // High-water: at the moment judged (the last marker for a run with markers: not the
    // teardown), tracked memory came back well below its peak.
    let endTracked = facts.judgedAt?.tracked ?? facts.atLastMarker?.tracked ?? (facts.endLiveHeap + facts.endMapped)
    if let peak = facts.peak, peak.bytes >= thresholds.noiseBytes,
      Double(endTracked) <= Double(peak.bytes) * thresholds.highWaterDrop,
      facts.peakBeforeJudged
    {
      let what = peak.includesMapped ? "tracked memory" : "live heap"
      var evidence = [
        "\(what) peaked at \(Units.bytes(peak.bytes)) at \(Units.duration(peak.time))"
          + (peak.phase.map { " (\($0))" } ?? "")
          + " and came back down to \(Units.bytes(endTracked))"
      ]
      if !retentionFound, let t = unusedTrims.max(by: { $0.returned < $1.returned }) {
        evidence.append(
          "malloc_trim(0) returned \(Units.bytes(t.returned)) when probed\(t.label.map { " after marker \($0)" } ?? "")"
            + (t.time.map { " at \(Units.duration($0))" } ?? "")
            + (t.liveHeap.map { ", while the live heap was \(Units.bytes($0))" } ?? "")
            + ": that heap was later freed, so it is not retention now")
      }
      var kept = false
      let rss = momentRSS
      if let peakRSS = facts.peakRSS, let rss {
        kept = Double(rss) >= Double(peakRSS) * (1 - thresholds.highWaterDrop / 2)
        let when = momentName.map { "at marker \($0)" } ?? (facts.judgedAt == nil && split != nil && facts.atLastMarker != nil ? "at marker \(facts.atLastMarker!.marker)" : "at exit")
        evidence.append(
          kept
            ? "RSS kept the peak: \(Units.bytes(rss)) \(when), \(Units.bytes(peakRSS)) at most"
            : "RSS came down too: \(Units.bytes(rss)) \(when), \(Units.bytes(peakRSS)) at most")
      }
      found.append(
        Finding(
          kind: .highWaterMark,
          headline: "high-water mark: \(what) peaked at \(Units.bytes(peak.bytes))"
            + (peak.phase.map { " \($0)" } ?? "") + " and came back down"
            + (kept ? "; RSS kept the peak" : ""),
          evidence: evidence, bytes: peak.bytes,
          markers: [peak.previousMarker, peak.nextMarker].compactMap { $0 }))
    }

    if found.isEmpty {
      var evidence: [String] = []
      switch growth.trend {
      case .tooShort:
        evidence.append(
          "growth not assessed: \(growth.points.count) point\(growth.points.count == 1 ? "" : "s"); set markers (heapwise_marker) or run longer")
      case .steppedUp:
        evidence.append(Self.stepUpText(growth))
      default:
        evidence.append("tracked memory \(growth.trend == .flat ? "was flat" : "ended \(Units.signedBytes(growth.delta))") across \(growth.span)")
      }
      if let rss {
        let heap = facts.judgedAt?.liveHeap ?? facts.endLiveHeap
        evidence.append("live heap is \(Units.percent(Double(heap), of: Double(rss))) of RSS; allocator-held \(Units.bytes(allocatorHeld))")
      }
      found.append(
        Finding(
          kind: .steady,
          headline: growth.trend == .steppedUp
            ? "steady: a load, not growth: tracked memory stepped up \(Units.bytes(growth.delta.magnitude)) across \(growth.span) and stayed"
            : "steady: no growth, retention or high-water mark found",
          evidence: evidence, bytes: growth.trend == .steppedUp ? growth.delta.magnitude : nil,
          markers: growth.trend == .steppedUp && growth.basis == .markers ? growth.points.compactMap(\.label) : []))
    }
    findings = found
  }
}

extension Verdict {
  /// Under a site named by a library's Python line, the program's own line that led there; under a
  /// Python site, the native function that allocated for it.
  static func siteFrameLines(_ frames: SiteFrames?, indent: String) -> [String] {
    guard let frames else { return [] }
    var lines: [String] = []
    if let user = frames.userBeyondSite { lines.append(indent + "from your code: \(user.siteName)") }
    if let native = frames.native { lines.append(indent + "allocated by \(native.siteName)") }
    return lines
  }

  /// Why a rise that is not growth is a load.
  static func stepUpText(_ growth: GrowthAnalysis) -> String {
    "tracked memory stepped up \(Units.bytes(growth.delta.magnitude)) across \(growth.span) and stayed "
      + "(\(growth.risingSteps) of \(growth.points.count - 1) steps rose, the largest by \(Units.bytes(growth.largestStep)), "
      + "\(Units.signedBytes(growth.laterRise)) in the later half): a load, not growth"
  }
}

extension Verdict {
  /// Test 2 of docs/SUMMARY.md on one moment's live heap, its largest blocks and RSS.
  static func fewBlocks(
    live: UInt64, blocks largest: [LargeBlock], rss: UInt64?, marker: String?, thresholds: VerdictThresholds
  ) -> Finding? {
    // Only blocks that matter on their own: each at least a tenth of the live heap.
    let blocks = largest.prefix(thresholds.fewBlocksCount).filter { $0.size * 10 >= live }
    let fates: [String] = marker == nil ? [] : blocks.map { b in
      b.freedBefore.map { "freed before marker \($0)" } ?? "still live at the last marker"
    }
    let held = blocks.reduce(0) { $0 + $1.size }
    guard live >= thresholds.noiseBytes, !blocks.isEmpty,
      Double(held) >= Double(live) * thresholds.fewBlocksShare,
      rss.map({ Double(live) >= Double($0) * thresholds.fewBlocksShareOfRSS }) ?? true
    else { return nil }
    return Finding(
      kind: .heldByFewBlocks,
      headline: "held by a few large blocks\(marker.map { " at marker \"\($0)\"" } ?? ""): \(Units.bytes(held)) of the \(Units.bytes(live)) live heap is \(Units.plural(blocks.count, "block"))",
      evidence: blocks.enumerated().flatMap { i, b in
        ["\(Units.bytes(b.size)) allocated at \(b.site)" + (i < fates.count ? " (\(fates[i]))" : "")]
          + siteFrameLines(b.frames, indent: "    ")
      } + (marker != nil ? ["a reference is still held: this is live data, not memory the allocator kept"] : []),
      bytes: held, markers: marker.map { [$0] } ?? [], sites: blocks.map(\.site), siteFrames: blocks.map(\.frames))
  }
}
