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

  /// `top --by function --metric M --format json` as site name -> (size, count) with intervals.
  static func top(_ dump: String, metric: String, in ws: Workspace) throws -> [String: (size: Figure, count: Figure)] {
    let r = try CLI.run(["top", dump, "--by", "function", "--metric", metric, "--format", "json", "--limit", "0"], in: ws.url)
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

  @Test func estimatesMatchFullTracking() throws {
    try CLI.requireLibrary()
    let ws = try Workspace("sampling")
    defer { ws.remove() }
    let program = ws.path("sampling_sites")
    let cc = try CLI.runProcess("/usr/bin/cc", ["-g", "-O0", "-o", program, Self.source.path, "-lm"])
    try #require(cc.status == 0, "\(cc.stderr)")
    let mib = "16"
    let full = try ws.record(program, [mib], dump: "full.heapwise")
    // 8 KiB: the workload's 16 MiB a site then gives each small-block site ~2,000 samples (the
    // error goes as 1/sqrt(samples): --sample 512KiB needs 64x the bytes for the same precision,
    // which tools/bench/sampling_accuracy.py measures over many seeds).
    let sampled = try ws.record(program, [mib], dump: "sampled.heapwise", extra: ["--sample", "8KiB", "--seed", "7"])

    let truthLive = try Self.top(full, metric: "live", in: ws), truthAlloc = try Self.top(full, metric: "allocated", in: ws)
    let estLive = try Self.top(sampled, metric: "live", in: ws), estAlloc = try Self.top(sampled, metric: "allocated", in: ws)
    let sites = truthLive.keys.filter { $0.hasPrefix("site_") }.sorted { truthLive[$0]!.size.value > truthLive[$1]!.size.value }
    try #require(sites.count == 12, "\(truthLive.keys.sorted())")
    let top10 = Array(sites.prefix(10))

    // For each figure: the error summed over the top ten sites relative to their summed truth
    // (the average weighted by size), the plain mean of the per-site relative errors, and how
    // many truths fall inside the printed 95% interval.
    func check(_ name: String, truth: (String) -> Double, estimate: (String) -> Figure, meanBound: Double) {
      var num = 0.0, den = 0.0, mean = 0.0, covered = 0
      for s in top10 {
        let t = truth(s), e = estimate(s)
        num += abs(e.value - t); den += t; mean += abs(e.value - t) / t / Double(top10.count)
        if let lo = e.low, let hi = e.high, lo <= t, t <= hi { covered += 1 }
        #expect(e.low != nil && e.high != nil, "\(name) of \(s) has no interval")
      }
      #expect(num / den < 0.05, "\(name): weighted error \(num / den)")
      #expect(mean < meanBound, "\(name): mean error per site \(mean)")
      #expect(covered >= 8, "\(name): \(covered) of 10 truths inside their 95% interval")
    }
    check("live bytes", truth: { truthLive[$0]!.size.value }, estimate: { estLive[$0]?.size ?? Figure(value: 0) }, meanBound: 0.05)
    check("allocated bytes", truth: { truthAlloc[$0]!.size.value }, estimate: { estAlloc[$0]?.size ?? Figure(value: 0) },
          meanBound: 0.05)
    // Counts of the sites that mix a few large blocks with many small ones rest on the few
    // samples their small blocks' bytes earn (a byte sampler's limit, docs/SAMPLING.md): their
    // per-site error is the widest, and the plain mean is held to 10%.
    check("allocations", truth: { truthAlloc[$0]!.count.value }, estimate: { estAlloc[$0]?.count ?? Figure(value: 0) },
          meanBound: 0.10)

    // Blocks of R bytes or more are always recorded: these sites are exact.
    for s in ["site_large", "site_huge"] {
      #expect(estLive[s]?.size.value == truthLive[s]?.size.value, "\(s)")
      #expect(estAlloc[s]?.count.value == truthAlloc[s]?.count.value, "\(s)")
    }

    // Every free of a sampled block was matched (reallocs included), and the text says what it is.
    let records = try CLI.run(["records", sampled], in: ws.url)
    #expect(records.stdout.contains("sampling mean-bytes=8192 seed=7"))
    #expect(records.stdout.contains("sampling-stats recorded="))
    #expect(records.stdout.contains("dropped=0"))
    let text = try CLI.run(["top", sampled, "--by", "function"], in: ws.url)
    #expect(text.stdout.contains("note: sampled dump (one byte in 8.0 KiB on average, seed 7)"), "\(text.stdout)")
    #expect(!text.stdout.contains("unmatched frees"), "\(text.stdout)")
    let summary = try CLI.run(["summary", sampled], in: ws.url)
    #expect(summary.status == 0)
    #expect(summary.stdout.contains("sampled: one byte in 8.0 KiB on average"), "\(summary.stdout)")
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
