import HeapwiseFormat
import HeapwiseSymbols

/// Names the site of a stack for the summary: the first frame outside the allocator and the
/// recorder, symbolized once per stack.
public final class SummarySites {
  public struct Site: Sendable, Hashable {
    /// `function (file.c:42)`, `function (module)`, or `module+0xoffset`.
    public var name: String
    public var function: String?
    /// The module's file name.
    public var module: String?
  }

  private let stacks: [StackID: [UInt64]]
  private let map: ModuleMap
  private let symbolizer: Symbolizer
  private var cache: [StackID: Site] = [:]

  public init(stacks: [StackID: [UInt64]], modules: [ModuleRecord], symbolizer: Symbolizer) {
    self.stacks = stacks
    self.symbolizer = symbolizer
    map = ModuleMap(
      modules.map { m in
        ModuleImage(
          path: m.path, buildID: m.buildID, base: m.base,
          segments: m.segments.map { Segment(vaddr: $0.vaddr, memsz: $0.memsz, flags: UInt32(truncatingIfNeeded: $0.flags)) })
      })
  }

  /// Modules whose frames are the allocator's or the recorder's, never the user's site.
  static func isAllocatorModule(_ name: String) -> Bool {
    ["libc.so", "libc-", "libheapwise", "libstdc++", "libjemalloc", "libtcmalloc", "libmimalloc", "ld-linux"]
      .contains { name.hasPrefix($0) }
  }

  public func site(_ stack: StackID) -> Site {
    if let cached = cache[stack] { return cached }
    let site = resolve(stack)
    cache[stack] = site
    return site
  }

  private func resolve(_ stack: StackID) -> Site {
    guard stack != .none else { return Site(name: "[no stack]") }
    guard let frames = stacks[stack], !frames.isEmpty else { return Site(name: "[\(stack) not recorded]") }
    var chosen: SymbolizedFrame? = nil
    for address in frames {
      guard let module = map.module(containing: address) else { continue }
      let name = SymbolizedFrame(
        function: nil, file: nil, line: nil, module: module.path, moduleOffset: 0, isInlined: false,
        address: address
      ).moduleName
      if Self.isAllocatorModule(name) { continue }
      chosen = symbolizer.symbolize(address, in: module).first
      break
    }
    // Every frame in the allocator (or outside any module): name the innermost one.
    if chosen == nil { chosen = symbolizer.symbolize(frames[0], in: map).first }
    guard let frame = chosen else { return Site(name: "[\(stack)]") }
    let module = frame.module.isEmpty ? nil : frame.moduleName
    let name: String
    if let function = frame.function {
      if let file = frame.file, let line = frame.line {
        name = "\(function) (\(file.split(separator: "/").last.map(String.init) ?? file):\(line))"
      } else {
        name = "\(function) (\(module ?? "?"))"
      }
    } else if module != nil {
      name = frame.moduleAndOffset
    } else {
      name = "0x\(String(frame.address, radix: 16))"
    }
    return Site(name: name, function: frame.function, module: module)
  }
}
