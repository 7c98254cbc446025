/// One source-level frame for an address: a real function, or a function inlined into one.
///
/// ``Symbolizer/symbolize(_:in:)`` returns these innermost first; the last one is the function
/// that really contains the address, the others were inlined into it (``isInlined``).
public struct SymbolizedFrame: Sendable, Hashable {
  /// The function, demangled when ``SymbolizerOptions/demangle`` is set; nil when unknown.
  public var function: String?
  /// The source file, as the compiler recorded it (often absolute); nil when unknown.
  public var file: String?
  /// The line in ``file``: for the innermost frame the address's line, for an outer frame the line
  /// of the call that was inlined.
  public var line: Int?
  /// The module's recorded path.
  public var module: String
  /// The address relative to the module's load bias (the link-time address).
  public var moduleOffset: UInt64
  /// True when this function was inlined into the next frame of the same address.
  public var isInlined: Bool
  /// The run-time address that was symbolized.
  public var address: UInt64

  public init(
    function: String?, file: String?, line: Int?, module: String, moduleOffset: UInt64,
    isInlined: Bool, address: UInt64
  ) {
    self.function = function
    self.file = file
    self.line = line
    self.module = module
    self.moduleOffset = moduleOffset
    self.isInlined = isInlined
    self.address = address
  }

  /// The module's file name without its directory.
  public var moduleName: String {
    guard let slash = module.lastIndex(of: "/") else { return module }
    return String(module[module.index(after: slash)...])
  }

  /// `module+0xoffset`: the last resort when nothing else is known, and a stable key otherwise.
  public var moduleAndOffset: String {
    "\(moduleName)+0x\(String(moduleOffset, radix: 16))"
  }
}

extension SymbolizedFrame: CustomStringConvertible {
  /// `function at file:line`, `function in module`, or `module+0xoffset`.
  public var description: String {
    guard let function else { return moduleAndOffset }
    if let file, let line { return "\(function) at \(file):\(line)" }
    return "\(function) in \(moduleName)"
  }
}
