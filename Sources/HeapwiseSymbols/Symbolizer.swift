import CLibDW

#if canImport(Glibc)
import Glibc
#endif

/// Turns run-time addresses into function, file, line and inlined frames with elfutils' libdw.
///
/// Each module is looked up by build id (see README.md): the recorded path when it still holds the
/// same build, otherwise the search paths of ``SymbolizerOptions``. Names come from DWARF, then
/// the ELF symbol table, and `module+0xoffset` is the last resort. Results are cached per module
/// and address, so asking twice costs a dictionary lookup.
///
/// Not thread-safe: use one instance from one thread.
///
/// ```swift
/// let symbolizer = Symbolizer()
/// let frames = symbolizer.symbolize(address, in: module)
/// print(frames.map(\.description).joined(separator: "\n"))
/// ```
public final class Symbolizer {
  public let options: SymbolizerOptions
  private let locator: ModuleLocator
  private let callbacks: UnsafeMutablePointer<Dwfl_Callbacks>
  private let debuginfoPath: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>

  private struct ModuleState {
    /// Nil when no file on this machine matched.
    var file: DwarfFile?
    var resolvedPath: String?
    var cache: [UInt64: [SymbolizedFrame]] = [:]
  }
  private var states: [ModuleImage: ModuleState] = [:]
  /// Opened files by path, shared by every module image that resolved to the same file.
  private var files: [String: DwarfFile?] = [:]
  /// Set for the symbolizer of the running process; refreshed when an address is not found
  /// (a library was dlopen'ed since).
  private var processModules: ModuleMap?

  public init(options: SymbolizerOptions = .init()) {
    self.options = options
    let searchPaths = options.effectiveSearchPaths
    self.locator = ModuleLocator(searchPaths: searchPaths)
    // libdwfl's syntax: an empty entry is the binary's own directory, ".debug" a subdirectory of
    // it; absolute entries are also searched as .build-id roots for separate debug files.
    let path = ([""] + [".debug"] + searchPaths).joined(separator: ":")
    debuginfoPath = .allocate(capacity: 1)
    debuginfoPath.initialize(to: strdup(path))
    callbacks = .allocate(capacity: 1)
    callbacks.initialize(
      to: Dwfl_Callbacks(
        find_elf: dwfl_build_id_find_elf,
        // Also asks debuginfod when elfutils was built with it and DEBUGINFOD_URLS is set.
        find_debuginfo: dwfl_standard_find_debuginfo,
        section_address: dwfl_offline_section_address,
        debuginfo_path: debuginfoPath))
  }

  deinit {
    states.removeAll()
    files.removeAll()
    callbacks.deinitialize(count: 1)
    callbacks.deallocate()
    free(debuginfoPath.pointee)
    debuginfoPath.deallocate()
  }

  /// The frames for `address`, a run-time address inside `module`: innermost inlined function
  /// first, the function that really contains the address last. Never empty: when nothing is
  /// known the one frame has only ``SymbolizedFrame/module`` and
  /// ``SymbolizedFrame/moduleOffset``.
  ///
  /// For return addresses, pass the address minus one (the recorder already does), so that a call
  /// at the end of a function or inlined block is attributed to its own line.
  public func symbolize(_ address: UInt64, in module: ModuleImage) -> [SymbolizedFrame] {
    // In place: a copy of the state taken out of `states` and written back copied its whole cache
    // on every new address (quadratic: 15 s of a pandas job's summary).
    if states[module] == nil { states[module] = resolve(module) }
    if let cached = states[module]!.cache[address] { return cached }
    let offset = address &- module.base
    var frames: [SymbolizedFrame] = []
    for f in states[module]!.file?.frames(at: offset) ?? [] {
      frames.append(
        SymbolizedFrame(
          function: f.function, file: f.file, line: f.line, module: module.path,
          moduleOffset: offset, isInlined: f.isInlined, address: address))
    }
    if frames.isEmpty {
      frames.append(
        SymbolizedFrame(
          function: nil, file: nil, line: nil, module: module.path, moduleOffset: offset,
          isInlined: false, address: address))
    }
    states[module]!.cache[address] = frames
    return frames
  }

  /// The frames for `address` in whichever module of `map` contains it; a single frame with an
  /// empty module name and the raw address as offset when none does.
  public func symbolize(_ address: UInt64, in map: ModuleMap) -> [SymbolizedFrame] {
    guard let module = map.module(containing: address) else { return [unknown(address)] }
    return symbolize(address, in: module)
  }

  /// The path of the file used for `module`, or nil when none on this machine matched its build
  /// id. Opens the module if it was not yet.
  public func resolvedPath(for module: ModuleImage) -> String? {
    if let state = states[module] { return state.resolvedPath }
    let state = resolve(module)
    states[module] = state
    return state.resolvedPath
  }

  /// The opened file for `module`, for tests that look beneath the frames.
  func openedFile(for module: ModuleImage) -> DwarfFile? {
    if states[module] == nil { states[module] = resolve(module) }
    return states[module]!.file
  }

  private func resolve(_ module: ModuleImage) -> ModuleState {
    guard let path = locator.locate(module) else { return ModuleState(file: nil) }
    if let file = files[path] { return ModuleState(file: file, resolvedPath: path) }
    let file = DwarfFile(
      path: path, callbacks: callbacks, demangle: options.demangle,
      inlinedFrames: options.inlinedFrames)
    files[path] = file
    return ModuleState(file: file, resolvedPath: file == nil ? nil : path)
  }

  private func unknown(_ address: UInt64) -> SymbolizedFrame {
    SymbolizedFrame(
      function: nil, file: nil, line: nil, module: "", moduleOffset: address, isInlined: false,
      address: address)
  }

  // MARK: The running process

  /// A symbolizer for addresses of the running process (in-process budgets, tests), with its
  /// modules read from the dynamic linker. Use ``symbolize(_:)``.
  public static func forCurrentProcess(options: SymbolizerOptions = .init()) -> Symbolizer {
    let symbolizer = Symbolizer(options: options)
    symbolizer.processModules = ModuleMap(CurrentProcess.modules())
    return symbolizer
  }

  /// The frames for an address of the running process. Only for a symbolizer made by
  /// ``forCurrentProcess(options:)``; any other returns the single unknown frame.
  public func symbolize(_ address: UInt64) -> [SymbolizedFrame] {
    guard let map = processModules else { return [unknown(address)] }
    if map.module(containing: address) == nil {
      processModules = ModuleMap(CurrentProcess.modules())
    }
    return symbolize(address, in: processModules!)
  }
}
