/// Human units for summary text: binary prefixes, one decimal from KiB up.
func formatBytes(_ bytes: UInt64) -> String {
  if bytes < 1024 { return "\(bytes) B" }
  let units = ["KiB", "MiB", "GiB", "TiB", "PiB"]
  var value = Double(bytes) / 1024
  var unit = 0
  while value >= 1024 && unit < units.count - 1 {
    value /= 1024
    unit += 1
  }
  return "\(oneDecimal(value)) \(units[unit])"
}

/// Signed variant: "+1.5 MiB", "-200 B".
func formatDelta(_ delta: Int64) -> String {
  delta < 0 ? "-" + formatBytes(delta.magnitude) : "+" + formatBytes(UInt64(delta))
}

/// 1234567 -> "1,234,567".
func formatCount(_ n: Int) -> String {
  let digits = Array(String(n.magnitude))
  var out = ""
  for (i, d) in digits.enumerated() {
    if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
    out.append(d)
  }
  return n < 0 ? "-" + out : out
}

func oneDecimal(_ value: Double) -> String {
  let tenths = Int((value * 10).rounded())
  return "\(tenths / 10).\(abs(tenths % 10))"
}

func percent(_ part: Double, of whole: Double) -> String {
  whole == 0 ? "0%" : "\(Int((part / whole * 100).rounded()))%"
}

/// Seconds with two decimals under 10 s, one above: "0.25 s", "12.3 s".
func formatSeconds(_ seconds: Double) -> String {
  seconds < 10 ? "\(twoDecimals(seconds)) s" : "\(oneDecimal(seconds)) s"
}

func plural(_ n: Int, _ word: String) -> String {
  "\(formatCount(n)) \(word)\(n == 1 ? "" : "s")"
}
