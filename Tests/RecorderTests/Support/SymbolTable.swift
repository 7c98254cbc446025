// The executable's own symbol table (via nm), to check recorded return addresses independently of
// HeapwiseSymbols: a frame must fall inside the function that made the call.
import Foundation

struct SymbolTable {
  struct Symbol { var start: UInt64; var size: UInt64; var name: String }
  var symbols: [Symbol] = []

  init(executable: String) throws {
    let result = try Harness.run("/usr/bin/nm", ["-C", "-S", "--defined-only", executable], environment: [:])
    guard result.status == 0 else { throw HarnessError("nm \(executable) failed: \(result.stderr)") }
    for line in result.stdout.split(separator: "\n") {
      let parts = line.split(separator: " ", maxSplits: 3)
      guard parts.count == 4, "tTwW".contains(parts[2]),
            let start = UInt64(parts[0], radix: 16), let size = UInt64(parts[1], radix: 16) else { continue }
      symbols.append(Symbol(start: start, size: size, name: String(parts[3])))
    }
  }

  /// The function containing `offset` (an address minus the module's load bias).
  func function(at offset: UInt64) -> String? {
    symbols.first { offset >= $0.start && offset < $0.start + $0.size }?.name
  }
}
