// `heapwise export FILE --format pprof|speedscope|collapsed`: the dump's stacks for other viewers.
// What each format holds and how it is weighed: docs/EXPORTS.md.
import ArgumentParser
import HeapwiseAnalysis
import HeapwiseFormat
import HeapwiseReports

struct ExportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "export",
    abstract: "Write the dump's stacks as pprof, speedscope JSON or collapsed stacks.",
    discussion: """
      pprof: gzip'd profile.proto with alloc_objects/alloc_space, inuse_objects/inuse_space and \
      temporary_objects/temporary_space for every stack (go tool pprof -http=: app.pb.gz). \
      speedscope and collapsed: one weight per stack, the --metric's figure (bytes; allocations \
      for count). See docs/EXPORTS.md.
      """)

  enum Format: String, ExpressibleByArgument, CaseIterable { case pprof, speedscope, collapsed }

  @Argument(help: "The dump file.")
  var file: String

  @Option(help: "pprof, speedscope or collapsed.")
  var format: Format

  @Option(name: .shortAndLong, help: "Write here instead of stdout.")
  var output: String?

  @OptionGroup var measure: MeasureArguments

  @OptionGroup var frames: FrameArguments

  func run() throws {
    let (metric, marker) = (measure.metric, measure.marker)
    let (keepAllocatorFrames, showInterpreterFrames) = (frames.keepAllocatorFrames, frames.showInterpreterFrames)
    let (analysis, warned) = try measure.analyse(file, shown: "exporting")
    var status = warned
    let bytes: [UInt8]
    do {
      switch format {
      case .pprof:
        bytes = try PprofExport.render(
          analysis, options: .init(metric: metric, marker: marker, keepAllocatorFrames: keepAllocatorFrames,
                                  showInterpreterFrames: showInterpreterFrames))
      case .speedscope, .collapsed:
        let stacks = FunctionStacks(
          counters: try analysis.counters(at: marker), resolver: analysis.resolver,
          keepAllocatorFrames: keepAllocatorFrames, showInterpreterFrames: showInterpreterFrames)
        if format == .collapsed {
          bytes = Array(CollapsedExport.render(stacks, metric: metric).utf8)
        } else {
          let settings = ReportSettings(metric: metric, options: SiteOptions(), marker: marker)
          let dump = DumpDescription(analysis)
          bytes = Array(SpeedscopeExport.render(
            stacks, metric: metric, name: dump.headline, title: settings.measured(exited: dump.exited)).utf8)
        }
      }
    } catch let error as AnalysisError {
      printError("\(file): \(error.description)")
      throw ExitCode(ExitStatus.unreadable)
    }
    try writeOutput(bytes, to: output)
    if status == 0 && analysis.reader.warnings.contains(where: \.isDamage) { status = ExitStatus.damaged }
    if status != 0 { throw ExitCode(status) }
  }
}
