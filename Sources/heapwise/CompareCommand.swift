// `heapwise compare OLD NEW` or `heapwise compare FILE --from A --to B`: what grew, what shrank.
import ArgumentParser
import HeapwiseAnalysis
import HeapwiseFormat
import HeapwiseReports
import HeapwiseSymbols

struct CompareCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "compare",
    abstract: "Compare sites between two dumps, or between two markers of one dump.",
    discussion: """
      heapwise compare before.heapwise after.heapwise --by lineno
      heapwise compare app.heapwise --from batch1 --to batch2
      Sites are matched by function, file name and line (or function and module name), so two
      builds of one program at different paths compare.
      """)

  @Argument(help: "One dump (with --from and --to), or the older and the newer dump.")
  var files: [String]

  @Option(help: "The older marker, in a single dump.")
  var from: String?

  @Option(help: "The newer marker, in a single dump.")
  var to: String?

  @Option(help: "What to compare: live (default), peak, leaked, allocated, count or temporary.")
  var metric: Metric = .live

  @OptionGroup var sites: SiteArguments

  func validate() throws {
    switch files.count {
    case 1:
      guard from != nil, to != nil else { throw ValidationError("with one dump, give both --from and --to markers") }
      guard metric == .live else { throw ValidationError("comparing markers compares live bytes; drop --metric") }
    case 2:
      guard from == nil, to == nil else { throw ValidationError("--from and --to compare two markers of one dump") }
    default:
      throw ValidationError("give one dump with --from and --to, or two dumps")
    }
  }

  func run() throws {
    var status: Int32 = 0
    let options = sites.siteOptions
    let old: SiteTable, new: SiteTable
    var paired: (sites: [String: SampledFigure], total: SampledFigure)?
    let oldName: String, newName: String
    var notes: [String] = []
    // Both dumps are usually of one program: its debug information is opened once.
    let symbolizer = Symbolizer()
    if files.count == 1, let from, let to {
      let difference = SampledMarkerDifference(from, to)
      let analysis = try analyse(files[0], markers: [from, to], aggregators: [difference], symbolizer: symbolizer,
                                 status: &status)
      (old, new) = try tables(analysis, files[0]) { a in
        (try a.sites(at: from, options: options), try a.sites(at: to, options: options))
      }
      if analysis.state.sampling != nil, !analysis.isAggregated {
        paired = difference.bySite(counters: try tables(analysis, files[0]) { try $0.counters(at: to) },
                                   resolver: analysis.resolver, options: options)
      }
      oldName = "\(files[0]) at marker \"\(from)\""
      newName = "\(files[0]) at marker \"\(to)\""
    } else {
      let a = try analyse(files[0], markers: [], aggregators: [], symbolizer: symbolizer, status: &status)
      let b = try analyse(files[1], markers: [], aggregators: [], symbolizer: symbolizer, status: &status)
      old = try tables(a, files[0]) { try $0.sites(options: options) }
      new = try tables(b, files[1]) { try $0.sites(options: options) }
      oldName = DumpDescription(a).headline
      newName = DumpDescription(b).headline
      if metric == .leaked {
        for (x, f) in [(a, files[0]), (b, files[1])] where !x.exitedNormally {
          notes.append("\(f) has no END record: its leaked figures are live blocks at the end of the dump")
        }
      }
    }
    let comparison = Comparison(old: old, new: new, metric: metric, paired: paired)
    if comparison.isEstimate { notes.append(EstimateReport.compareNote(sameDump: files.count == 1, paired: paired != nil)) }
    let settings = ReportSettings(metric: metric, options: options, limit: sites.limit == 0 ? nil : sites.limit,
                                  tracebackFrames: sites.tracebackFrames)
    var out = BufferedOutput()
    switch sites.format {
    case .text: out.write(TextReport.compare(comparison, old: oldName, new: newName, settings: settings, notes: notes))
    case .json: out.write(JSONReport.compare(comparison, old: oldName, new: newName, settings: settings, notes: notes))
    }
    out.flush()
    if status != 0 { throw ExitCode(status) }
  }

  private func analyse(_ file: String, markers: Set<String>, aggregators: [any ReplayAggregator], symbolizer: Symbolizer,
                       status: inout Int32) throws -> DumpAnalysis
  {
    let reader = try openDump(file)
    let progress = Progress("reading \(file)")
    let analysis = DumpAnalysis(reader: reader, markers: markers, aggregators: aggregators, symbolizer: symbolizer,
                                progress: progress.callback)
    progress.done()
    status = max(status, reportWarnings(reader, quietAboutEnd: true))
    return analysis
  }

  private func tables<T>(_ analysis: DumpAnalysis, _ file: String, _ body: (DumpAnalysis) throws -> T) throws -> T {
    do {
      return try body(analysis)
    } catch let error as AnalysisError {
      printError("\(file): \(error.description)")
      throw ExitCode(ExitStatus.unreadable)
    }
  }
}
