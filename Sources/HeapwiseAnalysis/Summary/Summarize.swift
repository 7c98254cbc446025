import HeapwiseFormat
import HeapwiseSymbols

extension SummaryReport {
  /// Reads the rest of `reader` and builds the summary, symbolizing only the sites it names.
  /// The reader's own warnings stay with the reader (callers print them and set the exit status).
  /// - Parameter debugSearchPaths: directories searched for the dump's binaries and debug files
  ///   by build id, before `$HEAPWISE_DEBUG_PATH` (see HeapwiseSymbols' README).
  public static func summarize(
    _ reader: DumpReader, debugSearchPaths: [String] = [], thresholds: VerdictThresholds = .init(),
    timelineRows: Int = 24
  ) -> SummaryReport {
    var collector = SummaryCollector()
    while let event = reader.next() { collector.consume(event) }
    let data = collector.finish(header: reader.header)
    let symbolizer = Symbolizer(options: SymbolizerOptions(debugSearchPaths: debugSearchPaths))
    let sites = SummarySites(stacks: data.stacks, modules: data.modules, symbolizer: symbolizer)
    return SummaryReport(
      data: data, header: reader.header, site: sites.site, thresholds: thresholds,
      timelineRows: timelineRows)
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
