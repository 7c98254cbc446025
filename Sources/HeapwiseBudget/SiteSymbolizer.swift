import CHeapwise
import HeapwiseFormat
import HeapwiseSymbols
import Synchronization

/// Reads captured stacks: finds the first frame of the code that asked for memory (past the
/// allocator entry points, heapwise's hooks, the Swift runtime and the standard library, also
/// where it was inlined into the caller), and recognises the allocations the runtime makes for
/// itself, which a budget must not count.
final class SiteSymbolizer: Sendable {
  static let shared = SiteSymbolizer()

  /// What a stack turned out to be.
  enum Kind: Equatable {
    /// The code under test allocated.
    case caller
    /// The runtime filled a process-wide cache: type metadata, witness tables, conformances.
    /// Happens once per process for each type, so it depends on which test ran first.
    case runtimeCache
    /// Swift Testing's own code expanded into the test: `#expect`, `#require`, the `@Test`
    /// thunk. Recognised by the file name the compiler gives a macro expansion.
    case testingLibrary
    /// A coroutine accessor (`read`, `modify`) allocated its own frame, which did not fit the
    /// caller's buffer: unoptimized builds only; the frame is stack memory moved to the heap.
    case coroutineFrame
    /// The concurrency runtime (or libdispatch under it) allocated for its own scheduling: task
    /// allocator slabs for async frames, jobs, continuations, task objects. When these are
    /// freed depends on the executor threads, not on the code under test.
    case concurrencyRuntime
  }

  /// One symbolizer for the process, created on first use; it is not thread-safe, so it lives
  /// behind a lock. It caches per address, so a stack seen before costs dictionary lookups.
  private let symbolizer = Mutex<Symbolizer?>(nil)

  /// Functions of the allocation path itself: the malloc family as the hooks define it, the
  /// hooks' helpers, and C++'s entry points.
  private static let allocatorFunctions: Set<String> = [
    "malloc", "calloc", "realloc", "reallocarray", "free", "posix_memalign", "aligned_alloc",
    "memalign", "valloc", "pvalloc", "on_alloc", "alloc_event", "alloc_event_in", "realloc_recorded", "realloc_from_pool",
    "malloc_general", "calloc_general", "realloc_general", "free_general",
    "operator new(unsigned long)", "operator new[](unsigned long)",
  ]

  /// Libraries whose frames are never the answer: they allocate on someone else's behalf.
  private static let runtimeLibraries = [
    "libc.so", "libc-", "libstdc++", "libswiftCore.so", "libswift_Concurrency", "libswift_",
    "libFoundation", "libdispatch", "libXCTest", "libTesting", "ld-linux",
  ]

  /// Runtime functions that fill process-wide caches (names as the symbol table spells them).
  private static let cacheFunctions = [
    "Metadata", "WitnessTable", "conformsToProtocol", "TypeByMangledName",
    "AssociatedTypeWitness", "AssociatedConformanceWitness",
  ]

  /// The kind of `addresses` and its caller's frame (nil when the stack is empty, or the
  /// first frame outside the allocation path when no frame belongs to the caller).
  func read(_ addresses: [UInt64]) -> (kind: Kind, caller: SymbolizedFrame?) {
    symbolizer.withLock { cached in
      let symbolizer = cached ?? Symbolizer.forCurrentProcess()
      cached = symbolizer
      var fallback: SymbolizedFrame?
      var caller: SymbolizedFrame?
      // Python frames (an embedded CPython: the recorder merges them into sites): the innermost
      // is the code that asked for memory; the interpreter's native frames under it are not.
      for address in addresses where PythonFrameAddress.isPython(address) {
        if let frame = Self.pythonFrame(address) { return (.caller, frame) }
      }
      for (index, address) in addresses.enumerated() where !PythonFrameAddress.isPython(address) {
        let frames = symbolizer.symbolize(address)
        // The allocator's direct caller is a coroutine accessor: its own frame (unoptimized
        // builds). From now on the C side leaves such allocations out as they happen.
        if caller == nil && index == 1 && frames.contains(where: Self.isCoroutineAccessor) {
          _ = heapwise_scope_ignore_caller(UInt(address), 1)
          return (.coroutineFrame, frames.last)
        }
        for frame in frames {
          if Self.isCaller(frame) {
            if Self.isTestingMacro(frame) { return (.testingLibrary, frame) }
            // Prefer a frame with a line: compiler-made functions (allocating initializers,
            // thunks) have none, their caller does.
            if frame.line != nil && frame.file != nil { return (.caller, frame) }
            caller = caller ?? frame
            continue
          }
          if caller != nil { continue }
          if fallback == nil && !Self.isAllocator(frame) { fallback = frame }
          if Self.isConcurrencyRuntime(frame) {
            if index <= 2 { _ = heapwise_scope_ignore_caller(UInt(address), 2) }
            return (.concurrencyRuntime, frame)
          }
          guard let function = frame.function, Self.isRuntime(frame) else { continue }
          if Self.cacheFunctions.contains(where: { function.contains($0) }) {
            return (.runtimeCache, frame)
          }
        }
      }
      return (.caller, caller ?? fallback)
    }
  }

  func callerFrame(_ addresses: [UInt64]) -> SymbolizedFrame? { read(addresses).caller }

  /// The Python frame a site's tagged value names, from the code object's description that the
  /// recorder keeps for the process (`heapwise_python_code`); nil when it has none.
  static func pythonFrame(_ address: UInt64) -> SymbolizedFrame? {
    var body: UnsafeRawPointer?
    var length = 0
    guard heapwise_python_code(PythonFrameAddress.codeID(address), &body, &length) == 0, let body,
      let code = try? PythonCodeRecord(body: UnsafeRawBufferPointer(start: body, count: length))
    else { return nil }
    let instruction = PythonFrameAddress.instruction(address)
    return SymbolizedFrame(
      function: code.qualifiedName, file: code.filename, line: code.line(atInstruction: instruction),
      module: code.filename, moduleOffset: UInt64(instruction) * 2, isInlined: false, address: address)
  }

  private static func isAllocator(_ frame: SymbolizedFrame) -> Bool {
    guard let function = frame.function else { return false }
    return allocatorFunctions.contains(function) || function.hasPrefix("hw_")
  }

  /// Expansion files are named `@__swiftmacro_<context><macro name>fMf_` (freestanding) or
  /// `...fMp_` (peer).
  private static let testingMacroMarks = ["6expectfMf", "7requirefMf", "4TestfMp", "5SuitefMp"]

  private static func isTestingMacro(_ frame: SymbolizedFrame) -> Bool {
    guard let file = frame.file?.split(separator: "/").last, file.hasPrefix("@__swiftmacro_") else {
      return false
    }
    return testingMacroMarks.contains { file.contains($0) }
  }

  private static let accessorMarks = [".read : ", ".modify : ", ".read2 : ", ".modify2 : "]

  private static func isCoroutineAccessor(_ frame: SymbolizedFrame) -> Bool {
    guard let function = frame.function else { return false }
    return accessorMarks.contains { function.contains($0) }
  }

  private static func isConcurrencyRuntime(_ frame: SymbolizedFrame) -> Bool {
    let module = frame.moduleName
    return module.hasPrefix("libswift_Concurrency") || module.hasPrefix("libdispatch")
  }

  private static func isRuntime(_ frame: SymbolizedFrame) -> Bool {
    let module = frame.moduleName
    return runtimeLibraries.contains { module.hasPrefix($0) }
  }

  private static func isCaller(_ frame: SymbolizedFrame) -> Bool {
    if isAllocator(frame) || isRuntime(frame) { return false }
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
