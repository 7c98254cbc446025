// Reads a dump: the header, pass 1 (FrameIndex: which frames are whole, per stream), then pass 2
// (StreamMerge: the streams' records merged by timestamp), in the foreground or on a read-ahead
// thread (ReadAhead).
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Something that yields events in replay order (a dump, or a list built by a test).
public protocol EventSource {
  mutating func next() -> Event?
  /// The next events, with block records in runs where the source has them (`DumpReader`).
  mutating func nextStep() -> ReadStep
  /// RESIDENCY regions decoded since the last call (each before the replay reaches its record).
  mutating func takeResidency() -> [ResidencyRegion]
}

extension EventSource {
  public mutating func nextStep() -> ReadStep {
    next().map(ReadStep.event) ?? .end
  }
  public mutating func takeResidency() -> [ResidencyRegion] { [] }
}

/// Limits and threading of the reader.
public struct ReaderOptions: Sendable {
  /// Stop after this many frames in total (nil: all). Useful to look at the start of a big dump.
  public var maxFrames: Int?
  /// Decompress and decode on a second thread, ahead of the consumer. nil: when the machine has
  /// more than one CPU and the dump is over 4 MiB (a thread does not pay for itself below that).
  public var readAhead: Bool?
  /// Bounds on what the file may ask for (docs/FORMAT.md, reading rule 5).
  public var limits: ReaderLimits
  public init(maxFrames: Int? = nil, readAhead: Bool? = nil, limits: ReaderLimits = .init()) {
    self.maxFrames = maxFrames
    self.readAhead = readAhead
    self.limits = limits
  }
}

/// Streams the events of one dump file in replay order (docs/FORMAT.md, "Reading rules").
///
/// ```swift
/// let reader = try DumpReader(path: "app.heapwise")
/// while let event = reader.next() { ... }
/// for warning in reader.warnings { print(warning) }
/// ```
///
/// `nextStep()` is the fast way through: it hands out ALLOC and FREE records as runs of
/// `BlockRecord`s. Pass 2 (`StreamMerge`) runs here or, for big dumps, on a read-ahead thread;
/// either way a reader is driven from one thread.
public final class DumpReader: EventSource {
  public let header: DumpHeader
  public let path: String
  /// Problems found so far; complete once `next()` has returned nil.
  public private(set) var warnings: [DumpWarning]
  /// Resident pages of the heap and anonymous mappings, from the RESIDENCY records read so far
  /// (at each marker and at exit; complete once `next()` has returned nil).
  public private(set) var residency: [ResidencyRegion] = []
  /// How many of ``residency`` `takeResidency()` has handed out.
  private var residencyTaken = 0
  /// True once an END record was read.
  public private(set) var sawEnd = false
  public var fileSize: Int { file.bytes.count }
  /// Stored bytes of frames opened so far, for progress display.
  public private(set) var bytesOpened = 0
  /// Stored bytes of all frames that passed pass 1.
  public let bytesTotal: Int
  /// `bytesOpened` of `bytesTotal`, 0 to 1, for a progress display.
  public var fractionRead: Double { bytesTotal == 0 ? 1 : Double(bytesOpened) / Double(bytesTotal) }
  /// Number of frame streams (the process stream plus one per recording thread).
  public let streamCount: Int
  /// Whether pass 2 runs on a read-ahead thread.
  public var readsAhead: Bool { readAhead != nil }

  private let file: MappedFile
  private let merge: StreamMerge
  private let readAhead: ReadAhead?
  /// The run `next()` is handing out one event at a time.
  private var run = BlockRun(records: .init(start: nil, count: 0), stream: .process)
  private var runPosition = 0

  public init(path: String, options: ReaderOptions = .init()) throws(DumpError) {
    self.path = path
    file = try MappedFile(path: path)
    header = try DumpHeader.decode(file.bytes)
    var pages = PageReleaser(file)
    let index = FrameIndex(file: file.bytes, from: header.headerSize, maxStream: options.limits.maxStream) { pages.release($0) }
    pages.flush()
    warnings = index.warnings
    bytesTotal = index.validBytes
    merge = StreamMerge(file: file, index: index, maxFrames: options.maxFrames, limits: options.limits)
    streamCount = merge.streamCount
    let wanted = options.readAhead ?? (sysconf(Int32(_SC_NPROCESSORS_ONLN)) > 1 && bytesTotal > 4 << 20)
    if wanted {
      let r = ReadAhead(merge: merge)
      readAhead = r.start() ? r : nil
    } else {
      readAhead = nil
    }
  }

  deinit {
    readAhead?.stop()
  }

  /// The next event, one at a time (block records included, as `Event`s).
  public func next() -> Event? {
    if runPosition < run.records.count {
      let r = run.records[runPosition]
      runPosition += 1
      return Event(timestamp: r.timestamp, stream: run.stream, record: r.record)
    }
    switch nextStep() {
    case .blocks(let r):
      run = r
      runPosition = 1
      return Event(timestamp: r.records[0].timestamp, stream: r.stream, record: r.records[0].record)
    case .event(let e): return e
    case .end: return nil
    }
  }

  /// The next run of block records (valid until the next call), or the next other event, or the
  /// end. Once it has returned `.end`, `warnings` and `residency` are complete.
  public func nextStep() -> ReadStep {
    let step: ReadStep
    if let readAhead {
      step = readAhead.next { batch in
        warnings += batch.warnings
        residency += batch.residency
        bytesOpened = batch.bytesOpened
      }
    } else {
      step = merge.nextStep()
      if let news = merge.takeNews() {
        warnings += news.warnings
        residency += news.residency
      }
      bytesOpened = merge.bytesOpened
    }
    if case .event(let e) = step, case .end = e.record { sawEnd = true }
    return step
  }
}

extension DumpReader {
  public func takeResidency() -> [ResidencyRegion] {
    guard residencyTaken < residency.count else { return [] }
    defer { residencyTaken = residency.count }
    return Array(residency[residencyTaken...])
  }

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
