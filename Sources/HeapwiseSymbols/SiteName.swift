// The one way every output names a site (top, compare, summary, check, the HTML report, the
// budgets' failure messages): the frame that stands for the site, as `function (file.c:42)`.
// It lives here, under the analysis and the budgets alike, because both name frames.

public enum SiteName {
  /// `function (file.c:42)` with the file's name only; `function (module)` when the line is not
  /// known (a Python frame's module is its Python module, `json.decoder`); `file.c:42` when only
  /// the line is known; `module+0xoffset` when nothing is. An inlined frame is named by the
  /// function that was inlined and its own line, like a frame that was called: the function it
  /// was inlined into is the next frame out, and whether the compiler inlined it must not change
  /// the name.
  public static func of(function: String?, file: String?, line: Int?, module: String, moduleOffset: UInt64) -> String {
    let place = file.flatMap { f -> String? in
      guard let line, !f.isEmpty else { return nil }
      return "\(f.split(separator: "/").last.map(String.init) ?? f):\(line)"
    }
    if let function { return "\(function) (\(place ?? module))" }
    return place ?? "\(module)+0x\(String(moduleOffset, radix: 16))"
  }
}

extension SymbolizedFrame {
  /// See ``SiteName/of(function:file:line:module:moduleOffset:)``.
  public var siteName: String {
    SiteName.of(function: function, file: file, line: line, module: moduleName, moduleOffset: moduleOffset)
  }
}
