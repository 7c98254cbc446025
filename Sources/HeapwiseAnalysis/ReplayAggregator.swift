// The one interface every analysis implements: the replay turns records into block events and
// calls each aggregator in order. Only what an aggregator needs is overridden; the defaults do
// nothing.
import HeapwiseFormat

/// An analysis fed by the replay (`Replay`), one block event at a time, in replay order.
///
/// ```swift
/// final class BigBlocks: ReplayAggregator {
///   var count = 0
///   func allocated(_ block: LiveBlock, address: UInt64, kind: BlockKind, state: ReplayState) {
///     if block.size >= 1 << 20 { count += 1 }
///   }
/// }
/// ```
public protocol ReplayAggregator: AnyObject {
  /// A block became live. `state` already counts it.
  func allocated(_ block: LiveBlock, address: UInt64, kind: BlockKind, state: ReplayState)
  /// `bytes` of `block` stopped being live (all of it, or part of a mapping: `whole` is false).
  /// `state` already leaves them out.
  func freed(_ block: LiveBlock, bytes: UInt64, whole: Bool, kind: BlockKind, by function: AllocatorFunction,
             state: ReplayState)
  /// The replay's live total reached a new maximum (after the allocation that made it).
  func reachedPeak(state: ReplayState)
  /// The resident bytes of a mapping changed by `delta` (a residency snapshot, a purge, or an
  /// unmap, which is reported here before `freed`). `state` already counts it.
  func residentChanged(_ block: LiveBlock, by delta: Int64, state: ReplayState)
  /// A residency snapshot has been applied: `state.stream` and `state.timestamp` are its own
  /// (the recorder takes one right after each marker's sample, in the marker's stream).
  func residencySnapshot(state: ReplayState)
  func marker(_ marker: MarkerRecord, state: ReplayState)
  func sample(_ sample: SampleRecord, state: ReplayState)
  func trim(_ trim: TrimRecord, state: ReplayState)
  func ended(_ end: EndRecord, state: ReplayState)
  /// Every event has been replayed.
  func finished(state: ReplayState)
}

extension ReplayAggregator {
  public func allocated(_ block: LiveBlock, address: UInt64, kind: BlockKind, state: ReplayState) {}
  public func freed(_ block: LiveBlock, bytes: UInt64, whole: Bool, kind: BlockKind, by function: AllocatorFunction,
                    state: ReplayState) {}
  public func reachedPeak(state: ReplayState) {}
  public func residentChanged(_ block: LiveBlock, by delta: Int64, state: ReplayState) {}
  public func residencySnapshot(state: ReplayState) {}
  public func marker(_ marker: MarkerRecord, state: ReplayState) {}
  public func sample(_ sample: SampleRecord, state: ReplayState) {}
  public func trim(_ trim: TrimRecord, state: ReplayState) {}
  public func ended(_ end: EndRecord, state: ReplayState) {}
  public func finished(state: ReplayState) {}
}

/// Heap blocks come from the malloc family; mappings from anonymous mmap / mremap.
public enum BlockKind: UInt8, Sendable {
  case heap
  case mapping
}
