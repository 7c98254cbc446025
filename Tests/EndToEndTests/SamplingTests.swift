// `record --sample`: the estimates of a sampled dump against full tracking of the same workload
// (Tests/Programs/sampling_sites.c: twelve sites, 16 B to 1 MiB), with a fixed seed, so the
// sample (hence the result) is the same on every run. docs/SAMPLING.md.
import Foundation
import Testing

@Suite(.serialized) struct SamplingTests {
  static let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Programs/sampling_sites.c")

  struct Figure {
    var value: Double
    var low: Double?
    var high: Double?
  }

  /// The accuracy bounds of a sampled recording against full tracking, over `sites`: the error
  /// summed over the sites relative to their summed truth under 5%, the mean per-site error under
  /// `meanBound`, and at least 8 of 10 truths inside their printed 95% interval.
  static func checkEstimates(_ name: String, sites: [String], truth: (String) -> Double, estimate: (String) -> Figure,
                             meanBound: Double) {
    var num = 0.0, den = 0.0, mean = 0.0, covered = 0
    for s in sites {
      let t = truth(s), e = estimate(s)
      num += abs(e.value - t); den += t; mean += abs(e.value - t) / t / Double(sites.count)
      if let lo = e.low, let hi = e.high, lo <= t, t <= hi { covered += 1 }
      #expect(e.low != nil && e.high != nil, "\(name) of \(s) has no interval")
    }
    #expect(num / den < 0.05, "\(name): weighted error \(num / den)")
    #expect(mean < meanBound, "\(name): mean error per site \(mean)")
    #expect(covered >= 8, "\(name): \(covered) of 10 truths inside their 95% interval")
  }

  /// `top --by function --metric M --format json` as site name -> (size, count) with intervals.
  static func top(_ dump: String, metric: String, extra: [String] = [], in ws: Workspace) throws
    -> [String: (size: Figure, count: Figure)]
  {
    let r = try CLI.run(["top", dump, "--by", "function", "--metric", metric, "--format", "json", "--limit", "0"] + extra,
                        in: ws.url)
    #expect(r.status == 0, "\(r.stderr)")
    let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
    var out: [String: (Figure, Figure)] = [:]
    for site in obj?["sites"] as? [[String: Any]] ?? [] {
      let name = String((site["label"] as? String ?? "?").split(separator: " ")[0])
      func figure(_ key: String, _ interval: String) -> Figure {
        let iv = site[interval] as? [String: Any]
        return Figure(value: (site[key] as? NSNumber)?.doubleValue ?? 0, low: (iv?["low"] as? NSNumber)?.doubleValue,
                      high: (iv?["high"] as? NSNumber)?.doubleValue)
      }
      out[name] = (figure("size", "size_interval"), figure("count", "count_interval"))
    }
    return out
  }

  /// The workload compiled in `ws` and recorded twice: with full tracking and with `--sample 8KiB
  /// --seed seed`, `mib` MiB a site.
  static func recordPair(_ ws: Workspace, mib: String, seed: String) throws -> (full: String, sampled: String) {
    let program = try compile(ws)
    let full = try ws.record(program, [mib], dump: "full.heapwise")
    let sampled = try ws.record(program, [mib], dump: "sampled.heapwise", extra: ["--sample", "8KiB", "--seed", seed])
    return (full, sampled)
  }

  /// The workload, compiled in `ws`.
  static func compile(_ ws: Workspace) throws -> String {
    let program = ws.path("sampling_sites")
    let cc = try CLI.runProcess("/usr/bin/cc", ["-g", "-O0", "-o", program, Self.source.path, "-lm"])
    try #require(cc.status == 0, "\(cc.stderr)")
    return program
  }

  @Test func estimatesMatchFullTracking() throws {
    try CLI.requireLibrary()
    let ws = try Workspace("sampling")
    defer { ws.remove() }
    // 8 KiB: the workload's 16 MiB a site then gives each small-block site ~2,000 samples (the
    // error goes as 1/sqrt(samples): --sample 512KiB needs 64x the bytes for the same precision,
    // which tools/bench/sampling_accuracy.py measures over many seeds).
    let (full, sampled) = try Self.recordPair(ws, mib: "16", seed: "7")

    let truthLive = try Self.top(full, metric: "live", in: ws), truthAlloc = try Self.top(full, metric: "allocated", in: ws)
    let estLive = try Self.top(sampled, metric: "live", in: ws), estAlloc = try Self.top(sampled, metric: "allocated", in: ws)
    let sites = truthLive.keys.filter { $0.hasPrefix("site_") }.sorted { truthLive[$0]!.size.value > truthLive[$1]!.size.value }
    try #require(sites.count == 12, "\(truthLive.keys.sorted())")
    let top10 = Array(sites.prefix(10))

    // For each figure: the error summed over the top ten sites relative to their summed truth
    // (the average weighted by size), the plain mean of the per-site relative errors, and how
    // many truths fall inside the printed 95% interval.
    func check(_ name: String, truth: (String) -> Double, estimate: (String) -> Figure, meanBound: Double) {
      Self.checkEstimates(name, sites: top10, truth: truth, estimate: estimate, meanBound: meanBound)
    }
    check("live bytes", truth: { truthLive[$0]!.size.value }, estimate: { estLive[$0]?.size ?? Figure(value: 0) }, meanBound: 0.05)
    check("allocated bytes", truth: { truthAlloc[$0]!.size.value }, estimate: { estAlloc[$0]?.size ?? Figure(value: 0) },
          meanBound: 0.05)
    // Counts: the C virtual bytes each allocation adds to the countdown (512 here, R/16 at this
    // rate, R/1024 at 512 KiB, where tools/bench/sampling_accuracy.py measures them) sample the
    // tiny blocks of the sites that mix them with large ones often enough for 5% as well.
    check("allocations", truth: { truthAlloc[$0]!.count.value }, estimate: { estAlloc[$0]?.count ?? Figure(value: 0) },
          meanBound: 0.05)

    // Blocks of R bytes or more are always recorded: these sites are exact.
    for s in ["site_large", "site_huge"] {
      #expect(estLive[s]?.size.value == truthLive[s]?.size.value, "\(s)")
      #expect(estAlloc[s]?.count.value == truthAlloc[s]?.count.value, "\(s)")
    }

    // Every free of a sampled block was matched (reallocs included), and the text says what it is.
    let records = try CLI.run(["records", sampled], in: ws.url)
    #expect(records.stdout.contains("sampling mean-bytes=8192 seed=7 live-capacity=131072 offset-bytes=512"))
    #expect(records.stdout.contains("sampling-stats recorded="))
    #expect(records.stdout.contains("dropped=0"))
    let text = try CLI.run(["top", sampled, "--by", "function"], in: ws.url)
    #expect(text.stdout.contains("note: sampled dump (one byte in 8.0 KiB on average, each allocation under it counted 512 B larger, seed 7)"),
            "\(text.stdout)")
    #expect(!text.stdout.contains("unmatched frees"), "\(text.stdout)")
    let summary = try CLI.run(["summary", sampled], in: ws.url)
    #expect(summary.status == 0)
    #expect(summary.stdout.contains("sampled: one byte in 8.0 KiB on average"), "\(summary.stdout)")
  }

  /// The dump's records replayed by hand, with the Horvitz-Thompson weights of docs/SAMPLING.md:
  /// what the intervals of peak, `--at`, temporary and the summary's growth must come to.
  struct HandReplay {
    struct Block { var size: UInt64; var firstMarker: Int }
    let rate: Double
    /// C, from the dump's SAMPLING_OFFSET record (0 without one).
    let offset: Double
    var live: [String: Block] = [:]
    var markers = 0
    /// Weighted bytes and variance of the live heap now; at the estimated peak; at each marker.
    var heap = 0.0, variance = 0.0
    var peak = 0.0, peakVariance = 0.0
    var atMarker: [(heap: Double, variance: Double)] = []
    /// Every allocation: the weighted count and its variance.
    var allocated = (count: 0.0, variance: 0.0)
    /// Temporary blocks: weighted count, bytes, and their variances.
    var temporary = (count: 0.0, bytes: 0.0, countVariance: 0.0, bytesVariance: 0.0)
    /// Per recorded block: its variance term and the markers it was live at, [first, end).
    var ranges: [(v: Double, first: Int, end: Int)] = []
    var lastAlloc: [String: String] = [:]

    init(records: String, rate: Double, offset: Double? = nil) {
      self.rate = rate
      self.offset = offset ?? Self.offset(records)
      for line in records.split(separator: "\n") {
        let f = line.split(separator: " ").map(String.init)
        guard f.count >= 4 else { continue }
        let stream = f[1]
        if f[2] == "marker" {
          atMarker.append((heap, variance))
          markers += 1
        } else if f.count >= 6, f[4].hasPrefix("size="), f[5].hasPrefix("stack=") {
          let size = UInt64(f[4].dropFirst(5))!
          if let old = live.removeValue(forKey: f[3]) { ended(old) }
          live[f[3]] = Block(size: size, firstMarker: markers)
          let (w, y) = (weight(size), Double(size))
          allocated.count += w; allocated.variance += w * (w - 1)
          heap += w == 1 ? y : (w * y).rounded(); variance += w * (w - 1) * y * y
          if heap > peak { (peak, peakVariance) = (heap, variance) }
          lastAlloc[stream] = f[3]
        } else if f[2].hasPrefix("free"), let b = live.removeValue(forKey: f[3]) {
          ended(b)
          if f[2] == "free" && lastAlloc[stream] == f[3] {
            let (w, y) = (weight(b.size), Double(b.size))
            temporary.count += w; temporary.bytes += w == 1 ? y : (w * y).rounded()
            temporary.countVariance += w * (w - 1); temporary.bytesVariance += w * (w - 1) * y * y
          }
        }
      }
      for b in live.values { ranges.append((term(b), b.firstMarker, markers)) }
    }

    /// C as `heapwise records` prints it.
    static func offset(_ records: String) -> Double {
      guard let r = records.range(of: " offset-bytes=") else { return 0 }
      return Double(records[r.upperBound...].prefix { $0.isNumber }) ?? 0
    }

    func weight(_ size: UInt64) -> Double {
      Double(size) >= rate ? 1 : 1 / -expm1(-(Double(size) + offset) / rate)
    }
    func term(_ b: Block) -> Double { let w = weight(b.size), y = Double(b.size); return w * (w - 1) * y * y }

    mutating func ended(_ b: Block) {
      let (w, y) = (weight(b.size), Double(b.size))
      heap -= w == 1 ? y : (w * y).rounded(); variance -= w * (w - 1) * y * y
      ranges.append((term(b), b.firstMarker, markers))
    }

    /// The variance of sum c_i (heap at marker i): each block adds v * (sum of c over its markers)^2.
    func variance(_ c: [Double]) -> Double {
      ranges.reduce(0) { sum, r in
        let a = (r.first..<r.end).reduce(0.0) { $0 + (($1 < c.count) ? c[$1] : 0) }
        return sum + r.v * a * a
      }
    }
  }

  static func json(_ args: [String], in ws: Workspace) throws -> [String: Any] {
    let r = try CLI.run(args, in: ws.url)
    #expect(r.status == 0, "\(args): \(r.stderr)")
    return try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
  }

  static func number(_ o: Any?, _ path: String...) -> Double? {
    var cur = o
    for k in path { cur = (cur as? [String: Any])?[k] }
    return (cur as? NSNumber)?.doubleValue
  }

  /// Peak, temporary, `--at` and the summary's growth on a sampled dump: each estimate's standard
  /// error is the one the Horvitz-Thompson formula gives over the dump's own records (computed
  /// here from `heapwise records`, independently of the analyzer), and the full-tracking truths
  /// lie inside the 95% intervals for this seed.
  @Test func intervalsForPeakMarkersTemporaryAndGrowth() throws {
    try CLI.requireLibrary()
    let ws = try Workspace("sampling-moments")
    defer { ws.remove() }
    let (full, sampled) = try Self.recordPair(ws, mib: "4", seed: "11")
    let records = try CLI.run(["records", sampled], in: ws.url)
    try #require(records.status == 0, "\(records.stderr)")
    let hand = HandReplay(records: records.stdout, rate: 8192)
    try #require(hand.markers == 12, "markers: \(hand.markers)")

    func close(_ a: Double?, _ b: Double, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
      let a = a ?? .nan
      #expect(abs(a - b) <= 1e-6 * Swift.max(1, abs(b)), "\(what): \(a) against \(b) by hand", sourceLocation: sourceLocation)
    }
    func inside(_ truth: Double, _ iv: Any?, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
      let lo = Self.number(iv, "low") ?? .nan, hi = Self.number(iv, "high") ?? .nan
      #expect(lo <= truth && truth <= hi, "\(what): truth \(truth) outside [\(lo), \(hi)]", sourceLocation: sourceLocation)
    }
    func top(_ dump: String, _ extra: [String]) throws -> [String: Any] {
      try Self.json(["top", dump, "--by", "function", "--format", "json", "--limit", "0"] + extra, in: ws)
    }

    // The weights are those of the dump's own C (SAMPLING_OFFSET): the allocations' count and its
    // variance are the hand replay's with C, and the truth is inside the interval. Weighed by the
    // law without C (what a reader that ignored the record would do), the same blocks count
    // several times over: each tiny block was kept (s + C) / s times likelier than that law says.
    #expect(hand.offset == 512, "C of the dump: \(hand.offset)")
    let allocated = try top(sampled, ["--metric", "allocated"]), allocatedTruth = try top(full, ["--metric", "allocated"])
    let allocations = try #require(Self.number(allocatedTruth, "total", "count"))
    close(Self.number(allocated, "total_count_interval", "value"), hand.allocated.count, "allocations")
    close(Self.number(allocated, "total_count_interval", "standard_error").map { $0 * $0 }, hand.allocated.variance,
          "allocations variance")
    inside(allocations, allocated["total_count_interval"], "allocations")
    let withoutC = HandReplay(records: records.stdout, rate: 8192, offset: 0)
    #expect(withoutC.allocated.count > 3 * allocations, "C = 0 weights: \(withoutC.allocated.count) against \(allocations)")
    #expect(abs(hand.allocated.count - allocations) < 0.05 * allocations, "C weights: \(hand.allocated.count) against \(allocations)")

    // Peak: the estimate at the estimated peak moment, with that moment's variance.
    let peak = try top(sampled, ["--metric", "peak"]), peakTruth = try top(full, ["--metric", "peak"])
    close(Self.number(peak, "total", "size"), hand.peak, "peak estimate")
    close(Self.number(peak, "total_size_interval", "standard_error").map { $0 * $0 }, hand.peakVariance, "peak variance")
    inside(Self.number(peakTruth, "total", "size")!, peak["total_size_interval"], "peak")

    // --at: the heap when the marker was replayed.
    for (i, m) in [(2, "s3"), (7, "s8")] {
      let at = try top(sampled, ["--at", m]), atTruth = try top(full, ["--at", m])
      close(Self.number(at, "total", "size"), hand.atMarker[i].heap, "heap at \(m)")
      close(Self.number(at, "total_size_interval", "standard_error").map { $0 * $0 }, hand.atMarker[i].variance, "variance at \(m)")
      inside(Self.number(atTruth, "total", "size")!, at["total_size_interval"], "heap at \(m)")
      #expect((at["sites"] as? [[String: Any]])?.allSatisfy { $0["size_interval"] != nil } == true, "\(m): a site without interval")
    }

    // Temporary: weighted like every figure, its variance by the formula.
    let temp = try top(sampled, ["--metric", "temporary"])
    close(Self.number(temp, "total", "size"), hand.temporary.bytes, "temporary bytes")
    close(Self.number(temp, "total_size_interval", "standard_error").map { $0 * $0 }, hand.temporary.bytesVariance, "temporary bytes variance")
    close(Self.number(temp, "total_count_interval", "value"), hand.temporary.count, "temporary count")
    close(Self.number(temp, "total_count_interval", "standard_error").map { $0 * $0 }, hand.temporary.countVariance, "temporary count variance")
    let tempText = try CLI.run(["top", sampled, "--by", "function", "--metric", "temporary"], in: ws.url)
    #expect(tempText.stdout.contains("overstates temporaries"), "\(tempText.stdout)")

    // The summary: the live heap, peak, the judged marker and the growth over the 12 markers,
    // with their intervals; the rise's variance counts only blocks live at one end, the slope's
    // weighs each block by the slope coefficients of the markers it was live at.
    let summary = try Self.json(["summary", sampled, "--format", "json"], in: ws)
    let truth = try Self.json(["summary", full, "--format", "json"], in: ws)
    let sampling = try #require(summary["sampling"] as? [String: Any], "no sampling object")
    #expect(Self.number(sampling, "sample_rate_bytes") == 8192)
    #expect(Self.number(sampling, "live_heap", "confidence") == 0.95)
    close(Self.number(sampling, "live_heap", "standard_error").map { $0 * $0 }, hand.variance, "live heap variance")
    close(Self.number(sampling, "peak", "estimate"), hand.peak, "summary peak")
    #expect(truth["sampling"] == nil, "a full dump's summary has no sampling object")
    let n = Double(hand.markers), mean = (n - 1) / 2
    let sxx = (0..<hand.markers).reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) }
    var rise = [Double](repeating: 0, count: hand.markers)
    (rise[0], rise[hand.markers - 1]) = (-1, 1)
    close(Self.number(sampling, "growth", "rise", "standard_error").map { $0 * $0 }, hand.variance(rise), "rise variance")
    close(Self.number(sampling, "growth", "rate", "standard_error").map { $0 * $0 },
          hand.variance((0..<hand.markers).map { (Double($0) - mean) / sxx }), "slope variance")
    close(Self.number(sampling, "growth", "rise", "estimate"), Self.number(summary, "growth", "delta_bytes") ?? .nan, "rise")
    inside(Self.number(truth, "growth", "delta_bytes")!, (sampling["growth"] as? [String: Any])?["rise"], "rise")
    inside(Self.number(truth, "growth", "slope_bytes")!, (sampling["growth"] as? [String: Any])?["rate"], "rate")
    #expect((sampling["growth"] as? [String: Any])?["rise_exceeds_noise"] as? Bool == true)
    // The site changes the verdict cites are weighted like the series: they add up to its rise.
    let changes = try #require(summary["sites"] as? [[String: Any]])
    #expect(changes.count < 20, "\(changes.count) site changes: some may be cut off")
    close(changes.reduce(0) { $0 + (Self.number($1, "delta") ?? 0) }, Self.number(summary, "growth", "delta_bytes") ?? .nan,
          "site changes against the rise")
    #expect(Self.number(sampling, "growth", "noise_bytes")! >= 1.96 * Self.number(sampling, "growth", "rise", "standard_error")!)

    let at = try Self.json(["summary", sampled, "--format", "json", "--at", "s8"], in: ws)
    close(Self.number(at, "sampling", "at_marker", "tracked", "standard_error").map { $0 * $0 }, hand.atMarker[7].variance,
          "summary --at s8 variance")
    let text = try CLI.run(["summary", sampled, "--at", "s8"], in: ws.url)
    #expect(text.stdout.contains("at marker s8: "), "\(text.stdout)")
    #expect(text.stdout.contains("growth over the markers: rise "), "\(text.stdout)")
    #expect(text.stdout.contains("the estimate at the moment the estimated heap peaked"), "\(text.stdout)")

    // compare --from --to: the change's variance is that of the blocks live at one marker only
    // (those live at both cancel): by hand, the variance of heap(s6) - heap(s3).
    var change = [Double](repeating: 0, count: hand.markers)
    (change[2], change[5]) = (-1, 1)
    let paired = try Self.json(["compare", sampled, "--from", "s3", "--to", "s6", "--by", "function", "--format", "json",
                                "--limit", "0"], in: ws)
    let pairedTruth = try Self.json(["compare", full, "--from", "s3", "--to", "s6", "--by", "function", "--format", "json",
                                     "--limit", "0"], in: ws)
    close(Self.number(paired, "total", "size_diff_interval", "standard_error").map { $0 * $0 }, hand.variance(change),
          "variance of the change from s3 to s6")
    close(Self.number(paired, "total", "size_diff_interval", "value"), hand.atMarker[5].heap - hand.atMarker[2].heap,
          "change from s3 to s6")
    inside(Self.number(pairedTruth, "total", "size_diff")!, (paired["total"] as? [String: Any])?["size_diff_interval"],
           "change from s3 to s6")
    #expect(pairedTruth["total"].map { ($0 as? [String: Any])?["size_diff_interval"] == nil } == true,
            "a full dump's compare has no intervals")
    let truthBySite = Dictionary(((pairedTruth["sites"] as? [[String: Any]]) ?? []).map { ($0["key"] as? String ?? "", $0) }) { a, _ in a }
    var checkedSites = 0
    for site in paired["sites"] as? [[String: Any]] ?? [] {
      let iv = site["size_diff_interval"]
      #expect(iv != nil, "\(site["label"] ?? "?"): no interval")
      // A site that did nothing between the markers has the same blocks at both: no noise.
      if Self.number(site, "size_diff") == 0 {
        #expect(Self.number(iv, "standard_error") == 0 && site["within_noise"] as? Bool == false, "\(site["label"] ?? "?")")
      }
      if let t = truthBySite[site["key"] as? String ?? ""], let d = Self.number(t, "size_diff") {
        inside(d, iv, "change of \(site["label"] ?? "?")")
        checkedSites += 1
      }
    }
    #expect(checkedSites >= 3, "\(checkedSites) sites compared")
    let pairedText = try CLI.run(["compare", sampled, "--from", "s3", "--to", "s6", "--by", "function"], in: ws.url)
    #expect(pairedText.stdout.contains("note: sampled dump: the changes are estimates"), "\(pairedText.stdout)")
    #expect(!pairedText.stdout.contains("upper bound"), "\(pairedText.stdout)")

    // compare of the full recording with the sampled one: the true change is 0, every difference
    // is sampling noise, and its interval (the sampled side's variance alone) says so.
    let noise = try Self.json(["compare", full, sampled, "--by", "function", "--format", "json", "--limit", "0"], in: ws)
    let noisy = (noise["sites"] as? [[String: Any]] ?? []).filter { Self.number($0, "size_diff_interval", "standard_error") ?? 0 > 0 }
    let withinNoise = noisy.filter { $0["within_noise"] as? Bool == true }.count
    #expect(noisy.count >= 8 && withinNoise >= noisy.count - 2, "\(withinNoise) of \(noisy.count) noisy sites within noise")
    inside(0, (noise["total"] as? [String: Any])?["size_diff_interval"], "total change, full against sampled")
    #expect((noise["total"] as? [String: Any])?["within_noise"] as? Bool == true)
    let noiseText = try CLI.run(["compare", full, sampled, "--by", "function"], in: ws.url)
    #expect(noiseText.stdout.contains(", within noise"), "\(noiseText.stdout)")
    #expect(noiseText.stdout.contains("total: size=") && noiseText.stdout.contains(" change ["), "\(noiseText.stdout)")
  }

  /// `heapwise report` of a sampled dump, in chromium as ReportTests load pages: the page says the
  /// figures are estimates, and its tables and flame graph totals show top's intervals.
  @Test(.enabled(if: Browser.path != nil, "chromium is not installed (tools/install-deps.sh tries to): the browser test skips"))
  func reportShowsTheIntervals() throws {
    try CLI.requireLibrary()
    let ws = try Workspace("sampling-report")
    defer { ws.remove() }
    let (_, sampled) = try Self.recordPair(ws, mib: "4", seed: "11")
    let page = try ReportTests.report(sampled, ws: ws, name: "sampled")
    let (dom, console) = try Browser.dumpDOM(page, ws: ws)
    #expect(console.isEmpty, "console messages: \(console)")
    #expect(dom.contains("data-selfcheck=\"ok\""), "self-check did not pass")
    #expect(dom.contains("Sampled dump: the figures are estimates"), "no sampling section")
    #expect(dom.contains("live heap at the end "), "the summary's sampled lines are missing")
    var intervals: [String: (low: Double, high: Double)] = [:]
    let re = try NSRegularExpression(pattern: #"data-interval="([^"]*)" data-low="(\d+)" data-high="(\d+)""#)
    let ns = dom as NSString
    for m in re.matches(in: dom, range: NSRange(location: 0, length: ns.length)) {
      intervals[ns.substring(with: m.range(at: 1))] = (Double(ns.substring(with: m.range(at: 2)))!, Double(ns.substring(with: m.range(at: 3)))!)
    }
    func same(_ shown: (low: Double, high: Double)?, _ iv: Any?, _ what: String) {
      let lo = (Self.number(iv, "low") ?? .nan).rounded(), hi = (Self.number(iv, "high") ?? .nan).rounded()
      #expect(shown?.low == lo && shown?.high == hi, "\(what): page \(String(describing: shown)), top [\(lo), \(hi)]")
    }
    for metric in ["live", "allocated", "peak"] {
      let top = try Self.json(["top", sampled, "--by", "lineno", "--metric", metric, "--format", "json", "--limit", "15"], in: ws)
      same(intervals["table:\(metric):total:size"], top["total_size_interval"], "\(metric) total")
      same(intervals["table:\(metric):total:count"], top["total_count_interval"], "\(metric) total count")
      for (j, site) in (top["sites"] as? [[String: Any]] ?? []).enumerated() {
        same(intervals["table:\(metric):\(j):size"], site["size_interval"], "\(metric) row \(j)")
        same(intervals["table:\(metric):\(j):count"], site["count_interval"], "\(metric) row \(j) count")
      }
    }
    let live = try Self.json(["top", sampled, "--format", "json"], in: ws)
    same(intervals["view:exit:total"], live["total_size_interval"], "flame graph at exit")
    let marker = try Browser.dumpDOM(page, fragment: "view=marker:s8", ws: ws)
    #expect(marker.console.isEmpty, "\(marker.console)")
    let at = try Self.json(["top", sampled, "--at", "s8", "--format", "json"], in: ws)
    let shown = re.firstMatch(in: marker.dom, range: NSRange(location: 0, length: (marker.dom as NSString).length)).map {
      (marker.dom as NSString).substring(with: $0.range(at: 1))
    }
    #expect(shown == "view:marker:s8:total", "\(String(describing: shown))")
    #expect(marker.dom.contains("data-low=\"\(UInt64((Self.number(at, "total_size_interval", "low") ?? 0).rounded()))\""),
            "the marker view's interval is top --at's")
    let driven = try Browser.dumpDOM(page, fragment: "selftest=1", ws: ws)
    #expect(driven.console.isEmpty && driven.dom.contains("data-selftest=\"ok\""), "\(driven.console)")
  }

  /// `heapwise check` of a sampled recording (HEAPWISE_SAMPLE in its environment): the measured
  /// figures are estimates, each budget row carries its interval, and a verdict whose limit lies
  /// inside the interval says it is within the noise.
  @Test func checkVerdictsOnEstimatesStateTheirNoise() throws {
    try CLI.requireLibrary()
    let ws = try Workspace("sampling-check")
    defer { ws.remove() }
    let program = try Self.compile(ws)
    let exact = try Self.json(["check", "--format", "json", "--max-allocations", "1e9", "--", program, "4"], in: ws)
    let rows = try #require(exact["budgets"] as? [[String: Any]])
    let truth = try #require(Self.number(rows.first, "measured"))
    #expect(rows.first?["estimate"] == nil && exact["sampling"] == nil, "a full recording's check has no estimates")
    let env = ["HEAPWISE_SAMPLE": "8192", "HEAPWISE_SAMPLE_SEED": "3"]
    let limit = String(Int(truth))
    let r = try CLI.run(["check", "--format", "json", "--max-allocations", limit, "--max-allocated", "1GiB", "--", program, "4"],
                        in: ws.url, environment: env)
    let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stderr)")
    #expect(Self.number(obj, "sampling", "mean_bytes") == 8192)
    let sampled = try #require(obj["budgets"] as? [[String: Any]])
    let allocations = try #require(sampled.first { $0["key"] as? String == "max-allocations" })
    let lo = try #require(Self.number(allocations, "estimate", "low")), hi = try #require(Self.number(allocations, "estimate", "high"))
    #expect(lo <= truth && truth <= hi, "truth \(truth) outside [\(lo), \(hi)]")
    #expect(Self.number(allocations, "measured") != truth, "the sampled figure is an estimate, not the count")
    // The limit is the truth, inside the interval: either verdict is within the noise.
    #expect(allocations["limit_within_noise"] as? Bool == true)
    let allocated = try #require(sampled.first { $0["key"] as? String == "max-allocated" })
    #expect(allocated["passed"] as? Bool == true && allocated["limit_within_noise"] as? Bool == false)
    let text = try CLI.run(["check", "--max-allocations", limit, "--", program, "4"], in: ws.url, environment: env)
    #expect(text.stdout.contains("note: sampled dump (one byte in 8.0 KiB on average, each allocation under it counted 512 B larger, seed 3): measured figures are estimates"),
            "\(text.stdout)")
    #expect(text.stdout.contains("measured (estimate)") && text.stdout.contains("(within noise)"), "\(text.stdout)")
  }

  @Test func sampleOptionRejectsBadSizes() throws {
    let r = try CLI.run(["record", "--sample", "lots", "--", "/bin/true"])
    #expect(r.status != 0)
    #expect(r.stderr.contains("--sample takes a size"))
    let s = try CLI.run(["record", "--seed", "3", "--", "/bin/true"])
    #expect(s.status != 0)
    #expect(s.stderr.contains("--seed applies to --sample only"))
  }
}
