// tracemalloc-style text: a header that says what was measured, one line per site
// (`app.c:42: size=1.2 MiB, count=3100, average=412 B`), then a total line.
import HeapwiseAnalysis

public enum TextReport {
  /// `heapwise top`.
  /// `sampling`: a sampled dump's parameters; figures are then estimates, each with its interval
  /// (EstimateReport).
  public static func top(_ table: SiteTable, dump: DumpDescription, settings: ReportSettings,
                         sampling: EstimateReport.Sampling? = nil) -> String {
    let metric = settings.metric
    let sites = table.sorted(by: metric)
    let shown = settings.limit.map { Array(sites.prefix($0)) } ?? sites
    var out = "heapwise top: \(settings.measured(exited: dump.exited)), \(settings.groupingText)\n"
    out += "dump: \(dump.headline)\n"
    out += peakLine(dump)
    if metric == .leaked && !dump.exited {
      out += "note: the process did not exit normally, so nothing can be called leaked; these are the blocks live at the end of the dump\n"
    }
    if metric == .temporary {
      out += "note: temporary = freed before its thread allocated anything else\n"
    }
    if let sampling { out += EstimateReport.note(sampling, metric: metric, marker: settings.marker) }
    if (metric == .live || metric == .leaked || metric == .peak) && table.total.reservedBytes > 0 {
      out += "note: a mapped region counts its resident pages (mincore, madvise, munmap); mapped= is the address space it reserved\n"
    }
    out += "\n"
    for site in shown {
      out += sampling != nil ? EstimateReport.line(site.label, site.counters, metric: metric)
        : siteLine(label: site.label, size: metric.size(site.counters), count: metric.count(site.counters))
      // Mappings count by what is resident; what they reserved stays visible beside it.
      if (metric == .live || metric == .leaked) && site.counters.reservedBytes > 0 {
        out += ", mapped=\(Units.bytes(site.counters.reservedBytes)) reserved"
      }
      out += "\n"
      if settings.options.grouping == .traceback { out += traceback(site.frames, limit: settings.tracebackFrames) }
    }
    if sites.count > shown.count {
      var rest = StackCounters()
      for s in sites[shown.count...] { rest.add(s.counters) }
      out += "\(sites.count - shown.count) other sites: "
        + (sampling != nil ? EstimateReport.figures(rest, metric: metric) : "size=\(Units.bytes(metric.size(rest))), count=\(metric.count(rest))") + "\n"
    }
    if shown.isEmpty { out += "(no sites: nothing to show for this measure)\n" }
    let cumulativeNote = settings.options.cumulative ? " (each stack once)" : ""
    out += "total\(cumulativeNote): "
      + (sampling != nil ? EstimateReport.figures(table.total, metric: metric)
        : "size=\(Units.bytes(metric.size(table.total))), count=\(metric.count(table.total))") + ", \(sites.count) sites\n"
    if !table.filteredOut.isZero {
      out += "filtered out: size=\(Units.bytes(metric.size(table.filteredOut))), count=\(metric.count(table.filteredOut))\n"
    }
    if dump.unmatchedFrees > 0 {
      out += "unmatched frees: \(dump.unmatchedFrees) (frees of addresses that were not live: memory from before recording, or lost events)\n"
    }
    if let w = ReplayState.impossibleBlocksWarning(dump.impossibleBlocks) { out += "warning: \(w)\n" }
    return out
  }

  /// `heapwise compare`.
  public static func compare(_ comparison: Comparison, old: String, new: String, settings: ReportSettings,
                             notes: [String] = []) -> String {
    let metric = comparison.metric
    let diffs = comparison.differences
    let shown = settings.limit.map { Array(diffs.prefix($0)) } ?? diffs
    var out = "heapwise compare: \(settings.measured(exited: true)), \(settings.groupingText)\n"
    out += "old: \(old)\nnew: \(new)\n"
    for n in notes { out += "note: \(n)\n" }
    out += "\n"
    for d in shown {
      out += siteLine(label: d.label, size: d.newSize, count: d.newCount,
                      sizeDifference: d.sizeDifference, countDifference: d.countDifference)
      switch d.status {
      case .new: out += " [new]"
      case .gone: out += " [gone]"
      case .changed: break
      }
      if let e = d.sizeEstimate, let c = d.countEstimate { out += EstimateReport.difference(size: e, count: c) }
      out += "\n"
      if settings.options.grouping == .traceback { out += traceback(d.frames, limit: settings.tracebackFrames) }
    }
    if diffs.count > shown.count {
      var size: Int64 = 0, count: Int64 = 0
      for d in diffs[shown.count...] { size &+= d.sizeDifference; count &+= d.countDifference }
      out += "\(diffs.count - shown.count) other sites: size \(Units.signedBytes(size)), count \(Units.signedCount(count))\n"
    }
    if shown.isEmpty { out += "(no sites: nothing to compare for this measure)\n" }
    let sizeDiff = Int64(bitPattern: comparison.newTotalSize &- comparison.oldTotalSize)
    let countDiff = Int64(bitPattern: comparison.newTotalCount &- comparison.oldTotalCount)
    out += "total: size=\(Units.bytes(comparison.newTotalSize)) (\(Units.signedBytes(sizeDiff))), "
    out += "count=\(comparison.newTotalCount) (\(Units.signedCount(countDiff)))"
    if let e = comparison.totalSizeEstimate, let c = comparison.totalCountEstimate {
      out += EstimateReport.difference(size: e, count: c)
    }
    out += "\n"
    _ = metric
    return out
  }

  /// `label: size=1.2 MiB (+512 KiB), count=3100 (+1200), average=412 B`
  public static func siteLine(label: String, size: UInt64, count: UInt64,
                              sizeDifference: Int64? = nil, countDifference: Int64? = nil) -> String {
    var s = "\(DisplayPath.shorten(label)): size=\(Units.bytes(size))"
    if let sizeDifference { s += " (\(Units.signedBytes(sizeDifference)))" }
    s += ", count=\(count)"
    if let countDifference { s += " (\(Units.signedCount(countDifference)))" }
    if count > 0 { s += ", average=\(Units.bytes(size / count))" }
    return s
  }

  static func traceback(_ frames: [SourceFrame], limit: Int) -> String {
    var out = ""
    for f in frames.prefix(limit) {
      out += "    \(frameText(f))\n"
    }
    if frames.count > limit { out += "    ... \(frames.count - limit) more frames\n" }
    return out
  }

  /// `function at file:line`, `function in module`, or `module+0xoffset`, marking inlined frames.
  public static func frameText(_ f: SourceFrame) -> String {
    var s: String
    if let function = f.function {
      if let file = f.file, let line = f.line {
        s = "\(function) at \(DisplayPath.shorten(file)):\(line)"
      } else if f.kind == .python, let file = f.file {
        s = "\(function) in \(DisplayPath.shorten(file))"
      } else {
        s = "\(function) in \(f.module)"
      }
    } else {
      s = f.moduleAndOffset
    }
    if f.isInlined { s += " (inlined)" }
    return s
  }

  static func peakLine(_ dump: DumpDescription) -> String {
    var s = "peak: \(Units.bytes(dump.peakBytes)) live"
    if let t = dump.peakSeconds { s += " at \(Units.seconds(t))" }
    if let a = dump.aggregated { s += " (the last peak moment)\n" + a }
    return s + "\n"
  }
}
