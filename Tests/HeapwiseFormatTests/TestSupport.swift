import Foundation
import HeapwiseFormat

/// Writes bytes to a fresh temporary file and returns its path.
func temporaryDump(_ bytes: [UInt8], name: String = "test") -> String {
  let dir = FileManager.default.temporaryDirectory.appendingPathComponent("heapwise-format-tests-\(getpid())")
  try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
  let path = dir.appendingPathComponent("\(name)-\(UInt64.random(in: 0...UInt64.max)).heapwise").path
  _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
  return path
}

/// A small dump of two threads: stream 1 allocates, stream 2 frees one block of stream 1 and
/// allocates at the same address, stream 0 has a module, a sample, a marker and END.
func sampleDump(compress: Bool = false) -> [UInt8] {
  var d = DumpEncoder()
  var p = FrameBuilder(baseTimestamp: 100)
  p.module(100, id: 1, base: 0x5555_0000_0000, path: "/usr/bin/app", buildID: [0xde, 0xad, 0xbe, 0xef],
           segments: [(0, 0x2000, 5), (0x3000, 0x1000, 6)])
  p.sample(150, [(2, 1 << 20), (41, 3)])
  p.marker(160, "half", source: 1)
  p.end(400, reason: 0, signal: 0)
  var t1 = FrameBuilder(baseTimestamp: 110)
  t1.thread(110, tid: 77, name: "main")
  t1.stack(111, id: 1, frames: [0x5555_0000_1234, 0x5555_0000_1000])
  t1.alloc(120, 0x7000_0000_1000, 100, stack: 1)
  t1.alloc(130, 0x7000_0000_2000, 25, stack: 1, function: 2)
  var t2 = FrameBuilder(baseTimestamp: 125)
  t2.thread(125, tid: 78, name: "worker")
  t2.free(140, 0x7000_0000_1000)
  t2.alloc(140, 0x7000_0000_1000, 48, stack: 2)
  t2.stack(141, id: 2, frames: [0x5555_0000_1300])
  d.append(p, stream: 0, seq: 0, compress: compress)
  d.append(t1, stream: 1, seq: 0, compress: compress)
  d.append(t2, stream: 2, seq: 0, compress: compress)
  return d.bytes
}

/// A compact, comparable rendering of one event.
func describe(_ e: Event) -> String {
  let r: String
  switch e.record {
  case .alloc(let a): r = "\(a.function) 0x\(String(a.address, radix: 16)) \(a.size) \(a.stack.rawValue)"
  case .free(let f): r = "\(f.function == .free ? "free" : "free/\(f.function)") 0x\(String(f.address, radix: 16))"
  case .mmap(let m): r = "mmap 0x\(String(m.address, radix: 16)) \(m.length) fd=\(m.fd) \(m.stack.rawValue)"
  case .munmap(let m): r = "munmap 0x\(String(m.address, radix: 16)) \(m.length)"
  case .mremap(let m):
    r = "mremap 0x\(String(m.oldAddress, radix: 16)) \(m.oldLength) 0x\(String(m.newAddress, radix: 16)) \(m.newLength) \(m.stack.rawValue)"
  case .madvise(let m): r = "madvise 0x\(String(m.address, radix: 16)) \(m.length) \(m.advice)"
  case .mprotect(let m): r = "mprotect 0x\(String(m.address, radix: 16)) \(m.length) \(m.protection)"
  case .stack(let s): r = "stack \(s.id.rawValue) \(s.frames.map { "0x" + String($0, radix: 16) }.joined(separator: ","))"
  case .thread(let t): r = "thread \(t.tid.rawValue) \(t.name)"
  case .module(let m): r = "module \(m.id.rawValue) \(m.path) segs=\(m.segments.count)"
  case .unload(let id): r = "unload \(id.rawValue)"
  case .sample(let s): r = "sample \(s.values.map { "\($0.key)=\($0.value)" }.joined(separator: ","))"
  case .clock(let ns): r = "clock \(ns)"
  case .marker(let m): r = "marker \(m.source) \(m.name)"
  case .trim(let t): r = "trim \(t.rssBefore) \(t.rssAfter) \(t.result)"
  case .end(let e): r = "end \(e.reason) \(e.signal)"
  case .pythonCode(let c): r = "pycode \(c.id) \(c.qualifiedName) \(c.filename):\(c.firstLine) \(c.lineTable.count)"
  case .python(let p): r = "python \(p.version) \(p.status) \(p.objectAllocator)"
  case .sampling(let s): r = "sampling \(s.meanBytes) \(s.seed) \(s.liveCapacity)" + (s.offsetBytes == 0 ? "" : " \(s.offsetBytes)")
  case .samplingStats(let s): r = "sampling-stats \(s.recordedBlocks) \(s.droppedBlocks) \(s.liveBlocks)"
  case .aggregate(let a): r = "aggregate \(a.kind) \(a.part) \(a.name) \(a.sites.map { "\($0.stack.rawValue):\($0.allocations)/\($0.frees)" })"
  case .skipped(let tag): r = "skipped 0x\(String(tag, radix: 16))"
  }
  return "\(e.timestamp) s\(e.stream.rawValue) \(r)"
}
