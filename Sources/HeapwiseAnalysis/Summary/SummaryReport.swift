import HeapwiseFormat

/// The moment a summary judges: the whole run, one marker (`--at`), or two markers (`--from`,
/// `--to`: the series and the site changes between them, the split at the second).
public enum SummaryScope: Sendable, Hashable {
  case whole
  case at(String)
  case between(String, String)

  /// The markers it names, for the replay to keep their per-stack bytes.
  public var markers: Set<String> {
    switch self {
    case .whole: []
    case .at(let m): [m]
    case .between(let a, let b): [a, b]
    }
  }
}

/// `heapwise summary`'s answer for one dump: RSS split at exit and at its peak, what the mapped
/// regions are, the verdict with its evidence, and the split over time.
public struct SummaryReport: Sendable {
  /// A group of mapped regions still mapped at the end, by the site that mapped them.
  public struct MappedSite: Sendable, Hashable {
    public var site: String
    /// Resident bytes.
    public var bytes: UInt64
    /// Their reserved length (address space).
    public var reserved: UInt64
    public var regions: Int
    /// What these regions are and how to see inside them, when recognised.
    public var explanation: String?
    public var privateAllocator: PrivateAllocator?
    /// The site's frames (those of the group's first stack).
    public var frames: SiteFrames?
  }

  /// The split at one sample.
  public struct TimelineRow: Sendable, Hashable {
    public var time: Double
    public var label: String?
    public var split: RSSSplit
  }

  public var executable: String
  public var arguments: [String]
  public var pid: UInt32
  public var duration: Double
  public var allocator: String?
  /// A CPython process: how it was recorded (set by `summarize`).
  public var python: PythonRun?
  /// At the last sample (the recorder writes one just before END).
  public var atExit: RSSSplit?
  /// What was judged: nil for the whole run, else the marker (`--at`, or `--to`).
  public var scope: SummaryScope
  /// The split at the marker judged (`--at`, `--to`).
  public var atMarker: TimelineRow?
  /// At the sample with the highest RSS, when that is not the last one.
  public var atPeakRSS: TimelineRow?
  public var facts: SummaryFacts
  public var verdict: Verdict
  public var mapped: [MappedSite]
  /// Bytes the allocator mapped for itself at the end (jemalloc's extents), left out of the mapped
  /// regions because its statistics already count them.
  public var allocatorMapped: UInt64
  public var timeline: [TimelineRow]
  /// Problems with the input that qualify the answer.
  public var warnings: [String]
  /// Blocks the replay skipped as impossible (ReplayState.impossibleBlocks); also a warning.
  public var impossibleBlocks: UInt64 = 0
  /// A sampled dump's heap estimate (nil when every block was recorded).
  public var sampled: SampledHeap?
  /// Blocks live at exit that suppressions say are no leak (nil: suppressions not applied).
  public var suppressed: SuppressedLeaks?

  /// Builds the report. `site` names a stack (see ``SummarySite``); `timelineRows` bounds the
  /// periodic samples in ``timeline`` (markers are always kept).
  public init(
    data: SummaryData, header: DumpHeader?, site: (StackID) -> SummarySite,
    thresholds: VerdictThresholds = .init(), timelineRows: Int = 24, warnings: [String] = [],
    scope: SummaryScope = .whole
  ) {
    self.scope = scope
    executable = header?.executable ?? ""
    arguments = header?.arguments ?? []
    pid = header?.pid ?? 0
    duration = data.duration
    var warnings = warnings
    if !data.sawEnd { warnings.append("no END record: the figures stop at the last complete frame") }
    if data.samples.isEmpty { warnings.append("no memory samples in this dump: RSS cannot be split") }

    let allocatorAnswers = data.samples.contains { $0.memory.allocator != .unavailable }
    let splits: [TimelineRow] = data.samples.compactMap { s in
      RSSSplit(
        sample: s.memory, liveHeap: s.liveHeap, liveBlocks: s.liveBlocks, mapped: s.mapped,
        privateResident: s.privateResident, reserved: s.mappedReserved, allocatorAnswers: allocatorAnswers
      ).map { TimelineRow(time: s.time, label: s.label, split: $0) }
    }
    if !data.hasResidency && data.mappedByStack.contains(where: { $0.reserved > 0 }) {
      warnings.append("no residency snapshots in this dump: mapped regions count 0 B resident")
    }
    // The window of markers judged.
    let names = data.markers.map { $0.label ?? "" }
    let window: ClosedRange<Int>?
    switch scope {
    case .whole: window = data.markers.isEmpty ? nil : 0...(data.markers.count - 1)
    case .at(let m): window = names.firstIndex(of: m).map { 0...$0 }
    case .between(let a, let b):
      if let i = names.firstIndex(of: a), let j = names.firstIndex(of: b), i <= j { window = i...j } else { window = nil }
    }
    let judgedMarker: Int? = scope == .whole ? nil : window?.upperBound
    atMarker = judgedMarker.flatMap { i in splits.first { $0.label == names[i] } }
    atExit = splits.last?.split
    let peakRow = splits.max { $0.split.rss.bytes < $1.split.rss.bytes }
    atPeakRSS = peakRow == splits.last ? nil : peakRow
    allocator = data.samples.last?.memory.allocator.name

    // The series: markers when there are enough, else evenly spaced samples.
    let basis: SeriesBasis
    let points: [SeriesPoint]
    let before: [StackID: UInt64]
    let after: [StackID: UInt64]
    var variance = data.markerVariance
    if scope != .whole, let window {
      basis = .markers
      points = Array(data.markers[window])
      before = window.lowerBound == 0 ? data.firstMarkerByStack : data.stacksAtMarker[names[window.lowerBound]] ?? [:]
      after = data.stacksAtMarker[names[window.upperBound]] ?? data.lastMarkerByStack
    } else if data.markers.count >= thresholds.minimumPoints || data.samples.count < thresholds.minimumPoints {
      basis = .markers
      points = data.markers
      (before, after) = (data.firstMarkerByStack, data.lastMarkerByStack)
    } else {
      basis = .samples
      variance = data.sampleVariance
      points = data.samples.enumerated().map { i, s in
        var p = SeriesPoint(
          time: s.time, label: s.label, liveHeap: s.liveHeap,
          mapped: s.mapped.addingSaturated(s.privateResident.values.reduce(0) { $0.addingSaturated($1) }),
          privateResident: s.privateResident.values.reduce(0) { $0.addingSaturated($1) })
        p.position = i
        return p
      }.evenlySpaced(count: thresholds.samplePoints)
      (before, after) = (data.firstSampleByStack, data.lastSampleByStack)
    }
    var bySite: [String: (before: UInt64, after: UInt64, frames: SiteFrames?)] = [:]
    // Naming a stack means symbolizing it, the summary's main cost on a pandas job (tens of
    // thousands of stacks through libarrow's symbol table). Stacks that changed by less than a
    // thousandth of the largest change (and under 64 KiB) are summed into one line instead.
    let stacks = Set(before.keys).union(after.keys)
    let deltaOf: (StackID) -> UInt64 = { s in
      let b = before[s] ?? 0, a = after[s] ?? 0
      return a > b ? a - b : b - a
    }
    let largest = stacks.map(deltaOf).max() ?? 0
    let floor = Swift.min(UInt64(64 << 10), largest / 1000)
    for stack in stacks {
      let named = deltaOf(stack) >= floor || floor == 0 ? site(stack) : nil
      let name = named?.name ?? "[stacks that changed by under \(Units.bytes(floor)) each]"
      bySite[name, default: (0, 0, named?.frames)].before += before[stack] ?? 0
      bySite[name, default: (0, 0, named?.frames)].after += after[stack] ?? 0
    }
    let changes = bySite.map { SiteChange(site: $0.key, before: $0.value.before, after: $0.value.after, frames: $0.value.frames) }
      .sorted { $0.delta != $1.delta ? $0.delta > $1.delta : $0.site < $1.site }

    let peak = data.peak
    func markerFacts(_ i: Int) -> MarkerHeapFacts {
      let m = data.markerHeaps[i]
      // Where each large block went: still live at a later marker of the window, or freed.
      let later = data.markerHeaps[(i + 1)...].prefix(while: { _ in true })
      return MarkerHeapFacts(
        marker: m.name, liveHeap: m.liveHeap,
        largestBlocks: m.largestBlocks.map { b in
          let s = site(b.stack)
          var block = LargeBlock(size: b.size, site: s.name, frames: s.frames)
          block.freedBefore = later.first { !$0.largestBlocks.contains { $0.serial == b.serial } }?.name
          return block
        },
        rss: splits.first { $0.label == m.name }?.split.rss.bytes ?? data.samples.last { $0.label == m.name }?.memory.rss,
        tracked: i < data.markers.count ? data.markers[i].tracked : m.liveHeap, split: splits.first { $0.label == m.name }?.split,
        privateResident: m.privateResident)
    }
    let judged = judgedMarker.flatMap { $0 < data.markerHeaps.count ? markerFacts($0) : nil }
    let start = window.flatMap { $0.lowerBound < data.markerHeaps.count ? data.markerHeaps[$0.lowerBound].privateResident : nil } ?? [:]
    var holdings: [PrivateHolding] = []
    for p in PrivateAllocator.allCases {
      let groups = data.mappedByStack.filter { $0.privateAllocator == p }
      holdings.append(
        PrivateHolding(
          allocator: p, atEnd: data.endPrivate[p] ?? 0,
          atLastMarker: data.markerHeaps.last?.privateResident[p], atStart: start[p] ?? 0,
          reserved: groups.reduce(0) { $0.addingSaturated($1.reserved) }))
    }
    facts = SummaryFacts(
      growth: GrowthAnalysis(points: points, basis: basis, thresholds: thresholds, variance: variance),
      siteChanges: changes, peak: peak.bytes > 0 ? peak : nil, end: atExit,
      endLiveHeap: data.endLiveHeap, endMapped: data.endMapped,
      largestBlocks: data.largestBlocks.map { b in
        let s = site(b.stack)
        return LargeBlock(size: b.size, site: s.name, frames: s.frames)
      },
      trims: data.trims, allocator: allocator, peakRSS: splits.map(\.split.rss.bytes).max(),
      heap: Self.pinning(data.heapLayouts, residency: data.exitResidency, site: site),
      atLastMarker: data.markerHeaps.isEmpty ? nil : markerFacts(data.markerHeaps.count - 1))
    facts.judgedAt = judged
    if let j = judgedMarker, let previous = peak.previousMarker, let p = names.firstIndex(of: previous) {
      facts.peakBeforeJudged = p < j
    } else if judgedMarker != nil {
      facts.peakBeforeJudged = false
    }
    facts.privateHoldings = holdings.filter { $0.atEnd > 0 || ($0.atLastMarker ?? 0) > 0 || $0.reserved > 0 }
    verdict = Verdict(facts, thresholds: thresholds)

    // Grouped by site: pymalloc maps each arena from whichever Python call needed it.
    var groups:
      [String: (site: SummarySite, bytes: UInt64, reserved: UInt64, regions: Int, lengths: Set<UInt64>, owner: PrivateAllocator?)] =
        [:]
    for group in data.mappedByStack {
      let s = site(group.stack)
      groups[s.name, default: (s, 0, 0, 0, [], nil)].bytes += group.bytes
      groups[s.name]!.reserved += group.reserved
      groups[s.name]!.regions += group.regions
      groups[s.name]!.lengths.formUnion(group.lengths)
      if let p = group.privateAllocator { groups[s.name]!.owner = p }
    }
    allocatorMapped = data.allocatorMapped
    mapped = groups.values.map {
      MappedSite(
        site: $0.site.name, bytes: $0.bytes, reserved: $0.reserved, regions: $0.regions,
        explanation: Self.explain($0.site, lengths: $0.lengths), privateAllocator: $0.owner, frames: $0.site.frames)
    }.sorted { $0.bytes != $1.bytes ? $0.bytes > $1.bytes : $0.reserved != $1.reserved ? $0.reserved > $1.reserved : $0.site < $1.site }

    // Every marker's sample, plus evenly spaced periodic ones, plus the peak and the last.
    let periodic = splits.filter { $0.label == nil }
    let step = Swift.max(1, periodic.count / Swift.max(1, timelineRows))
    var keep = Set(periodic.enumerated().filter { $0.offset % step == 0 }.map { $0.element.time })
    if let last = splits.last { keep.insert(last.time) }
    if let peakRow { keep.insert(peakRow.time) }
    timeline = splits.filter { $0.label != nil || keep.contains($0.time) }
    self.warnings = warnings
  }

  static func pinning(
    _ layouts: [HeapLayout], residency regions: [ResidencyRegion], site: (StackID) -> SummarySite
  ) -> HeapPinning? {
    guard let pageSize = layouts.first?.pageSize else { return nil }
    let residencies = layouts.map { $0.residency(in: regions) }
    // Residency figures only when every heap has them: a partial sum would mislead.
    let resident = residencies.allSatisfy { $0 != nil }
    // Per site, the union of its stacks' pages: stacks of one site often share pages.
    var bySite: [String: HeapPinning.Site] = [:]
    for layout in layouts {
      var names: [String] = []
      var index: [String: Int] = [:]
      var groupOf: [StackID: Int] = [:]
      for share in layout.byStack {
        let name = site(share.stack).name
        var entry = bySite[name] ?? HeapPinning.Site(site: name, blocks: 0, bytes: 0, pages: 0)
        entry.blocks += share.blocks
        entry.bytes += share.bytes
        bySite[name] = entry
        let g = index[name] ?? {
          index[name] = names.count
          names.append(name)
          return names.count - 1
        }()
        groupOf[share.stack] = g
      }
      let counts = layout.countPages(
        groups: names.count, group: { groupOf[$0]! }, regions: resident ? layout.ownRegions(regions) : nil)
      for (g, name) in names.enumerated() {
        bySite[name]!.pages = bySite[name]!.pages.addingSaturated(counts.groups[g].pages)
        if resident { bySite[name]!.residentPages = (bySite[name]!.residentPages ?? 0).addingSaturated(counts.groups[g].resident) }
      }
    }
    return HeapPinning(
      pageSize: pageSize,
      heaps: zip(layouts, residencies).map { l, r in
        var heap = HeapPinning.Heap(
          kind: l.kind.rawValue, spanPages: Int(clamping: l.span / pageSize + (l.span % pageSize == 0 ? 0 : 1)), pinnedPages: l.pinnedPages,
          blocks: l.blocks, topSize: l.top.size, topSite: site(l.top.stack).name)
        heap.liveBytes = l.bytes
        if resident, let r {
          heap.residentPages = r.residentPages
          heap.residentPinnedPages = r.residentPinnedPages
        }
        return heap
      },
      sites: bySite.values.sorted {
        let a = $0.residentPages ?? $0.pages
        let b = $1.residentPages ?? $1.pages
        return a != b ? a > b : $0.site < $1.site
      })
  }

  /// Recognises regions that hold another allocator's blocks, which the recorder cannot see one
  /// by one.
  static func explain(_ site: SummarySite, lengths: Set<UInt64>) -> String? {
    let function = site.innerFunction ?? site.function ?? ""
    let module = site.innerModule ?? site.module ?? ""
    // CPython's small-object allocator maps arenas of 1 MiB (3.10+) or 256 KiB (before).
    let arenaSized = !lengths.isEmpty && lengths.isSubset(of: [1 << 20, 256 << 10])
    if function.contains("_PyObject_Arena") || function.contains("new_arena")
      || ((module.hasPrefix("python") || module.hasPrefix("libpython")) && arenaSized)
    {
      return "pymalloc arenas: Python objects live here; run with PYTHONMALLOC=malloc to record each object"
    }
    // libarrow carries both allocators; its jemalloc's symbols are prefixed je_arrow_private_
    // (seen with pyarrow 26: 8 MiB from je_arrow_private_je_pages_map next to mimalloc's 1 GiB).
    if module.contains("arrow") && function.hasPrefix("je_") {
      return "Arrow's bundled jemalloc (one of its memory pools): set ARROW_DEFAULT_MEMORY_POOL=system to record its blocks"
    }
    if module.contains("arrow") || function.hasPrefix("mi_") || function.hasPrefix("_mi_") {
      return "a bundled mimalloc (Arrow's default memory pool): set ARROW_DEFAULT_MEMORY_POOL=system to record its blocks"
    }
    if function.hasPrefix("je_") || function.hasPrefix("extent_") || module.contains("jemalloc") {
      return "jemalloc's own extents (its statistics describe them)"
    }
    return nil
  }
}
