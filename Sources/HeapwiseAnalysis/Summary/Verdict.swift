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

/// What a finding states, with the values its headline is rendered from (HeapwiseReports'
/// `Finding.headline`).
public enum Claim: Sendable, Hashable {
  /// Tracked memory rose `delta` across the series.
  case growing(delta: UInt64, growth: GrowthAnalysis)
  /// `held` bytes of the `live` heap are `blocks` blocks (at `marker`, else at exit).
  case heldByFewBlocks(marker: String?, held: UInt64, live: UInt64, blocks: Int)
  /// A private allocator's regions hold `held` resident bytes.
  case privateAllocator(PrivateAllocator, marker: String?, held: UInt64)
  /// `retained` bytes of freed memory stay resident in `allocator` (nil: unknown).
  case retention(notALeak: Bool, retained: UInt64, allocator: String?, marker: String?)
  /// Tracked memory (or the live heap alone) peaked and came back down; RSS kept the peak or not.
  case highWaterMark(PeakPoint, rssKeptPeak: Bool)
  /// Nothing else: a load that stayed (`steppedUp`), or nothing at all.
  case steady(steppedUp: UInt64?, growth: GrowthAnalysis)
}

/// One piece of a finding's evidence, as values (HeapwiseReports renders each as a line or two).
public enum Evidence: Sendable, Hashable {
  /// A rising series: its ends, steps and fit.
  case series(GrowthAnalysis)
  /// How much of a rise is mapped regions and how much live heap.
  case mappedShare(mapped: Int64, liveHeap: Int64)
  /// The sites that grew most, each with its share of `total`.
  case growingSites([SiteChange], total: Int64)
  /// One large block, with where it went after the marker (nil: no marker judged).
  case block(LargeBlock, fate: BlockFate?)
  /// A few blocks judged at a marker: live data, not the allocator's.
  case referenceHeld
  /// The few blocks of the last marker were freed after it.
  case freedAfterLastMarker(liveHeapAtExit: UInt64)
  /// A private allocator's resident bytes, what its regions reserve, and their share of RSS.
  case privateResident(held: UInt64, reserved: UInt64, rss: UInt64?)
  /// How much it grew since the window's first marker (nil: since the start).
  case privateGrown(UInt64, since: String?)
  /// The live heap the recorder saw at a marker.
  case liveHeapAtMarker(String, UInt64)
  /// A private allocator held less at exit: the teardown freed the rest.
  case privateAtExit(UInt64)
  case remedy(String)
  /// The series was flat across its points (`range` nil: all of them), changing by `delta`; after
  /// a larger rise or fall over the whole series when `range` is a tail.
  case flat(GrowthAnalysis, tail: ClosedRange<Int>?, delta: Int64)
  /// The series ended `delta` from where it started.
  case ended(GrowthAnalysis)
  /// How the series changed, when nothing else was found: flat, or ended `delta` across it.
  case trackedChange(GrowthAnalysis)
  /// A load: it stepped up and stayed.
  case steppedUp(GrowthAnalysis)
  /// Allocator-held bytes and their share of RSS.
  case allocatorHeld(UInt64, allocator: String?, rss: UInt64)
  /// Which live blocks pin glibc's heaps.
  case heapPinning(HeapPinning)
  /// A `malloc_trim(0)` probe of the moment judged.
  case trimReturned(TrimObservation)
  /// Probes ran, none at the moment judged.
  case noProbeOfThisMoment
  /// No probe ran.
  case notProbed
  /// Where the peak was and what tracked memory came down to.
  case peak(PeakPoint, cameDownTo: UInt64)
  /// A probe of a heap that was freed later.
  case laterFreedProbe(TrimObservation)
  /// RSS at the moment judged against its highest.
  case rssAgainstPeak(kept: Bool, rss: UInt64, at: String?, peakRSS: UInt64)
  /// Too few points to judge growth.
  case growthNotAssessed(points: Int)
  /// The live heap's share of RSS, and allocator-held.
  case liveShare(liveHeap: UInt64, rss: UInt64, allocatorHeld: UInt64)
}

/// Where a large block went after the marker judged.
public enum BlockFate: Sendable, Hashable {
  case freedBefore(String)
  case liveAtLastMarker
}

/// One statement with its evidence, as values: the text (HeapwiseReports' `headline` and
/// `evidence`) and `--format json` are rendered from the same ones.
public struct Finding: Sendable, Hashable {
  public var kind: VerdictKind
  public var claim: Claim
  public var facts: [Evidence]
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
    kind: VerdictKind, claim: Claim, facts: [Evidence], bytes: UInt64? = nil, ratePerMarker: Double? = nil,
    markers: [String] = [], sites: [String] = [], siteFrames: [SiteFrames?]? = nil, allocator: String? = nil,
    remedy: String? = nil
  ) {
    self.siteFrames = siteFrames ?? sites.map { _ in nil }
    self.kind = kind
    self.claim = claim
    self.facts = facts
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
      var evidence: [Evidence] = [.series(growth)]
      // Differences, not sums, throughout: a damaged dump may hold figures near 2^64.
      if last.mapped > first.mapped && last.mapped - first.mapped > growth.noise / 4 {
        evidence.append(
          .mappedShare(
            mapped: Int64(bitPattern: last.mapped &- first.mapped), liveHeap: Int64(bitPattern: last.liveHeap &- first.liveHeap)))
      }
      // Sites under 1% of the growth are noise next to the ones that matter.
      let rising = Array(facts.siteChanges.filter { $0.delta > 0 && Double($0.delta) * 100 >= Double(growth.delta) }
        .prefix(thresholds.topSites))
      if !rising.isEmpty, growth.delta > 0 { evidence.append(.growingSites(rising, total: growth.delta)) }
      found.append(
        Finding(
          kind: .growing, claim: .growing(delta: UInt64(growth.delta), growth: growth),
          facts: evidence, bytes: UInt64(growth.delta),
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
      finding.facts.append(.freedAfterLastMarker(liveHeapAtExit: facts.endLiveHeap))
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
      var evidence: [Evidence] = [
        .privateResident(held: held, reserved: h.reserved, rss: momentRSS),
        .privateGrown(grown, since: growth.points.first?.label),
      ]
      if let m = moment { evidence.append(.liveHeapAtMarker(m.marker, m.liveHeap)) }
      if facts.judgedAt == nil, facts.atLastMarker != nil, held > h.atEnd && held - h.atEnd > thresholds.noiseBytes {
        evidence.append(.privateAtExit(h.atEnd))
      }
      evidence.append(.remedy(h.allocator.remedy))
      found.append(
        Finding(
          kind: .privateAllocator, claim: .privateAllocator(h.allocator, marker: momentName, held: held),
          facts: evidence, bytes: held, markers: [momentName ?? moment?.marker].compactMap { $0 },
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
      var evidence: [Evidence] = []
      switch growth.trend {
      case .flat: evidence.append(.flat(growth, tail: nil, delta: growth.delta))
      case .falling, .mixed:
        if let tail = growth.flatTail {
          evidence.append(.flat(growth, tail: tail.range, delta: tail.delta))
        } else {
          evidence.append(.ended(growth))
        }
      case .steppedUp: evidence.append(.steppedUp(growth))
      case .rising, .tooShort: break
      }
      if allocatorHeld > 0, let rss { evidence.append(.allocatorHeld(allocatorHeld, allocator: facts.allocator, rss: rss)) }
      if let heap = facts.heap, facts.allocator == "glibc malloc" { evidence.append(.heapPinning(heap)) }
      if let bestTrim {
        evidence.append(.trimReturned(bestTrim))
      } else if !facts.trims.isEmpty {
        evidence.append(.noProbeOfThisMoment)
      } else {
        evidence.append(.notProbed)
      }
      found.append(
        Finding(
          kind: .retention,
          claim: .retention(notALeak: growth.trend != .rising, retained: retained, allocator: facts.allocator, marker: momentName),
          facts: evidence, bytes: retained, markers: momentName.map { [$0] } ?? [], allocator: facts.allocator,
          remedy: facts.allocator == "glibc malloc" ? "malloc_trim(0) gives free pages back; MALLOC_ARENA_MAX limits thread arenas" : nil))
    }
    let retentionFound = found.contains { $0.kind == .retention }

    // High-water: at the moment judged (the last marker for a run with markers: not the
    // teardown), tracked memory came back well below its peak.
    let endTracked = facts.judgedAt?.tracked ?? facts.atLastMarker?.tracked ?? facts.endLiveHeap.addingSaturated(facts.endMapped)
    if let peak = facts.peak, peak.bytes >= thresholds.noiseBytes,
      Double(endTracked) <= Double(peak.bytes) * thresholds.highWaterDrop,
      facts.peakBeforeJudged
    {
      var evidence: [Evidence] = [.peak(peak, cameDownTo: endTracked)]
      if !retentionFound, let t = unusedTrims.max(by: { $0.returned < $1.returned }) {
        evidence.append(.laterFreedProbe(t))
      }
      var kept = false
      let rss = momentRSS
      if let peakRSS = facts.peakRSS, let rss {
        kept = Double(rss) >= Double(peakRSS) * (1 - thresholds.highWaterDrop / 2)
        // nil: at exit.
        let at = momentName ?? (facts.judgedAt == nil && split != nil ? facts.atLastMarker?.marker : nil)
        evidence.append(.rssAgainstPeak(kept: kept, rss: rss, at: at, peakRSS: peakRSS))
      }
      found.append(
        Finding(
          kind: .highWaterMark, claim: .highWaterMark(peak, rssKeptPeak: kept),
          facts: evidence, bytes: peak.bytes,
          markers: [peak.previousMarker, peak.nextMarker].compactMap { $0 }))
    }

    if found.isEmpty {
      var evidence: [Evidence] = []
      switch growth.trend {
      case .tooShort: evidence.append(.growthNotAssessed(points: growth.points.count))
      case .steppedUp: evidence.append(.steppedUp(growth))
      default: evidence.append(.trackedChange(growth))
      }
      if let rss {
        let heap = facts.judgedAt?.liveHeap ?? facts.endLiveHeap
        evidence.append(.liveShare(liveHeap: heap, rss: rss, allocatorHeld: allocatorHeld))
      }
      let steppedUp = growth.trend == .steppedUp ? growth.delta.magnitude : nil
      found.append(
        Finding(
          kind: .steady, claim: .steady(steppedUp: steppedUp, growth: growth),
          facts: evidence, bytes: steppedUp,
          markers: growth.trend == .steppedUp && growth.basis == .markers ? growth.points.compactMap(\.label) : []))
    }
    findings = found
  }
}

extension Verdict {
  /// Test 2 of docs/SUMMARY.md on one moment's live heap, its largest blocks and RSS.
  static func fewBlocks(
    live: UInt64, blocks largest: [LargeBlock], rss: UInt64?, marker: String?, thresholds: VerdictThresholds
  ) -> Finding? {
    // Only blocks that matter on their own: each at least a tenth of the live heap.
    let blocks = largest.prefix(thresholds.fewBlocksCount).filter { Double($0.size) * 10 >= Double(live) }
    let held = blocks.reduce(UInt64(0)) { $0.addingSaturated($1.size) }
    guard live >= thresholds.noiseBytes, !blocks.isEmpty,
      Double(held) >= Double(live) * thresholds.fewBlocksShare,
      rss.map({ Double(live) >= Double($0) * thresholds.fewBlocksShareOfRSS }) ?? true
    else { return nil }
    return Finding(
      kind: .heldByFewBlocks, claim: .heldByFewBlocks(marker: marker, held: held, live: live, blocks: blocks.count),
      facts: blocks.map { b in
        .block(b, fate: marker == nil ? nil : b.freedBefore.map(BlockFate.freedBefore) ?? .liveAtLastMarker)
      } + (marker != nil ? [.referenceHeld] : []),
      bytes: held, markers: marker.map { [$0] } ?? [], sites: blocks.map(\.site), siteFrames: blocks.map(\.frames))
  }
}
