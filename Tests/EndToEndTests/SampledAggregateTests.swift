// Sampling combined with aggregated mode and with --dump-at-peak (docs/AGGREGATE.md, "Combined
// with sampling"): the recorder's weighted counters against full tracking of the same workload,
// a kill -9 that leaves the estimates of the last flush, and peak moments of the estimated heap.
// Fixed seeds; blocks of R bytes or more are exact, the rest are held to their error bounds.
import Foundation
import HeapwiseFormat
import Testing

@Suite(.serialized) struct SampledAggregateTests {
  @Test func sampledAggregationMatchesFullTracking() throws {
    try CLI.requireLibrary()
    let ws = try Workspace("sampled-aggregate")
    defer { ws.remove() }
    let program = try SamplingTests.compile(ws)
    let full = try ws.record(program, ["16"], dump: "full.heapwise")
    let agg = try ws.record(program, ["16"], dump: "agg.heapwise",
                            extra: ["--sample", "8KiB", "--seed", "7", "--aggregate", "--flush", "50ms"])

    let truthLive = try SamplingTests.top(full, metric: "live", in: ws)
    let truthAlloc = try SamplingTests.top(full, metric: "allocated", in: ws)
    let estLive = try SamplingTests.top(agg, metric: "live", in: ws), estAlloc = try SamplingTests.top(agg, metric: "allocated", in: ws)
    let sites = truthLive.keys.filter { $0.hasPrefix("site_") }.sorted { truthLive[$0]!.size.value > truthLive[$1]!.size.value }
    try #require(sites.count == 12, "\(truthLive.keys.sorted())")
    let top10 = Array(sites.prefix(10))
    // The bounds of the event recording's test (SamplingTests): the counters add the same weights.
    func check(_ name: String, truth: (String) -> Double, estimate: (String) -> SamplingTests.Figure, meanBound: Double) {
      SamplingTests.checkEstimates(name, sites: top10, truth: truth, estimate: estimate, meanBound: meanBound)
    }
    check("live bytes", truth: { truthLive[$0]!.size.value }, estimate: { estLive[$0]?.size ?? .init(value: 0) }, meanBound: 0.05)
    check("allocated bytes", truth: { truthAlloc[$0]!.size.value }, estimate: { estAlloc[$0]?.size ?? .init(value: 0) },
          meanBound: 0.05)
    // Weights with C (hw_sample_weigh): without it the tiny sites' counts would be several times over.
    check("allocations", truth: { truthAlloc[$0]!.count.value }, estimate: { estAlloc[$0]?.count ?? .init(value: 0) },
          meanBound: 0.05)
    // Blocks of R or more: weight 1, variance 0.
    for s in ["site_large", "site_huge"] {
      #expect(estLive[s]?.size.value == truthLive[s]?.size.value, "\(s)")
      #expect(estAlloc[s]?.count.value == truthAlloc[s]?.count.value, "\(s)")
      #expect(estLive[s]?.size.low == estLive[s]?.size.high, "\(s): an exact figure has no width")
    }

    let records = try CLI.run(["records", agg], in: ws.url)
    #expect(records.stdout.contains("sampling mean-bytes=8192 seed=7 live-capacity=131072 offset-bytes=512"),
            "\(records.stdout.prefix(2000))")
    #expect(records.stdout.contains("aggregate totals part=0 sample-period=8192"))
    let summary = try CLI.run(["summary", agg], in: ws.url)
    #expect(summary.status == 0, "\(summary.stderr)")
    #expect(summary.stdout.contains("note: sampled dump (one byte in 8.0 KiB on average, each allocation under it counted 512 B larger, seed 7)"),
            "\(summary.stdout)")
    #expect(summary.stdout.contains("live heap (estimated) "), "\(summary.stdout)")
    let peak = try CLI.run(["top", agg, "--at", "peak", "--format", "json"], in: ws.url)
    #expect(peak.status == 0, "\(peak.stderr)")

    // The last peak's figures: the recorder keeps their variance terms (format 1.4), so their
    // intervals are those of the blocks live then, not approximate; blocks of R or more are exact
    // (SampledPeakTests checks them against the records and full tracking).
    for args in [["--metric", "peak"], ["--at", "peak"]] {
      let estPeak = try SamplingTests.top(agg, metric: "live", extra: args, in: ws)
      for s in sites {
        let e = estPeak[s]?.size
        #expect(e?.low != nil && e?.high != nil, "\(args) \(s): no interval")
        if ["site_large", "site_huge"].contains(s) {
          #expect(e?.low == e?.high, "\(args) \(s): exact blocks, no width")
        } else if let e, e.value > 0 {
          #expect(e.low! < e.value && e.value < e.high!, "\(args) \(s): an estimate of small blocks has a width")
        }
      }
      let text = try CLI.run(["top", agg, "--by", "function"] + args, in: ws.url)
      #expect(!text.stdout.contains("approximate"), "\(text.stdout)")
    }
    #expect(!summary.stdout.contains("approximate"), "\(summary.stdout)")
  }

  /// Phase 1 (blocks of 4096 bytes at one site, 64-byte blocks at another), then waits until a
  /// flush has replaced the dump, then phase 2 and SIGKILL.
  static let dies = """
    #include <signal.h>
    #include <stdlib.h>
    #include <string.h>
    #include <sys/stat.h>
    #include <unistd.h>
    __attribute__((noinline)) void *large(size_t n) { return malloc(n); } /* LARGE */
    __attribute__((noinline)) void *small(size_t n) { return malloc(n); } /* SMALL */
    __attribute__((noinline)) void *later(size_t n) { return malloc(n); }
    static ino_t inode(const char *p) { struct stat st; return stat(p, &st) == 0 ? st.st_ino : 0; }
    int main(void) {
      const char *dump = getenv("HEAPWISE_OUTPUT");
      for (int i = 0; i < 700; i++) memset(large(4096), 1, 4096);
      for (int i = 0; i < 40000; i++) {
        void *p = small(64);
        if (i % 2) free(p); /* half of them stay */
      }
      ino_t before = inode(dump);
      while (inode(dump) == before) usleep(5000);
      for (int i = 0; i < 100; i++) later(100000);
      kill(getpid(), SIGKILL);
    }
    """

  @Test func killMinus9LeavesTheEstimatesOfTheLastFlush() throws {
    try CLI.requireLibrary()
    let ws = try Workspace("sampled-aggregate-kill")
    defer { ws.remove() }
    let exe = try ws.compile("dies", Self.dies)
    let dump = ws.path("dies.heapwise")
    let r = try CLI.run(["record", "--sample", "4KiB", "--seed", "3", "--aggregate", "--flush", "200ms", "-o", dump, "--", exe],
                        in: ws.url, timeout: 60)
    #expect(r.status == 128 + SIGKILL, "\(r.stderr)")
    let reader = try DumpReader(path: dump)
    var ends = 0, period: UInt64?
    while let e = reader.next() {
      if case .end = e.record { ends += 1 }
      if case .aggregate(let a) = e.record, a.kind == AggregateRecord.Kind.totals.rawValue { period = a.samplePeriod }
    }
    #expect(ends == 0)  // nothing ran at the kill
    #expect(period == 4096)
    let live = try SamplingTests.top(dump, metric: "live", in: ws)
    // 4096-byte blocks are never below R: exact.
    #expect(live["large"]?.size.value == 700 * 4096 && live["large"]?.count.value == 700, "\(live)")
    // 20,000 live blocks of 64 bytes (1,280,000 bytes), each kept with p = 1 - exp(-(64 + 512)/4096)
    // (C = 512), about 2,600 of them recorded: within the printed interval, and within 10% (the
    // interval is about +-3.6%).
    let small = try #require(live["small"])
    #expect(abs(small.size.value - 1_280_000) < 0.1 * 1_280_000, "\(small)")
    #expect((small.size.low ?? .infinity) <= 1_280_000 && 1_280_000 <= (small.size.high ?? 0), "\(small)")
    #expect(abs(small.count.value - 20_000) < 0.1 * 20_000, "\(small)")
    #expect(live["later"] == nil, "phase 2 came after the last flush: \(live.keys.sorted())")
  }

  /// AggregateTests' program: live bytes grow to 4,000,000 in 1000-byte blocks, all freed, then a
  /// 48 MiB block.
  static let peaks = AggregateTests.peaks

  /// A sampled peak is a peak of the estimated live heap: the growing site's estimate climbs in
  /// steps of about R, the moments come at least 4 R apart, and at the last one (the 48 MiB block,
  /// exact) every recorded block of the growing site has been freed: its live share is exactly 0.
  @Test func peakMomentsFollowTheEstimatedHeap() throws {
    try CLI.requireLibrary()
    let ws = try Workspace("sampled-peaks")
    defer { ws.remove() }
    let exe = try ws.compile("peaks", Self.peaks)
    for aggregate in [false, true] {
      let dump = try ws.record(exe, dump: "peaks-\(aggregate).heapwise",
                               extra: ["--sample", "64KiB", "--seed", "5", "--dump-at-peak"] + (aggregate ? ["--aggregate"] : []))
      let reader = try DumpReader(path: dump)
      var peaks: [String] = []
      while let e = reader.next() {
        if case .marker(let m) = e.record, m.name.hasPrefix("peak-") {
          #expect(m.source == MarkerRecord.Source.trigger.rawValue)
          peaks.append(m.name)
        }
      }
      // 4,000,000 bytes estimated, in steps of at least 256 KiB (4 R) after the first at 256 KiB,
      // then one for the big block: about 16 moments (more if the estimate overshoots), and at
      // least the big block's.
      #expect(peaks.count >= 2 && peaks.count <= 24, "\(peaks)")
      let atPeak = try CLI.run(["top", dump, "--at", "peak", "--format", "json"], in: ws.url)
      #expect(atPeak.status == 0, "\(atPeak.stderr)")
      let sites = try jsonSites(atPeak.stdout)
      let big = "big (peaks.c:\(line(of: "BIG", in: Self.peaks)))", grow = "grow (peaks.c:\(line(of: "GROW", in: Self.peaks)))"
      #expect(sites[big]?.size == 48 << 20 && sites[big]?.count == 1, "aggregate \(aggregate): \(sites)")
      #expect((sites[grow]?.size ?? 0) == 0, "aggregate \(aggregate): \(sites)")
    }
  }
}
