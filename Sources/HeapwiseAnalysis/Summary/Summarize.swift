import HeapwiseFormat
import HeapwiseSymbols

extension SummaryReport {
  /// Reads the rest of `reader` and builds the summary, symbolizing only the sites it names.
  /// The reader's own warnings stay with the reader (callers print them and set the exit status).
  /// - Parameter debugSearchPaths: directories searched for the dump's binaries and debug files
  ///   by build id, before `$HEAPWISE_DEBUG_PATH` (see HeapwiseSymbols' README).
  /// - Parameter progress: called now and then with the fraction of the dump read.
  public static func summarize(
    _ reader: DumpReader, debugSearchPaths: [String] = [], thresholds: VerdictThresholds = .init(),
    timelineRows: Int = 24, progress: ((Double) -> Void)? = nil
  ) -> SummaryReport {
    let aggregator = SummaryAggregator()
    let replay = Replay(aggregators: [aggregator])
    var source = reader
    replay.run(&source, progress: progress.map { report in { _ in report(reader.fractionRead) } })
    let data = aggregator.data(replay: replay, header: reader.header, residency: reader.residency)
    let resolver = FrameResolver(
      state: replay.state, symbolizer: Symbolizer(options: SymbolizerOptions(debugSearchPaths: debugSearchPaths)))
    var report = SummaryReport(
      data: data, header: reader.header, site: SummarySite.namer(resolver), thresholds: thresholds,
      timelineRows: timelineRows)
    report.python = replay.state.python.runtime.map(PythonRun.init)
    return report
  }

  /// Opens the dump at `path` and summarizes it; the reader's warnings (truncated, corrupt frame,
  /// lost events) become the report's.
  public static func summarize(
    dumpAt path: String, debugSearchPaths: [String] = [], thresholds: VerdictThresholds = .init()
  ) throws(DumpError) -> SummaryReport {
    let reader = try DumpReader(path: path)
    var report = summarize(reader, debugSearchPaths: debugSearchPaths, thresholds: thresholds)
    report.warnings += reader.warnings.filter { $0 != .missingEnd }.map(\.description)
    return report
  }
}
