// What a test asserts about a dump, computed by replaying it through HeapwiseFormat's reader: per
// function counts, the live set at the end, unmatched frees, stacks, modules, markers.
import HeapwiseFormat

struct DumpFacts {
  var header: DumpHeader
  var warnings: [DumpWarning] = []
  var allocations: [AllocatorFunction: Int] = [:]
  var frees: [AllocatorFunction: Int] = [:]
  var live: [UInt64: Allocation] = [:]
  var unmatchedFrees = 0
  var allocationsBySize: [UInt64: Int] = [:]
  var firstStackBySize: [UInt64: StackID] = [:]
  var stacks: [StackID: [UInt64]] = [:]
  var modules: [ModuleRecord] = []
  var unloaded: [ModuleID] = []
  var threads: [ThreadRecord] = []
  var markers: [MarkerRecord] = []
  var samples: [SampleRecord] = []
  var mappings: [Mapping] = []
  var unmappings: [Unmapping] = []
  var remappings: [Remapping] = []
  var advices: [RangeAdvice] = []
  var protections: [RangeProtection] = []
  var end: EndRecord?
  var sampling: SamplingParameters?
  var samplingStats: SamplingStats?
  var endTimestamp: UInt64?
  /// The latest timestamp of any record but END.
  var lastTimestamp: UInt64 = 0
  var residency: [ResidencyRegion] = []

  /// With `onlyFrom`, blocks whose stack has no frame in that module (the executable) are left
  /// out, with their frees: what other libraries allocate for themselves while loading (jemalloc
  /// and tcmalloc bring libstdc++, whose constructor allocates its emergency pool).
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
      case .alloc(let a) where isOthers(a):
        others.insert(a.address)
      case .free(let f) where others.contains(f.address):
        others.remove(f.address)
      case .alloc(let a):
        allocations[a.function, default: 0] += 1
        allocationsBySize[a.size, default: 0] += 1
        if firstStackBySize[a.size] == nil { firstStackBySize[a.size] = a.stack }
        live[a.address] = a
      case .free(let f):
        frees[f.function, default: 0] += 1
        if live.removeValue(forKey: f.address) == nil { unmatchedFrees += 1 }
      case .stack(let s): stacks[s.id] = s.frames
      case .module(let m): modules.append(m)
      case .unload(let id): unloaded.append(id)
      case .thread(let t): threads.append(t)
      case .marker(let m): markers.append(m)
      case .sample(let s): samples.append(s)
      case .mmap(let m): mappings.append(m)
      case .munmap(let u): unmappings.append(u)
      case .mremap(let r): remappings.append(r)
      case .madvise(let a): advices.append(a)
      case .mprotect(let p): protections.append(p)
      case .end(let e): end = e
      case .sampling(let s): sampling = s
      case .samplingStats(let s): samplingStats = s
      case .clock, .trim, .skipped, .pythonCode, .python, .aggregate: break
      }
    }
    warnings = reader.warnings
    residency = reader.residency
  }

  /// Frames of the stack of the first allocation of `size` bytes.
  func stackOfFirst(size: UInt64) -> [UInt64]? { firstStackBySize[size].flatMap { stacks[$0] } }

  var liveBytes: UInt64 { live.values.reduce(0) { $0 + $1.size } }
  func live(ofSize size: UInt64) -> [Allocation] { live.values.filter { $0.size == size } }
  func count(_ f: AllocatorFunction) -> Int { allocations[f] ?? 0 }
  func freed(_ f: AllocatorFunction) -> Int { frees[f] ?? 0 }
}
