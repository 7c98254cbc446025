// A progress line on stderr, only when stderr is a terminal, redrawn at most every tenth of a
// percent, and erased when done.
#if canImport(Glibc)
import Glibc
#endif

final class Progress {
  private let label: String
  private let enabled: Bool
  private var lastPermille = -1

  init(_ label: String) {
    self.label = label
    enabled = stderrIsTerminal
  }

  /// For DumpAnalysis: fraction in 0...1.
  var callback: ((Double) -> Void)? {
    guard enabled else { return nil }
    return { [self] fraction in update(fraction) }
  }

  func update(_ fraction: Double) {
    let permille = Int(min(max(fraction, 0), 1) * 1000)
    guard permille != lastPermille else { return }
    lastPermille = permille
    let text = "\r\(label) \(permille / 10).\(permille % 10)%"
    text.utf8CString.withUnsafeBufferPointer { _ = write(2, $0.baseAddress, $0.count - 1) }
  }

  func done() {
    guard enabled, lastPermille >= 0 else { return }
    let text = "\r\u{1B}[K"
    text.utf8CString.withUnsafeBufferPointer { _ = write(2, $0.baseAddress, $0.count - 1) }
  }
}
