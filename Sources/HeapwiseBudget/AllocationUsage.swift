import CHeapwise

/// What a measured body allocated: counts, bytes, leaks, and where the allocations came from.
///
/// ```swift
/// let usage = try measureAllocations { for _ in 0..<1000 { cache.lookup(key) } }
/// #expect(usage.allocations == 0)
/// #expect(usage.liveBytesDelta <= 0)
/// ```
///
/// Sizes are the sizes requested from malloc, not what the allocator rounded them up to, so
/// the numbers are the same on every machine that runs the same code.
public struct AllocationUsage: Sendable, Hashable {
  /// Successful calls of the malloc family (a `realloc` counts as one allocation and one free).
  public var allocations: Int
  /// Frees, of blocks allocated inside the body or before it.
  public var frees: Int
  /// Bytes requested by all the allocations.
  public var bytesAllocated: Int
  /// The most bytes of the body's own blocks that were live at one time.
  public var peakBytes: Int
  /// Blocks allocated inside the body and not freed (by any thread) by its end.
  public var leakedBlocks: Int
  /// Their bytes: what the body left allocated.
  public var leakedBytes: Int
  /// Frees of blocks that were allocated before the body began (an evicted cache entry).
  public var olderFrees: Int
  /// Their bytes as `malloc_usable_size` reports them: their requested size is not known.
  public var olderBytesFreed: Int
  /// True when the body had more distinct call stacks than the site table holds; the rest are
  /// counted in one site without a location.
  public var sitesTruncated: Bool
  /// True when the leak table ran out of room (millions of live blocks): leaks undercounted.
  public var leaksTruncated: Bool
  /// Allocations the Swift runtime and the testing library made for themselves, left out of
  /// every count above.
  ///
  /// Swift Testing's code expanded into a test (`#expect`, `#require`, the `@Test` thunk, so
  /// also whatever is allocated on the line of an `#expect` itself). And three kinds of the
  /// runtime's. Process-wide caches (type metadata, witness tables, protocol conformances),
  /// filled the first time a type is used, so whichever test runs first would pay for them.
  /// The concurrency runtime's own scheduling memory: slabs of the task allocator (which holds
  /// async frames), jobs, continuations, task objects; when these are freed depends on the
  /// executor threads, not on the code under test. And, in unoptimized builds, the frames of
  /// coroutine accessors (`for x in array` through generic code mallocs one per element).
  /// The last two are frame memory; once a stack of theirs has been seen (the first async
  /// measurement of a process makes sure of that for the task allocator) they are left out as
  /// they happen, ``peakBytes`` included. Recognising any of them needs the call stacks: with
  /// `captureSites: false` they are counted.
  public var runtimeAllocations: Int
  public var runtimeBytes: Int
  /// The allocating call stacks, most allocations first; see ``topSites(by:limit:)``.
  public var stacks: [AllocationStack]

  /// How much the live heap grew across the body: ``leakedBytes`` minus ``olderBytesFreed``.
  /// Zero or less means the body left no more memory behind than it found.
  public var liveBytesDelta: Int { leakedBytes - olderBytesFreed }

  init(_ st: heapwise_scope_stats, stacks: [AllocationStack]) {
    allocations = Int(st.allocations)
    frees = Int(st.frees)
    bytesAllocated = Int(st.bytes_allocated)
    peakBytes = Int(st.peak_bytes)
    leakedBlocks = Int(st.leaked_blocks)
    leakedBytes = Int(st.leaked_bytes)
    olderFrees = Int(st.older_frees)
    olderBytesFreed = Int(st.older_bytes_freed)
    sitesTruncated = st.flags & UInt32(HEAPWISE_SCOPE_SITES_TRUNCATED) != 0
    leaksTruncated = st.flags & UInt32(HEAPWISE_SCOPE_BLOCKS_TRUNCATED) != 0
    runtimeAllocations = Int(st.ignored_allocations)
    runtimeBytes = Int(st.ignored_bytes)
    self.stacks = []
    for stack in stacks {
      guard SiteSymbolizer.shared.read(stack.addresses).kind != .caller else {
        self.stacks.append(stack)
        continue
      }
      allocations -= stack.allocations
      bytesAllocated -= stack.bytes
      frees -= stack.frees
      leakedBlocks -= stack.leakedBlocks
      leakedBytes -= stack.leakedBytes
      runtimeAllocations += stack.allocations
      runtimeBytes += stack.bytes
    }
  }
}

extension AllocationUsage: CustomStringConvertible {
  /// `12 allocations (3072 B), 10 frees, peak 2 KiB, 2 leaked blocks (200 B)`.
  public var description: String {
    "\(allocations) allocations (\(ByteCount(bytesAllocated))), \(frees) frees, peak \(ByteCount(peakBytes)), "
      + "\(leakedBlocks) leaked blocks (\(ByteCount(max(leakedBytes, 0))))"
  }
}

/// One call stack that allocated inside a measured body, with raw return addresses.
public struct AllocationStack: Sendable, Hashable {
  public var allocations: Int
  public var bytes: Int
  /// Of this stack's blocks, those freed (by any thread) before the measurement ended.
  public var frees: Int
  public var leakedBlocks: Int
  public var leakedBytes: Int
  /// Return addresses minus one, innermost first, starting at the allocator entry point.
  /// Empty for the site that collects stacks beyond the table's capacity.
  public var addresses: [UInt64]

  init(_ s: heapwise_scope_site) {
    allocations = Int(s.allocations)
    bytes = Int(s.bytes)
    frees = Int(s.frees)
    leakedBlocks = Int(s.leaked_blocks)
    leakedBytes = Int(s.leaked_bytes)
    addresses = withUnsafeBytes(of: s.frames) { raw in
      Array(raw.bindMemory(to: UInt.self).prefix(Int(s.depth)).map { UInt64($0) })
    }
  }
}
