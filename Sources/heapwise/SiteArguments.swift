// Options shared by `top` and `compare`: how sites are formed and shown.
import ArgumentParser
import HeapwiseAnalysis

extension Grouping: ExpressibleByArgument {}
extension Metric: ExpressibleByArgument {}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
  case text, json
}

struct SiteArguments: ParsableArguments {
  @Option(name: .customLong("by"), help: "Group by: traceback, lineno, filename, function or module.")
  var grouping: Grouping = .lineno

  @Flag(help: "Count each stack once for every site among all its frames, not only the innermost.")
  var cumulative = false

  @Option(name: .customLong("include"),
          help: ArgumentHelp("Only frames matching this glob can be a site (repeatable).",
                             discussion: "Prefix with module:, file: or function: to match one field; a bare glob matches any.",
                             valueName: "pattern"))
  var include: [String] = []

  @Option(name: .customLong("exclude"),
          help: ArgumentHelp("Skip frames matching this glob, e.g. 'module:libc.so*' (repeatable).", valueName: "pattern"))
  var exclude: [String] = []

  @OptionGroup var frames: FrameArguments

  @Option(help: "Show at most this many sites (0: all).")
  var limit: Int = 10

  @Option(help: "Frames shown per traceback with --by traceback.")
  var tracebackFrames: Int = 16

  @Option(help: "Output format: text or json.")
  var format: OutputFormat = .text

  func validate() throws {
    if cumulative && grouping == .traceback {
      throw ValidationError("--cumulative applies to lineno, filename, function and module, not traceback")
    }
    if limit < 0 { throw ValidationError("--limit must be 0 or more") }
  }

  var siteOptions: SiteOptions {
    SiteOptions(grouping: grouping, cumulative: cumulative, include: include.map(FrameFilter.init(parsing:)),
                exclude: exclude.map(FrameFilter.init(parsing:)), skipAllocatorFrames: !frames.keepAllocatorFrames,
                showInterpreterFrames: frames.showInterpreterFrames)
  }
}
