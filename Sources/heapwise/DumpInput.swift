// Opening a dump for a subcommand: one-line errors, warnings on stderr, and the exit status
// that says whether the dump was whole (docs/ANALYSIS.md, "Exit status").
import ArgumentParser
import HeapwiseFormat
#if canImport(Glibc)
import Glibc
#endif

enum ExitStatus {
  /// The input could not be read at all: missing, empty, not a dump, unsupported version.
  static let unreadable: Int32 = 1
  /// The dump is damaged (corrupt frame, lost frames); the report shows what could be read.
  static let damaged: Int32 = 2
}

/// Prints "heapwise: <message>" on stderr.
func printError(_ message: String) {
  var text = "heapwise: \(message)\n"
  text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

/// `HEAPWISE_READ_AHEAD=0` reads a dump on one thread, `=1` on two whatever its size; unset, the
/// reader decides (two threads for dumps over 4 MiB on a machine with more than one CPU).
var readerOptions: ReaderOptions {
  switch getenv("HEAPWISE_READ_AHEAD").map({ String(cString: $0) }) {
  case "0": ReaderOptions(readAhead: false)
  case "1": ReaderOptions(readAhead: true)
  default: ReaderOptions()
  }
}

func openDump(_ path: String) throws -> DumpReader {
  do {
    return try DumpReader(path: path, options: readerOptions)
  } catch {
    printError("\(path): \(error.description)")
    throw ExitCode(ExitStatus.unreadable)
  }
}

/// Prints the reader's warnings; returns the exit status the command should end with.
func reportWarnings(_ reader: DumpReader, quietAboutEnd: Bool = false) -> Int32 {
  var status: Int32 = 0
  for w in reader.warnings {
    if case .missingEnd = w, quietAboutEnd { continue }
    printError("warning: \(reader.path): \(w.description)")
    if w.isDamage { status = ExitStatus.damaged }
  }
  return status
}

/// Whether stderr is a terminal: progress is drawn only there.
var stderrIsTerminal: Bool { isatty(2) != 0 }
