// `heapwise report FILE -o app.html`: one self-contained HTML page with the RSS timeline, flame
// graphs, the verdict and the top tables (docs/REPORTS.md).
import ArgumentParser
import HeapwiseAnalysis
import HeapwiseReports
import HeapwiseSymbols

struct ReportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "report",
    abstract: "Write one self-contained HTML page: RSS timeline, flame graphs, verdict and top sites.",
    discussion: """
      The page makes no network request and needs no server: open it from disk. Flame graph \
      frames under --min-share percent of their view's total are pruned; the page says how much.
      """)

  @Argument(help: "The dump file.")
  var file: String

  @Option(name: .shortAndLong, help: "The HTML file to write (default: the dump's name with .html; - for stdout).")
  var output: String?

  @Option(help: "Prune flame graph frames under this percentage of their view's total.")
  var minShare: Double = 0.1

  @Flag(help: "Draw the Python interpreter's own native frames in the flame graphs; hidden by default, as in top.")
  var showInterpreterFrames = false

  @Option(
    name: .customLong("debug-path"),
    help: "Colon-separated directories with the recorded binaries or their debug files (found by build id).")
  var debugPath: String?

  func validate() throws {
    if !(minShare >= 0 && minShare < 100) { throw ValidationError("--min-share must be at least 0 and below 100") }
  }

  var destination: String {
    if let output { return output }
    let base = file.hasSuffix(".heapwise") ? String(file.dropLast(".heapwise".count)) : file
    return base + ".html"
  }

  func run() throws {
    let reader = try openDump(file)
    let progress = Progress("reading \(file)")
    let analysis = ReportAnalysis(
      reader: reader,
      symbolizerOptions: SymbolizerOptions(debugSearchPaths: debugPath?.split(separator: ":").map(String.init) ?? []),
      progress: progress.callback)
    progress.done()
    var status = reportWarnings(reader, quietAboutEnd: true)
    let page = HTMLReport.render(analysis, path: file, options: .init(minimumShare: minShare / 100, showInterpreterFrames: showInterpreterFrames))
    try writeOutput(Array(page.utf8), to: destination)
    if destination != "-" { printError("report written to \(destination)") }
    if status == 0 && reader.warnings.contains(where: \.isDamage) { status = ExitStatus.damaged }
    if status != 0 { throw ExitCode(status) }
  }
}
