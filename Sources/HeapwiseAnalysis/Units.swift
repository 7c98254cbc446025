// Human units: powers of 1024, one decimal below 100 of a unit, none above (1.2 MiB, 512 KiB).
// The one byte formatter of every text and HTML output (top, compare, check, summary), with the
// counts, decimals, shares and durations they print; it lives here, below HeapwiseReports,
// because the summary's findings carry their prose.

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
    return v < 99.95 ? "\(Units.oneDecimal(v)) \(names[unit])" : "\(Int(v.rounded())) \(names[unit])"
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

  /// `UInt64(value)` saturated at 0 (also for NaN and negative values) and UInt64.max: a sampled
  /// estimate derived from a damaged file can be past 2^64, and UInt64(_:) traps there.
  public static func clampedUInt64(_ value: Double) -> UInt64 {
    if value.isNaN || value <= 0 { return 0 }
    if value >= 0x1p64 { return .max }
    return UInt64(value)
  }

  /// 1234567 -> "1,234,567".
  public static func count(_ n: Int) -> String {
    let digits = Array(String(n.magnitude))
    var out = ""
    for (i, d) in digits.enumerated() {
      if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
      out.append(d)
    }
    return n < 0 ? "-" + out : out
  }

  /// "3 blocks", "1 block", "1,024 regions".
  public static func plural(_ n: Int, _ word: String) -> String {
    "\(count(n)) \(word)\(n == 1 ? "" : "s")"
  }

  public static func oneDecimal(_ value: Double) -> String {
    let tenths = clampedInt((value * 10).rounded())
    return "\(tenths / 10).\(abs(tenths % 10))"
  }

  public static func twoDecimals(_ value: Double) -> String {
    let hundredths = clampedInt((value * 100).rounded())
    let fraction = abs(hundredths % 100)
    return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
  }

  /// "25%": `part` as a whole percentage of `whole` ("0%" of nothing).
  public static func percent(_ part: Double, of whole: Double) -> String {
    whole == 0 ? "0%" : "\(clampedInt((part / whole * 100).rounded()))%"
  }

  /// Seconds with two decimals under 10 s, one above: "0.25 s", "12.3 s" (the summary's times;
  /// ``seconds(_:)`` gives milliseconds, as `top` prints the peak's time).
  public static func duration(_ seconds: Double) -> String {
    seconds < 10 ? "\(twoDecimals(seconds)) s" : "\(oneDecimal(seconds)) s"
  }
}

extension UInt64 {
  /// Sums and products of sizes read from a file, at most `UInt64.max` instead of a trap.
  func addingSaturated(_ n: UInt64) -> UInt64 {
    let (r, overflow) = addingReportingOverflow(n)
    return overflow ? .max : r
  }
  func multipliedSaturated(_ n: UInt64) -> UInt64 {
    let (r, overflow) = multipliedReportingOverflow(by: n)
    return overflow ? .max : r
  }
}

extension Int {
  /// `self + n`, at most `Int.max`: page counts come from sizes read from a file.
  func addingSaturated(_ n: UInt64) -> Int {
    let (sum, overflow) = addingReportingOverflow(Int(clamping: n))
    return overflow ? .max : sum
  }
  func addingSaturated(_ n: Int) -> Int {
    let (sum, overflow) = addingReportingOverflow(n)
    return overflow ? .max : sum
  }
}
