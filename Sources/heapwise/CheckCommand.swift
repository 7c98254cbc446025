// `heapwise check [budgets] -- COMMAND [ARGS...]`: runs COMMAND under the recorder (through
// `record`), replays the dump and fails when a budget is exceeded.
import ArgumentParser
import FoundationEssentials
import HeapwiseAnalysis
import HeapwiseFormat
import HeapwiseReports
#if canImport(Glibc)
import Glibc
#endif

struct CheckCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "check",
    abstract: "Run a command under the recorder and fail if it exceeds an allocation budget.",
    discussion: """
      heapwise check --max-peak 200MiB --max-leaked 0 --max-allocations 5e6 -- pytest tests/
      heapwise check --budget heapwise-budget.json -- ./run-tests
      heapwise check --format json --max-leaked 0 -- ./run-tests

      Sizes take KiB/MiB/GiB (or K/M/G), KB/MB/GB for powers of 1000, or plain bytes; counts \
      take 5e6. Options override the same limits in the budget file. Peak is live heap and \
      mapped bytes at their highest; leaked is what was live at exit.

      Exit status: 0 every budget held; 3 a budget was exceeded, or a leak limit could not be \
      checked (no END record); the command's own status when it failed (its failure matters \
      more, the table is still printed); 1 no readable dump; 2 the dump is damaged and the \
      budgets held on what could be read; 64 usage error.
      """)

  @Option(help: "Highest live bytes allowed (heap and mappings), e.g. 200MiB.")
  var maxPeak: String?

  @Option(help: "Bytes allowed to be still allocated at exit, e.g. 0.")
  var maxLeaked: String?

  @Option(help: "Allocations allowed, e.g. 5e6.")
  var maxAllocations: String?

  @Option(help: "Bytes allowed to be allocated in total, e.g. 1GiB.")
  var maxAllocated: String?

  @Option(help: "A JSON budget file: limits for the whole run and per function glob (docs/BUDGETS.md).")
  var budget: String?

  @Option(name: .shortAndLong, help: "Write the dump here and keep it (a directory with --follow; default: a temporary one, kept only when the check fails).")
  var output: String?

  @Option(help: "Output format: text (a table) or json (docs/BUDGETS.md).")
  var format: OutputFormat = .text

  @OptionGroup var leaks: SuppressionArguments

  @Flag(help: "Also record and check the processes the command starts (forks and execs): counts and bytes add up over them, peak is the highest of any one.")
  var follow = false

  @Argument(parsing: .captureForPassthrough, help: "The command and its arguments.")
  var command: [String] = []

  /// Exit status when a budget is exceeded.
  static let exceeded: Int32 = 3

  var arguments: [String] { command.first == "--" ? Array(command.dropFirst()) : command }

  func validate() throws {
    if arguments.isEmpty { throw ValidationError("give a command to check, e.g. heapwise check --max-leaked 0 -- ./app") }
    _ = try budgetFromOptions()
    if budget == nil && [maxPeak, maxLeaked, maxAllocations, maxAllocated].allSatisfy({ $0 == nil }) {
      throw ValidationError("give at least one budget: --max-peak, --max-leaked, --max-allocations, --max-allocated or --budget")
    }
    if let output, output.contains("%p") {
      throw ValidationError("--output names one file (a directory with --follow): %p is not expanded here")
    }
  }

  /// The limits given as options (the file's are merged in `run`, after it has been read).
  func budgetFromOptions() throws -> [CheckQuantity: UInt64] {
    var limits: [CheckQuantity: UInt64] = [:]
    for (quantity, text) in [(CheckQuantity.peak, maxPeak), (.leaked, maxLeaked), (.allocations, maxAllocations), (.allocated, maxAllocated)] {
      guard let text else { continue }
      do {
        limits[quantity] = try Quantity.parse(text, bytes: quantity.isBytes)
      } catch {
        throw ValidationError("--\(quantity.rawValue): \(error.description)")
      }
    }
    return limits
  }

  func run() throws {
    let suppressions = try leaks.load()
    var plan = CheckBudget()
    if let budget {
      do { plan = try CheckBudget.load(budget) } catch {
        printError("\(error)")
        throw ExitCode(ExitStatus.unreadable)
      }
    }
    plan.limits.merge(try budgetFromOptions()) { _, option in option }

    // Without --output the dumps are kept only when they explain a failure.
    let target = output ?? (follow ? Self.temporaryDirectory() : Self.temporaryDumpPath())
    if follow && mkdir(target, 0o700) != 0 && errno != EEXIST {
      printError("cannot create \(target): \(String(cString: strerror(errno)))")
      throw ExitCode(ExitStatus.unreadable)
    }
    let commandStatus = try record(into: follow ? "\(target)/%p.heapwise" : target)
    let chains = follow ? Self.chains(in: target) : [RecordCommand.execChain(target)]
    guard !chains.isEmpty, access(chains[0][0], R_OK) == 0 else {
      // record has said why (no library, command not found, no dump written).
      throw ExitCode(commandStatus != 0 ? commandStatus : ExitStatus.unreadable)
    }

    // A launcher that execs the real program in place (env, a shim, a script ending in exec)
    // leaves one dump per image; the last image is the program that ran and exited.
    let checked = chains.map { $0.last! }
    for chain in chains where chain.count > 1 {
      printError("\(chain[0]) exec'd \(chain.count - 1) time(s); checking the last program's dump, \(chain.last!)")
    }
    if follow { printError("checking \(checked.count) process(es)") }

    var status: Int32 = 0
    var analyses: [DumpAnalysis] = []
    for path in checked {
      let analysis = DumpAnalysis(reader: try openDump(path))
      let warnings = reportWarnings(analysis.reader, quietAboutEnd: true)
      if warnings != 0 { status = warnings }
      if analysis.reader.warnings.contains(where: \.isDamage) { status = ExitStatus.damaged }
      analyses.append(analysis)
    }
    let rows = plan.evaluate(analyses, suppressions: suppressions)
    let failed = commandStatus != 0 || rows.contains(where: { !$0.passed })
    // A dump the user asked for stays; a temporary one only when it explains a failure.
    let keep = output != nil || failed
    var out = BufferedOutput()
    // A sampled recording (HEAPWISE_SAMPLE in the environment): the verdicts are on estimates.
    let sampling = analyses.lazy.compactMap { $0.state.sampling }.first
    switch format {
    case .text:
      out.write(CheckTable.render(rows, sampling: sampling))
      if plan.limits[.leaked] != nil || plan.sites.contains(where: { $0.limits[.leaked] != nil }) {
        for a in analyses { for line in a.leakCounters(suppressions).suppressed.lines { out.write(line + "\n") } }
      }
    case .json:
      out.write(CheckJSON(command: arguments, commandStatus: commandStatus, dumps: checked, kept: keep, rows: rows,
                          sampling: sampling.map { EstimateReport.Sampling($0, stats: analyses.first?.state.samplingStats) }).text)
    }
    out.flush()

    if output == nil {
      if keep {
        printError("kept for `heapwise top`: \(checked.joined(separator: ", "))")
      } else {
        for image in chains.joined() { unlink(image) }
        if follow { rmdir(target) }
        printError("removed \(follow ? target : chains.joined().joined(separator: ", "))")
      }
    }
    if commandStatus != 0 { throw ExitCode(commandStatus) }
    if rows.contains(where: { !$0.passed }) { throw ExitCode(Self.exceeded) }
    if status != 0 { throw ExitCode(status) }
  }

  /// Runs the command through `record`, which owns finding the library, the environment and
  /// passing signals and the exit status on; returns the command's status.
  private func record(into dump: String) throws -> Int32 {
    let follows = follow ? ["--follow-fork", "--follow-exec"] : []
    let quiet = output == nil ? ["--quiet"] : []  // a temporary dump: check says what it keeps
    let record = try RecordCommand.parse(["--output", dump] + follows + quiet + ["--"] + arguments)
    do {
      try record.run()
      return 0
    } catch let exit as ExitCode {
      return exit.rawValue
    }
  }

  /// The exec chains of every process that wrote a dump into `directory` (as `<pid>.heapwise`),
  /// in pid order.
  static func chains(in directory: String) -> [[String]] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    let pids = names.compactMap { name -> Int? in
      guard name.hasSuffix(".heapwise") else { return nil }
      return Int(name.dropLast(".heapwise".count))
    }
    return pids.sorted().map { RecordCommand.execChain("\(directory)/\($0).heapwise") }
  }

  static func temporaryDirectory() -> String {
    String(temporaryDumpPath().dropLast(".heapwise".count))
  }

  static func temporaryDumpPath() -> String {
    let dir = getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
    return "\(dir)/heapwise-check.\(getpid()).\(UInt32.random(in: 0...UInt32.max)).heapwise"
  }
}
