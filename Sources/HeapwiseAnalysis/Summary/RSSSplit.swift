/// RSS at one moment split into live heap, allocator-held, mapped regions and other, each figure
/// with the method that produced it. docs/SUMMARY.md explains the methods.
///
/// The parts sum to ``rss`` exactly: every part is capped so that it fits in what the kernel
/// counts as resident anonymous memory, and whatever a cap removes is reported in ``notes``
/// (pages the allocator counts but the kernel does not hold, blocks never touched). Samples and the
/// recorder's live count are taken at the same timestamp, so a cap larger than ``tolerance`` is a
/// finding, not noise.
public struct RSSSplit: Sendable, Hashable {
  public struct Part: Sendable, Hashable {
    public var bytes: UInt64
    /// How the figure was obtained, in one phrase.
    public var method: String
    public init(bytes: UInt64, method: String) {
      self.bytes = bytes
      self.method = method
    }
  }

  public var rss: Part
  /// Tracked blocks still allocated.
  public var liveHeap: Part
  /// Freed by the program, still resident in the allocator; nil when the allocator's statistics
  /// are unavailable (its share then stays in ``other``).
  public var allocatorHeld: Part?
  /// Resident memory of allocators inside libraries (Arrow's memory pool, pymalloc arenas): the
  /// regions they mapped, whose blocks the recorder does not see. Largest first.
  public var privateAllocators: [(allocator: PrivateAllocator, part: Part)] = []
  /// Anonymous regions the program mapped itself (tracked mmap), by their resident pages.
  public var mapped: Part
  /// Everything else: the sum of ``otherDetail``.
  public var other: Part
  /// The parts of ``other``: file-backed pages, the recorder's own memory, and the rest.
  public var otherDetail: [(name: String, part: Part)]
  /// What the caps removed and other caveats, one sentence each.
  public var notes: [String]
  /// The largest difference between figures of one sample considered noise.
  public var tolerance: UInt64

  public static func == (a: RSSSplit, b: RSSSplit) -> Bool {
    a.rss == b.rss && a.liveHeap == b.liveHeap && a.allocatorHeld == b.allocatorHeld
      && a.privateAllocators.map(\.allocator) == b.privateAllocators.map(\.allocator)
      && a.privateAllocators.map(\.part) == b.privateAllocators.map(\.part)
      && a.mapped == b.mapped && a.other == b.other && a.notes == b.notes
      && a.otherDetail.map(\.name) == b.otherDetail.map(\.name)
      && a.otherDetail.map(\.part) == b.otherDetail.map(\.part) && a.tolerance == b.tolerance
  }

  public func hash(into hasher: inout Hasher) {
    hasher.combine(rss)
    hasher.combine(liveHeap)
    hasher.combine(allocatorHeld)
  }

  /// Splits the RSS of `sample`.
  /// - Parameters:
  ///   - liveHeap: the replay's live bytes (requested sizes) at the sample's time.
  ///   - liveBlocks: how many blocks those are.
  ///   - mapped: resident bytes of the program's own tracked anonymous mappings at that time.
  ///   - privateResident: resident bytes of the regions of each private allocator.
  ///   - allocatorAnswers: the allocator gave statistics at other moments of the dump, so their
  ///     absence here means only that none were read for this sample (the recorder reads them at
  ///     markers and exit, and otherwise on a CPU budget), not that the allocator is unknown.
  /// Returns nil when the sample has no RSS.
  public init?(
    sample: MemorySample, liveHeap: UInt64, liveBlocks: Int, mapped: UInt64,
    privateResident: [PrivateAllocator: UInt64] = [:], reserved: UInt64? = nil, allocatorAnswers: Bool = false
  ) {
    guard let rssBytes = sample.rss else { return nil }
    var notes: [String] = []
    tolerance = Swift.max(1 << 20, rssBytes / 50)

    let fileBacked = Swift.min(
      sample.fileRSS ?? sample.anonymous.map { rssBytes - Swift.min($0, rssBytes) } ?? 0, rssBytes)
    let fileMethod =
      sample.fileRSS != nil ? "statm: resident file-backed and shared pages (code, mapped files)"
      : sample.anonymous != nil ? "RSS minus smaps_rollup Anonymous" : "not measured"
    let anonymous = rssBytes - fileBacked
    let recorder = Swift.min(sample.recorderBytes ?? 0, anonymous)
    var room = anonymous - recorder

    // The live heap first: its blocks were written, so they are nearly always resident. Mappings are
    // often bare reservations (Arrow's bundled mimalloc reserves 1 GiB it never touches): counted
    // first and whole, they took all of a pandas job's anonymous RSS and left the live heap at 0 B.
    let live = Swift.min(liveHeap, room)
    if liveHeap - live > tolerance {
      notes.append(
        "\(Units.bytes(liveHeap - live)) of the live heap is not resident (blocks never written, e.g. large calloc).")
    }
    room -= live
    // Then the private allocators and the mapped regions, both by resident pages already; the
    // caps only absorb the moment between a snapshot and the sample.
    var privateParts: [(allocator: PrivateAllocator, part: Part)] = []
    for (allocator, bytes) in privateResident.sorted(by: { $0.value > $1.value }) where bytes > 0 {
      let counted = Swift.min(bytes, room)
      room -= counted
      privateParts.append(
        (allocator, Part(bytes: counted, method: "resident pages of the regions it mapped (mincore, madvise, munmap); its blocks are not visible")))
    }
    privateAllocators = privateParts
    let mappedBytes = Swift.min(mapped, room)
    room -= mappedBytes
    if let reserved, reserved > tolerance {
      notes.append(
        "mapped regions reserve \(Units.bytes(reserved)) of address space; only their resident pages are counted here.")
    }

    self.rss = Part(bytes: rssBytes, method: "statm: resident pages")
    self.mapped = Part(
      bytes: mappedBytes,
      method: "resident pages of tracked anonymous mappings (mincore snapshots, madvise, munmap)")
    self.liveHeap = Part(
      bytes: live,
      method: "recorder: requested bytes of \(Units.plural(liveBlocks, "block")) allocated and not freed")

    var held: Part? = nil
    let footprint: (bytes: UInt64, method: String)?
    switch sample.allocator {
    case .unavailable:
      footprint = nil
      notes.append(
        allocatorAnswers
          ? "Allocator statistics were not read at this moment (only at markers, at exit and on a CPU budget): freed memory the allocator keeps is counted in other."
          : "Allocator statistics unavailable (not glibc, jemalloc or tcmalloc): freed memory the allocator keeps is counted in other.")
    case .glibc(let mi):
      // arena + hblkhd is everything malloc holds; uordblks would count tcache'd chunks as in
      // use, so the live part comes from the recorder instead. fordblks still counts trimmed
      // pages: the cap below removes what the kernel does not hold.
      footprint = (
        mi.arena.addingSaturated(mi.hblkhd),
        "mallinfo2 arena + hblkhd minus live heap (free chunks, tcache, chunk headers), resident part"
      )
    case .jemalloc(let je):
      footprint = (je.resident, "jemalloc stats.resident minus live heap")
    case .tcmalloc(let tc):
      footprint = (
        tc.heapSize - Swift.min(tc.pageheapUnmapped, tc.heapSize),
        "tcmalloc heap_size minus pageheap_unmapped minus live heap"
      )
    }
    if let footprint {
      let raw = footprint.bytes - Swift.min(footprint.bytes, liveHeap)
      let bytes = Swift.min(raw, room)
      if raw - bytes > tolerance {
        notes.append(
          "\(Units.bytes(raw - bytes)) that the allocator counts as its own is not resident (returned to the kernel, e.g. by malloc_trim, or never touched).")
      }
      room -= bytes
      held = Part(bytes: bytes, method: footprint.method)
    }
    allocatorHeld = held

    otherDetail = [
      ("file-backed", Part(bytes: fileBacked, method: fileMethod)),
      ("recorder", Part(bytes: recorder, method: "recorder's own buffers and tables (sample key 40)")),
      (
        "rest",
        Part(
          bytes: room,
          method: held == nil
            ? "remaining anonymous memory: allocator-held, thread stacks, untracked"
            : "remaining anonymous memory: thread stacks, allocator metadata, untracked")
      ),
    ]
    other = Part(bytes: fileBacked + recorder + room, method: "RSS minus the parts above")
    self.notes = notes
  }

  /// live + allocator-held + private allocators + mapped + other; equals ``rss`` by construction.
  public var sum: UInt64 {
    liveHeap.bytes + (allocatorHeld?.bytes ?? 0) + privateBytes + mapped.bytes + other.bytes
  }

  /// All private allocators together.
  public var privateBytes: UInt64 { privateAllocators.reduce(0) { $0 + $1.part.bytes } }
}
