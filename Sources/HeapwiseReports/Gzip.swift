// gzip (RFC 1952) through zlib: pprof profiles are gzip'd protobuf.
import CZlib

enum Gzip {
  struct Failure: Error, CustomStringConvertible {
    var code: Int32
    var description: String { "zlib deflate failed (\(code))" }
  }

  static func compress(_ input: [UInt8], level: Int32 = 6) throws(Failure) -> [UInt8] {
    var stream = z_stream()
    // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
    var rc = deflateInit2_(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
                           Int32(MemoryLayout<z_stream>.size))
    guard rc == Z_OK else { throw Failure(code: rc) }
    defer { deflateEnd(&stream) }
    var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(input.count))) + 32)
    rc = input.withUnsafeBufferPointer { src in
      output.withUnsafeMutableBufferPointer { dst in
        stream.next_in = UnsafeMutablePointer(mutating: src.baseAddress)
        stream.avail_in = uInt(src.count)
        stream.next_out = dst.baseAddress
        stream.avail_out = uInt(dst.count)
        return deflate(&stream, Z_FINISH)
      }
    }
    guard rc == Z_STREAM_END else { throw Failure(code: rc) }
    output.removeSubrange(Int(stream.total_out)...)
    return output
  }
}
