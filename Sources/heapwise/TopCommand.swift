// `heapwise top FILE`: the sites that hold (or held, or made) the most memory.
import ArgumentParser
import HeapwiseAnalysis
import HeapwiseFormat
import HeapwiseReports

struct TopCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "top",
    abstract: "Show the allocation sites with the most live, peak, leaked, allocated or temporary memory.")

  @Argument(help: "The dump file.")
  var file: String

  @OptionGroup var measure: MeasureArguments

  @OptionGroup var sites: SiteArguments

  @OptionGroup var leaks: SuppressionArguments

  func run() throws {
    let suppressions = try leaks.load()
    let (metric, marker) = (measure.metric, measure.marker)
    let (analysis, warned) = try measure.analyse(file, shown: "showing")
    var status = warned
    if analysis.isAggregated && metric == .temporary {
      printError("\(file): an aggregated dump has no events, so no temporary allocations; try --metric allocated or count")
      throw ExitCode(ExitStatus.unreadable)
    }
    let table: SiteTable
    var suppressed = SuppressedLeaks()
    do {
      if metric == .leaked {
        let split = analysis.leakCounters(suppressions)
        suppressed = split.suppressed
        table = SiteTable(counters: split.counters, resolver: analysis.resolver, options: sites.siteOptions)
      } else {
        table = try analysis.sites(at: marker, options: sites.siteOptions)
      }
    } catch {
      printError("\(file): \(error.description)")
      throw ExitCode(ExitStatus.unreadable)
    }
    let settings = ReportSettings(metric: metric, options: sites.siteOptions, marker: marker,
                                  limit: sites.limit == 0 ? nil : sites.limit, tracebackFrames: sites.tracebackFrames)
    let dump = DumpDescription(analysis)
    // Only leaks are suppressed; another metric's JSON has no "suppressed".
    func leakedOnly(_ s: SuppressedLeaks) -> SuppressedLeaks? { metric == .leaked ? s : nil }
    var out = BufferedOutput()
    let sampling = analysis.state.sampling.map {
      EstimateReport.Sampling($0, stats: analysis.state.samplingStats, aggregated: analysis.isAggregated,
                              approximatePeak: analysis.state.aggregate.peakIntervalsApproximate)
    }
    switch sites.format {
    case .text:
      out.write(TextReport.top(table, dump: dump, settings: settings, sampling: sampling))
      for line in suppressed.lines { out.write(line + "\n") }
    case .json: out.write(JSONReport.top(table, dump: dump, settings: settings, sampling: sampling, suppressed: leakedOnly(suppressed)))
    }
    out.flush()
    if status == 0 && analysis.reader.warnings.contains(where: \.isDamage) { status = ExitStatus.damaged }
    if status != 0 { throw ExitCode(status) }
  }
}
