// ScopeIndex (HeapwiseSymbols) must resolve every address exactly as libdw's own scope walks do,
// inlined frames included: compared over every native address of real Python dumps, whose
// libpython (ceval.c's evaluation loop with its thousands of inlined instances) is what the index
// was built for, plus numpy's extension modules.
import Foundation
import HeapwiseFormat
import TestSupport
import Testing

@testable import HeapwiseAnalysis
@testable import HeapwiseSymbols

@Suite(.serialized)
struct ScopeIndexDumpTests {
  static let script = """
    import json, threading, numpy
    kept = []
    def leaf(x):
        kept.append(bytearray(1000 + x))
        return x
    def numbers(n):
        for i in range(n):
            yield sorted([3, 1, 2], key=lambda v: leaf(v))
    class Box:
        def method(self, n):
            return list(numbers(n))
    Box().method(3)
    kept.append(json.loads(json.dumps({str(i): [i, {"k": i}] for i in range(2000)}),
                           object_hook=lambda d: dict(d)))
    kept.append(numpy.arange(100000).reshape(100, 1000).sum(axis=0))
    def worker():
        kept.append([{"a": i} for i in range(1000)])
    ts = [threading.Thread(target=worker) for _ in range(2)]
    for t in ts: t.start()
    for t in ts: t.join()
    """

  /// Records the script under `version`'s interpreter (a venv with numpy) and returns the dump.
  static func record(_ version: String, in dir: String) throws -> String {
    let python = try SummaryExamplesTests.run(
      [SummaryExamplesTests.repository + "/tools/python-env.sh", version, "numpy"], timeout: 900
    ).trimmingCharacters(in: .whitespacesAndNewlines)
    try script.write(toFile: "\(dir)/main.py", atomically: true, encoding: .utf8)
    let dump = "\(dir)/py\(version).heapwise"
    try SummaryExamplesTests.run(
      [python, "\(dir)/main.py"],
      environment: ["LD_PRELOAD": try SummaryExamplesTests.preloadLibrary(), "HEAPWISE_OUTPUT": dump],
      timeout: 300)
    return dump
  }

  @Test(arguments: ["3.12", "3.13"])
  func everyAddressOfAPythonDump(_ version: String) throws {
    var template = Array((NSTemporaryDirectory() + "heapwise-scopes-XXXXXX").utf8CString)
    let dir = String(cString: try #require(mkdtemp(&template)))
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let analysis = DumpAnalysis(reader: try DumpReader(path: try Self.record(version, in: dir)))
    let state = analysis.state
    let map = ModuleMap(state.modules.entries.map { e in
      ModuleImage(
        path: e.record.path, buildID: e.record.buildID, base: e.record.base,
        segments: e.record.segments.map {
          Segment(vaddr: $0.vaddr, memsz: $0.memsz, flags: UInt32(truncatingIfNeeded: $0.flags))
        })
    })
    var addresses = Set<UInt64>()
    for id in 1..<state.stacks.count {
      for a in state.stacks.addresses(of: StackID(rawValue: UInt32(id))) where !PythonFrameAddress.isPython(a) {
        addresses.insert(a)
      }
    }
    let symbolizer = Symbolizer()
    var compared = 0
    var inlined = 0
    var inPython = 0
    var mismatches: [String] = []
    for address in addresses.sorted() {
      guard let module = map.module(containing: address),
        let file = symbolizer.openedFile(for: module)
      else { continue }
      let pc = address &- module.base
      let indexed = file.frames(at: pc)
      let walked = file.frames(at: pc, indexed: false)
      compared += 1
      if indexed.contains(where: \.isInlined) { inlined += 1 }
      if module.path.contains("libpython") && indexed.contains(where: { $0.function != nil }) { inPython += 1 }
      if indexed != walked && mismatches.count < 10 {
        mismatches.append("\(module.path)+0x\(String(pc, radix: 16)): index \(indexed), libdw \(walked)")
      }
    }
    #expect(mismatches.isEmpty, "\(mismatches.joined(separator: "\n"))")
    // The comparison is worth something only if it covered the evaluation loop's inlined frames.
    #expect(compared > 500, "\(compared) addresses")
    #expect(inlined > 100, "\(inlined) addresses with inlined frames")
    #expect(inPython > 200, "\(inPython) named libpython addresses")
  }
}
