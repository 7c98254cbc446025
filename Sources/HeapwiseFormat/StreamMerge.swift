// Pass 2 of reading a dump: a k-way merge of the streams by timestamp that holds at most one
// decompressed frame and one chunk of decoded block records per stream. A stream waits in the
// merge under a lower bound of its next record's timestamp: its next frame's base timestamp
// before the frame is opened, its last record's once a chunk is used up, so a frame is
// decompressed, and a chunk decoded, only when its records are due. `nextStep()` hands out block
// records a run at a time: all that precede every other stream's next record.
//
// Hot stored properties are `@exclusivity(unchecked)`: dynamic exclusivity checks took a third of
// the replay time in a profile of a 10-million-pair dump, and a merge is used from one thread at
// a time with no overlapping accesses.
import CZstd

final class StreamMerge {
  /// Problems found in pass 2 (pass 1's are the index's) and regions of the RESIDENCY records
  /// decoded, since the last `takeNews()`.
  @exclusivity(unchecked) private var warnings: [DumpWarning] = []
  private var residency: [ResidencyRegion] = []
  /// True once an END record was handed out.
  @exclusivity(unchecked) private(set) var sawEnd = false
  /// Stored bytes of frames opened so far, for progress display.
  @exclusivity(unchecked) private(set) var bytesOpened = 0

  private let file: MappedFile
  @exclusivity(unchecked) private var pages: PageReleaser
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
  private let limits: ReaderLimits
  /// STACK records read so far: stack ids may run only `limits.stackIDLead` ahead of it.
  @exclusivity(unchecked) private var stacksRead = 0

  /// Merges the frames that pass 1 found, at most `maxFrames` of them in total.
  init(file: MappedFile, index: FrameIndex, maxFrames: Int?, limits: ReaderLimits = .init()) {
    self.file = file
    self.limits = limits
    pages = PageReleaser(file)
    var remaining = maxFrames ?? Int.max
    var list: [StreamCursor] = []
    chunkSize = Self.chunkSize(streams: index.streams.count)
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
      cursors[i].blocks?.deallocate()
      if cursors[i].hasPending { (pending + i).deinitialize(count: 1) }
    }
    pending.deallocate()
    cursors.deinitialize(count: cursorCount)
    cursors.deallocate()
    for b in freeBuffers { b.deallocate() }
    if let dctx { ZSTD_freeDCtx(dctx) }
  }

  /// Number of frame streams (the process stream plus one per recording thread).
  var streamCount: Int { cursorCount }

  /// The warnings and residency regions found since the last call, for the reader to pass on.
  func takeNews() -> (warnings: [DumpWarning], residency: [ResidencyRegion])? {
    guard !warnings.isEmpty || !residency.isEmpty else { return nil }
    defer {
      warnings.removeAll()
      residency.removeAll()
    }
    return (warnings, residency)
  }

  /// True when the run just handed out was a whole chunk, which `takeChunk` may then take.
  var lastRunIsWholeChunk: Bool {
    guard current >= 0 else { return false }
    let c = cursors[current]
    return c.wholeChunkOut && c.blockEnd > 0 && c.blockStart == c.blockEnd && c.blockCapacity == chunkSize
  }

  /// Takes the memory of the whole chunk just handed out (its records stay valid for as long as
  /// the caller keeps it) and gives the stream `replacement` (`chunkSize` records) to decode into.
  /// Lets the read-ahead thread pass a chunk on instead of copying it.
  func takeChunk(replacement: UnsafeMutablePointer<BlockRecord>) -> UnsafeMutablePointer<BlockRecord> {
    precondition(lastRunIsWholeChunk)
    let c = cursors + current
    let old = c.pointee.blocks!
    c.pointee.blocks = replacement
    c.pointee.blockStart = 0
    c.pointee.blockEnd = 0
    c.pointee.wholeChunkOut = false
    return old
  }

  /// The next run of block records, or the next other event, or the end.
  func nextStep() -> ReadStep {
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
      let c = cursors + i
      if c.pointee.blockStart < c.pointee.blockEnd {
        let start = c.pointee.blockStart
        var end = c.pointee.blockEnd
        if let top = heap.first {
          // Only the records that precede the other streams' next one (ties go to the lower
          // index); timestamps never decrease within a stream, so a binary search finds the cut.
          let limit = cursors[top].key
          let below = i < top
          var lo = start
          while lo < end {
            let mid = (lo + end) / 2
            let ts = c.pointee.blocks![mid].timestamp
            if ts < limit || (below && ts == limit) { lo = mid + 1 } else { end = mid }
          }
          // The key is the first record's (or a lower bound of it), which precedes `top`.
          precondition(end > start)
        }
        c.pointee.wholeChunkOut = start == 0 && end == c.pointee.blockEnd
        c.pointee.blockStart = end
        c.pointee.key = c.pointee.blocks![end == c.pointee.blockEnd ? end - 1 : end].timestamp
        return .blocks(BlockRun(records: UnsafeBufferPointer(start: c.pointee.blocks! + start, count: end - start),
                                stream: c.pointee.stream))
      }
      if c.pointee.hasPending {
        c.pointee.hasPending = false
        let event = (pending + i).move()
        if case .end = event.record { sawEnd = true }
        return .event(event)
      }
      if case .some = c.pointee.decoder {
        decodeNext(i)
      } else {
        openNextFrame(i)
      }
    }
    return .end
  }

  // MARK: - streams

  private struct StreamCursor {
    let stream: StreamID
    let frames: [FrameRef]
    /// `frames.count`, read on every record without touching the array.
    let frameCount: Int
    var nextFrame = 0
    var decoder: FrameDecoder? = nil
    /// Decoded block records not yet handed out: `blocks[blockStart ..< blockEnd]` (never at the
    /// same time as a pending event).
    /// Allocated when a frame opens, sized to what the frame can hold (a crafted dump of thousands
    /// of tiny streams must not cost a full chunk each); `blockCapacity` records.
    var blocks: UnsafeMutablePointer<BlockRecord>? = nil
    var blockCapacity = 0
    var blockStart = 0
    var blockEnd = 0
    /// The last run handed out was the whole chunk (see `takeChunk`).
    var wholeChunkOut = false
    /// Whether `DumpReader.pending[i]` holds this stream's next record.
    var hasPending = false
    var buffer: UnsafeMutableRawBufferPointer? = nil
    /// Merge key: a lower bound of the timestamp of the stream's next record.
    var key: UInt64 = 0
    var isExhausted: Bool {
      if hasPending || blockStart < blockEnd { return false }
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

  /// Block records decoded per stream at a time: 4,096 (128 KiB) gives long runs to the consumer;
  /// with many streams, fewer, so that the chunks of all streams together stay near 8 MiB (every
  /// stream with an open frame holds one: a program of a thousand threads would otherwise need
  /// 128 MiB for them). Never under 256.
  static let maxChunkSize = 4096
  let chunkSize: Int

  static func chunkSize(streams: Int) -> Int {
    max(256, min(maxChunkSize, (8 << 20) / MemoryLayout<BlockRecord>.stride / max(streams, 1)))
  }

  /// Ties on equal timestamps go to the lower stream number (cursors are sorted by stream).
  @inline(__always)
  private func precedes(_ a: Int, _ b: Int) -> Bool {
    let ka = cursors[a].key, kb = cursors[b].key
    return ka < kb || (ka == kb && a < b)
  }

  /// Decodes cursor i's next chunk of block records, or else its next other record into
  /// `pending`, or else closes its frame and waits for the next frame's turn.
  private func decodeNext(_ i: Int) {
    let c = cursors + i
    c.pointee.decoder!.stackLimit = limits.stackLimit(stacksRead: stacksRead)
    let n = c.pointee.decoder!.decodeBlocks(into: c.pointee.blocks!, capacity: c.pointee.blockCapacity)
    if n > 0 {
      c.pointee.blockStart = 0
      c.pointee.blockEnd = n
      c.pointee.key = c.pointee.blocks![0].timestamp
      return
    }
    do {
      // In place: the decoder is not copied out of its cursor.
      if try c.pointee.decoder!.next(into: pending + i) {
        c.pointee.hasPending = true
        if case .stack = pending[i].record { stacksRead += 1 }
        c.pointee.key = pending[i].timestamp
        if let body = c.pointee.decoder!.residencyBody {
          c.pointee.decoder!.residencyBody = nil
          if let regions = ResidencyRegion.decode(body: body, timestamp: pending[i].timestamp, stream: pending[i].stream) {
            residency += regions
          }
        }
        return
      }
    } catch {
      let frame = c.pointee.frames[c.pointee.nextFrame - 1]
      stop(.corrupt(offset: frame.offset, reason: "\(error.reason) at payload byte \(error.offset)"))
      return
    }
    // Frame done: give its buffer (or its file pages) back and wait for the next frame's turn.
    c.pointee.decoder = nil
    let done = c.pointee.frames[c.pointee.nextFrame - 1]
    if !done.compressed { pages.release(done.payloadOffset..<(done.payloadOffset + done.storedSize)) }
    if let b = c.pointee.buffer {
      // A few spare buffers are enough to reuse; more would only hold memory (and lengthen the search).
      if freeBuffers.count < 16 { freeBuffers.append(b) } else { b.deallocate() }
      c.pointee.buffer = nil
    }
    if c.pointee.nextFrame < c.pointee.frameCount {
      c.pointee.key = max(c.pointee.key, c.pointee.frames[c.pointee.nextFrame].baseTimestamp)
    } else if let b = c.pointee.blocks {
      b.deallocate()
      c.pointee.blocks = nil
      c.pointee.blockCapacity = 0
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
      pages.release(frame.payloadOffset..<(frame.payloadOffset + frame.storedSize))
    }
    // A block record takes at least 3 bytes (tag, delta, address).
    let wanted = min(chunkSize, frame.rawSize / 3 + 1)
    if cursors[i].blockCapacity < wanted {
      cursors[i].blocks?.deallocate()
      let capacity = wanted <= chunkSize / 2 ? wanted : chunkSize
      cursors[i].blocks = .allocate(capacity: capacity)
      cursors[i].blockCapacity = capacity
    }
    cursors[i].decoder = FrameDecoder(payload: payload, baseTimestamp: frame.baseTimestamp, stream: cursors[i].stream,
                                      timeShift: frame.timeShift)
    cursors[i].decoder!.maxBlockSize = limits.maxBlockSize
    cursors[i].decoder!.rejectsWrappingBlocks = limits.rejectsWrappingBlocks
    decodeNext(i)
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
    // Round up so a buffer fits most later frames too; small frames get small buffers, so that
    // many streams with a small frame open each stay small.
    let size = capacity < 16 << 10 ? max(capacity, 1) : capacity.roundedUpToPowerOfTwo
    return .allocate(byteCount: size, alignment: 16)
  }

  private func stop(_ warning: DumpWarning) {
    warnings.append(warning)
    finished = true
  }

  private func finishReading() -> ReadStep {
    finished = true
    if !sawEnd { warnings.append(.missingEnd) }
    return .end
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

extension Int {
  fileprivate var roundedUpToPowerOfTwo: Int {
    self <= 1 ? 1 : 1 << (Int.bitWidth - (self - 1).leadingZeroBitCount)
  }
}
