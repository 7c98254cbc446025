// `heapwise export --format collapsed`: one line per distinct call path, `main;load;parse 1234`,
// outermost frame first, the weight after the last space (the input of flamegraph.pl and of most
// flame graph tools). Weights are the metric's figure: bytes, or allocations for `count`
// (docs/EXPORTS.md).
import HeapwiseAnalysis

public enum CollapsedExport {
  public static func render(_ stacks: FunctionStacks, metric: Metric) -> String {
    var weights: [String: UInt64] = [:]
    let names = stacks.functions.map { frameName($0.name) }
    for s in stacks.stacks {
      let w = FunctionStacks.weight(s.counters, metric)
      guard w > 0 else { continue }
      let line = s.path.map { names[Int($0)] }.joined(separator: ";")
      weights[line, default: 0] &+= w
    }
    var out = ""
    for (line, w) in weights.sorted(by: { $0.key < $1.key }) {
      out += line
      out += " "
      out += String(w)
      out += "\n"
    }
    return out
  }

  /// `;` separates frames and a line ends the stack: neither may appear inside a name.
  static func frameName(_ name: String) -> String {
    guard name.contains(where: { $0 == ";" || $0 == "\n" || $0 == "\r" }) else { return name }
    return String(name.map { $0 == ";" ? ":" : ($0 == "\n" || $0 == "\r") ? " " : $0 })
  }
}
