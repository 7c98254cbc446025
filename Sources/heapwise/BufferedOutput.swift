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
    buffer.withUnsafeBytes { b in
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
    buffer.removeAll(keepingCapacity: true)
  }
}
