// Which of a stack's frames the exports and the HTML flame graph draw. The Python interpreter's own
// native frames (evaluation loop, call glue, object allocator) are hidden unless asked for, as
// `top` hides them from site names; a stack that has nothing else of its own (interpreter start-up)
// keeps them, by `top`'s rule (`SiteOptions.candidates`), so no weight moves to `main` or libc.
import HeapwiseAnalysis
import HeapwiseFormat

/// One per export: what it decides about a frame is kept by frame index, so that deciding for a
/// stack is a walk over indices (building every stack's SourceFrames for `SiteOptions.candidates`
/// was half of a pprof export of a pandas dump).
final class DrawnFrames {
  private let resolver: FrameResolver
  private let showInterpreterFrames: Bool
  /// By frame index: bit 0 known, bit 1 an interpreter frame, bit 2 an allocator frame.
  private var flags: [UInt8] = []

  init(resolver: FrameResolver, showInterpreterFrames: Bool) {
    self.resolver = resolver
    self.showInterpreterFrames = showInterpreterFrames
  }

  private func flags(_ i: Int32) -> UInt8 {
    let n = Int(i)
    if n < flags.count, flags[n] & 1 != 0 { return flags[n] }
    if n >= flags.count { flags += repeatElement(0, count: n + 1 - flags.count) }
    let f = resolver.frame(i)
    let v: UInt8 = 1 | (f.kind == .interpreter ? 2 : 0) | (AllocatorFrames.contains(f) ? 4 : 0)
    flags[n] = v
    return v
  }

  /// Whether `stack`'s interpreter frames are drawn. Decided on unnamed interpreter frames, so
  /// hiding them never reads libpython's DWARF. `SiteOptions().candidates` shows them only when
  /// no frame that could name a site (neither the interpreter's nor an allocator's) lies inside
  /// the outermost interpreter frame, and then only if one of them is not an allocator frame.
  func showsInterpreter(_ stack: StackID) -> Bool {
    if showInterpreterFrames { return true }
    let frames = resolver.frames(of: stack, interpreterNames: false)
    guard let outermost = frames.lastIndex(where: { flags($0) & 2 != 0 }) else { return true }
    var anyInterpreterShown = false
    for i in 0...outermost {
      let f = flags(frames[i])
      if f & 2 == 0 && f & 4 == 0 { return false }
      if f & 2 != 0 && f & 4 == 0 { anyInterpreterShown = true }
    }
    return anyInterpreterShown
  }

  /// Whether a return address (or a Python frame address) lies in the interpreter's own code.
  func isInterpreter(_ address: UInt64) -> Bool {
    let frames = resolver.frames(at: address, interpreterNames: false)
    return !frames.isEmpty && frames.allSatisfy { flags($0) & 2 != 0 }
  }
}
