// A frame as reports show it and compare matches it: never a raw address or a module path.
import Foundation
import HeapwiseFormat
import HeapwiseSymbols

/// What kind of code a frame is in. Reports and exports that draw frames differently by language
/// switch on this.
public enum FrameKind: String, Sendable, Hashable, Codable {
  /// Machine code, named through the module's symbols.
  case native
  /// A Python function: `function` is its qualified name, `file` and `line` its source, `module`
  /// the Python module the file is (see `PythonModuleName`).
  case python
  /// Machine code of the Python interpreter itself (evaluation loop, call glue, object
  /// allocator): native, but hidden from site names unless asked for (`SiteOptions`).
  case interpreter
}

public struct SourceFrame: Sendable, Hashable, Codable {
  public var kind: FrameKind = .native
  public var function: String?
  /// As the compiler recorded it (often absolute).
  public var file: String?
  public var line: Int?
  /// The module's file name, without its directory.
  public var module: String
  /// Link-time address in the module (address minus load bias).
  public var moduleOffset: UInt64
  public var isInlined: Bool

  public init(function: String?, file: String?, line: Int?, module: String, moduleOffset: UInt64, isInlined: Bool,
              kind: FrameKind = .native) {
    self.function = function; self.file = file; self.line = line
    self.module = module; self.moduleOffset = moduleOffset; self.isInlined = isInlined; self.kind = kind
  }

  init(_ f: SymbolizedFrame, kind: FrameKind = .native) {
    self.init(function: f.function, file: f.file, line: f.line, module: f.moduleName.isEmpty ? "?" : f.moduleName,
              moduleOffset: f.moduleOffset, isInlined: f.isInlined, kind: kind)
  }

  /// A Python frame: `moduleOffset` holds the instruction's byte offset in its code object.
  init(python code: PythonCodeRecord?, instruction: UInt32) {
    let file = code?.filename
    self.init(function: code?.qualifiedName ?? "<unknown Python code>", file: file,
              line: code?.line(atInstruction: instruction), module: file.map(PythonModuleName.of) ?? "?",
              moduleOffset: UInt64(instruction) * 2, isInlined: false, kind: .python)
  }

  public var isPython: Bool { kind == .python }

  public var fileName: String? {
    guard let file else { return nil }
    guard let slash = file.lastIndex(of: "/") else { return file }
    return String(file[file.index(after: slash)...])
  }

  public var moduleAndOffset: String { "\(module)+0x\(String(moduleOffset, radix: 16))" }

  /// The site's name in every output: see `SiteName` (HeapwiseSymbols).
  public var siteName: String {
    SiteName.of(function: function, file: file, line: line, module: module, moduleOffset: moduleOffset)
  }

  /// A key that survives moving or rebuilding the program elsewhere: function, file name and
  /// line; else function and module name; else module name and offset.
  public var portableKey: String {
    if let function, let name = fileName, let line { return "\(function)|\(name)|\(line)" }
    if let name = fileName, let line { return "?|\(name)|\(line)" }
    if let function { return "\(function)|\(module)" }
    return moduleAndOffset
  }
}

/// The Python module a source file is, for grouping by module: the path after `site-packages/`,
/// `dist-packages/` or `lib/pythonX.Y/`, else the file's name, without `.py` and `/__init__`, with
/// dots for slashes (`/usr/lib/python3.12/json/decoder.py` is `json.decoder`, `job.py` is `job`).
public enum PythonModuleName {
  public static func of(_ file: String) -> String {
    if file.hasPrefix("<") { return file }  // <frozen importlib._bootstrap>, <string>
    var path = Substring(file)
    if let r = path.range(of: "-packages/", options: .backwards) {
      path = path[r.upperBound...]
    } else if let r = path.range(of: #"/python3\.[0-9]+/"#, options: [.regularExpression, .backwards]) {
      path = path[r.upperBound...]
    } else if let slash = path.lastIndex(of: "/") {
      path = path[path.index(after: slash)...]
    }
    if path.hasSuffix(".py") { path = path.dropLast(3) }
    if path.hasSuffix("/__init__") { path = path.dropLast(9) }
    return path.replacingOccurrences(of: "/", with: ".")
  }
}

/// Whether a Python source file is the program's own code rather than the interpreter's or an
/// installed package's: the one rule for "your code" in every output (the summary's `from` lines,
/// the pytest plugin's `_sites.is_user_file`, which must agree). Not the user's: frozen modules
/// (`<frozen importlib._bootstrap>`), files under a `site-packages/` or `dist-packages/`
/// directory (pandas, numpy, pytest), and the standard library (a `lib/pythonX.Y/` or
/// `lib64/pythonX.Y/` directory under any prefix: pyenv's, Debian's, a venv's base). Everything
/// else is: the script, the modules beside it, `<string>` and `<stdin>` (`python -c`, `exec`).
/// The dump holds each code object's `co_filename` as the interpreter had it, so the rule needs
/// neither the sources nor the interpreter.
public enum PythonUserCode {
  public static func contains(_ file: String) -> Bool {
    if file.hasPrefix("<frozen") { return false }
    if file.contains("/site-packages/") || file.contains("/dist-packages/") { return false }
    return file.range(of: #"(^|/)lib(64)?/python3\.[0-9]+/"#, options: .regularExpression) == nil
  }

  /// Whether `frame` is a Python frame of the program's own code.
  public static func contains(_ frame: SourceFrame) -> Bool {
    frame.kind == .python && frame.file.map(contains) == true
  }
}
