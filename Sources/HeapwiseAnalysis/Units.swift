// Human units: powers of 1024, one decimal below 100 of a unit, none above (1.2 MiB, 512 KiB).
// The one byte formatter of every text and HTML output (top, compare, check, summary); it lives
// here, below HeapwiseReports, because the summary's findings carry their prose.

public enum Units {
  static let names = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]

  public static func bytes(_ value: UInt64) -> String {
    if value < 1024 { return "\(value) B" }
    var v = Double(value)
    var unit = -1
    while v >= 1024 && unit < names.count - 1 {
      v /= 1024
      unit += 1
    }
    // 1023.96 KiB would print as "1024 KiB": say 1.0 MiB instead.
    if v >= 1023.95 && unit < names.count - 1 { v /= 1024; unit += 1 }
    return v < 99.95 ? "\(oneDecimal(v)) \(names[unit])" : "\(Int(v.rounded())) \(names[unit])"
  }

  /// With an explicit sign: "+512 KiB", "-1.2 MiB", "+0 B".
  public static func signedBytes(_ value: Int64) -> String {
    (value < 0 ? "-" : "+") + bytes(value.magnitude)
  }

  public static func signedCount(_ value: Int64) -> String { value < 0 ? "\(value)" : "+\(value)" }

  /// Seconds with millisecond precision.
  public static func seconds(_ s: Double) -> String {
    let ms = clampedInt((s * 1000).rounded())
    let frac = String(abs(ms % 1000))
    return "\(ms < 0 && ms > -1000 ? "-" : "")\(ms / 1000).\(String(repeating: "0", count: 3 - frac.count))\(frac) s"
  }

  /// `Int(value)` saturated at Int's bounds, and 0 for NaN. Int(_:) traps past them, and figures
  /// derived from a file can be anywhere: 2^62 ticks at one tick a second is 4.6e18 s, 4.6e21 ms.
  public static func clampedInt(_ value: Double) -> Int {
    if value.isNaN { return 0 }
    if value >= 0x1p63 { return .max }
    if value < -0x1p63 { return .min }
    return Int(value)
  }
}
