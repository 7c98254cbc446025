/// A number of bytes, for budgets: `.kibibytes(64)`, `.mebibytes(2)`, or a plain integer literal.
///
/// ```swift
/// @Test(.allocationBudget(maxBytes: .kibibytes(64)))
/// func parsesHeader() { ... }
/// ```
public struct ByteCount: Sendable, Hashable, Comparable, ExpressibleByIntegerLiteral {
  /// The count; never negative.
  public var bytes: Int

  public init(_ bytes: Int) {
    precondition(bytes >= 0, "a byte count cannot be negative")
    self.bytes = bytes
  }

  public init(integerLiteral value: Int) { self.init(value) }

  public static func bytes(_ n: Int) -> ByteCount { ByteCount(n) }
  public static func kibibytes(_ n: Int) -> ByteCount { ByteCount(n * 1024) }
  public static func mebibytes(_ n: Int) -> ByteCount { ByteCount(n * 1024 * 1024) }
  public static func gibibytes(_ n: Int) -> ByteCount { ByteCount(n * 1024 * 1024 * 1024) }

  public static func < (a: ByteCount, b: ByteCount) -> Bool { a.bytes < b.bytes }
}

extension ByteCount: CustomStringConvertible {
  /// Exact for whole units ("64 KiB"); otherwise bytes, so that a limit and a measurement that
  /// differ by a few bytes never print the same ("65537 B").
  public var description: String {
    for (unit, size) in [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)]
    where bytes >= size && bytes % size == 0 {
      return "\(bytes / size) \(unit)"
    }
    return "\(bytes) B"
  }
}
