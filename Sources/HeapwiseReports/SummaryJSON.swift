import HeapwiseAnalysis

/// The summary for machines: `heapwise summary --format json` encodes this with snake_case keys
/// (schema in docs/SUMMARY.md, "JSON output"). Sizes are bytes, times seconds since start.
public struct SummaryJSON: Encodable, Sendable {
  public struct Part: Encodable, Sendable {
    var bytes: UInt64
    var method: String
  }
  public struct Split: Encodable, Sendable {
    var rss: Part
    var liveHeap: Part
    /// Absent when the allocator's statistics are unavailable.
    var allocatorHeld: Part?
    var privateAllocators: [PrivatePart]
    var mapped: Part
    var other: Part
    var otherDetail: [String: Part]
    var notes: [String]
  }
  public struct PrivatePart: Encodable, Sendable {
    var allocator: String
    var bytes: UInt64
    var method: String
  }
  public struct Moment: Encodable, Sendable {
    var seconds: Double
    var marker: String?
    var split: Split
  }
  /// The values a finding's text is rendered from, as data.
  public struct Finding: Encodable, Sendable {
    var kind: String
    var headline: String
    var evidence: [String]
    var bytes: UInt64?
    var ratePerMarker: Double?
    var markers: [String]
    var sites: [String]
    /// One per site, in the same order: the frame that names it, the native frame that allocated
    /// under a Python one, the first frame of the program's own code (null for a line that sums
    /// small changes).
    var siteFrames: [SiteFrames?]
    var allocator: String?
    var remedy: String?
  }
  public struct Point: Encodable, Sendable {
    var seconds: Double
    var marker: String?
    var liveHeap: UInt64
    var mapped: UInt64
  }
  public struct Growth: Encodable, Sendable {
    var basis: String
    var trend: String
    var deltaBytes: Int64
    var rSquared: Double?
    var slopeBytes: Double?
    /// "marker" or "second": what the slope is per.
    var slopePer: String
    var points: [Point]
  }
  public struct SiteChange: Encodable, Sendable {
    var site: String
    var before: UInt64
    var after: UInt64
    var delta: Int64
    var frames: SiteFrames?
  }
  public struct Mapped: Encodable, Sendable {
    var site: String
    /// Resident bytes; `reserved` is the regions' length.
    var bytes: UInt64
    var reserved: UInt64
    var regions: Int
    var explanation: String?
    var privateAllocator: String?
    var frames: SiteFrames?
  }
  public struct Trim: Encodable, Sendable {
    var marker: String?
    var rssBefore: UInt64
    var rssAfter: UInt64
    var returned: UInt64
    /// When it really ran, and the live heap then.
    var seconds: Double?
    var liveHeap: UInt64?
  }

  var schema = "heapwise.summary/1"
  var executable: String
  var arguments: [String]
  var pid: UInt32
  var seconds: Double
  var allocator: String?
  /// Present for a CPython process.
  var python: PythonRun?
  var atExit: Split?
  /// `--at M` / `--to M`: the marker judged and the split of its sample.
  var judgedAt: Moment?
  var judgedFrom: String?
  var atPeakRss: Moment?
  var verdict: [Finding]
  var growth: Growth
  var sites: [SiteChange]
  var mapped: [Mapped]
  var allocatorMapped: UInt64
  var trims: [Trim]
  var heap: HeapPinning?
  var timeline: [Moment]
  var warnings: [String]
  var impossibleBlocks: UInt64
  /// Sampled dumps: every estimate with its interval (SampledSummaryText.swift); absent otherwise.
  var sampling: SampledSummary?
  /// Live blocks and bytes at exit that suppressions left out of the leaks, by reason.
  var suppressed: [String: JSONReport.Suppressed]?

  /// `sites` keeps the 20 largest changes either way; `timeline` is the report's selection.
  public init(_ report: SummaryReport) {
    func split(_ s: RSSSplit) -> Split {
      func part(_ p: RSSSplit.Part) -> Part { Part(bytes: p.bytes, method: p.method) }
      return Split(
        rss: part(s.rss), liveHeap: part(s.liveHeap), allocatorHeld: s.allocatorHeld.map(part),
        privateAllocators: s.privateAllocators.map {
          PrivatePart(allocator: $0.allocator.rawValue, bytes: $0.part.bytes, method: $0.part.method)
        },
        mapped: part(s.mapped), other: part(s.other),
        otherDetail: Dictionary(uniqueKeysWithValues: s.otherDetail.map { ($0.name, part($0.part)) }),
        notes: s.notes)
    }
    let facts = report.facts
    executable = report.executable
    arguments = report.arguments
    pid = report.pid
    seconds = report.duration
    allocator = report.allocator
    python = report.python
    atExit = report.atExit.map(split)
    judgedAt = report.atMarker.map { Moment(seconds: $0.time, marker: $0.label, split: split($0.split)) }
    if case .between(let a, _) = report.scope { judgedFrom = a }
    atPeakRss = report.atPeakRSS.map { Moment(seconds: $0.time, marker: $0.label, split: split($0.split)) }
    verdict = report.verdict.findings.map {
      Finding(
        kind: $0.kind.rawValue, headline: $0.headline, evidence: $0.evidence, bytes: $0.bytes,
        ratePerMarker: $0.ratePerMarker, markers: $0.markers, sites: $0.sites, siteFrames: $0.siteFrames,
        allocator: $0.allocator,
        remedy: $0.remedy)
    }
    growth = Growth(
      basis: facts.growth.basis.rawValue, trend: facts.growth.trend.rawValue, deltaBytes: facts.growth.delta,
      rSquared: facts.growth.fit?.rSquared, slopeBytes: facts.growth.fit?.slope,
      slopePer: facts.growth.basis == .markers ? "marker" : "second",
      points: facts.growth.points.map { Point(seconds: $0.time, marker: $0.label, liveHeap: $0.liveHeap, mapped: $0.mapped) })
    sites = facts.siteChanges.sorted { $0.delta.magnitude > $1.delta.magnitude }.prefix(20)
      .map { SiteChange(site: $0.site, before: $0.before, after: $0.after, delta: $0.delta, frames: $0.frames) }
    mapped = report.mapped.map {
      Mapped(
        site: $0.site, bytes: $0.bytes, reserved: $0.reserved, regions: $0.regions, explanation: $0.explanation,
        privateAllocator: $0.privateAllocator?.rawValue, frames: $0.frames)
    }
    allocatorMapped = report.allocatorMapped
    trims = facts.trims.map {
      Trim(
        marker: $0.label, rssBefore: $0.rssBefore, rssAfter: $0.rssAfter, returned: $0.returned, seconds: $0.time,
        liveHeap: $0.liveHeap)
    }
    heap = facts.heap
    timeline = report.timeline.map { Moment(seconds: $0.time, marker: $0.label, split: split($0.split)) }
    warnings = report.warnings
    impossibleBlocks = report.impossibleBlocks
    sampling = SampledSummary(report)
    suppressed = report.suppressed.map(JSONReport.suppressed)
  }
}
