// Runs a StreamMerge on a thread of its own, a few batches ahead of the reader's consumer, so that
// decompressing and decoding (about 40% of a `heapwise top` run on a big dump) overlap the replay
// on a second core. A batch holds the block records of up to four merge chunks (whole chunks
// taken from the merge without a copy, shorter runs copied) and the steps that say which stream
// each run belongs to, with the rare events in their place; batches go round a fixed ring,
// handed over with two counting semaphores (free, ready), so the threads meet a few times per
// batch ring, not once per record. Memory stays bounded: eight batches of at most 16,384 records.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

final class ReadAhead {
  enum Step {
    /// Records in the batch's own buffer, from `start`.
    case blocks(start: Int, count: Int, stream: StreamID)
    /// A whole chunk taken from the merge (`Batch.chunks`).
    case chunk(UnsafePointer<BlockRecord>, count: Int, stream: StreamID)
    case event(Event)
  }

  /// One hand-over. The producer owns it between `free` and `ready`, the consumer after `ready`
  /// until it posts `free` again.
  final class Batch {
    let records: UnsafeMutablePointer<BlockRecord>
    var recordCount = 0
    /// Chunks taken from the merge, given back to the producer's pool when the batch is reused.
    var chunks: [UnsafeMutablePointer<BlockRecord>] = []
    /// Records in steps, copied or taken: what bounds a batch.
    var total = 0
    var steps: [Step] = []
    /// What the merge learnt while filling this batch: new warnings and residency regions, and
    /// its progress.
    var warnings: [DumpWarning] = []
    var residency: [ResidencyRegion] = []
    var bytesOpened = 0
    /// The merge's end: nothing follows this batch's steps.
    var isLast = false

    init(capacity: Int) { records = .allocate(capacity: capacity) }
    deinit {
      records.deallocate()
      for c in chunks { c.deallocate() }
    }
  }

  static let batchCount = 8
  /// Batches released (or filled) before the other thread is told: waking a sleeping thread on
  /// another CPU is a system call and an interrupt (in a VM, an exit to the hypervisor), and one
  /// per batch showed as 6% of the replay thread's time.
  static let handOver = batchCount / 2
  static let batchCapacity = 4 * StreamMerge.maxChunkSize
  /// A batch is handed over after this many steps even when its records are few (streams that
  /// interleave finely give short runs).
  static let maxSteps = 4096

  private let merge: StreamMerge
  private let batches: [Batch]
  private let free: UnsafeMutablePointer<sem_t>
  private let ready: UnsafeMutablePointer<sem_t>
  private let cancelled = Atomic<Bool>(false)
  private var thread = pthread_t()
  private var running = false

  /// Spare chunk buffers (producer side).
  private var pool: [UnsafeMutablePointer<BlockRecord>] = []

  // Consumer side.
  private var current: Batch?
  private var stepIndex = 0
  private var taken = 0
  /// Batches the consumer is done with but has not posted to `free` yet.
  private var released = 0

  init(merge: StreamMerge) {
    self.merge = merge
    batches = (0..<Self.batchCount).map { _ in Batch(capacity: Self.batchCapacity) }
    free = .allocate(capacity: 1)
    ready = .allocate(capacity: 1)
    sem_init(free, 0, UInt32(Self.batchCount))
    sem_init(ready, 0, 0)
  }

  deinit {
    for c in pool { c.deallocate() }
    sem_destroy(free)
    sem_destroy(ready)
    free.deallocate()
    ready.deallocate()
  }

  /// Starts the producer thread; false when the system refuses one (the caller reads in the
  /// foreground instead).
  func start() -> Bool {
    let context = Unmanaged.passRetained(self).toOpaque()
    let status = pthread_create(&thread, nil, { context in
      let me = Unmanaged<ReadAhead>.fromOpaque(context!).takeRetainedValue()
      me.produce()
      return nil
    }, context)
    if status != 0 {
      Unmanaged<ReadAhead>.fromOpaque(context).release()
      return false
    }
    running = true
    return true
  }

  /// Stops the producer (wherever it is) and waits for it. The consumer calls this once, last.
  func stop() {
    guard running else { return }
    cancelled.store(true, ordering: .relaxed)
    sem_post(free)
    pthread_join(thread, nil)
    running = false
  }

  // MARK: - consumer

  /// The next step, and the batch it came from when that batch was just taken (for its news).
  /// A `.blocks` run stays valid until the next call.
  func next(_ took: (Batch) -> Void) -> ReadStep {
    while true {
      if let b = current {
        if stepIndex < b.steps.count {
          defer { stepIndex += 1 }
          switch b.steps[stepIndex] {
          case .blocks(let start, let count, let stream):
            return .blocks(BlockRun(records: UnsafeBufferPointer(start: b.records + start, count: count), stream: stream))
          case .chunk(let records, let count, let stream):
            return .blocks(BlockRun(records: UnsafeBufferPointer(start: records, count: count), stream: stream))
          case .event(let e):
            return .event(e)
          }
        }
        if b.isLast { return .end }
        current = nil
        released += 1
        if released >= Self.handOver { post(free, &released) }
      }
      // Never sleep holding batches the producer may be waiting for.
      if sem_trywait(ready) != 0 {
        post(free, &released)
        Self.wait(ready)
      }
      let b = batches[taken % Self.batchCount]
      taken += 1
      current = b
      stepIndex = 0
      took(b)
    }
  }

  // MARK: - producer

  private func produce() {
    var filled = 0
    /// Batches filled but not yet posted to `ready`.
    var unposted = 0
    while true {
      if sem_trywait(free) != 0 {
        post(ready, &unposted)
        Self.wait(free)
      }
      if cancelled.load(ordering: .relaxed) { return }
      let b = batches[filled % Self.batchCount]
      filled += 1
      b.recordCount = 0
      b.total = 0
      pool += b.chunks
      b.chunks.removeAll(keepingCapacity: true)
      b.steps.removeAll(keepingCapacity: true)
      b.warnings.removeAll()
      b.residency.removeAll()
      // A run is at most one chunk, so there is always room for the next one.
      fill: while b.total + merge.chunkSize <= Self.batchCapacity && b.steps.count < Self.maxSteps {
        switch merge.nextStep() {
        case .blocks(let run):
          let n = run.records.count
          b.total += n
          if merge.lastRunIsWholeChunk {
            // The common case with one busy stream: pass the chunk on, no copy.
            let taken = merge.takeChunk(replacement: pool.popLast() ?? .allocate(capacity: merge.chunkSize))
            b.chunks.append(taken)
            b.steps.append(.chunk(UnsafePointer(taken), count: n, stream: run.stream))
            continue
          }
          (b.records + b.recordCount).update(from: run.records.baseAddress!, count: n)
          if case .blocks(let start, let count, let stream)? = b.steps.last, stream == run.stream,
             start + count == b.recordCount {
            b.steps[b.steps.count - 1] = .blocks(start: start, count: count + n, stream: stream)
          } else {
            b.steps.append(.blocks(start: b.recordCount, count: n, stream: run.stream))
          }
          b.recordCount += n
        case .event(let e):
          b.steps.append(.event(e))
        case .end:
          b.isLast = true
          break fill
        }
      }
      if let news = merge.takeNews() { (b.warnings, b.residency) = news }
      b.bytesOpened = merge.bytesOpened
      let last = b.isLast
      unposted += 1
      if unposted >= Self.handOver || last { post(ready, &unposted) }
      if last { return }
    }
  }

  private func post(_ semaphore: UnsafeMutablePointer<sem_t>, _ count: inout Int) {
    while count > 0 {
      sem_post(semaphore)
      count -= 1
    }
  }

  private static func wait(_ semaphore: UnsafeMutablePointer<sem_t>) {
    while sem_wait(semaphore) != 0 && errno == EINTR {}
  }
}
