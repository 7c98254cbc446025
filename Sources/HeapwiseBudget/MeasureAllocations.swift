import CHeapwise
import Synchronization

/// Why a measurement could not be made.
public enum AllocationMeasurementError: Error, Sendable, CustomStringConvertible {
  /// The process's malloc is not heapwise's: HeapwiseBudget's C target was not linked into the
  /// executable itself (see docs/BUDGETS.md).
  case notInterposed
  /// Too many measurements open at once (64).
  case tooManyScopes
  /// A `.thread` (`.task`) measurement ended on another thread (task) than it began on.
  case endedElsewhere

  public var description: String {
    switch self {
    case .notInterposed:
      "heapwise: allocations are not interposed in this process; HeapwiseBudget must be linked "
        + "statically into the test executable (the default for SwiftPM test targets on Linux)"
    case .tooManyScopes: "heapwise: more than 64 allocation measurements are open at once"
    case .endedElsewhere: "heapwise: a .thread or .task measurement must end where it began"
    }
  }
}

/// Counts what `body` allocates: allocations, frees, bytes, peak, leaks and sites.
///
/// ```swift
/// let usage = try measureAllocations { _ = parser.parse(header) }
/// #expect(usage.allocations <= 3)
/// ```
///
/// Only `body`'s own thread (or task) is counted, so parallel tests do not disturb each other;
/// see ``AllocationScope``. The measurement itself adds nothing: no allocation happens between
/// its start and `body`, nor between `body`'s return and its end.
///
/// - Parameters:
///   - scope: whose allocations to count.
///   - captureSites: record a call stack per allocation so that ``AllocationUsage/topSites(by:limit:)``
///     can say where they came from (about a microsecond per allocation).
public func measureAllocations(
  in scope: AllocationScope = .task, captureSites: Bool = true, _ body: () throws -> Void
) throws -> AllocationUsage {
  let handle = try ScopeHandle(scope, captureSites: captureSites)
  do {
    try body()
  } catch {
    handle.cancel()
    throw error
  }
  return try handle.finish()
}

/// Counts what an `async` body allocates. With the default scope, ``AllocationScope/task``, the
/// body is counted on whichever threads it runs, but not its child tasks.
///
/// What the concurrency runtime allocates for its own scheduling (async frame slabs, jobs, task
/// objects) is not counted: see ``AllocationUsage/runtimeAllocations``.
public func measureAllocations(
  in scope: AllocationScope = .task, captureSites: Bool = true, _ body: () async throws -> Void
) async throws -> AllocationUsage {
  await TaskAllocatorProbe.learnOnce()
  let handle = try ScopeHandle(scope, captureSites: captureSites)
  do {
    try await body()
  } catch {
    handle.cancel()
    throw error
  }
  return try handle.finish()
}

/// One open C scope. Its start and end are the first and last things that touch the allocator.
struct ScopeHandle: ~Copyable {
  private let scope: OpaquePointer

  /// Confirms once per process that this process's malloc is the interposed one: a measured
  /// allocation through the Swift runtime must be seen.
  private static let interposed: Bool = {
    guard let probe = heapwise_scope_begin(HEAPWISE_SCOPE_THREAD, 0) else { return false }
    let p = UnsafeMutableRawPointer.allocate(byteCount: 24, alignment: 8)
    p.deallocate()
    var st = heapwise_scope_stats()
    _ = heapwise_scope_stop(probe, &st)
    heapwise_scope_release(probe)
    return st.allocations == 1 && st.frees == 1
  }()

  init(_ scope: AllocationScope, captureSites: Bool) throws {
    guard Self.interposed else { throw AllocationMeasurementError.notInterposed }
    let mode: Int32 =
      switch scope {
      case .task: HEAPWISE_SCOPE_TASK
      case .thread: HEAPWISE_SCOPE_THREAD
      case .process: HEAPWISE_SCOPE_PROCESS
      }
    guard let s = heapwise_scope_begin(mode, captureSites ? HEAPWISE_SCOPE_SITES : 0) else {
      throw AllocationMeasurementError.tooManyScopes
    }
    self.scope = s
  }

  /// Stops counting, then collects the results (which allocates, now harmlessly).
  consuming func finish() throws -> AllocationUsage {
    var st = heapwise_scope_stats()
    guard heapwise_scope_stop(scope, &st) == 0 else {
      heapwise_scope_release(scope)
      discard self
      throw AllocationMeasurementError.endedElsewhere
    }
    // Every stack: the task allocator's must be found and taken out of the counts. The table
    // holds at most a few hundred; the extra one is the site for stacks beyond its capacity.
    let capacity = Int(st.sites) + 1
    let sites = [heapwise_scope_site](unsafeUninitializedCapacity: capacity) { buffer, count in
      count = Int(heapwise_scope_sites(scope, HEAPWISE_SCOPE_BY_COUNT, buffer.baseAddress, capacity))
    }
    heapwise_scope_release(scope)
    discard self
    return AllocationUsage(st, stacks: sites.map(AllocationStack.init))
  }

  consuming func cancel() {
    heapwise_scope_release(scope)
    discard self
  }

  deinit { heapwise_scope_release(scope) }
}

/// Shows the C side, once per process, where the concurrency runtime's task allocator takes its
/// slabs, so that no async measurement counts one (peak included): runs a function whose async
/// frame cannot fit in the current slab and symbolizes what it allocated.
enum TaskAllocatorProbe {
  private static let done = Atomic<Bool>(false)

  static func learnOnce() async {
    guard !done.exchange(true, ordering: .relaxed),
      let scope = heapwise_scope_begin(HEAPWISE_SCOPE_TASK, HEAPWISE_SCOPE_SITES)
    else { return }
    _ = await largeFrame(3)
    var st = heapwise_scope_stats()
    _ = heapwise_scope_stop(scope, &st)
    let capacity = Int(st.sites) + 1
    let sites = [heapwise_scope_site](unsafeUninitializedCapacity: capacity) { buffer, count in
      count = Int(heapwise_scope_sites(scope, HEAPWISE_SCOPE_BY_COUNT, buffer.baseAddress, capacity))
    }
    heapwise_scope_release(scope)
    // Reading a task-allocator stack registers its function (SiteSymbolizer.read).
    for site in sites { _ = SiteSymbolizer.shared.read(AllocationStack(site).addresses) }
  }

  /// 2 KiB live across a suspension lives in the async frame: more than a slab holds.
  @inline(never) private static func largeFrame(_ seed: Int) async -> UInt64 {
    var words = InlineArray<256, UInt64>(repeating: UInt64(seed))
    await Task.yield()
    words[seed] &+= 1
    return words[seed]
  }
}
