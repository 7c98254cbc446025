// What a test asserts about a dump, computed by replaying it through HeapwiseFormat's reader: per
// function counts, the live set at the end, unmatched frees, stacks, modules, markers. One replay
// for the recorder's tests and the fault matrix.
import HeapwiseFormat

public struct DumpFacts {
  public var header: DumpHeader
  public var warnings: [DumpWarning] = []
  public var allocations: [AllocatorFunction: Int] = [:]
  public var frees: [AllocatorFunction: Int] = [:]
  public var live: [UInt64: Allocation] = [:]
  public var unmatchedFrees = 0
  public var allocationsBySize: [UInt64: Int] = [:]
  public var firstStackBySize: [UInt64: StackID] = [:]
  public var stacks: [StackID: [UInt64]] = [:]
  public var modules: [ModuleRecord] = []
  public var unloaded: [ModuleID] = []
  public var threads: [ThreadRecord] = []
  public var markers: [MarkerRecord] = []
  public var samples: [SampleRecord] = []
  public var mappings: [Mapping] = []
  public var unmappings: [Unmapping] = []
  public var remappings: [Remapping] = []
  public var advices: [RangeAdvice] = []
  public var protections: [RangeProtection] = []
  public var end: EndRecord?
  public var sampling: SamplingParameters?
  public var samplingStats: SamplingStats?
  public var endTimestamp: UInt64?
  /// The latest timestamp of any record but END.
  public var lastTimestamp: UInt64 = 0
  public var residency: [ResidencyRegion] = []

  /// With `onlyFrom`, blocks whose stack has no frame in that module (the executable) are left
  /// out, with their frees: what other libraries allocate for themselves while loading (jemalloc
  /// and tcmalloc bring libstdc++, whose constructor allocates its emergency pool).
  public init(path: String, onlyFrom module: String? = nil) throws {
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
  public func stackOfFirst(size: UInt64) -> [UInt64]? { firstStackBySize[size].flatMap { stacks[$0] } }

  public var liveBytes: UInt64 { live.values.reduce(0) { $0 + $1.size } }
  public func live(ofSize size: UInt64) -> [Allocation] { live.values.filter { $0.size == size } }
  public func count(_ f: AllocatorFunction) -> Int { allocations[f] ?? 0 }
  public func count(size: UInt64) -> Int { allocationsBySize[size] ?? 0 }
  public func freed(_ f: AllocatorFunction) -> Int { frees[f] ?? 0 }
}
