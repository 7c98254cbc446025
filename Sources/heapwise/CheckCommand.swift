// `heapwise check [budgets] -- COMMAND [ARGS...]`: runs COMMAND under the recorder (through
// `record`), replays the dump and fails when a budget is exceeded.
import ArgumentParser
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

  @Option(name: .shortAndLong, help: "Write the dump here and keep it (default: a temporary file, kept only when the check fails).")
  var output: String?

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
      throw ValidationError("--output names one file: %p is not expanded here")
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
    var plan = CheckBudget()
    if let budget {
      do { plan = try CheckBudget.load(budget) } catch {
        printError("\(error)")
        throw ExitCode(ExitStatus.unreadable)
      }
    }
    plan.limits.merge(try budgetFromOptions()) { _, option in option }

    // Without --output the dump is kept only when it explains a failure.
    let dump = output ?? Self.temporaryDumpPath()
    let commandStatus = try record(into: dump)
    guard access(dump, R_OK) == 0 else {
      // record has said why (no library, command not found, no dump written).
      throw ExitCode(commandStatus != 0 ? commandStatus : ExitStatus.unreadable)
    }

    // A launcher that execs the real program in place (env, a shim, a script ending in exec)
    // leaves one dump per image; the last image is the program that ran and exited.
    let images = Self.execChain(dump)
    let checked = images.last!
    if images.count > 1 { printError("the command exec'd \(images.count - 1) time(s); checking the last program's dump, \(checked)") }

    let reader = try openDump(checked)
    let analysis = DumpAnalysis(reader: reader)
    var status = reportWarnings(analysis.reader, quietAboutEnd: true)
    let rows = plan.evaluate(analysis)
    var out = BufferedOutput()
    out.write(CheckTable.render(rows))
    out.flush()

    let failed = commandStatus != 0 || rows.contains(where: { !$0.passed })
    if output == nil {
      if failed {
        printError("dump kept for `heapwise top \(checked)`")
      } else {
        for image in images { unlink(image) }
        printError("removed \(images.joined(separator: ", "))")
      }
    }
    if commandStatus != 0 { throw ExitCode(commandStatus) }
    if rows.contains(where: { !$0.passed }) { throw ExitCode(Self.exceeded) }
    if status == 0 && analysis.reader.warnings.contains(where: \.isDamage) { status = ExitStatus.damaged }
    if status != 0 { throw ExitCode(status) }
  }

  /// Runs the command through `record`, which owns finding the library, the environment and
  /// passing signals and the exit status on; returns the command's status.
  private func record(into dump: String) throws -> Int32 {
    var record = try RecordCommand.parse(["--output", dump, "--"] + arguments)
    do {
      try record.run()
      return 0
    } catch let exit as ExitCode {
      return exit.rawValue
    }
  }

  /// `dump` and the dumps of its in-place execs, which the recorder names `<dump>.execN.heapwise`.
  static func execChain(_ dump: String) -> [String] {
    let stem = dump.hasSuffix(".heapwise") ? String(dump.dropLast(".heapwise".count)) : dump
    var chain = [dump]
    while access("\(stem).exec\(chain.count).heapwise", F_OK) == 0 {
      chain.append("\(stem).exec\(chain.count).heapwise")
    }
    return chain
  }

  static func temporaryDumpPath() -> String {
    let dir = getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
    return "\(dir)/heapwise-check.\(getpid()).\(UInt32.random(in: 0...UInt32.max)).heapwise"
  }
}

/// The pass/fail table.
enum CheckTable {
  static func format(_ value: UInt64, bytes: Bool) -> String {
    bytes ? Units.bytes(value) : String(value)
  }

  /// The excess, exact when rounding would hide it ("+1 B").
  static func excess(_ row: CheckRow, _ measured: UInt64) -> String {
    let over = measured - row.limit
    guard row.quantity.isBytes else { return "+\(over)" }
    return over < 1024 ? "+\(over) B" : "+" + Units.bytes(over)
  }

  static func render(_ rows: [CheckRow]) -> String {
    var table: [[String]] = [["budget", "limit", "measured", "result"]]
    for row in rows {
      var limit = format(row.limit, bytes: row.quantity.isBytes)
      var measured = row.measured.map { format($0, bytes: row.quantity.isBytes) } ?? "unknown"
      // Rounded alike but different ("102 KiB" both): show the bytes.
      if let m = row.measured, m != row.limit, measured == limit {
        limit = "\(row.limit) B"
        measured = "\(m) B"
      }
      let result: String
      if let m = row.measured {
        result = row.passed ? "pass" : "FAIL \(excess(row, m))"
      } else {
        result = "FAIL (no END record: the process did not exit normally)"
      }
      table.append([row.budget, limit, measured, result])
    }
    let widths = (0..<4).map { col in table.map { $0[col].count }.max() ?? 0 }
    var text = ""
    for (i, cells) in table.enumerated() {
      let line = cells.enumerated().map { col, cell in
        let pad = String(repeating: " ", count: widths[col] - cell.count)
        return col == 0 || col == 3 ? cell + pad : pad + cell  // numbers right-aligned
      }.joined(separator: "   ")
      text += line.replacingTrailingSpaces() + "\n"
      if i > 0, !rows[i - 1].topSites.isEmpty {
        text += "    top sites: " + rows[i - 1].topSites.joined(separator: ", ") + "\n"
      }
    }
    let failed = rows.filter { !$0.passed }.count
    let budgets = rows.count == 1 ? "1 budget" : "\(rows.count) budgets"
    text += "heapwise check: \(budgets), " + (failed == 0 ? "all held\n" : "\(failed) exceeded\n")
    return text
  }
}

extension String {
  fileprivate func replacingTrailingSpaces() -> String {
    var s = self
    while s.last == " " { s.removeLast() }
    return s
  }
}
