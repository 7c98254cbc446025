// What can go wrong reading a dump. Errors stop reading before any event; warnings are
// collected while reading and leave everything read before them valid.

/// A dump that cannot be read at all.
public enum DumpError: Error, Sendable, Equatable, CustomStringConvertible {
  case cannotOpen(path: String, errno: Int32)
  case empty
  /// The first bytes are not `HEAPWISE`.
  case notADump
  case unsupportedVersion(major: UInt16, minor: UInt16)
  /// The file ends inside the header.
  case truncatedHeader(size: Int)
  /// The header is internally inconsistent (for example a string longer than the header).
  case corruptHeader(String)
  /// A pipe or FIFO delivered more than the reader holds in memory (`MappedFile.maxStreamedBytes`).
  case tooLargeToStream(path: String, limit: Int)

  public var description: String {
    switch self {
    case .cannotOpen(let path, let e): "cannot open \(path): \(String(cString: strerrorText(e)))"
    case .empty: "empty file: not a heapwise dump"
    case .notADump: "not a heapwise dump (no HEAPWISE magic)"
    case .unsupportedVersion(let major, let minor):
      "unsupported format version \(major).\(minor): this heapwise reads version \(FormatConstants.major).x"
    case .truncatedHeader(let size): "truncated dump: the file ends inside the header (\(size) bytes)"
    case .corruptHeader(let why): "corrupt header: \(why)"
    case .tooLargeToStream(let path, let limit):
      "\(path) is not a regular file and holds more than \(limit >> 20) MiB: save the dump to a file and read that"
    }
  }
}

/// A problem found while reading frames; what was read before it is valid.
public enum DumpWarning: Sendable, Equatable, CustomStringConvertible {
  /// The file ends inside a frame (a killed process): everything before `offset` was read.
  case truncated(offset: Int)
  /// A damaged frame at `offset`; reading stopped there.
  case corrupt(offset: Int, reason: String)
  /// Frames `missing` of `stream` were never written: events were lost.
  case sequenceGap(stream: StreamID, missing: ClosedRange<UInt32>)
  case duplicateFrame(stream: StreamID, seq: UInt32)
  /// The dump has no END record: the process died or is still running.
  case missingEnd

  public var description: String {
    switch self {
    case .truncated(let offset): "truncated dump: read up to byte \(offset), the rest is cut off"
    case .corrupt(let offset, let reason): "corrupt frame at byte \(offset) (\(reason)); read what came before"
    case .sequenceGap(let stream, let missing):
      missing.count == 1
        ? "\(stream): frame \(missing.lowerBound) is missing; events were lost"
        : "\(stream): frames \(missing.lowerBound)...\(missing.upperBound) are missing; events were lost"
    case .duplicateFrame(let stream, let seq): "\(stream): frame \(seq) appears twice; the repeat was ignored"
    case .missingEnd: "no END record: the process did not exit normally (or is still running)"
    }
  }

  /// True for damage (as opposed to a dump that merely stops early).
  public var isDamage: Bool {
    switch self {
    case .corrupt, .sequenceGap: true
    case .truncated, .duplicateFrame, .missingEnd: false
    }
  }
}

#if canImport(Glibc)
import Glibc
private func strerrorText(_ e: Int32) -> UnsafeMutablePointer<CChar> { strerror(e) }
#endif
