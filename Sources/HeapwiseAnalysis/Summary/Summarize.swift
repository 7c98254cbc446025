import HeapwiseFormat
import HeapwiseSymbols

extension SummaryReport {
  /// Reads the rest of `reader` and builds the summary, symbolizing only the sites it names.
  /// The reader's own warnings stay with the reader (callers print them and set the exit status).
  /// - Parameter debugSearchPaths: directories searched for the dump's binaries and debug files
  ///   by build id, before `$HEAPWISE_DEBUG_PATH` (see HeapwiseSymbols' README).
  /// - Parameter scope: the moment judged (the whole run, `--at`, `--from`/`--to`); an unknown
  ///   marker throws.
  /// - Parameter progress: called now and then with the fraction of the dump read.
  public static func summarize(
    _ reader: DumpReader, debugSearchPaths: [String] = [], thresholds: VerdictThresholds = .init(),
    timelineRows: Int = 24, scope: SummaryScope = .whole, suppressions: Suppressions? = nil,
    progress: ((Double) -> Void)? = nil
  ) throws(AnalysisError) -> SummaryReport {
    try summarize(
      reader, scopes: [scope], debugSearchPaths: debugSearchPaths, thresholds: thresholds,
      timelineRows: timelineRows, suppressions: suppressions, progress: progress)[0]
  }

  /// One replay, one report per scope (they share the symbolized sites).
  public static func summarize(
    _ reader: DumpReader, scopes: [SummaryScope], debugSearchPaths: [String] = [],
    thresholds: VerdictThresholds = .init(), timelineRows: Int = 24, suppressions: Suppressions? = nil,
    progress: ((Double) -> Void)? = nil
  ) throws(AnalysisError) -> [SummaryReport] {
    let aggregator = SummaryAggregator(keepStacksAt: scopes.reduce(into: Set<String>()) { $0.formUnion($1.markers) })
    // Per-stack live blocks at exit, only to say what the suppressions leave out.
    let stacks = suppressions.map { _ in StackMetrics() }
    let replay = Replay(aggregators: [aggregator] + (stacks.map { [$0] } ?? []), pageSize: UInt64(reader.header.pageSize))
    var source = reader
    replay.run(&source, progress: progress.map { report in { _ in report(reader.fractionRead) } })
    let data = aggregator.data(replay: replay, header: reader.header, residency: reader.residency)
    let names = data.markers.compactMap(\.label)
    // `--at peak` stands for the last peak moment (MomentNames).
    let scopes = scopes.map { scope -> SummaryScope in
      func name(_ m: String) -> String { MomentNames.resolve(m, names: names, peaks: aggregator.peakMoments) ?? m }
      switch scope {
      case .whole: return .whole
      case .at(let m): return .at(name(m))
      case .between(let a, let b): return .between(name(a), name(b))
      }
    }
    for scope in scopes {
      for m in scope.markers.sorted() where !names.contains(m) {
        var unique: [String] = []
        for n in names where !unique.contains(n) { unique.append(n) }
        throw .unknownMarker(m, available: unique)
      }
      if case .between(let a, let b) = scope, names.firstIndex(of: a)! > names.firstIndex(of: b)! {
        throw .markersOutOfOrder(a, b)
      }
    }
    let resolver = FrameResolver(
      state: replay.state, symbolizer: Symbolizer(options: SymbolizerOptions(debugSearchPaths: debugSearchPaths)))
    let site = SummarySite.namer(resolver)
    let python = replay.state.python.runtime.map(PythonRun.init)
    let suppressed = suppressions.flatMap { s in stacks.map { s.split($0.counters, resolver: resolver).suppressed } }
    return scopes.map {
      var report = SummaryReport(
        data: data, header: reader.header, site: site, thresholds: thresholds, timelineRows: timelineRows, scope: $0)
      report.python = python
      report.impossibleBlocks = replay.state.impossibleBlocks
      report.sampled = SampledHeap.of(replay.state)
      if let marker = report.facts.judgedAt?.marker, let i = data.markers.firstIndex(where: { $0.label == marker }),
        let v = data.markerVariance
      {
        report.sampled?.atMarker = (marker, Estimate(value: Double(data.markers[i].tracked), variance: v.variance(at: i)))
      }
      report.suppressed = suppressed
      if let w = replay.state.impossibleBlocksWarning { report.warnings.append(w) }
      return report
    }
  }

  /// Opens the dump at `path` and summarizes it; the reader's warnings (truncated, corrupt frame,
  /// lost events) become the report's.
  public static func summarize(
    dumpAt path: String, debugSearchPaths: [String] = [], thresholds: VerdictThresholds = .init(),
    scope: SummaryScope = .whole
  ) throws -> SummaryReport {
    try summarize(dumpAt: path, scopes: [scope], debugSearchPaths: debugSearchPaths, thresholds: thresholds)[0]
  }

  /// The same for several scopes, from one replay.
  public static func summarize(
    dumpAt path: String, scopes: [SummaryScope], debugSearchPaths: [String] = [],
    thresholds: VerdictThresholds = .init()
  ) throws -> [SummaryReport] {
    let reader = try DumpReader(path: path)
    var reports = try summarize(reader, scopes: scopes, debugSearchPaths: debugSearchPaths, thresholds: thresholds)
    for i in reports.indices { reports[i].warnings += reader.warnings.filter { $0 != .missingEnd }.map(\.description) }
    return reports
  }
}
