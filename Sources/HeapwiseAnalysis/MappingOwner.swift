// Who owns an anonymous mapping, from the module of the innermost frame of the stack that mapped
// it (no symbols needed, so the replay can decide as it goes). One classifier for the replay, the
// summary and `top`: a mapping is the program's own, the malloc underneath's (its statistics
// already count it), or a private allocator's, one that lives inside a library and hands out
// blocks the recorder cannot see.
import HeapwiseFormat

/// An allocator bundled inside a library or runtime, managing memory it maps itself.
public enum PrivateAllocator: String, Sendable, Hashable, CaseIterable, Codable {
  /// libarrow's memory pools: its bundled mimalloc (the default) and jemalloc.
  case arrow
  /// CPython's small-object allocator: 1 MiB arenas (256 KiB before 3.10).
  case pymalloc

  /// "Arrow's memory pool", as a verdict names it.
  public var title: String {
    switch self {
    case .arrow: "Arrow's memory pool"
    case .pymalloc: "pymalloc arenas"
    }
  }

  /// How to see its blocks, and how to give its memory back.
  public var remedy: String {
    switch self {
    case .arrow:
      "set ARROW_DEFAULT_MEMORY_POOL=system to record its blocks; pyarrow.default_memory_pool().release_unused() hands freed pages back"
    case .pymalloc:
      "run with PYTHONMALLOC=malloc to record each object; arenas go back only when every object in them is freed"
    }
  }
}

public enum MappingOwner: Sendable, Hashable {
  case program
  /// The malloc the hooks forward to (jemalloc, tcmalloc, mimalloc as the process's allocator).
  case malloc
  case privateAllocator(PrivateAllocator)

  /// pymalloc's arena sizes (CPython 3.10+, and before).
  static let arenaLengths: Set<UInt64> = [1 << 20, 256 << 10]

  /// Classifies by module file name and mapping length.
  static func classify(module path: String?, length: UInt64) -> MappingOwner {
    guard let path else { return .program }
    let name = path.split(separator: "/").last.map(String.init) ?? path
    if ["libjemalloc", "libtcmalloc", "libmimalloc"].contains(where: { name.hasPrefix($0) }) { return .malloc }
    if name.hasPrefix("libarrow") { return .privateAllocator(.arrow) }
    if (name.hasPrefix("python") || name.hasPrefix("libpython")) && arenaLengths.contains(length) {
      return .privateAllocator(.pymalloc)
    }
    return .program
  }
}

/// Classifies each mapping's stack once per length class.
final class MappingClassifier {
  private var known: [StackID: MappingOwner] = [:]

  func owner(of stack: StackID, length: UInt64, state: ReplayState) -> MappingOwner {
    if let o = known[stack] {
      // A pymalloc stack that maps another length is the interpreter's own mapping.
      if case .privateAllocator(.pymalloc) = o, !MappingOwner.arenaLengths.contains(length) { return .program }
      return o
    }
    guard let address = state.stacks.addresses(of: stack).first else { return .program }
    let module = state.modules.entries.last { $0.unloaded == nil && $0.record.contains(address) }
    let o = MappingOwner.classify(module: module?.record.path, length: length)
    known[stack] = o
    return o
  }
}
