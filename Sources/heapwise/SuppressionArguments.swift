// `--suppressions FILE` for summary, top's leak view and check (docs/ANALYSIS.md, "Suppressions").
import ArgumentParser
import FoundationEssentials
import HeapwiseAnalysis

struct SuppressionArguments: ParsableArguments {
  @Option(help: ArgumentHelp("LeakSanitizer-format suppressions (leak:PATTERN lines) left out of the leaks.", valueName: "file"))
  var suppressions: String?

  @Flag(help: "Count the C++ runtime's one-time blocks (libstdc++'s emergency exception pool) as leaks too.")
  var noDefaultSuppressions = false

  /// The rules, or one line on stderr and exit status 1 for a file that cannot be read or parsed.
  func load() throws -> Suppressions {
    guard let suppressions else { return Suppressions(runtimeDefaults: !noDefaultSuppressions) }
    guard let data = FileManager.default.contents(atPath: suppressions) else {
      printError("\(suppressions): cannot read the suppressions file")
      throw ExitCode(ExitStatus.unreadable)
    }
    do {
      return try Suppressions(parsing: String(decoding: data, as: UTF8.self), runtimeDefaults: !noDefaultSuppressions)
    } catch {
      printError("\(suppressions): \(error.description)")
      throw ExitCode(ExitStatus.unreadable)
    }
  }
}
