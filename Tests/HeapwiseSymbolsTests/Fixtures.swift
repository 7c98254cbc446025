import Foundation
import TestSupport
import Testing

/// Small C and C++ programs compiled with the system compiler into a fresh temporary directory,
/// and the tools (nm, strip, objcopy) the tests use to derive their ground truth.
struct Fixtures {
  let dir: String

  init() throws {
    var template = Array((NSTemporaryDirectory() + "heapwise-symbols-XXXXXX").utf8CString)
    guard let made = mkdtemp(&template) else { throw FixtureError("mkdtemp failed") }
    dir = String(cString: made)
  }

  func remove() { try? FileManager.default.removeItem(atPath: dir) }

  func path(_ name: String) -> String { "\(dir)/\(name)" }

  /// Writes `source` to `dir/name`.
  @discardableResult
  func write(_ name: String, _ source: String) throws -> String {
    let p = path(name)
    try FileManager.default.createDirectory(
      atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try source.write(toFile: p, atomically: true, encoding: .utf8)
    return p
  }

  /// Runs a tool and returns its standard output; throws with its standard error on failure.
  @discardableResult
  func run(_ tool: String, _ arguments: [String]) throws -> String {
    let r = try Subprocess.run("/usr/bin/env", [tool] + arguments, directory: URL(fileURLWithPath: dir))
    guard r.exitCode == 0 else { throw FixtureError("\(tool) \(arguments.joined(separator: " ")): \(r.stderr)") }
    return r.stdout
  }

  /// The link-time address of a defined symbol, from `nm`.
  func symbolAddress(_ symbol: String, in binary: String) throws -> UInt64 {
    for line in try run("nm", [binary]).split(separator: "\n") {
      let fields = line.split(separator: " ")
      if fields.count == 3, fields[2] == symbol, let value = UInt64(fields[0], radix: 16) {
        return value
      }
    }
    throw FixtureError("\(symbol) not in nm \(binary)")
  }

  /// The 1-based line of the first line of `source` that contains `marker`.
  static func line(of marker: String, in source: String) -> Int {
    let lines = source.split(separator: "\n", omittingEmptySubsequences: false)
    return (lines.firstIndex { $0.contains(marker) } ?? -1) + 1
  }
}

struct FixtureError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}

/// A call chain with an always-inlined step. At -O0 GCC still inlines always_inline functions and
/// describes them with DW_TAG_inlined_subroutine. Each noinline function keeps its caller's
/// return address, and main prints them with its own address so the test can compute the load
/// bias from `nm`.
let chainSource = """
  #include <stdio.h>
  void *captured[2];
  __attribute__((noinline)) void capture_leaf(void) {
    captured[0] = __builtin_return_address(0);
  }
  static inline __attribute__((always_inline)) void inlined_step(void) {
    capture_leaf(); /* INLINE_CALL */
  }
  __attribute__((noinline)) void chain_middle(void) {
    inlined_step(); /* MIDDLE_CALL */
    captured[1] = __builtin_return_address(0);
  }
  __attribute__((noinline)) void chain_outer(void) {
    chain_middle(); /* OUTER_CALL */
    __asm__ volatile("" ::: "memory");
  }
  int main(void) { /* MAIN_LINE */
    chain_outer();
    printf("%lx %lx %lx\\n", (unsigned long)&main, (unsigned long)captured[0],
           (unsigned long)captured[1]);
    return 0;
  }

  """

/// A shared library with exported functions, for the symbol-table fallback and dlopen.
let librarySource = """
  int heapwise_fixture_exported(int x) {
    return x * 7 + 1; /* EXPORTED_BODY */
  }
  static int hidden_helper(int x) { return x - 1; }
  int heapwise_fixture_other(int x) { return hidden_helper(x) * 2; }

  """

let cxxSource = """
  namespace heapwise_test {
  struct Widget {
    int size = 0;
    __attribute__((noinline)) int grow(int by);
  };
  int Widget::grow(int by) {
    size += by; /* GROW_BODY */
    return size;
  }
  }
  int main() { heapwise_test::Widget w; return w.grow(3) == 3 ? 0 : 1; }

  """
