// Which of a stack's frames the exports and the HTML flame graph draw. The Python interpreter's own
// native frames (evaluation loop, call glue, object allocator) are hidden unless asked for, as
// `top` hides them from site names; a stack that has nothing else of its own (interpreter start-up)
// keeps them, by `top`'s rule (`SiteOptions.candidates`), so no weight moves to `main` or libc.
import HeapwiseAnalysis
import HeapwiseFormat

enum DrawnFrames {
  /// Whether `stack`'s interpreter frames are drawn. Decided on unnamed interpreter frames, so
  /// hiding them never reads libpython's DWARF.
  static func showsInterpreter(_ stack: StackID, resolver: FrameResolver, showInterpreterFrames: Bool) -> Bool {
    if showInterpreterFrames { return true }
    let frames = resolver.frames(of: stack, interpreterNames: false).map(resolver.frame)
    guard frames.contains(where: { $0.kind == .interpreter }) else { return true }
    return SiteOptions().candidates(frames).contains { frames[$0].kind == .interpreter }
  }

  /// Whether a return address (or a Python frame address) lies in the interpreter's own code.
  static func isInterpreter(_ address: UInt64, resolver: FrameResolver) -> Bool {
    let frames = resolver.frames(at: address, interpreterNames: false)
    return !frames.isEmpty && frames.allSatisfy { resolver.frame($0).kind == .interpreter }
  }
}
