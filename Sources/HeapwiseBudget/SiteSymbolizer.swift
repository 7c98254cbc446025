import HeapwiseSymbols
import Synchronization

/// Finds, in a captured stack, the first frame of the code that asked for memory: past the
/// allocator entry points, heapwise's own hooks, the Swift runtime and the standard library
/// (also where it was inlined into the caller).
final class SiteSymbolizer: Sendable {
  static let shared = SiteSymbolizer()

  /// One symbolizer for the process, created on first use; it is not thread-safe, so it lives
  /// behind a lock (failure messages are rare, contention does not matter).
  private let symbolizer = Mutex<Symbolizer?>(nil)

  /// Functions of the allocation path itself: the malloc family as the hooks define it, the
  /// hooks' helpers, and the runtime's allocation entry points.
  private static let allocatorFunctions: Set<String> = [
    "malloc", "calloc", "realloc", "reallocarray", "free", "posix_memalign", "aligned_alloc",
    "memalign", "valloc", "pvalloc", "on_alloc", "realloc_recorded", "realloc_from_pool",
    "operator new", "operator new[]",
  ]

  /// Libraries whose frames are never the answer: they allocate on someone else's behalf.
  private static let runtimeLibraries = [
    "libc.so", "libc-", "libstdc++", "libswiftCore.so", "libswift_Concurrency", "libswift_",
    "libFoundation", "libdispatch", "libXCTest", "libTesting", "ld-linux",
  ]

  /// The caller's frame, or nil when the stack is empty. Falls back to the first frame outside
  /// the allocation path when every frame belongs to the runtime.
  func callerFrame(_ addresses: [UInt64]) -> SymbolizedFrame? {
    symbolizer.withLock { cached -> SymbolizedFrame? in
      let symbolizer = cached ?? Symbolizer.forCurrentProcess()
      cached = symbolizer
      var fallback: SymbolizedFrame?
      for address in addresses {
        for frame in symbolizer.symbolize(address) {
          if fallback == nil && !Self.isAllocator(frame) { fallback = frame }
          if Self.isCaller(frame) { return frame }
        }
      }
      return fallback
    }
  }

  /// Whether the stack is the concurrency runtime's task allocator taking a slab for async
  /// frames. Only stacks whose caller lies in the concurrency library (`inConcurrencyRuntime`,
  /// found by the C side without symbols) are symbolized, so measurements of synchronous code
  /// never pay for it.
  func isTaskAllocator(_ stack: AllocationStack) -> Bool {
    guard stack.inConcurrencyRuntime else { return false }
    return symbolizer.withLock { cached in
      let symbolizer = cached ?? Symbolizer.forCurrentProcess()
      cached = symbolizer
      return stack.addresses.dropFirst().prefix(2).contains { address in
        symbolizer.symbolize(address).contains { frame in
          guard let function = frame.function else { return false }
          return function.contains("StackAllocator") || function.contains("TaskAllocator")
            || function.hasPrefix("swift_task_alloc")
        }
      }
    }
  }

  static func location(_ frame: SymbolizedFrame) -> String {
    if let file = frame.file, let line = frame.line {
      let name = file.split(separator: "/").last.map(String.init) ?? file
      return "\(name):\(line)"
    }
    if let function = frame.function { return "\(function) in \(frame.moduleName)" }
    return frame.moduleAndOffset
  }

  private static func isAllocator(_ frame: SymbolizedFrame) -> Bool {
    guard let function = frame.function else { return false }
    return allocatorFunctions.contains(function) || function.hasPrefix("hw_")
  }

  private static func isCaller(_ frame: SymbolizedFrame) -> Bool {
    if isAllocator(frame) { return false }
    let module = frame.moduleName
    if runtimeLibraries.contains(where: { module.hasPrefix($0) }) { return false }
    if let function = frame.function,
      function.hasPrefix("swift_") || function.hasPrefix("swift::") || function.hasPrefix("_swift")
    {
      return false
    }
    // Standard library code inlined into the caller keeps the standard library's file names.
    if let file = frame.file, file.contains("/stdlib/public/") { return false }
    return true
  }
}
