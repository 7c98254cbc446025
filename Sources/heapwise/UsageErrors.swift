// The entry point: ArgumentParser parses, but heapwise decides how help and usage errors look.
// docs/ANALYSIS.md promises one line on stderr and status 64 for a usage error (ArgumentParser
// prints the error, the usage and a hint: three lines or more), and `record`/`check` capture
// everything after their options for the command they run, `--help` included, so that
// `heapwise record --help` would run a program called `--help`.
import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif

enum UsageErrors {
  /// Status of a usage error (EX_USAGE).
  static let status: Int32 = 64

  /// The subcommand whose help `arguments` ask for before its command: `record --help`,
  /// `check --max-leaked 0 --help -- ./app`. A `--help` after `--`, or after the first word that
  /// is not an option (the command, which runs without `--` too), belongs to the command.
  static func passthroughHelp(_ arguments: [String]) -> (any ParsableCommand.Type)? {
    guard let name = arguments.first,
      let command = Heapwise.subcommands.first(where: { $0.configuration.commandName == name }),
      command == RecordCommand.self || command == CheckCommand.self
    else { return nil }
    let hasSeparator = arguments.contains("--")
    var isValue = false
    for a in arguments.dropFirst() {
      if isValue {
        isValue = false
        continue
      }
      if a == "--" { return nil }
      if a == "--help" || a == "-h" { return command }
      if valueOptions.contains(a) {
        isValue = true
        continue
      }
      if !a.hasPrefix("-") && !hasSeparator { return nil }
    }
    return nil
  }

  /// Options of `record` and `check` that take a value: the word after them is not the command.
  static let valueOptions: Set<String> = [
    "-o", "--output", "--interval-ms", "--max-frames", "--marker-signal", "--flush", "--dump-at-rss",
    "--max-peak", "--max-leaked", "--max-allocations", "--max-allocated", "--budget", "--format",
    "--suppressions",
  ]

  /// One line for an error ArgumentParser reports: its message without the usage that follows.
  static func line(for error: any Error, arguments: [String]) -> String {
    let message = Heapwise.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
    let trimmed = message.hasPrefix("Error: ") ? String(message.dropFirst("Error: ".count)) : message
    let sub = arguments.first.flatMap { a in Heapwise.subcommands.contains { $0.configuration.commandName == a } ? a : nil }
    return "\(trimmed) (see `heapwise \(sub.map { $0 + " " } ?? "")--help`)"
  }

  static func run(_ arguments: [String]) -> Int32 {
    if let command = passthroughHelp(arguments) {
      print(Heapwise.helpMessage(for: command))
      return 0
    }
    do {
      var command = try Heapwise.parseAsRoot(arguments)
      try command.run()
      return 0
    } catch {
      let code = Heapwise.exitCode(for: error).rawValue
      if code == 0 {
        // --help, --version: ArgumentParser's full text on stdout.
        let text = Heapwise.fullMessage(for: error)
        if !text.isEmpty { print(text) }
        return 0
      }
      if error is ExitCode { return code }  // the command said why already
      if code == Heapwise.exitCode(for: ValidationError("")).rawValue || code == status {
        printError(line(for: error, arguments: arguments))
        return status
      }
      printError(Heapwise.message(for: error).split(separator: "\n").joined(separator: "; "))
      return code
    }
  }
}

#if !HEAPWISE_FUZZ
@main
enum CommandLineEntry {
  static func main() {
    let status = UsageErrors.run(Array(CommandLine.arguments.dropFirst()))
    exit(status)
  }
}
#endif
