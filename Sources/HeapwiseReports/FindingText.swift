// The words of the summary's findings, rendered from the typed values HeapwiseAnalysis' Verdict
// gives (Claim, Evidence): the text output, the JSON's `headline` and `evidence`, and the HTML
// page all read these, so the prose lives here and nowhere in the analysis.
import HeapwiseAnalysis

extension Finding {
  /// The finding's one-line statement.
  public var headline: String {
    switch claim {
    case .growing(let delta, let growth):
      return "growing: tracked memory rose \(Units.bytes(delta)) across \(growth.span), "
        + (growth.isLinear ? "linearly" : "in steps")
    case .heldByFewBlocks(let marker, let held, let live, let blocks):
      return "held by a few large blocks\(Self.at(marker)): \(Units.bytes(held)) of the \(Units.bytes(live)) live heap is \(Units.plural(blocks, "block"))"
    case .privateAllocator(let allocator, let marker, let held):
      return "held by \(allocator.title)\(Self.at(marker)): \(Units.bytes(held)) resident, blocks not visible"
    case .retention(let notALeak, let retained, let allocator, let marker):
      return (notALeak ? "retention, not a leak: " : "retention: ")
        + "\(Units.bytes(retained)) of freed memory stays resident in \(allocator ?? "the allocator")" + Self.at(marker)
    case .highWaterMark(let peak, let kept):
      return "high-water mark: \(peak.includesMapped ? "tracked memory" : "live heap") peaked at \(Units.bytes(peak.bytes))"
        + (peak.phase.map { " \($0)" } ?? "") + " and came back down"
        + (kept ? "; RSS kept the peak" : "")
    case .steady(let steppedUp, let growth):
      if let steppedUp {
        return "steady: a load, not growth: tracked memory stepped up \(Units.bytes(steppedUp)) across \(growth.span) and stayed"
      }
      return "steady: no growth, retention or high-water mark found"
    }
  }

  /// The evidence, one line each; a line that starts with two spaces belongs to the one above.
  public var evidence: [String] { facts.flatMap(Self.lines) }

  private static func at(_ marker: String?) -> String { marker.map { " at marker \"\($0)\"" } ?? "" }

  static func lines(_ e: Evidence) -> [String] {
    switch e {
    case .series(let growth):
      let first = growth.points.first!, last = growth.points.last!
      return [
        "from \(Units.bytes(first.tracked)) to \(Units.bytes(last.tracked)); "
          + "\(growth.risingSteps) of \(growth.points.count - 1) steps rose; "
          + "linear fit R² \(Units.twoDecimals(growth.fit?.rSquared ?? 0))"
          + (growth.rate.map { ", \($0)" } ?? "")
      ]
    case .mappedShare(let mapped, let liveHeap):
      return ["of which mapped regions \(Units.signedBytes(mapped)), live heap \(Units.signedBytes(liveHeap))"]
    case .growingSites(let sites, let total):
      var out = ["top growing sites:"]
      for site in sites {
        out.append(
          "  \(site.site): \(Units.signedBytes(site.delta)) (\(Units.percent(Double(site.delta), of: Double(total))) of the growth)")
        out += siteFrameLines(site.frames, indent: "    ")
      }
      return out
    case .block(let b, let fate):
      let where_: String? = fate.map {
        switch $0 {
        case .freedBefore(let m): "freed before marker \(m)"
        case .liveAtLastMarker: "still live at the last marker"
        }
      }
      return ["\(Units.bytes(b.size)) allocated at \(b.site)" + (where_.map { " (\($0))" } ?? "")]
        + siteFrameLines(b.frames, indent: "    ")
    case .referenceHeld:
      return ["a reference is still held: this is live data, not memory the allocator kept"]
    case .freedAfterLastMarker(let heap):
      return ["at exit the live heap was \(Units.bytes(heap)): freed after the last marker"]
    case .privateResident(let held, let reserved, let rss):
      return [
        "\(Units.bytes(held)) resident in the regions it mapped"
          + (reserved > held ? " (\(Units.bytes(reserved)) reserved; the untouched rest counts 0 B)" : "")
          + (rss.map { ", \(Units.percent(Double(held), of: Double($0))) of RSS" } ?? "")
      ]
    case .privateGrown(let grown, let since):
      return ["\(Units.signedBytes(Int64(clamping: grown))) since \(since.map { "marker \($0)" } ?? "the start"): kept by the pool after the program's frees"]
    case .liveHeapAtMarker(let marker, let heap):
      return ["the live heap at marker \(marker) was \(Units.bytes(heap)): the blocks the recorder sees"]
    case .privateAtExit(let bytes):
      return ["at exit \(Units.bytes(bytes)): the process's teardown freed the rest after the last marker"]
    case .remedy(let text):
      return ["remedy: " + text]
    case .flat(let growth, let tail, let delta):
      guard let tail else { return ["tracked memory was flat across \(growth.span) (\(Units.signedBytes(delta)))"] }
      return [
        "tracked memory was flat across \(GrowthAnalysis.span(growth.points[tail], basis: growth.basis)) (\(Units.signedBytes(delta))), after \(growth.delta < 0 ? "falling" : "rising") by \(Units.bytes(growth.delta.magnitude)) over \(growth.span)"
      ]
    case .ended(let growth):
      return ["tracked memory ended \(Units.signedBytes(growth.delta)) from where it started (\(growth.span))"]
    case .trackedChange(let growth):
      return ["tracked memory \(growth.trend == .flat ? "was flat" : "ended \(Units.signedBytes(growth.delta))") across \(growth.span)"]
    case .steppedUp(let growth):
      return [
        "tracked memory stepped up \(Units.bytes(growth.delta.magnitude)) across \(growth.span) and stayed "
          + "(\(growth.risingSteps) of \(growth.points.count - 1) steps rose, the largest by \(Units.bytes(growth.largestStep)), "
          + "\(Units.signedBytes(growth.laterRise)) in the later half): a load, not growth"
      ]
    case .allocatorHeld(let held, let allocator, let rss):
      return ["\(Units.bytes(held)) freed memory stays resident in \(allocator ?? "the allocator") (\(Units.percent(Double(held), of: Double(rss))) of RSS)"]
    case .heapPinning(let heap):
      return heap.evidence
    case .trimReturned(let t):
      return [
        "malloc_trim(0) returned \(Units.bytes(t.returned)) when probed \(t.label.map { "after marker \($0)" } ?? "at exit")"
          + (t.time.map { " (at \(Units.duration($0)))" } ?? "")
      ]
    case .noProbeOfThisMoment:
      return ["no probe measured this moment's heap"]
    case .notProbed:
      return ["not probed: record with --trim-probe to measure what malloc_trim(0) gives back"]
    case .peak(let peak, let endTracked):
      return [
        "\(peak.includesMapped ? "tracked memory" : "live heap") peaked at \(Units.bytes(peak.bytes)) at \(Units.duration(peak.time))"
          + (peak.phase.map { " (\($0))" } ?? "")
          + " and came back down to \(Units.bytes(endTracked))"
      ]
    case .laterFreedProbe(let t):
      return [
        "malloc_trim(0) returned \(Units.bytes(t.returned)) when probed\(t.label.map { " after marker \($0)" } ?? "")"
          + (t.time.map { " at \(Units.duration($0))" } ?? "")
          + (t.liveHeap.map { ", while the live heap was \(Units.bytes($0))" } ?? "")
          + ": that heap was later freed, so it is not retention now"
      ]
    case .rssAgainstPeak(let kept, let rss, let at, let peakRSS):
      let when = at.map { "at marker \($0)" } ?? "at exit"
      return [
        kept
          ? "RSS kept the peak: \(Units.bytes(rss)) \(when), \(Units.bytes(peakRSS)) at most"
          : "RSS came down too: \(Units.bytes(rss)) \(when), \(Units.bytes(peakRSS)) at most"
      ]
    case .growthNotAssessed(let points):
      return ["growth not assessed: \(points) point\(points == 1 ? "" : "s"); set markers (heapwise_marker) or run longer"]
    case .liveShare(let heap, let rss, let held):
      return ["live heap is \(Units.percent(Double(heap), of: Double(rss))) of RSS; allocator-held \(Units.bytes(held))"]
    }
  }

  /// Under a site named by a library's Python line, the program's own line that led there
  /// (docs/SUMMARY.md, "Your code"); under a Python site, the native function that allocated.
  static func siteFrameLines(_ frames: SiteFrames?, indent: String) -> [String] {
    guard let frames else { return [] }
    var lines: [String] = []
    if let user = frames.userBeyondSite { lines.append(indent + "from your code: \(user.siteName)") }
    if let native = frames.native { lines.append(indent + "allocated by \(native.siteName)") }
    return lines
  }
}

extension GrowthAnalysis {
  /// "markers batch1..batch5" or "12 samples over 3.2 s".
  public var span: String { Self.span(points[...], basis: basis) }

  static func span(_ points: ArraySlice<SeriesPoint>, basis: SeriesBasis) -> String {
    guard let first = points.first, let last = points.last else { return "no points" }
    switch basis {
    case .markers:
      return "markers \(first.label ?? "?")..\(last.label ?? "?")"
    case .samples:
      return "\(points.count) samples over \(Units.duration(last.time - first.time))"
    }
  }

  /// The slope in bytes per marker or per second, with its unit.
  public var rate: String? {
    guard let fit else { return nil }
    let perUnit = basis == .markers ? "per marker" : "per second"
    let magnitude = Units.bytes(UInt64(Units.clampedInt(abs(fit.slope).rounded())))
    return "\(fit.slope < 0 ? "-" : "")\(magnitude) \(perUnit)"
  }
}

extension PeakPoint {
  /// "between markers start and loaded", "after marker loaded", "before marker filled", or nil
  /// without markers.
  public var phase: String? {
    switch (previousMarker, nextMarker) {
    case (let p?, let n?): "between markers \(p) and \(n)"
    case (let p?, nil): "after marker \(p)"
    case (nil, let n?): "before marker \(n)"
    case (nil, nil): nil
    }
  }
}

extension HeapPinning {
  /// Evidence lines for retention.
  public var evidence: [String] {
    let arenaCount = heaps.filter { $0.kind != "main" }.count
    let which =
      arenaCount == 0 ? "the main heap" : heaps.contains { $0.kind == "main" }
        ? "the main heap and \(Units.plural(arenaCount, "thread arena heap"))" : Units.plural(arenaCount, "thread arena heap")
    var lines: [String] = []
    if let resident {
      // Measured: the recorder's mincore snapshot at exit.
      let live = heaps.reduce(0) { $0 + $1.liveBytes }
      let pinnedBytes = UInt64(resident.pinned) * pageSize
      lines.append(
        "\(Units.bytes(pinnedBytes - Swift.min(live, pinnedBytes))) of freed memory stays resident in \(which) because "
          + "\(Units.plural(blocks, "surviving block")) keep a byte in \(Units.count(resident.pinned)) of \(heaps.count == 1 ? "its" : "their") \(Units.count(resident.pages)) resident pages: malloc_trim(0) cannot return those")
      for s in sites.prefix(3) where (s.residentPages ?? 0) * 10 >= resident.pinned && (s.residentPages ?? 0) > 0 {
        lines.append(
          "  \(s.site): \(Units.plural(s.blocks, "block")) (\(Units.bytes(s.bytes / UInt64(Swift.max(1, s.blocks)))) on average) in \(Units.plural(s.residentPages ?? 0, "resident page"))")
      }
      let freePages = resident.pages - resident.pinned
      if freePages > 0 {
        lines.append(
          "\(Units.bytes(UInt64(freePages) * pageSize)) more is resident in pages that hold no live block: malloc_trim(0) would return it")
      }
    } else {
      lines.append(
        "\(Units.plural(blocks, "live block")) in \(which) overlap \(Units.count(pinnedPages)) of \(Units.count(spanPages)) pages"
          + " (\(Units.bytes(UInt64(pinnedPages) * pageSize))): freed memory in those pages stays resident even after malloc_trim(0)")
      for s in sites.prefix(3) where s.pages * 10 >= pinnedPages {
        lines.append(
          "  \(s.site): \(Units.plural(s.blocks, "block")) (\(Units.bytes(s.bytes / UInt64(Swift.max(1, s.blocks)))) on average) in \(Units.plural(s.pages, "page"))")
      }
    }
    // The heaps whose top block keeps a quarter or more of the free span from being given back.
    let free = spanPages - pinnedPages
    let holding = heaps.filter { $0.spanPages > $0.pinnedPages && ($0.spanPages - $0.pinnedPages) * 4 >= free }
    let tail = "; only malloc_trim(0) returns the free pages in between"
    if let main = holding.first(where: { $0.kind == "main" }) {
      lines.append(
        "free() cannot shrink the main heap: its highest live block (\(Units.bytes(main.topSize)) from \(main.topSite)) sits "
          + "\(Units.bytes(UInt64(main.spanPages) * pageSize)) above its lowest" + tail)
    }
    let arenas = holding.filter { $0.kind != "main" }
    if arenas.count == 1, let arena = arenas.first {
      lines.append(
        "free() cannot shrink a thread arena's heap: its highest live block (\(Units.bytes(arena.topSize)) from \(arena.topSite)) sits "
          + "\(Units.bytes(UInt64(arena.spanPages) * pageSize)) above its lowest" + tail)
    } else if arenas.count > 1 {
      var sites: [String] = []
      for a in arenas where !sites.contains(a.topSite) { sites.append(a.topSite) }
      let widest = arenas.map { $0.spanPages }.max() ?? 0
      lines.append(
        "free() cannot shrink \(arenas.count) thread arena heaps: their highest live blocks (from \(sites.prefix(2).joined(separator: ", "))\(sites.count > 2 ? ", ..." : "")) sit "
          + "up to \(Units.bytes(UInt64(widest) * pageSize)) above their lowest" + tail)
    }
    return lines
  }
}
