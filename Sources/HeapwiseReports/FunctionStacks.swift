// The stacks of one dump as flame graphs, speedscope and collapsed stacks draw them: each frame
// is a function in a module (lines of one function merge), outermost first. Built from the
// analysis' per-stack counters and its frame resolver; nothing here replays anything.
import HeapwiseAnalysis
import HeapwiseFormat

/// How the drawings colour a frame: Python and native code apart, from `SourceFrame.kind`; this is
/// the one place that decides.
public enum DrawnKind: String, Sendable, Codable {
  case native
  case python
  /// The Python interpreter's own machine code: native, drawn in muted colours.
  case interpreter

  public init(_ frame: SourceFrame) {
    switch frame.kind {
    case .native: self = .native
    case .python: self = .python
    case .interpreter: self = .interpreter
    }
  }
}

public struct FunctionStacks: Sendable {
  /// A function as the drawings name it.
  public struct Function: Sendable, Hashable {
    /// The function's name, else `module+0xoffset`.
    public var name: String
    public var module: String
    /// The source file of the first frame seen in this function.
    public var file: String?
    /// The line of that frame.
    public var line: Int?
    public var kind: DrawnKind
  }

  public struct Stack: Sendable {
    /// Indices into ``functions``, outermost first.
    public var path: [Int32]
    public var counters: StackCounters
  }

  public var functions: [Function] = []
  /// One per recorded stack with a non-zero counter (stack 0, "no call stack", included).
  public var stacks: [Stack] = []

  /// Shown for allocations recorded without a stack.
  public static let noStackName = "[no call stack recorded]"

  /// - Parameter keepAllocatorFrames: keep malloc, operator new and the recorder's frames at the
  ///   leaf end (by default they are cut, as `top` skips them; a stack made only of them keeps them).
  /// - Parameter showInterpreterFrames: draw the Python interpreter's own native frames (by default
  ///   they are hidden, as in `top`; see `DrawnFrames`).
  public init(counters: StackCounterTable, resolver: FrameResolver, keepAllocatorFrames: Bool = false,
              showInterpreterFrames: Bool = false) {
    var index: [String: Int32] = [:]
    var byFrame: [Int32: Int32] = [:]
    var isAllocator: [Int32: Bool] = [:]

    func intern(_ name: String, module: String, file: String?, line: Int?, kind: DrawnKind) -> Int32 {
      let key = name + "\u{0}" + module
      if let i = index[key] { return i }
      let i = Int32(functions.count)
      functions.append(Function(name: name, module: module, file: file, line: line, kind: kind))
      index[key] = i
      return i
    }

    let drawn = DrawnFrames(resolver: resolver, showInterpreterFrames: showInterpreterFrames)
    for (i, c) in counters where !c.isZero {
      let stack = StackID(UInt32(i))
      var frames: [Int32] = []
      if i != 0 {
        if drawn.showsInterpreter(stack) {
          frames = resolver.frames(of: stack)
        } else {
          frames = resolver.frames(of: stack, interpreterNames: false).filter { resolver.frame($0).kind != .interpreter }
        }
      }
      if !keepAllocatorFrames {
        let leafAllocator = frames.prefix {
          if let known = isAllocator[$0] { return known }
          let a = AllocatorFrames.contains(resolver.frame($0))
          isAllocator[$0] = a
          return a
        }.count
        if leafAllocator < frames.count { frames.removeFirst(leafAllocator) }
      }
      var path: [Int32] = []
      path.reserveCapacity(frames.count)
      for f in frames.reversed() {
        if let known = byFrame[f] {
          path.append(known)
          continue
        }
        let s = resolver.frame(f)
        let fn = intern(s.function ?? s.moduleAndOffset, module: s.module, file: s.file, line: s.line, kind: DrawnKind(s))
        byFrame[f] = fn
        path.append(fn)
      }
      if path.isEmpty { path = [intern(Self.noStackName, module: "", file: nil, line: nil, kind: .native)] }
      stacks.append(Stack(path: path, counters: c))
    }
  }

  /// The figure a stack weighs for `metric`: bytes, or allocations for `count` (as `top` ranks).
  public static func weight(_ c: StackCounters, _ metric: Metric) -> UInt64 { metric.rank(c) }
}
