// Stack ids to source frames, through HeapwiseSymbols, once per address; Python frames through the
// dump's PYCODE records. Only the stacks a report needs are resolved.
import HeapwiseFormat
import HeapwiseSymbols

public final class FrameResolver {
  private let symbolizer: Symbolizer
  private let map: ModuleMap
  private var frames: [SourceFrame] = []
  private var frameIndex: [SourceFrame: Int32] = [:]
  /// address → indices into `frames`, innermost (inlined) first.
  private var byAddress: [UInt64: [Int32]] = [:]
  private var unnamedInterpreter: [UInt64: [Int32]] = [:]
  private let stacks: StackTable
  private let python: PythonCodeTable
  /// Modules that are the Python interpreter (their frames are `.interpreter`).
  private let interpreterModules: Set<String>
  /// The interpreter modules' images, so that telling an interpreter address costs a range check,
  /// not a module search and a path split per frame of every stack (15% of a pprof export).
  private let interpreterImages: [ModuleImage]

  public init(state: ReplayState, symbolizer: Symbolizer = Symbolizer()) {
    self.symbolizer = symbolizer
    stacks = state.stacks
    python = state.python
    interpreterModules = Self.interpreterModules(state)
    map = ModuleMap(state.modules.entries.map { e in
      ModuleImage(
        path: e.record.path, buildID: e.record.buildID, base: e.record.base,
        segments: e.record.segments.map { Segment(vaddr: $0.vaddr, memsz: $0.memsz, flags: UInt32(truncatingIfNeeded: $0.flags)) })
    })
    let names = interpreterModules
    interpreterImages = map.modules.filter { names.contains(Self.fileName($0.path)) }
  }

  public func frame(_ index: Int32) -> SourceFrame { frames[Int(index)] }

  /// The frames of a stack, innermost first, inlined frames expanded. With `interpreterNames`
  /// false, each frame in the Python interpreter's module is one unnamed `.interpreter` frame:
  /// enough to hide it from a site's name, and symbolizing libpython's DWARF is most of what
  /// analysing a Python dump costs.
  public func frames(of stack: StackID, interpreterNames: Bool = true) -> [Int32] {
    var result: [Int32] = []
    for address in stacks.addresses(of: stack) { result += frames(at: address, interpreterNames: interpreterNames) }
    return result
  }

  /// The first frame of a stack, innermost first, that `accept` takes, with the interpreter's
  /// frames named; only the addresses up to it are symbolized.
  public func firstFrame(of stack: StackID, where accept: (SourceFrame) -> Bool) -> SourceFrame? {
    firstFrameIndex(of: stack, where: accept).map(frame)
  }

  public func firstFrameIndex(of stack: StackID, where accept: (SourceFrame) -> Bool) -> Int32? {
    for address in stacks.addresses(of: stack) {
      for i in frames(at: address) where accept(frame(i)) { return i }
    }
    return nil
  }

  public func frames(at address: UInt64, interpreterNames: Bool = true) -> [Int32] {
    if !interpreterNames && !interpreterModules.isEmpty && !PythonFrameAddress.isPython(address) {
      if let known = unnamedInterpreter[address] { return known }
      if interpreterImages.contains(where: { $0.contains(address) }),
        let m = map.module(containing: address), interpreterModules.contains(Self.fileName(m.path))
      {
        let f = SourceFrame(function: nil, file: nil, line: nil, module: Self.fileName(m.path),
                            moduleOffset: address &- m.base, isInlined: false, kind: .interpreter)
        let resolved = [intern(f)]
        unnamedInterpreter[address] = resolved
        return resolved
      }
    }
    if let known = byAddress[address] { return known }
    let resolved: [Int32]
    if PythonFrameAddress.isPython(address) {
      let code = python.code(PythonFrameAddress.codeID(address))
      resolved = [intern(SourceFrame(python: code, instruction: PythonFrameAddress.instruction(address)))]
    } else {
      resolved = symbolizer.symbolize(address, in: map).map { f in
        intern(SourceFrame(f, kind: interpreterModules.contains(f.moduleName) ? .interpreter : .native))
      }
    }
    byAddress[address] = resolved
    return resolved
  }

  /// The interpreter's module as the PYTHON record names it (libpython, or the executable when
  /// the interpreter is linked in), by file name as the symbolizer reports modules.
  private static func interpreterModules(_ state: ReplayState) -> Set<String> {
    guard let path = state.python.runtime?.interpreterPath, !path.isEmpty else { return [] }
    return [fileName(path)]
  }

  private static func fileName(_ path: String) -> String { String(path.split(separator: "/").last ?? Substring(path)) }

  private func intern(_ f: SourceFrame) -> Int32 {
    if let i = frameIndex[f] { return i }
    let i = Int32(frames.count)
    frames.append(f)
    frameIndex[f] = i
    return i
  }
}
