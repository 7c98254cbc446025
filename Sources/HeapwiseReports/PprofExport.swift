// `heapwise export --format pprof`: a gzip'd profile.proto (github.com/google/pprof, proto/
// profile.proto) that `go tool pprof`, Pyroscope and Parca read. One sample per recorded stack;
// one location per return address (per Python function and line for a Python frame), its inlined
// frames as the location's lines (innermost first, the physical function last); one mapping per
// loaded module, with its build id.
// Sample types and what they hold are in docs/EXPORTS.md.
import HeapwiseAnalysis
import HeapwiseFormat

public enum PprofExport {
  /// The sample types, in the order of each sample's values.
  public static let sampleTypes: [(type: String, unit: String)] = [
    ("alloc_objects", "count"), ("alloc_space", "bytes"),
    ("inuse_objects", "count"), ("inuse_space", "bytes"),
    ("temporary_objects", "count"), ("temporary_space", "bytes"),
  ]
  /// Added after the others when the dump has residency snapshots and tracked mappings: the
  /// resident pages of the stack's live mappings (private allocators' pools, mmap'd buffers), the
  /// part of inuse_space that is not heap blocks.
  public static let residentType = (type: "resident_space", unit: "bytes")

  /// The sample types of a profile of `analysis`.
  public static func sampleTypes(_ analysis: DumpAnalysis) -> [(type: String, unit: String)] {
    knowsResidency(analysis.state) ? sampleTypes + [residentType] : sampleTypes
  }

  static func knowsResidency(_ state: ReplayState) -> Bool { state.hasResidency && !state.mappingOwners.isEmpty }

  public struct Options: Sendable {
    /// What `default_sample_type` points at: inuse_space for live, leaked and peak.
    public var metric: Metric
    /// Where "inuse" is taken: at this marker, or at the end (at the peak for `peak`).
    public var marker: String?
    public var keepAllocatorFrames: Bool
    /// Keep the Python interpreter's own native frames (hidden by default, as in `top`).
    public var showInterpreterFrames: Bool
    public init(metric: Metric = .live, marker: String? = nil, keepAllocatorFrames: Bool = false,
                showInterpreterFrames: Bool = false) {
      self.metric = metric; self.marker = marker; self.keepAllocatorFrames = keepAllocatorFrames
      self.showInterpreterFrames = showInterpreterFrames
    }
  }

  /// The gzip'd profile.
  public static func render(_ analysis: DumpAnalysis, options: Options) throws -> [UInt8] {
    try Gzip.compress(encode(analysis, options: options))
  }

  /// The profile before compression.
  public static func encode(_ analysis: DumpAnalysis, options: Options) throws(AnalysisError) -> [UInt8] {
    let counters = try analysis.counters(at: options.marker)
    let state = analysis.state
    let resolver = analysis.resolver
    let modules = state.modules.entries

    var strings: [String] = [""]
    var stringIndex: [String: Int64] = ["": 0]
    func str(_ s: String) -> Int64 {
      if let i = stringIndex[s] { return i }
      let i = Int64(strings.count)
      strings.append(s)
      stringIndex[s] = i
      return i
    }

    struct FunctionKey: Hashable { var name: String; var file: String }
    var functions: [FunctionKey] = []
    var functionID: [FunctionKey: UInt64] = [:]
    struct Location { var mapping: UInt64; var address: UInt64; var lines: [(function: UInt64, line: Int64)] }
    var locations: [Location] = []
    var locationID: [UInt64: UInt64] = [:]
    // A Python frame's location is its function and line, with no mapping and address 0: its
    // "address" is a code id and an instruction index, not a place in any module.
    struct PythonLine: Hashable { var function: UInt64; var line: Int64 }
    var pythonLocationID: [PythonLine: UInt64] = [:]
    var allocatorAddress: [UInt64: Bool] = [:]
    var mappingUsed = [Bool](repeating: false, count: modules.count)
    var sawFiles = false, sawLines = false, sawInlined = false

    func mapping(of address: UInt64) -> UInt64 {
      // The latest load that covers it: a library loaded again after dlclose reuses addresses.
      guard let i = modules.lastIndex(where: { $0.record.contains(address) }) else { return 0 }
      mappingUsed[i] = true
      return UInt64(i + 1)
    }

    func function(_ name: String, file: String?) -> UInt64 {
      let key = FunctionKey(name: name, file: file ?? "")
      if let id = functionID[key] { return id }
      functions.append(key)
      let id = UInt64(functions.count)
      functionID[key] = id
      return id
    }

    func location(_ address: UInt64) -> UInt64 {
      if let id = locationID[address] { return id }
      let frames = resolver.frames(at: address).map(resolver.frame)
      if PythonFrameAddress.isPython(address), let f = frames.first {
        if f.file != nil { sawFiles = true }
        if f.line != nil { sawLines = true }
        let key = PythonLine(function: function(f.function ?? f.moduleAndOffset, file: f.file), line: Int64(f.line ?? 0))
        let id: UInt64
        if let known = pythonLocationID[key] {
          id = known
        } else {
          locations.append(Location(mapping: 0, address: 0, lines: [(key.function, key.line)]))
          id = UInt64(locations.count)
          pythonLocationID[key] = id
        }
        locationID[address] = id
        return id
      }
      var lines: [(UInt64, Int64)] = []
      for f in frames {
        if f.file != nil { sawFiles = true }
        if f.line != nil { sawLines = true }
        if f.isInlined { sawInlined = true }
        lines.append((function(f.function ?? f.moduleAndOffset, file: f.file), Int64(f.line ?? 0)))
      }
      locations.append(Location(mapping: mapping(of: address), address: address, lines: lines))
      let id = UInt64(locations.count)
      locationID[address] = id
      return id
    }

    func isAllocator(_ address: UInt64) -> Bool {
      if let known = allocatorAddress[address] { return known }
      let frames = resolver.frames(at: address)
      let a = !frames.isEmpty && frames.allSatisfy { AllocatorFrames.contains(resolver.frame($0)) }
      allocatorAddress[address] = a
      return a
    }

    let drawn = DrawnFrames(resolver: resolver, showInterpreterFrames: options.showInterpreterFrames)
    let inuseAtPeak = options.metric == .peak
    let withResident = knowsResidency(state)
    var samples = ProtobufWriter()
    for (i, c) in counters where !c.isZero {
      let stack = StackID(UInt32(i))
      var addresses = Array(state.stacks.addresses(of: stack))
      if !drawn.showsInterpreter(stack) { addresses.removeAll(where: drawn.isInterpreter) }
      if !options.keepAllocatorFrames {
        let cut = addresses.prefix(while: isAllocator).count
        if cut < addresses.count { addresses.removeFirst(cut) }
      }
      var ids = addresses.map(location)
      if ids.isEmpty {
        // A stackless allocation still counts: it gets a location of its own, named as `top` names it.
        locations.append(Location(mapping: 0, address: 0, lines: [(function(FunctionStacks.noStackName, file: nil), 0)]))
        ids = [UInt64(locations.count)]
      }
      var values: [UInt64] = [
        c.allocations, c.allocatedBytes,
        inuseAtPeak ? c.peakBlocks : c.liveBlocks, inuseAtPeak ? c.peakBytes : c.liveBytes,
        c.temporary, c.temporaryBytes,
      ]
      if withResident { values.append(inuseAtPeak ? c.peakResidentBytes : c.residentBytes) }
      samples.message(2) { s in
        s.packed(1, ids)
        s.packed(2, values)
      }
    }

    var p = ProtobufWriter()
    for t in sampleTypes(analysis) {
      let type = str(t.type), unit = str(t.unit)
      p.message(1) { v in v.int64(1, type); v.int64(2, unit) }
    }
    let header = analysis.reader.header
    let defaultType: String
    switch options.metric {
    case .live, .leaked, .peak: defaultType = "inuse_space"
    case .allocated: defaultType = "alloc_space"
    case .count: defaultType = "alloc_objects"
    case .temporary: defaultType = "temporary_space"
    }
    var comments = ["heapwise export of \(analysis.reader.path)"]
    comments.append(
      inuseAtPeak ? "inuse_*: live at the peak"
        : options.marker.map { "inuse_*: live at marker \"\($0)\"" }
        ?? (analysis.exitedNormally ? "inuse_*: live at exit (leaked)" : "inuse_*: live at the end of the dump (no END record)"))
    comments.append("temporary_*: heap blocks freed before their thread allocated anything else")
    if withResident { comments.append("resident_space: resident pages of the live mappings, the part of inuse_space that is not heap blocks") }
    let commentIDs = comments.map(str)
    let defaultID = str(defaultType)
    let spaceID = str("space"), bytesID = str("bytes")

    // Mappings, functions and locations go after the samples were built, which interned them.
    var body = ProtobufWriter()
    for (i, m) in modules.enumerated() where mappingUsed[i] {
      let r = m.record
      let low = r.segments.map(\.vaddr).min() ?? 0
      let high = r.segments.map { $0.vaddr &+ $0.memsz }.max() ?? 0
      let file = str(r.path), build = str(r.buildID.map { String($0, radix: 16).leftPadded(2) }.joined())
      body.message(3) { w in
        w.uint64(1, UInt64(i + 1))
        w.uint64(2, r.base &+ (low & ~0xfff))
        w.uint64(3, r.base &+ high)
        // The first segment's link-time address; for the usual layout it is its file offset.
        w.uint64(4, low & ~0xfff)
        w.int64(5, file)
        w.int64(6, build)
        w.bool(7, true)
        w.bool(8, sawFiles)
        w.bool(9, sawLines)
        w.bool(10, sawInlined)
      }
    }
    for (i, l) in locations.enumerated() {
      body.message(4) { w in
        w.uint64(1, UInt64(i + 1))
        w.uint64(2, l.mapping)
        w.uint64(3, l.address)
        for line in l.lines {
          w.message(4) { x in x.uint64(1, line.function); x.int64(2, line.line) }
        }
      }
    }
    for (i, f) in functions.enumerated() {
      let name = str(f.name), file = str(f.file)
      body.message(5) { w in
        w.uint64(1, UInt64(i + 1))
        w.int64(2, name)
        w.int64(3, name)
        w.int64(4, file)
      }
    }

    var out = p.bytes
    out += samples.bytes
    out += body.bytes
    var tail = ProtobufWriter()
    for s in strings { tail.string(6, s) }
    if header.startRealtimeNanoseconds > 0 { tail.int64(9, Int64(bitPattern: header.startRealtimeNanoseconds)) }
    if header.ticksPerSecond > 0, state.timestamp > header.startTicks {
      let seconds = Double(state.timestamp - header.startTicks) / Double(header.ticksPerSecond)
      tail.int64(10, Int64(Units.clampedInt(seconds * 1e9)))
    }
    tail.message(11) { v in v.int64(1, spaceID); v.int64(2, bytesID) }
    for c in commentIDs { tail.int64(13, c) }
    tail.int64(14, defaultID)
    out += tail.bytes
    return out
  }
}

extension String {
  func leftPadded(_ width: Int) -> String {
    count >= width ? self : String(repeating: "0", count: width - count) + self
  }
}
