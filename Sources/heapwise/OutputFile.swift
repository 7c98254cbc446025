// Where `export` and `report` write: a file given with -o, else stdout.
import ArgumentParser
import Foundation

/// Writes `bytes` to `path`, or to stdout when `path` is nil or "-"; one error line and status 1
/// when the file cannot be written.
func writeOutput(_ bytes: [UInt8], to path: String?) throws {
  guard let path, path != "-" else {
    bytes.withUnsafeBytes(BufferedOutput.writeToStandardOutput)
    return
  }
  do {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
  } catch {
    printError("\(path): cannot write: \((error as NSError).localizedDescription)")
    throw ExitCode(ExitStatus.unreadable)
  }
}
