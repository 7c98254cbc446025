// How stacks become sites: the grouping key, frame filters, and the frames that never are a
// site (the allocator's and the recorder's own).
#if canImport(Glibc)
import Glibc
#endif

/// What a site is (tracemalloc's key types, plus function and module).
public enum Grouping: String, Sendable, CaseIterable, Codable {
  /// The whole call stack.
  case traceback
  /// The innermost frame's file and line.
  case lineno
  /// The innermost frame's file.
  case filename
  /// The innermost frame's function.
  case function
  /// The innermost frame's module.
  case module
}

/// A glob over one field of a frame: `module:libc.so*`, `file:*/vendor/*`, `function:std::*`, or
/// a bare glob that matches any of the three.
public struct FrameFilter: Sendable, Hashable, CustomStringConvertible {
  public enum Field: String, Sendable, CaseIterable { case module, file, function, any }
  public var field: Field
  public var pattern: String

  public init(field: Field, pattern: String) {
    self.field = field
    self.pattern = pattern
  }

  /// Parses `field:glob`, or a bare glob (field `any`).
  public init(parsing text: String) {
    for f in [Field.module, .file, .function] where text.hasPrefix(f.rawValue + ":") {
      self.init(field: f, pattern: String(text.dropFirst(f.rawValue.count + 1)))
      return
    }
    self.init(field: .any, pattern: text)
  }

  public var description: String { field == .any ? pattern : "\(field.rawValue):\(pattern)" }

  public func matches(_ frame: SourceFrame) -> Bool {
    switch field {
    case .module: return glob(frame.module)
    case .file: return frame.file.map { glob($0) || glob(frame.fileName ?? $0) } ?? false
    case .function: return frame.function.map(glob) ?? false
    case .any:
      return glob(frame.module) || (frame.file.map { glob($0) || glob(frame.fileName ?? $0) } ?? false)
        || (frame.function.map(glob) ?? false)
    }
  }

  private func glob(_ s: String) -> Bool { fnmatch(pattern, s, 0) == 0 }
}

/// Frames inside the allocator or the recorder: skipped when choosing a site, so the site is the
/// code that asked for memory.
public enum AllocatorFrames {
  static let libcFunctions: Set<String> = [
    "malloc", "calloc", "realloc", "reallocarray", "free", "posix_memalign", "aligned_alloc", "memalign",
    "valloc", "pvalloc", "__libc_malloc", "__libc_calloc", "__libc_realloc", "__libc_memalign",
    "__libc_valloc", "__libc_pvalloc", "__posix_memalign", "_int_malloc", "_int_realloc", "_int_memalign",
    "tcache_init", "mmap", "mmap64", "__mmap", "mremap", "__mremap",
  ]
  static let swiftFunctions: Set<String> = ["swift_slowAlloc", "swift_allocObject", "swift_coroFrameAlloc"]

  public static func contains(_ f: SourceFrame) -> Bool {
    let m = f.module
    if m.hasPrefix("libheapwise") { return true }
    guard let function = f.function else { return false }
    if m.hasPrefix("libc.so") || m.hasPrefix("libc-") || m.hasPrefix("ld-linux") {
      return libcFunctions.contains(function)
    }
    if m.hasPrefix("libstdc++") {
      return function.hasPrefix("operator new") || function.hasPrefix("_Znw") || function.hasPrefix("_Zna")
    }
    if m.hasPrefix("libswiftCore") { return swiftFunctions.contains(function) }
    return false
  }
}

/// How to turn stacks into sites.
public struct SiteOptions: Sendable {
  public var grouping: Grouping
  /// Count a stack once for every distinct site among all its frames (not only the innermost).
  public var cumulative: Bool
  /// When not empty, only frames matching one of these can be a site; stacks with none are left out.
  public var include: [FrameFilter]
  /// Frames matching one of these are skipped, like allocator frames.
  public var exclude: [FrameFilter]
  /// Skip the allocator's and the recorder's frames (on by default).
  public var skipAllocatorFrames: Bool
  /// Let the Python interpreter's own native frames (`FrameKind.interpreter`) be sites and appear
  /// in tracebacks (off by default: a stack that has nothing else still gets one).
  public var showInterpreterFrames: Bool

  public init(grouping: Grouping = .lineno, cumulative: Bool = false, include: [FrameFilter] = [],
              exclude: [FrameFilter] = [], skipAllocatorFrames: Bool = true, showInterpreterFrames: Bool = false) {
    self.grouping = grouping; self.cumulative = cumulative
    self.include = include; self.exclude = exclude; self.skipAllocatorFrames = skipAllocatorFrames
    self.showInterpreterFrames = showInterpreterFrames
  }

  /// The same options with the interpreter's frames shown: the fallback for a stack made only of
  /// them (interpreter start-up, before any Python frame runs).
  var showingInterpreterFrames: SiteOptions {
    var o = self
    o.showInterpreterFrames = true
    return o
  }

  var hasUserFilters: Bool { !include.isEmpty || !exclude.isEmpty }

  /// Whether a frame may stand for a site.
  func isCandidate(_ f: SourceFrame) -> Bool {
    if skipAllocatorFrames && AllocatorFrames.contains(f) { return false }
    if !showInterpreterFrames && f.kind == .interpreter { return false }
    if exclude.contains(where: { $0.matches(f) }) { return false }
    if !include.isEmpty && !include.contains(where: { $0.matches(f) }) { return false }
    return true
  }

  /// Which of a stack's frames (innermost first) may stand for its site. With the interpreter's
  /// frames hidden, a stack whose other candidates all lie outside (below) the interpreter's frames
  /// (process start-up, `main`) has nothing of its own: then the interpreter's frames are shown.
  public func candidates(_ frames: [SourceFrame]) -> [Int] {
    let kept = frames.indices.filter { isCandidate(frames[$0]) }
    guard !showInterpreterFrames, let outermost = frames.lastIndex(where: { $0.kind == .interpreter }),
          kept.allSatisfy({ $0 > outermost })
    else { return kept }
    return showingInterpreterFrames.candidates(frames)
  }

  /// Which of a stack's candidate frames (innermost first, as `candidates` returns them) names its
  /// site, for every grouping: the innermost Python frame when there is one, else the innermost
  /// candidate. A Python line is what the program asked for; the native frames inside it (numpy's
  /// `default_malloc`, Arrow's pool) are how the line was served, and stay in the traceback. Pure
  /// native stacks keep their innermost candidate, so their names do not change. Include and
  /// exclude filters act first: `--include 'module:libarrow*'` leaves no Python candidate, and
  /// the native frame names the site again.
  public static func siteFrame(_ candidates: [SourceFrame]) -> Int? {
    candidates.isEmpty ? nil : candidates.firstIndex { $0.kind == .python } ?? 0
  }

  /// The key and the label of a one-frame site.
  func key(for f: SourceFrame) -> (key: String, label: String) {
    switch grouping {
    case .lineno, .traceback:
      return (f.portableKey, f.siteName)
    case .filename:
      if let file = f.file { return ("file|\(f.fileName ?? file)", file) }
      return ("module|\(f.module)", "\(f.module) (no source file)")
    case .function:
      if let function = f.function { return ("\(function)|\(f.module)", "\(function) (\(f.module))") }
      return (f.moduleAndOffset, f.moduleAndOffset)
    case .module:
      return (f.module, f.module)
    }
  }
}
