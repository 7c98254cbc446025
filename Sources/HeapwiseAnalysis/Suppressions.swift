// Leaks that are not the program's fault: LeakSanitizer-format suppressions (`leak:PATTERN`
// lines, `#` comments) from a file, and a built-in rule for the C++ runtime's one-time
// allocations. `summary`, `top --metric leaked` and `check` leave them out of what they call
// leaked and say how much they left out (docs/ANALYSIS.md, "Suppressions").
import HeapwiseFormat
#if canImport(Glibc)
import Glibc
#endif

public struct SuppressionError: Error, Sendable, CustomStringConvertible {
  public var description: String
}

public struct Suppressions: Sendable {
  /// One `leak:` line: LeakSanitizer's pattern, a substring of a frame's function, module or
  /// file name, with `*` for any characters, `^` anchoring the start and `$` the end.
  public struct Rule: Sendable {
    public var pattern: String
    let glob: String

    init(_ pattern: String) {
      self.pattern = pattern
      var g = pattern
      if g.hasPrefix("^") { g.removeFirst() } else { g = "*" + g }
      if g.hasSuffix("$") { g.removeLast() } else { g += "*" }
      glob = g
    }

    func matches(_ f: SourceFrame) -> Bool {
      for name in [f.function, f.module, f.file, f.fileName] {
        if let name, fnmatch(glob, name, 0) == 0 { return true }
      }
      return false
    }
  }

  /// The rules of the suppressions file (none without `--suppressions`).
  public var rules: [Rule]
  /// Whether the built-in rule applies (`--no-default-suppressions` turns it off).
  public var runtimeDefaults: Bool

  public init(rules: [Rule] = [], runtimeDefaults: Bool = true) {
    self.rules = rules
    self.runtimeDefaults = runtimeDefaults
  }

  /// Parses LeakSanitizer's format; other sanitizers' kinds (`race:`, `signed-integer-overflow:`)
  /// are refused, since nothing here could match them.
  public init(parsing text: String, runtimeDefaults: Bool = true) throws(SuppressionError) {
    var rules: [Rule] = []
    for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
      let line = raw.trimmingSpaces
      if line.isEmpty || line.hasPrefix("#") { continue }
      guard line.hasPrefix("leak:") else {
        throw SuppressionError(description: "line \(n + 1): expected leak:PATTERN, found \"\(line.prefix(60))\"")
      }
      let pattern = String(line.dropFirst("leak:".count)).trimmingSpaces
      guard !pattern.isEmpty else { throw SuppressionError(description: "line \(n + 1): leak: with an empty pattern") }
      rules.append(Rule(pattern))
    }
    self.init(rules: rules, runtimeDefaults: runtimeDefaults)
  }

  /// Why a stack's leaks are suppressed.
  public enum Reason: Sendable { case runtime, listed }

  /// `frames` innermost first, allocator frames included.
  public func reason(_ frames: [SourceFrame]) -> Reason? {
    if runtimeDefaults && Self.isRuntimeOneTime(frames) { return .runtime }
    if rules.contains(where: { r in frames.contains(where: r.matches) }) { return .listed }
    return nil
  }

  /// A block the C++ runtime allocates once for the whole process, in its own static
  /// initializer: libstdc++'s emergency exception pool (72,704 B with GCC 12 to 14) is made by a
  /// stack of libstdc++ frames called from the loader's `_dl_init`, and nothing else of the
  /// program's is on it. (A program's `new` also runs in libstdc++, but from the program's frames.)
  static func isRuntimeOneTime(_ frames: [SourceFrame]) -> Bool {
    guard let first = frames.first, first.module.hasPrefix("libstdc++") else { return false }
    var sawLoader = false
    for f in frames {
      if f.module.hasPrefix("libstdc++") { continue }
      if f.module.hasPrefix("ld-linux") || f.module.hasPrefix("ld-") { sawLoader = true; continue }
      return false
    }
    return sawLoader
  }
}

/// What the suppressions took out of the leaks of one dump.
public struct SuppressedLeaks: Sendable {
  public var runtime = StackCounters()
  public var listed = StackCounters()

  public init() {}

  public var isEmpty: Bool { runtime.liveBlocks == 0 && listed.liveBlocks == 0 }
  public var liveBytes: UInt64 { runtime.liveBytes &+ listed.liveBytes }

  /// `suppressed: 1 block, 71.0 KiB (runtime one-time)`, one line per reason that took any.
  public var lines: [String] {
    var out: [String] = []
    for (c, why) in [(runtime, "runtime one-time"), (listed, "suppressions file")] where c.liveBlocks > 0 {
      out.append("suppressed: \(c.liveBlocks) block\(c.liveBlocks == 1 ? "" : "s"), \(Units.bytes(c.liveBytes)) (\(why))")
    }
    return out
  }
}

extension DumpAnalysis {
  /// Per-stack counters for the leaks at exit, with every suppressed stack's counters taken out
  /// (and summed in the second value). Only stacks still live at the end are symbolized.
  public func leakCounters(_ suppressions: Suppressions) -> (counters: StackCounterTable, suppressed: SuppressedLeaks) {
    suppressions.split(metrics.counters, resolver: resolver)
  }
}

extension Suppressions {
  /// `counters` with the suppressed stacks' taken out, and their sums.
  public func split(_ all: StackCounterTable, resolver: FrameResolver) -> (counters: StackCounterTable, suppressed: SuppressedLeaks) {
    var counters = all
    var suppressed = SuppressedLeaks()
    counters.modifyEach { i, c in
      guard i > 0 && c.liveBlocks > 0 else { return }
      let frames = resolver.frames(of: StackID(UInt32(i))).map(resolver.frame)
      switch reason(frames) {
      case .runtime?: suppressed.runtime.add(c)
      case .listed?: suppressed.listed.add(c)
      case nil: return
      }
      c = StackCounters()
    }
    return (counters, suppressed)
  }
}

extension StringProtocol {
  fileprivate var trimmingSpaces: String {
    String(drop { $0 == " " || $0 == "\t" || $0 == "\r" }.reversed().drop { $0 == " " || $0 == "\t" || $0 == "\r" }.reversed())
  }
}
