// `heapwise summary`: is the memory live, retained by the allocator, mapped, or something else,
// and is it growing? The method and thresholds are in docs/SUMMARY.md.
import ArgumentParser
import HeapwiseAnalysis
import HeapwiseFormat
import HeapwiseReports

struct SummaryCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "summary",
    abstract: "Split RSS into live heap, allocator-held, mapped regions and other, with a verdict.",
    discussion: """
      The verdict says whether memory is growing (a leak or an unbounded cache), retained by the \
      allocator after being freed, a high-water mark, or held by a few large blocks, with the \
      evidence. Record with --trim-probe to measure what malloc_trim(0) gives back. Methods and \
      thresholds: docs/SUMMARY.md.
      """
  )

  @Argument(help: "The dump written by `heapwise record`.")
  var file: String

  @Flag(help: "Also show the split at every marker and at evenly spaced samples.")
  var timeline = false

  enum Format: String, ExpressibleByArgument, CaseIterable { case text, json }

  @Option(help: "text, or json (schema heapwise.summary/1 in docs/SUMMARY.md; always has the timeline).")
  var format: Format = .text

  @Option(name: .customLong("at"), help: "Judge the moment of this marker: its split, its live blocks, its verdict.")
  var marker: String?

  @Option(help: "With --to: judge the markers from this one (growth and site changes between the two).")
  var from: String?

  @Option(help: "With --from: the marker where the window ends; its split and verdict are shown.")
  var to: String?

  func validate() throws {
    if marker != nil && (from != nil || to != nil) { throw ValidationError("--at and --from/--to cannot be combined") }
    if (from == nil) != (to == nil) { throw ValidationError("--from and --to go together") }
  }

  var scope: SummaryScope {
    if let marker { return .at(marker) }
    if let from, let to { return .between(from, to) }
    return .whole
  }

  @Option(
    name: .customLong("debug-path"),
    help: "Colon-separated directories with the recorded binaries or their debug files (found by build id).")
  var debugPath: String?

  @OptionGroup var leaks: SuppressionArguments

  func run() throws {
    let suppressions = try leaks.load()
    let reader = try openDump(file)
    if reader.header.isAggregated { return try runAggregated(reader) }
    let progress = Progress("reading \(file)")
    let report: SummaryReport
    do {
      report = try SummaryReport.summarize(
        reader, debugSearchPaths: debugPath?.split(separator: ":").map(String.init) ?? [], scope: scope,
        suppressions: suppressions, progress: progress.callback)
    } catch {
      progress.done()
      printError("\(file): \(error.description)")
      throw ExitCode(ExitStatus.unreadable)
    }
    progress.done()
    var out = BufferedOutput()
    switch format {
    case .text:
      out.write(report.renderText(timeline: timeline, title: file))
      if report.sampled != nil { out.write("\n" + SampledSummaryText.render(report)) }
    case .json:
      out.write(JSONReport.encode(SummaryJSON(report)))
    }
    out.flush()
    let status = reportWarnings(reader, quietAboutEnd: true)
    if status != 0 { throw ExitCode(status) }
  }

  /// An aggregated dump has totals, not events: its own short summary (docs/AGGREGATE.md).
  private func runAggregated(_ reader: DumpReader) throws {
    if from != nil || format == .json || timeline {
      printError("\(file): an aggregated dump has no events: --from/--to, --timeline and --format json need a full recording")
      throw ExitCode(ExitStatus.unreadable)
    }
    let progress = Progress("reading \(file)")
    let analysis = DumpAnalysis(reader: reader, aggregators: [MomentRSS()], progress: progress.callback)
    progress.done()
    let text: String
    do {
      text = try AggregateSummary.text(analysis, title: file, marker: marker)
    } catch {
      printError("\(file): \(error.description)")
      throw ExitCode(ExitStatus.unreadable)
    }
    var out = BufferedOutput()
    out.write(text)
    out.flush()
    let status = reportWarnings(reader, quietAboutEnd: true)
    if status != 0 { throw ExitCode(status) }
  }
}
