// `heapwise summary`'s text for a terminal, rendered from the SummaryReport that the JSON output
// (SummaryJSON) encodes: the split at exit, at the marker judged and at the peak, the findings,
// the timeline.
import HeapwiseAnalysis

extension SummaryReport {
  public func renderText(timeline showTimeline: Bool = false, title: String? = nil) -> String {
    var out: [String] = []
    out.append("heapwise summary" + (title.map { " of \($0)" } ?? ""))
    let command = arguments.isEmpty ? executable : arguments.joined(separator: " ")
    if !command.isEmpty { out.append("  command: \(command)") }
    out.append(
      "  pid \(pid), \(Units.duration(duration)) recorded, allocator: \(allocator ?? "unknown (no statistics)")")
    if let python { out.append("  python: \(python.text)") }
    out.append("")

    if let row = atMarker {
      let name = row.label ?? "?"
      var heading = "RSS at marker \(name)"
      if case .between(let a, _) = scope { heading += " (judged from marker \(a))" }
      out.append(heading)
      out.append("  measured at \(Units.duration(row.time)) (the sample the recorder took for the marker)")
      out += Self.render(row.split, heading: "RSS", mapped: [], methods: false).map { "  " + $0 }
      out.append("")
    }
    if let split = atExit {
      var lines = Self.render(split, heading: "RSS at exit", mapped: mapped, methods: true)
      if allocatorMapped > 0, let at = lines.firstIndex(where: { $0.hasPrefix("  other") }) {
        lines.insert(
          "    (not counted here: \(Units.bytes(allocatorMapped)) mapped by \(allocator ?? "the allocator") itself, which its statistics cover)",
          at: at)
      }
      out += lines
      // Part of the live heap above, but not a leak (docs/ANALYSIS.md, "Suppressions").
      if let suppressed { out += suppressed.lines.map { "  " + $0 + " of the live heap, not a leak" } }
    }
    if let peak = atPeakRSS {
      out.append("")
      var lines = Self.render(peak.split, heading: "RSS at its peak", mapped: [], methods: false)
      lines.insert("  at \(Units.duration(peak.time))" + (peak.label.map { ", marker \($0)" } ?? ""), at: 1)
      out += lines
    }
    if atExit != nil { out.append("") }

    for (i, finding) in verdict.findings.enumerated() {
      out.append((i == 0 ? "verdict: " : "also: ") + finding.headline)
      for line in finding.evidence { out.append("  " + (line.hasPrefix("  ") ? line : "- " + line)) }
    }

    if showTimeline {
      out.append("")
      out += renderTimeline()
    }
    if !warnings.isEmpty {
      out.append("")
      for w in warnings { out.append("warning: \(w)") }
    }
    return out.joined(separator: "\n") + "\n"
  }

  static func render(_ split: RSSSplit, heading: String, mapped: [MappedSite], methods: Bool) -> [String] {
    var out: [String] = []
    func row(_ indent: Int, _ name: String, _ part: RSSSplit.Part) {
      let label = String(repeating: " ", count: indent) + name
      let size = Units.bytes(part.bytes)
      let padded = label.padding(36 - size.count) + size
      out.append(methods ? padded + "   " + part.method : padded)
    }
    row(0, heading, split.rss)
    row(2, "live heap", split.liveHeap)
    if let held = split.allocatorHeld {
      row(2, "allocator-held", held)
    } else {
      out.append("  allocator-held".padding(36 - 11) + "unavailable" + (methods ? "   no allocator statistics: counted in other" : ""))
    }
    for (allocator, part) in split.privateAllocators {
      row(2, allocator.title, part)
      for group in mapped.filter({ $0.privateAllocator == allocator }).prefix(3) {
        out.append(
          "    \(Units.bytes(group.bytes)) resident of \(Units.bytes(group.reserved)) reserved in \(Units.plural(group.regions, "region")) from \(group.site)")
      }
      if methods { out.append("    remedy: \(allocator.remedy)") }
    }
    row(2, "mapped regions", split.mapped)
    for group in mapped.filter({ $0.privateAllocator == nil }).prefix(5) {
      var line = "    \(Units.bytes(group.bytes)) resident of \(Units.bytes(group.reserved)) reserved in \(Units.plural(group.regions, "region")) from \(group.site)"
      if let why = group.explanation { line += ": " + why }
      out.append(line)
    }
    row(2, "other", split.other)
    for (name, part) in split.otherDetail { row(4, name, part) }
    for note in split.notes { out.append("  note: \(note)") }
    return out
  }

  func renderTimeline() -> [String] {
    var out = ["timeline (MiB)"]
    let columns = ["time s", "RSS", "live", "alloc-held", "mapped", "other", "marker"]
    let widths = [8, 9, 9, 11, 9, 9, 0]
    func line(_ cells: [String]) -> String {
      zip(cells, widths).map { $1 == 0 ? "  " + $0 : $0.rightAligned($1) }.joined()
    }
    out.append(line(columns))
    for row in timeline {
      let s = row.split
      out.append(
        line([
          Units.twoDecimals(row.time), mib(s.rss.bytes), mib(s.liveHeap.bytes),
          s.allocatorHeld.map { mib($0.bytes) } ?? "-", mib(s.mapped.bytes), mib(s.other.bytes),
          row.label ?? "",
        ]))
    }
    return out
  }

  private func mib(_ bytes: UInt64) -> String { Units.oneDecimal(Double(bytes) / 1_048_576) }
}

extension String {
  /// Pads on the right to `width` characters, keeping at least one space.
  fileprivate func padding(_ width: Int) -> String {
    count >= width ? self + " " : self + String(repeating: " ", count: width - count)
  }

  fileprivate func rightAligned(_ width: Int) -> String {
    count >= width ? " " + self : String(repeating: " ", count: width - count) + self
  }
}
