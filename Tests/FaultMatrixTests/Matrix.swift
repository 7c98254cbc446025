// The fault matrix's harness: builds a program of Tests/Programs, runs it under the real preload
// library with a deadline (a hang is the failure this suite exists to catch), and reads what the
// recorder wrote. docs/RECORDER.md's fault-matrix table lists every case with its observed result.
import Foundation
import HeapwiseFormat
import TestSupport

enum Matrix {
  static let workspace = ProgramWorkspace("fault-matrix")
  static var repo: URL { ProgramWorkspace.repo }
  static var programs: URL { ProgramWorkspace.programs }
  /// A case that has not ended by then has hung: far above any case's normal run time.
  static let deadline: TimeInterval = 60
  static var library: String { get throws { try ProgramWorkspace.library } }
  static var scratch: URL { workspace.scratch }
  static func freshDirectory(_ name: String) -> URL { workspace.freshDirectory(name) }
  static func build(_ source: String, as name: String? = nil, flags: [String] = []) throws -> String {
    try workspace.build(source, as: name, flags: flags)
  }

  /// Runs `program` under the recorder (dumps to `directory/d.%p.heapwise`); throws if it hangs.
  @discardableResult
  static func record(_ program: String, _ arguments: [String] = [], in directory: URL,
                     environment: [String: String] = [:], preload extra: [String] = [],
                     deadline: TimeInterval = deadline) throws -> Subprocess.Result {
    var env = ["PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": NSTemporaryDirectory(),
               "LD_PRELOAD": ([try library] + extra).joined(separator: " "),
               "HEAPWISE_OUTPUT": directory.appendingPathComponent("d.%p.heapwise").path]
    env.merge(environment) { $1 }
    return try Subprocess.run(program, arguments, environment: env, directory: directory, timeout: deadline)
  }

  /// The same program without the recorder, for what "behaves as plain" compares against.
  static func plain(_ program: String, _ arguments: [String] = [], in directory: URL,
                    environment: [String: String] = [:]) throws -> Subprocess.Result {
    var env = ["PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": NSTemporaryDirectory()]
    env.merge(environment) { $1 }
    return try Subprocess.run(program, arguments, environment: env, directory: directory, timeout: deadline)
  }

  static func dumps(in directory: URL) -> [String] { ProgramWorkspace.dumps(in: directory) }
  static func onlyDump(in directory: URL) throws -> String { try ProgramWorkspace.onlyDump(in: directory) }
}

/// What the cases check in a dump: counts per function and size, the live set, the end.
struct Replay {
  var header: DumpHeader
  var allocations: [AllocatorFunction: Int] = [:]
  var frees: [AllocatorFunction: Int] = [:]
  var bySize: [UInt64: Int] = [:]
  var live: [UInt64: Allocation] = [:]
  var unmatchedFrees = 0
  var mappings: [Mapping] = []
  var unmappedBytes: UInt64 = 0
  var threads: [ThreadRecord] = []
  var samples: [SampleRecord] = []
  var modules: [ModuleRecord] = []
  var markers: [MarkerRecord] = []
  var end: EndRecord?
  var endTimestamp: UInt64?
  /// The latest timestamp of any record but END: never after END in a sane dump.
  var lastTimestamp: UInt64 = 0
  var warnings: [DumpWarning] = []

  var stacks: [StackID: [UInt64]] = [:]

  /// With `onlyFrom`, blocks whose stack has no frame in that module are left out, with their
  /// frees: what libraries allocate for themselves (tcmalloc's own `new` at load time).
  init(path: String, onlyFrom module: String? = nil) throws {
    let reader = try DumpReader(path: path)
    header = reader.header
    var others = Set<UInt64>()
    func isOthers(_ a: Allocation) -> Bool {
      guard let module, let m = modules.first(where: { $0.path == module }) else { return false }
      return !(stacks[a.stack] ?? []).contains { m.contains($0) }
    }
    while let event = reader.next() {
      if case .end = event.record { endTimestamp = event.timestamp } else { lastTimestamp = max(lastTimestamp, event.timestamp) }
      switch event.record {
      case .stack(let s): stacks[s.id] = s.frames
      case .alloc(let a) where isOthers(a): others.insert(a.address)
      case .free(let f) where others.contains(f.address): others.remove(f.address)
      case .alloc(let a):
        allocations[a.function, default: 0] += 1
        bySize[a.size, default: 0] += 1
        live[a.address] = a
      case .free(let f):
        frees[f.function, default: 0] += 1
        if live.removeValue(forKey: f.address) == nil { unmatchedFrees += 1 }
      case .mmap(let m): mappings.append(m)
      case .thread(let t): threads.append(t)
      case .sample(let s): samples.append(s)
      case .module(let m): modules.append(m)
      case .marker(let m): markers.append(m)
      case .end(let e): end = e
      default: break
      }
    }
    warnings = reader.warnings
  }

  func count(_ f: AllocatorFunction) -> Int { allocations[f] ?? 0 }
  func count(size: UInt64) -> Int { bySize[size] ?? 0 }
  func live(ofSize size: UInt64) -> Int { live.values.filter { $0.size == size }.count }
}

struct MatrixError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}
