/// Where a ``Symbolizer`` looks for modules and debug information, and how it names functions.
public struct SymbolizerOptions: Sendable {
  /// Directories searched, in order, for a module whose recorded path is missing or holds another
  /// build, and for separate debug files. Each is tried as a `.build-id` root, as a sysroot (the
  /// recorded path below it) and as a flat folder (the file name in it). See the module's README.
  public var debugSearchPaths: [String]
  /// Also search the colon-separated directories of `$HEAPWISE_DEBUG_PATH`, after
  /// ``debugSearchPaths``.
  public var useEnvironment: Bool
  /// Also search `/usr/lib/debug`, where distributions install debug packages.
  public var useSystemDebugDirectory: Bool
  /// Demangle C++ and Swift names.
  public var demangle: Bool
  /// Report functions inlined at the address as frames of their own.
  public var inlinedFrames: Bool

  public init(
    debugSearchPaths: [String] = [], useEnvironment: Bool = true,
    useSystemDebugDirectory: Bool = true, demangle: Bool = true, inlinedFrames: Bool = true
  ) {
    self.debugSearchPaths = debugSearchPaths
    self.useEnvironment = useEnvironment
    self.useSystemDebugDirectory = useSystemDebugDirectory
    self.demangle = demangle
    self.inlinedFrames = inlinedFrames
  }

  /// The directories actually searched, in order, without duplicates.
  public var effectiveSearchPaths: [String] {
    var paths = debugSearchPaths
    if useEnvironment, let env = getenv("HEAPWISE_DEBUG_PATH") {
      paths += String(cString: env).split(separator: ":").map(String.init)
    }
    if useSystemDebugDirectory { paths.append("/usr/lib/debug") }
    var seen = Set<String>()
    return paths.filter { !$0.isEmpty && seen.insert($0).inserted }
  }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
