// Where `export` and `report` write: a file given with -o, else stdout.
import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Writes `bytes` to `path`, or to stdout when `path` is nil or "-"; one error line and status 1
/// when the file cannot be written.
func writeOutput(_ bytes: [UInt8], to path: String?) throws {
  guard let path, path != "-" else {
    bytes.withUnsafeBytes { b in
      var off = 0
      while off < b.count {
        let n = Glibc.write(1, b.baseAddress! + off, b.count - off)
        if n <= 0 {
          if n < 0 && errno == EINTR { continue }
          return  // a closed pipe (e.g. `| head`): stop quietly
        }
        off += n
      }
    }
    return
  }
  do {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
  } catch {
    printError("\(path): cannot write: \((error as NSError).localizedDescription)")
    throw ExitCode(ExitStatus.unreadable)
  }
}
