import Testing

@testable import HeapwiseAnalysis
import HeapwiseReports

private let MiB: UInt64 = 1 << 20

/// Markers m1, m2, ... with the given tracked MiB (all live heap), one second apart.
private func markers(_ mib: [UInt64]) -> [SeriesPoint] {
  mib.enumerated().map { i, v in
    SeriesPoint(time: Double(i), label: "m\(i + 1)", liveHeap: v * MiB)
  }
}

private func split(rss: UInt64, live: UInt64, arena: UInt64, mapped: UInt64 = 0) -> RSSSplit {
  RSSSplit(
    sample: MemorySample(
      rss: rss, fileRSS: 4 * MiB, recorderBytes: MiB,
      allocator: .glibc(GlibcMallinfo(arena: arena, hblkhd: 0, uordblks: live, fordblks: arena - live))),
    liveHeap: live, liveBlocks: 1000, mapped: mapped)!
}

struct SummaryLinearFitTests {
  @Test func exactLine() throws {
    let fit = try #require(LinearFit(x: [0, 1, 2, 3], y: [5, 7, 9, 11]))
    #expect(fit.slope == 2)
    #expect(fit.intercept == 5)
    #expect(fit.rSquared == 1)
  }

  @Test func constantSeriesFitsFlat() throws {
    let fit = try #require(LinearFit(x: [0, 1, 2], y: [4, 4, 4]))
    #expect(fit.slope == 0)
    #expect(fit.rSquared == 1)
  }

  @Test func stepIsPoorlyLinear() throws {
    let fit = try #require(LinearFit(x: [0, 1, 2, 3, 4, 5], y: [0, 0, 0, 1, 1, 1]))
    #expect(abs(fit.rSquared - 20.25 / 26.25) < 1e-12)
  }

  @Test func degenerateInputs() {
    #expect(LinearFit(x: [1], y: [1]) == nil)
    #expect(LinearFit(x: [2, 2, 2], y: [1, 2, 3]) == nil)
  }
}

struct SummaryGrowthTests {
  @Test func trends() {
    #expect(GrowthAnalysis(points: markers([10, 22, 34, 46]), basis: .markers).trend == .rising)
    #expect(GrowthAnalysis(points: markers([40, 30, 20, 10]), basis: .markers).trend == .falling)
    #expect(GrowthAnalysis(points: markers([10, 50, 50, 11]), basis: .markers).trend == .mixed)
    // Under 1 MiB of spread is noise, and so is under 5% of the largest value.
    #expect(GrowthAnalysis(points: markers([100, 101, 100, 104]), basis: .markers).trend == .flat)
    #expect(GrowthAnalysis(points: markers([10, 30]), basis: .markers).trend == .tooShort)
    // Rose, but ended well below its top: not "rising".
    #expect(GrowthAnalysis(points: markers([10, 80, 40]), basis: .markers).trend == .mixed)
  }

  /// Found by the fuzzer (`report` of a damaged dump): figures near 2^64 overflowed the step
  /// test's sum and trapped. A series there is judged like any other, without a trap.
  @Test func figuresNear2p64() {
    let top = UInt64.max
    let points = [top - 40 * MiB, top - 30 * MiB, top - 20 * MiB, top - 10 * MiB].enumerated().map { i, v in
      SeriesPoint(time: Double(i), label: "m\(i + 1)", liveHeap: v, mapped: i == 3 ? 20 * MiB : 0)
    }
    #expect(points[3].tracked == top)
    // 40 MiB of spread is under 5% of the top: flat, with no step above a quarter of that noise.
    let g = GrowthAnalysis(points: points, basis: .markers)
    #expect(g.trend == .flat)
    #expect(g.risingSteps == 0)
    #expect(g.largestStep == 20 * MiB)
  }

  @Test func linearityAndRate() {
    let linear = GrowthAnalysis(points: markers([10, 22, 34, 46, 58]), basis: .markers)
    #expect(linear.isLinear)
    #expect(linear.rate == "12.0 MiB per marker")
    #expect(linear.span == "markers m1..m5")
    #expect(linear.delta == Int64(48 * MiB))
    let steps = GrowthAnalysis(points: markers([10, 10, 10, 60, 60, 60]), basis: .markers)
    #expect(steps.trend == .steppedUp)  // one step up: a load, not growth
    #expect(!steps.isLinear)
  }

  /// Growth is a sustained rise; a load that steps up and stays is not growth, however straight
  /// the line through its points.
  @Test func aLoadInStepsIsNotGrowth() {
    // pandas_arrow.py at marker converted: start, the table, its to_pandas() copy.
    let twoSteps = GrowthAnalysis(points: markers([44, 199, 354]), basis: .markers)
    #expect(twoSteps.isLinear && twoSteps.risingSteps == 2)
    #expect(twoSteps.trend == .steppedUp)
    // One big step with small rises around it.
    #expect(GrowthAnalysis(points: markers([10, 12, 14, 100, 102, 104]), basis: .markers).trend == .steppedUp)
    // Climbed, then stayed put for the later half.
    #expect(GrowthAnalysis(points: markers([10, 40, 70, 100, 100, 100, 100, 100]), basis: .markers).trend == .steppedUp)
    // Sustained: equal steps (pandas_snapshots.py), three steps, and doubling steps.
    #expect(GrowthAnalysis(points: markers([44, 75, 106, 137, 168, 199]), basis: .markers).trend == .rising)
    #expect(GrowthAnalysis(points: markers([10, 22, 34, 46]), basis: .markers).trend == .rising)
    #expect(GrowthAnalysis(points: markers([10, 11, 13, 17, 25, 41]), basis: .markers).trend == .rising)
  }

  @Test func samplesFitAgainstTime() {
    // Uneven sampling: the slope must be per second, not per sample.
    let points = [0.0, 1, 2, 4, 8].map { t in SeriesPoint(time: t, liveHeap: UInt64(t * 3) * MiB) }
    let growth = GrowthAnalysis(points: points, basis: .samples)
    #expect(growth.rate == "3.0 MiB per second")
    #expect(growth.span == "5 samples over 8.00 s")
  }

  @Test func mappedRegionsCountAsTracked() {
    // Python without PYTHONMALLOC=malloc: objects live in mmap'd arenas, not in the heap.
    let points = (0..<5).map { i in
      SeriesPoint(time: Double(i), label: "s\(i)", liveHeap: 2 * MiB, mapped: UInt64(i) * 8 * MiB)
    }
    #expect(GrowthAnalysis(points: points, basis: .markers).trend == .rising)
  }

  @Test func evenlySpacedKeepsEndsAndOrder() {
    let dense = (0..<1000).map { i in SeriesPoint(time: Double(i) * 0.02, liveHeap: UInt64(i)) }
    let picked = dense.evenlySpaced(count: 20)
    #expect(picked.count == 20)
    #expect(picked.first == dense.first && picked.last == dense.last)
    #expect(zip(picked, picked.dropFirst()).allSatisfy { $0.time < $1.time })
    #expect(Array(dense.prefix(5)).evenlySpaced(count: 20).count == 5)
  }
}

struct SummaryVerdictTests {
  @Test func linearGrowthNamesTheGrowingSites() {
    let facts = SummaryFacts(
      growth: GrowthAnalysis(points: markers([10, 25, 40, 55, 70]), basis: .markers),
      siteChanges: [
        SiteChange(site: "cache_put (cache.c:12)", before: 5 * MiB, after: 50 * MiB),
        SiteChange(site: "log_line (log.c:40)", before: 1 * MiB, after: 16 * MiB),
        SiteChange(site: "scratch (job.c:7)", before: 4 * MiB, after: 4 * MiB),
      ],
      end: split(rss: 90 * MiB, live: 70 * MiB, arena: 75 * MiB), endLiveHeap: 70 * MiB)
    let verdict = Verdict(facts)
    #expect(verdict.primary.kind == .growing)
    #expect(verdict.primary.headline == "growing: tracked memory rose 60.0 MiB across markers m1..m5, linearly")
    #expect(verdict.primary.evidence.first == "from 10.0 MiB to 70.0 MiB; 4 of 4 steps rose; linear fit R² 1.00, 15.0 MiB per marker")
    #expect(verdict.primary.evidence.contains("  cache_put (cache.c:12): +45.0 MiB (75% of the growth)"))
    #expect(verdict.primary.evidence.contains("  log_line (log.c:40): +15.0 MiB (25% of the growth)"))
    #expect(!verdict.primary.evidence.contains { $0.contains("scratch") })
    #expect(verdict.findings.count == 1)
  }

  @Test func flatHeapWithLargeArenaIsRetention() {
    let facts = SummaryFacts(
      growth: GrowthAnalysis(points: markers([12, 12, 12, 12]), basis: .markers),
      end: split(rss: 400 * MiB, live: 12 * MiB, arena: 380 * MiB), endLiveHeap: 12 * MiB,
      trims: [TrimObservation(label: nil, rssBefore: 400 * MiB, rssAfter: 34 * MiB)],
      allocator: "glibc malloc")
    let verdict = Verdict(facts)
    #expect(verdict.primary.kind == .retention)
    #expect(verdict.primary.headline.hasPrefix("retention, not a leak: "))
    #expect(verdict.primary.evidence.contains("malloc_trim(0) returned 366 MiB when probed at exit"))
    #expect(verdict.primary.evidence.contains { $0.hasPrefix("tracked memory was flat across markers m1..m4") })
  }

  @Test func retentionWithoutProbeSaysHowToProbe() {
    let facts = SummaryFacts(
      growth: GrowthAnalysis(points: markers([12, 12, 12]), basis: .markers),
      end: split(rss: 100 * MiB, live: 12 * MiB, arena: 80 * MiB), endLiveHeap: 12 * MiB)
    let verdict = Verdict(facts)
    #expect(verdict.primary.kind == .retention)
    #expect(verdict.primary.evidence.last?.contains("--trim-probe") == true)
  }

  @Test func smallAllocatorHoldIsNotRetention() {
    // 3 MiB held: under the 4 MiB floor, whatever its share.
    let facts = SummaryFacts(
      growth: GrowthAnalysis(points: markers([5, 5, 5]), basis: .markers),
      end: split(rss: 12 * MiB, live: 5 * MiB, arena: 8 * MiB), endLiveHeap: 5 * MiB)
    #expect(Verdict(facts).primary.kind == .steady)
  }

  @Test func peakThenFreeIsHighWaterMark() {
    let facts = SummaryFacts(
      growth: GrowthAnalysis(points: markers([2, 2, 2]), basis: .markers),
      peak: PeakPoint(bytes: 200 * MiB, time: 1.5, previousMarker: "load"),
      end: split(rss: 8 * MiB, live: 2 * MiB, arena: 3 * MiB), endLiveHeap: 2 * MiB,
      peakRSS: 210 * MiB)
    let verdict = Verdict(facts)
    #expect(verdict.primary.kind == .highWaterMark)
    #expect(verdict.primary.headline == "high-water mark: live heap peaked at 200 MiB after marker load and came back down")
    #expect(verdict.primary.evidence.contains { $0.hasPrefix("RSS came down too") })

    var kept = facts
    kept.end = split(rss: 205 * MiB, live: 2 * MiB, arena: 3 * MiB)
    let keptVerdict = Verdict(kept)
    #expect(keptVerdict.findings.map(\.kind).contains(.highWaterMark))
    let highWater = keptVerdict.findings.first { $0.kind == .highWaterMark }
    #expect(highWater?.headline.hasSuffix("; RSS kept the peak") == true)
  }

  @Test func fragmentationIsRetentionFirstThenHighWaterMark() {
    // Filled 400 MiB, freed all but every 100th block: live came down, the arena stayed.
    let facts = SummaryFacts(
      growth: GrowthAnalysis(points: markers([400, 4, 4]), basis: .markers),
      peak: PeakPoint(bytes: 400 * MiB, time: 1, previousMarker: "filled"),
      end: split(rss: 420 * MiB, live: 4 * MiB, arena: 405 * MiB), endLiveHeap: 4 * MiB,
      allocator: "glibc malloc", peakRSS: 421 * MiB)
    let verdict = Verdict(facts)
    #expect(verdict.findings.map(\.kind) == [.retention, .highWaterMark])
  }

  /// Freed by a teardown after the last marker (CPython at exit): judged at the marker instead,
  /// with the marker's own live heap and RSS; a marker whose heap is many small blocks is not.
  @Test func fewLargeBlocksAtTheLastMarker() {
    let view = MarkerHeapFacts(
      marker: "later", liveHeap: 347 * MiB,
      largestBlocks: [LargeBlock(size: 305 * MiB, site: "default_malloc (alloc.c:1)")], rss: 400 * MiB)
    var facts = SummaryFacts(
      growth: GrowthAnalysis(points: markers([347, 347, 347]), basis: .markers),
      end: split(rss: 60 * MiB, live: 0, arena: 1 * MiB), endLiveHeap: 100 << 10, atLastMarker: view)
    var verdict = Verdict(facts)
    #expect(verdict.primary.kind == .heldByFewBlocks)
    #expect(verdict.primary.headline == "held by a few large blocks at marker \"later\": 305 MiB of the 347 MiB live heap is 1 block")
    #expect(verdict.primary.evidence == [
      "305 MiB allocated at default_malloc (alloc.c:1) (still live at the last marker)",
      "a reference is still held: this is live data, not memory the allocator kept",
      "at exit the live heap was 100 KiB: freed after the last marker",
    ])
    facts.atLastMarker?.largestBlocks = [LargeBlock(size: 20 * MiB, site: "x (x.c:1)")]
    verdict = Verdict(facts)
    #expect(!verdict.findings.contains { $0.kind == .heldByFewBlocks })
    // At the marker the heap was under a quarter of RSS: not the answer to "why is RSS high".
    facts.atLastMarker = view
    facts.atLastMarker?.rss = 2000 * MiB
    #expect(!Verdict(facts).findings.contains { $0.kind == .heldByFewBlocks })
  }

  /// The finding is values (its claim and evidence items, the block's frames); the words are
  /// rendered from them, the user's line and the allocating native function included.
  @Test func aBlockUnderALibraryLineNamesTheUsersLine() {
    let site = SourceFrame(function: "_stack_arrays", file: "/v/lib/python3.11/site-packages/pandas/core/internals/managers.py",
                           line: 2494, module: "pandas.core.internals.managers", moduleOffset: 128, isInlined: false, kind: .python)
    let user = SourceFrame(function: "main", file: "/home/u/view.py", line: 24, module: "view", moduleOffset: 190,
                           isInlined: false, kind: .python)
    let native = SourceFrame(function: "default_malloc", file: nil, line: nil, module: "_multiarray_umath.so",
                             moduleOffset: 0x1000, isInlined: false)
    let frames = SiteFrames(site: site, native: native, user: user)
    let block = LargeBlock(size: 153 * MiB, site: site.siteName, freedBefore: "view-deleted", frames: frames)
    var facts = SummaryFacts(
      growth: GrowthAnalysis(points: markers([171, 171, 171]), basis: .markers),
      end: split(rss: 120 * MiB, live: 9 * MiB, arena: 10 * MiB), endLiveHeap: 9 * MiB)
    facts.judgedAt = MarkerHeapFacts(marker: "df-deleted", liveHeap: 171 * MiB, largestBlocks: [block], rss: 272 * MiB)
    let finding = Verdict(facts).primary
    #expect(finding.claim == .heldByFewBlocks(marker: "df-deleted", held: 153 * MiB, live: 171 * MiB, blocks: 1))
    #expect(finding.facts == [.block(block, fate: .freedBefore("view-deleted")), .referenceHeld])
    #expect(finding.siteFrames == [frames])
    #expect(finding.evidence == [
      "153 MiB allocated at _stack_arrays (managers.py:2494) (freed before marker view-deleted)",
      "    from your code: main (view.py:24)",
      "    allocated by default_malloc (_multiarray_umath.so)",
      "a reference is still held: this is live data, not memory the allocator kept",
    ])
  }

  @Test func fewLargeBlocksHoldTheHeap() {
    let facts = SummaryFacts(
      growth: GrowthAnalysis(points: markers([170, 170, 170]), basis: .markers),
      end: split(rss: 200 * MiB, live: 170 * MiB, arena: 172 * MiB), endLiveHeap: 170 * MiB,
      largestBlocks: [
        LargeBlock(size: 80 * MiB, site: "make_frame (frame.c:9)"),
        LargeBlock(size: 80 * MiB, site: "make_frame (frame.c:9)"),
        LargeBlock(size: 1 * MiB, site: "other (x.c:1)"),
      ])
    let verdict = Verdict(facts)
    #expect(verdict.primary.kind == .heldByFewBlocks)
    #expect(verdict.primary.headline == "held by a few large blocks: 160 MiB of the 170 MiB live heap is 2 blocks")
    #expect(verdict.primary.evidence.first == "80.0 MiB allocated at make_frame (frame.c:9)")
  }

  @Test func manySmallBlocksAreNotFewLargeOnes() {
    let facts = SummaryFacts(
      growth: GrowthAnalysis(points: markers([170, 170, 170]), basis: .markers),
      end: split(rss: 200 * MiB, live: 170 * MiB, arena: 172 * MiB), endLiveHeap: 170 * MiB,
      largestBlocks: Array(repeating: LargeBlock(size: 4096, site: "s"), count: 3))
    #expect(Verdict(facts).primary.kind == .steady)
  }

  @Test func aTwoStepLoadIsSteadyNotGrowing() {
    let facts = SummaryFacts(
      growth: GrowthAnalysis(points: markers([44, 199, 354]), basis: .markers),
      end: split(rss: 420 * MiB, live: 80 * MiB, arena: 81 * MiB), endLiveHeap: 80 * MiB)
    let verdict = Verdict(facts)
    #expect(!verdict.findings.contains { $0.kind == .growing })
    #expect(verdict.primary.kind == .steady)
    #expect(verdict.primary.headline == "steady: a load, not growth: tracked memory stepped up 310 MiB across markers m1..m3 and stayed")
    #expect(verdict.primary.evidence.first?.hasSuffix("(2 of 2 steps rose, the largest by 155 MiB, +155 MiB in the later half): a load, not growth") == true,
            "\(verdict.primary.evidence)")
  }

  @Test func tooFewPointsSaysSo() {
    let facts = SummaryFacts(
      growth: GrowthAnalysis(points: markers([1, 90]), basis: .markers), endLiveHeap: MiB)
    let verdict = Verdict(facts)
    #expect(verdict.primary.kind == .steady)
    #expect(verdict.primary.evidence.first?.hasPrefix("growth not assessed: 2 points") == true)
  }
}
