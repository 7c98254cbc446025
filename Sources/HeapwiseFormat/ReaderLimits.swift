// The bounds the reader puts on quantities read from a dump before anything is sized by them
// (docs/FORMAT.md, "Reading rules" 5). Checksums only say a frame is what was written, not that a
// sane program wrote it: a crafted or damaged-then-resummed dump must not make the analyzer
// allocate, loop or overflow in proportion to a number it read. A record over a limit makes its
// frame corrupt (rule 2): reading stops there and keeps what came before.

public struct ReaderLimits: Sendable, Equatable {
  /// Highest frame stream number. The recorder numbers a thread's stream when it first records,
  /// from 1, so a real number is below the count of threads a process ever ran; 2^24 is far above
  /// any we have seen (40,000-thread storms) while keeping per-stream tables of the analysis small.
  public var maxStream: UInt32 = 1 << 24
  /// Highest stack id. The recorder's stack table holds at most 3/4 of 2^24 stacks
  /// (CShim/stacks.c, LAST_BITS); past that it records id 0.
  public var maxStackID: UInt32 = 1 << 24
  /// How far a stack id may run ahead of the number of STACK records read so far. The recorder
  /// hands out ids densely from 1 and writes each STACK record right after interning it, so a use
  /// can precede its STACK record only by the stacks interned concurrently on other threads.
  /// Tables indexed by stack id are then bounded by the records in the file, not by one number
  /// in it. 65,536 covers lost frames holding that many new stacks.
  public var stackIDLead: UInt32 = 1 << 16
  /// Largest ALLOC size, MMAP and MREMAP length: 2^57 bytes is more than any user address space
  /// (x86-64 with 5-level paging: 2^56; AArch64: 2^52), so no successful call can be larger.
  public var maxBlockSize: UInt64 = 1 << 57
  /// Reject a block whose address + size passes 2^64: no block can wrap around the address space.
  public var rejectsWrappingBlocks = true

  public init() {}

  /// No limit beyond the field widths (tests that need to see raw values).
  public static let unlimited: ReaderLimits = {
    var l = ReaderLimits()
    l.maxStream = .max
    l.maxStackID = .max
    l.stackIDLead = .max
    l.maxBlockSize = .max
    l.rejectsWrappingBlocks = false
    return l
  }()

  /// The highest stack id allowed after `stacksRead` STACK records.
  @inline(__always)
  func stackLimit(stacksRead: Int) -> UInt64 {
    min(UInt64(maxStackID), UInt64(stacksRead) &+ UInt64(stackIDLead))
  }
}
