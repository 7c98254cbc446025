// A frame as reports show it and compare matches it: never a raw address or a module path.
import HeapwiseSymbols

public struct SourceFrame: Sendable, Hashable, Codable {
  public var function: String?
  /// As the compiler recorded it (often absolute).
  public var file: String?
  public var line: Int?
  /// The module's file name, without its directory.
  public var module: String
  /// Link-time address in the module (address minus load bias).
  public var moduleOffset: UInt64
  public var isInlined: Bool

  public init(function: String?, file: String?, line: Int?, module: String, moduleOffset: UInt64, isInlined: Bool) {
    self.function = function; self.file = file; self.line = line
    self.module = module; self.moduleOffset = moduleOffset; self.isInlined = isInlined
  }

  init(_ f: SymbolizedFrame) {
    self.init(function: f.function, file: f.file, line: f.line, module: f.moduleName.isEmpty ? "?" : f.moduleName,
              moduleOffset: f.moduleOffset, isInlined: f.isInlined)
  }

  public var fileName: String? {
    guard let file else { return nil }
    guard let slash = file.lastIndex(of: "/") else { return file }
    return String(file[file.index(after: slash)...])
  }

  public var moduleAndOffset: String { "\(module)+0x\(String(moduleOffset, radix: 16))" }

  /// `file:line`, else `function (module)`, else `module+0xoffset`.
  public var location: String {
    if let file, let line { return "\(file):\(line)" }
    if let function { return "\(function) (\(module))" }
    return moduleAndOffset
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
