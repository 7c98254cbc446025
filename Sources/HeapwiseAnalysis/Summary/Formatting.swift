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
  let tenths = Units.clampedInt((value * 10).rounded())
  return "\(tenths / 10).\(abs(tenths % 10))"
}

func percent(_ part: Double, of whole: Double) -> String {
  whole == 0 ? "0%" : "\(Units.clampedInt((part / whole * 100).rounded()))%"
}

/// Seconds with two decimals under 10 s, one above: "0.25 s", "12.3 s".
func formatSeconds(_ seconds: Double) -> String {
  seconds < 10 ? "\(twoDecimals(seconds)) s" : "\(oneDecimal(seconds)) s"
}

func plural(_ n: Int, _ word: String) -> String {
  "\(formatCount(n)) \(word)\(n == 1 ? "" : "s")"
}
