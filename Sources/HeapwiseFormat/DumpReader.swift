// Reads a dump: header, pass 1 (FrameIndex), then pass 2, a k-way merge of the streams by
// timestamp that holds at most one decoded frame per stream. A stream whose next frame has not
// been opened waits in the merge under that frame's base timestamp, a lower bound of its records,
// so a frame is decompressed only when its records are due.
import CZstd

/// Something that yields events in replay order (a dump, or a list built by a test).
public protocol EventSource {
  mutating func next() -> Event?
}

/// Limits of the reader.
public struct ReaderOptions: Sendable {
  /// Stop after this many frames in total (nil: all). Useful to look at the start of a big dump.
  public var maxFrames: Int?
  public init(maxFrames: Int? = nil) { self.maxFrames = maxFrames }
}

/// Streams the events of one dump file in replay order (docs/FORMAT.md, "Reading rules").
///
/// ```swift
/// let reader = try DumpReader(path: "app.heapwise")
/// while let event = reader.next() { ... }
/// for warning in reader.warnings { print(warning) }
/// ```
///
/// Hot stored properties are `@exclusivity(unchecked)`: dynamic exclusivity checks took a third of
/// the replay time in a profile of a 10-million-pair dump, and a reader is used from one thread
/// with no overlapping accesses.
public final class DumpReader: EventSource {
  public let header: DumpHeader
  public let path: String
  /// Problems found so far; complete once `next()` has returned nil.
  @exclusivity(unchecked) public private(set) var warnings: [DumpWarning]
  /// Resident pages of the heap and anonymous mappings, from the RESIDENCY records read so far
  /// (at each marker and at exit; complete once `next()` has returned nil).
  public private(set) var residency: [ResidencyRegion] = []
  /// True once an END record was read.
  @exclusivity(unchecked) public private(set) var sawEnd = false
  public var fileSize: Int { file.bytes.count }
  /// Stored bytes of frames opened so far, for progress display.
  @exclusivity(unchecked) public private(set) var bytesOpened = 0
  /// Stored bytes of all frames that passed pass 1.
  public let bytesTotal: Int

  private let file: MappedFile
  /// One cursor per stream, in stream order. A raw buffer, so a cursor's decoder and pending event
  /// are updated in place (an array element would be copied out and back on every record).
  private let cursors: UnsafeMutablePointer<StreamCursor>
  private let cursorCount: Int
  /// Each cursor's next record, initialized exactly when the cursor's `hasPending` is set: events
  /// are moved in and out of this memory, never copied (copies of `Event` went through value
  /// witnesses and showed as a fifth of the time in profiles).
  private let pending: UnsafeMutablePointer<Event>
  /// Min-heap of cursor indices ordered by (key, index); `current` is kept outside it.
  @exclusivity(unchecked) private var heap: [Int] = []
  @exclusivity(unchecked) private var current = -1
  @exclusivity(unchecked) private var finished = false
  private let dctx: OpaquePointer?
  @exclusivity(unchecked) private var freeBuffers: [UnsafeMutableRawBufferPointer] = []

  public init(path: String, options: ReaderOptions = .init()) throws(DumpError) {
    self.path = path
    file = try MappedFile(path: path)
    header = try DumpHeader.decode(file.bytes)
    let index = FrameIndex(file: file.bytes, from: header.headerSize) { [file] in file.release($0) }
    warnings = index.warnings
    bytesTotal = index.validBytes
    var remaining = options.maxFrames ?? Int.max
    var list: [StreamCursor] = []
    for (stream, frames) in index.streams where remaining > 0 {
      let taken = Array(frames.prefix(remaining))
      remaining -= taken.count
      list.append(StreamCursor(stream: stream, frames: taken))
    }
    cursorCount = list.count
    cursors = .allocate(capacity: max(list.count, 1))
    cursors.initialize(from: list, count: list.count)
    pending = .allocate(capacity: max(list.count, 1))
    dctx = ZSTD_createDCtx()
    for i in 0..<cursorCount { heapPush(i) }
  }

  deinit {
    for i in 0..<cursorCount {
      if let b = cursors[i].buffer { b.deallocate() }
      if cursors[i].hasPending { (pending + i).deinitialize(count: 1) }
    }
    pending.deallocate()
    cursors.deinitialize(count: cursorCount)
    cursors.deallocate()
    for b in freeBuffers { b.deallocate() }
    if let dctx { ZSTD_freeDCtx(dctx) }
  }

  /// Number of frame streams (the process stream plus one per recording thread).
  public var streamCount: Int { cursorCount }

  public func next() -> Event? {
    while !finished {
      if current < 0 {
        guard let top = heapPop() else { return finishReading() }
        current = top
      }
      let i = current
      if cursors[i].isExhausted {
        current = -1
        continue
      }
      if let top = heap.first, !precedes(i, top) {
        // Another stream is due first: swap places with it.
        heap[0] = i
        siftDown(0)
        current = top
        continue
      }
      if cursors[i].hasPending {
        cursors[i].hasPending = false
        let event = (pending + i).move()
        advance(i)
        if case .end = event.record { sawEnd = true }
        return event
      }
      openNextFrame(i)
    }
    return nil
  }

  // MARK: - streams

  private struct StreamCursor {
    let stream: StreamID
    let frames: [FrameRef]
    /// `frames.count`, read on every record without touching the array.
    let frameCount: Int
    var nextFrame = 0
    var decoder: FrameDecoder? = nil
    /// Whether `DumpReader.pending[i]` holds this stream's next record.
    var hasPending = false
    var buffer: UnsafeMutableRawBufferPointer? = nil
    /// Merge key: the pending record's timestamp, or the next frame's base timestamp.
    var key: UInt64 = 0
    var isExhausted: Bool {
      if hasPending { return false }
      if case .some = decoder { return false }
      return nextFrame >= frameCount
    }

    init(stream: StreamID, frames: [FrameRef]) {
      self.stream = stream
      self.frames = frames
      frameCount = frames.count
      key = frames.first?.baseTimestamp ?? 0
    }
  }

  /// Ties on equal timestamps go to the lower stream number (cursors are sorted by stream).
  @inline(__always)
  private func precedes(_ a: Int, _ b: Int) -> Bool {
    let ka = cursors[a].key, kb = cursors[b].key
    return ka < kb || (ka == kb && a < b)
  }

  /// Decodes the next record of cursor i into `pending`, moving to the next frame's key at the end.
  private func advance(_ i: Int) {
    if cursors[i].hasPending {
      cursors[i].hasPending = false
      (pending + i).deinitialize(count: 1)
    }
    guard case .some = cursors[i].decoder else { return }
    do {
      // In place: the decoder is not copied out of its cursor.
      if try cursors[i].decoder!.next(into: pending + i) {
        cursors[i].hasPending = true
        cursors[i].key = pending[i].timestamp
        if let body = cursors[i].decoder!.residencyBody {
          cursors[i].decoder!.residencyBody = nil
          if let regions = ResidencyRegion.decode(body: body, timestamp: pending[i].timestamp, stream: pending[i].stream) {
            residency += regions
          }
        }
        return
      }
    } catch {
      let frame = cursors[i].frames[cursors[i].nextFrame - 1]
      stop(.corrupt(offset: frame.offset, reason: "\(error.reason) at payload byte \(error.offset)"))
      return
    }
    // Frame done: give its buffer (or its file pages) back and wait for the next frame's turn.
    cursors[i].decoder = nil
    let done = cursors[i].frames[cursors[i].nextFrame - 1]
    if !done.compressed { file.release(done.payloadOffset..<(done.payloadOffset + done.storedSize)) }
    if let b = cursors[i].buffer {
      freeBuffers.append(b)
      cursors[i].buffer = nil
    }
    if cursors[i].nextFrame < cursors[i].frames.count {
      cursors[i].key = cursors[i].frames[cursors[i].nextFrame].baseTimestamp
    }
  }

  private func openNextFrame(_ i: Int) {
    let frame = cursors[i].frames[cursors[i].nextFrame]
    cursors[i].nextFrame += 1
    bytesOpened += FormatConstants.frameHeaderSize + frame.storedSize
    let stored = UnsafeRawBufferPointer(rebasing: file.bytes[frame.payloadOffset..<(frame.payloadOffset + frame.storedSize)])
    var payload = stored
    if frame.compressed {
      let buffer = takeBuffer(capacity: frame.rawSize)
      cursors[i].buffer = buffer
      if let problem = decompress(stored, into: buffer, expected: frame.rawSize) {
        stop(.corrupt(offset: frame.offset, reason: problem))
        return
      }
      payload = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[0..<frame.rawSize])
      file.release(frame.payloadOffset..<(frame.payloadOffset + frame.storedSize))
    }
    cursors[i].decoder = FrameDecoder(payload: payload, baseTimestamp: frame.baseTimestamp, stream: cursors[i].stream,
                                      timeShift: frame.timeShift)
    advance(i)
  }

  private func decompress(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer, expected: Int) -> String? {
    guard let s = src.baseAddress, let d = dst.baseAddress else {
      return expected == 0 ? nil : "empty compressed payload"
    }
    let declared = ZSTD_getFrameContentSize(s, src.count)
    // ZSTD_CONTENTSIZE_ERROR is (0ULL - 2); ZSTD_CONTENTSIZE_UNKNOWN (0ULL - 1) is allowed.
    if declared == UInt64.max - 1 { return "payload is not a zstd frame" }
    if declared != UInt64.max && declared != UInt64(expected) {
      return "zstd frame holds \(declared) bytes, raw_size says \(expected)"
    }
    let n = ZSTD_decompressDCtx(dctx, d, expected, s, src.count)
    if ZSTD_isError(n) != 0 { return "zstd: \(String(cString: ZSTD_getErrorName(n)))" }
    if n != expected { return "decompressed to \(n) bytes, raw_size says \(expected)" }
    return nil
  }

  private func takeBuffer(capacity: Int) -> UnsafeMutableRawBufferPointer {
    if let j = freeBuffers.lastIndex(where: { $0.count >= capacity }) {
      return freeBuffers.remove(at: j)
    }
    // Round up so a buffer fits most later frames too.
    let size = max(capacity, 64 << 10).roundedUpToPowerOfTwo
    return .allocate(byteCount: size, alignment: 16)
  }

  private func stop(_ warning: DumpWarning) {
    warnings.append(warning)
    finished = true
  }

  private func finishReading() -> Event? {
    finished = true
    if !sawEnd && !warnings.contains(.missingEnd) { warnings.append(.missingEnd) }
    return nil
  }

  // MARK: - heap of cursor indices

  private func heapPush(_ i: Int) {
    heap.append(i)
    var c = heap.count - 1
    while c > 0 {
      let p = (c - 1) / 2
      if !precedes(heap[c], heap[p]) { break }
      heap.swapAt(c, p)
      c = p
    }
  }

  private func heapPop() -> Int? {
    guard let top = heap.first else { return nil }
    let last = heap.removeLast()
    if !heap.isEmpty {
      heap[0] = last
      siftDown(0)
    }
    return top
  }

  private func siftDown(_ start: Int) {
    var p = start
    let n = heap.count
    while true {
      let l = 2 * p + 1, r = l + 1
      var m = p
      if l < n && precedes(heap[l], heap[m]) { m = l }
      if r < n && precedes(heap[r], heap[m]) { m = r }
      if m == p { return }
      heap.swapAt(p, m)
      p = m
    }
  }
}

extension DumpReader {
  /// Reads all events into an array (tests and small dumps only).
  public func readAll() -> [Event] {
    var events: [Event] = []
    while let e = next() { events.append(e) }
    return events
  }
}

/// Events from an array, in array order (tests, and analyses of events built in memory).
public struct EventList: EventSource {
  private var events: [Event]
  private var index = 0
  public init(_ events: [Event]) { self.events = events }
  public mutating func next() -> Event? {
    guard index < events.count else { return nil }
    defer { index += 1 }
    return events[index]
  }
}

extension Int {
  fileprivate var roundedUpToPowerOfTwo: Int {
    self <= 1 ? 1 : 1 << (Int.bitWidth - (self - 1).leadingZeroBitCount)
  }
}
