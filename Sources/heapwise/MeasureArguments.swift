// Options shared by `top` and `export`: what is measured (and at which marker), which frames are
// kept, and the replay both start with.
import ArgumentParser
import HeapwiseAnalysis
import HeapwiseFormat

struct MeasureArguments: ParsableArguments {
  @Option(help: "What to measure: live, peak, leaked, allocated, count or temporary (top ranks sites by it, export weighs stacks by it; pprof: the default sample type).")
  var metric: Metric = .live

  @Option(name: .customLong("at"), help: "Take live bytes at this marker instead of at the end (with --metric live).")
  var marker: String?

  func validate() throws {
    if marker != nil && metric != .live {
      throw ValidationError("--at applies to --metric live only")
    }
  }

  /// Replays `file`, keeping the state at `--at`; prints the reader's warnings (and, for
  /// `--metric leaked` without an END record, that live blocks stand in, `shown` saying how they
  /// are used). Returns the analysis and the exit status the warnings call for.
  func analyse(_ file: String, shown: String) throws -> (DumpAnalysis, Int32) {
    let reader = try openDump(file)
    let progress = Progress("reading \(file)")
    let analysis = DumpAnalysis(reader: reader, markers: marker.map { [$0] } ?? [], progress: progress.callback)
    progress.done()
    let status = reportWarnings(analysis.reader, quietAboutEnd: true)
    if metric == .leaked && !analysis.exitedNormally {
      printError("warning: \(file): no END record, so nothing can be called leaked; \(shown) live blocks at the end of the dump")
    }
    return (analysis, status)
  }
}

/// Which frames stay in a site or a stack.
struct FrameArguments: ParsableArguments {
  @Flag(help: "Keep the allocator's and the recorder's own frames (malloc, operator new, libheapwise).")
  var keepAllocatorFrames = false

  @Flag(help: "Let the Python interpreter's own native frames (evaluation loop, call glue) be sites and show them in tracebacks and stacks.")
  var showInterpreterFrames = false
}
