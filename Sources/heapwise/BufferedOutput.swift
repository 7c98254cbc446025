// stdout through one buffer: `print` per line costs a lock and a write check each time.
#if canImport(Glibc)
import Glibc
#endif

struct BufferedOutput {
  private var buffer: [UInt8] = []

  init() { buffer.reserveCapacity(1 << 16) }

  mutating func write(_ s: String) {
    buffer.append(contentsOf: s.utf8)
    if buffer.count >= 1 << 16 { flush() }
  }

  mutating func flush() {
    buffer.withUnsafeBytes(Self.writeToStandardOutput)
    buffer.removeAll(keepingCapacity: true)
  }

  /// Writes all of `bytes` to stdout, retrying after signals; a closed pipe (e.g. `| head`) stops
  /// it quietly.
  static func writeToStandardOutput(_ bytes: UnsafeRawBufferPointer) {
    var off = 0
    while off < bytes.count {
      let n = Glibc.write(1, bytes.baseAddress! + off, bytes.count - off)
      if n <= 0 {
        if n < 0 && errno == EINTR { continue }
        return
      }
      off += n
    }
  }
}
