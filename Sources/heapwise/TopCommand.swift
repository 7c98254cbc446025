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

  @Option(help: "What to rank sites by: live, peak, leaked, allocated, count or temporary.")
  var metric: Metric = .live

  @Option(name: .customLong("at"), help: "Take live bytes at this marker instead of at the end (with --metric live).")
  var marker: String?

  @OptionGroup var sites: SiteArguments

  func validate() throws {
    if marker != nil && metric != .live {
      throw ValidationError("--at applies to --metric live only")
    }
  }

  func run() throws {
    let reader = try openDump(file)
    let progress = Progress("reading \(file)")
    let analysis = DumpAnalysis(reader: reader, markers: marker.map { [$0] } ?? [], progress: progress.callback)
    progress.done()
    var status = reportWarnings(analysis.reader, quietAboutEnd: true)
    if analysis.isAggregated && metric == .temporary {
      printError("\(file): an aggregated dump has no events, so no temporary allocations; try --metric allocated or count")
      throw ExitCode(ExitStatus.unreadable)
    }
    if metric == .leaked && !analysis.exitedNormally {
      printError("warning: \(file): no END record, so nothing can be called leaked; showing live blocks at the end of the dump")
    }
    let table: SiteTable
    do {
      table = try analysis.sites(at: marker, options: sites.siteOptions)
    } catch {
      printError("\(file): \(error.description)")
      throw ExitCode(ExitStatus.unreadable)
    }
    let settings = ReportSettings(metric: metric, options: sites.siteOptions, marker: marker,
                                  limit: sites.limit == 0 ? nil : sites.limit, tracebackFrames: sites.tracebackFrames)
    let dump = DumpDescription(analysis)
    var out = BufferedOutput()
    switch sites.format {
    case .text: out.write(TextReport.top(table, dump: dump, settings: settings))
    case .json: out.write(JSONReport.top(table, dump: dump, settings: settings))
    }
    out.flush()
    if status == 0 && analysis.reader.warnings.contains(where: \.isDamage) { status = ExitStatus.damaged }
    if status != 0 { throw ExitCode(status) }
  }
}
