// `heapwise records FILE`: every decoded record, one a line, in replay order (a debugging aid).
import ArgumentParser
import HeapwiseFormat

struct RecordsCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "records",
    abstract: "Print the decoded records of a dump, one a line, in replay order.")

  @Argument(help: "The dump file.")
  var file: String

  @Flag(help: "Omit the header lines (those starting with #).")
  var noHeader = false

  @Option(help: "Stop after this many records.")
  var limit: Int?

  func run() throws {
    let reader = try openDump(file)
    var out = BufferedOutput()
    if !noHeader {
      let h = reader.header
      out.write("# heapwise dump \(h.major).\(h.minor): pid \(h.pid) (parent \(h.ppid)), \(h.executable)\n")
      out.write("# command line: \(h.arguments.joined(separator: " "))\n")
      out.write("# clock: \(h.timestampsAreTSC ? "TSC" : "ns"), \(h.ticksPerSecond) ticks/s, start \(h.startTicks); page size \(h.pageSize)")
      out.write("\(h.trimProbe ? ", trim probe" : "")\(h.isForkedChild ? ", forked child" : "")\n")
      out.write("# \(reader.streamCount) streams; columns: timestamp stream record fields\n")
    }
    var count = 0
    var residencyShown = 0
    while let e = reader.next() {
      if let limit, count >= limit { break }
      if case .skipped(RecordTag.residency) = e.record {
        // The reader decodes RESIDENCY bodies into `residency`, in record order (one region per
        // record as the recorder writes them); the event itself carries no body.
        let regions = reader.residency
        if residencyShown < regions.count, regions[residencyShown].timestamp == e.timestamp,
          regions[residencyShown].stream == e.stream
        {
          out.write(RecordText.residency(e, regions[residencyShown]))
          residencyShown += 1
        } else {
          out.write("\(e.timestamp) s\(e.stream.rawValue) residency (malformed body)")
        }
        out.write("\n")
        count += 1
        continue
      }
      out.write(RecordText.line(e))
      out.write("\n")
      count += 1
    }
    out.flush()
    let status = reportWarnings(reader)
    if status != 0 { throw ExitCode(status) }
  }
}

/// Human-readable one-line renderings of records.
enum RecordText {
  static func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }

  static func line(_ e: Event) -> String {
    let head = "\(e.timestamp) s\(e.stream.rawValue) "
    switch e.record {
    case .alloc(let a):
      return head + "\(a.function) \(hex(a.address)) size=\(a.size) stack=\(a.stack.rawValue)"
    case .free(let f):
      return head + (f.function == .free ? "free" : "free(\(f.function))") + " \(hex(f.address))"
    case .mmap(let m):
      return head + "mmap \(hex(m.address)) length=\(m.length) prot=\(m.protection) flags=\(hex(m.flags)) fd=\(m.fd) stack=\(m.stack.rawValue)"
    case .munmap(let m):
      return head + "munmap \(hex(m.address)) length=\(m.length)"
    case .mremap(let m):
      return head + "mremap \(hex(m.oldAddress)) length=\(m.oldLength) -> \(hex(m.newAddress)) length=\(m.newLength) stack=\(m.stack.rawValue)"
    case .madvise(let m):
      return head + "madvise \(hex(m.address)) length=\(m.length) advice=\(m.advice)"
    case .mprotect(let m):
      return head + "mprotect \(hex(m.address)) length=\(m.length) prot=\(m.protection)"
    case .stack(let s):
      return head + "stack \(s.id.rawValue): " + s.frames.map(hex).joined(separator: " ")
    case .thread(let t):
      return head + "thread tid=\(t.tid.rawValue) name=\(t.name)"
    case .module(let m):
      let segs = m.segments.map { "\(hex($0.vaddr))+\(hex($0.memsz))/\(segmentFlags($0.flags))" }.joined(separator: " ")
      let build = m.buildID.map { String($0, radix: 16).leftPadded(2) }.joined()
      return head + "module \(m.id.rawValue) \(m.path) base=\(hex(m.base)) build-id=\(build.isEmpty ? "-" : build) \(segs)"
    case .unload(let id):
      return head + "unload module \(id.rawValue)"
    case .sample(let s):
      return head + "sample " + s.values.map { "\(sampleKeyName($0.key))=\($0.value)" }.joined(separator: " ")
    case .clock(let ns):
      return head + "clock monotonic=\(ns)ns"
    case .marker(let m):
      let sources = ["api", "signal", "trigger"]
      return head + "marker \"\(m.name)\" source=\(m.source < 3 ? sources[Int(m.source)] : String(m.source))"
    case .trim(let t):
      return head + "trim rss-before=\(t.rssBefore) rss-after=\(t.rssAfter) result=\(t.result)"
    case .end(let end):
      let reasons = ["exit", "_exit", "fatal signal", "exec"]
      let reason = end.reason < UInt64(reasons.count) ? reasons[Int(end.reason)] : String(end.reason)
      return head + "end reason=\(reason)" + (end.signal != 0 ? " signal=\(end.signal)" : "")
    case .pythonCode(let c):
      return head + "pycode \(c.id) \(c.qualifiedName) \(c.filename):\(c.firstLine) line-table=\(c.lineTable.count)B"
    case .python(let p):
      let status = PythonRuntimeRecord.Status(rawValue: p.status).map { "\($0)" } ?? String(p.status)
      return head + "python \(p.version) frames=\(status) PYTHONMALLOC=\(p.objectAllocator.isEmpty ? "-" : p.objectAllocator) \(p.interpreterPath)"
        + (p.reason.isEmpty ? "" : " (\(p.reason))")
    case .sampling(let s):
      return head + "sampling mean-bytes=\(s.meanBytes) seed=\(s.seed) live-capacity=\(s.liveCapacity)"
        + (s.offsetBytes == 0 ? "" : " offset-bytes=\(s.offsetBytes)")
    case .samplingStats(let s):
      return head + "sampling-stats recorded=\(s.recordedBlocks) dropped=\(s.droppedBlocks) live=\(s.liveBlocks)"
    case .aggregate(let a):
      return head + "aggregate \(a.kind == AggregateRecord.Kind.totals.rawValue ? "totals" : "moment \"\(a.name)\"") part=\(a.part)" + (a.samplePeriod == 0 ? "" : " sample-period=\(a.samplePeriod)")
        + " live=\(a.liveTotal) peak=\(a.peakTotal) untracked=\(a.untracked) sites=\(a.sites.count)"
    case .skipped(let tag):
      return head + "skipped record tag=\(hex(UInt64(tag)))"
    }
  }

  static func residency(_ e: Event, _ r: ResidencyRegion) -> String {
    let kind = r.kind == ResidencyRegion.Kind.heap.rawValue ? "heap" : r.kind == ResidencyRegion.Kind.anonymous.rawValue ? "anonymous" : "kind\(r.kind)"
    return "\(e.timestamp) s\(e.stream.rawValue) residency \(kind) \(hex(r.start)) pages=\(r.pages) resident=\(r.residentPages)"
  }

  static func segmentFlags(_ f: UInt64) -> String {
    (f & 4 != 0 ? "r" : "-") + (f & 2 != 0 ? "w" : "-") + (f & 1 != 0 ? "x" : "-")
  }

  static func sampleKeyName(_ key: UInt64) -> String {
    switch key {
    case 1: "vsize"
    case 2: "rss"
    case 3: "file-rss"
    case 10: "rollup-rss"
    case 11: "pss"
    case 12: "anonymous"
    case 13: "private-dirty"
    case 14: "swap"
    case 20: "arena"
    case 21: "ordblks"
    case 22: "hblks"
    case 23: "hblkhd"
    case 24: "uordblks"
    case 25: "fordblks"
    case 26: "keepcost"
    case 27: "fsmblks"
    case 30: "je-allocated"
    case 31: "je-active"
    case 32: "je-resident"
    case 33: "je-mapped"
    case 34: "je-retained"
    case 35: "je-metadata"
    case 40: "recorder-memory"
    case 41: "events"
    case 42: "stacks"
    case 43: "backlog"
    default: "key\(key)"
    }
  }
}

extension String {
  func leftPadded(_ width: Int, with pad: Character = "0") -> String {
    count >= width ? self : String(repeating: pad, count: width - count) + self
  }
}
