/// A loaded ELF module as the recorder saw it: where it was, which build it was, where it sat in
/// memory.
///
/// An address `a` belongs to the module when `base + s.vaddr <= a < base + s.vaddr + s.memsz` for
/// one of its ``segments``; `a - base` is then the link-time address in the file, the value
/// `addr2line -e path` takes and the one ``SymbolizedFrame/moduleOffset`` reports.
public struct ModuleImage: Sendable, Hashable {
  /// The path the module was loaded from on the recording machine.
  public var path: String
  /// The GNU build id (`NT_GNU_BUILD_ID` note), or empty when the module has none.
  public var buildID: [UInt8]
  /// The load bias: run-time address minus link-time address (0 for a non-PIE executable).
  public var base: UInt64
  /// The `PT_LOAD` segments, in link-time addresses.
  public var segments: [Segment]

  public init(path: String, buildID: [UInt8], base: UInt64, segments: [Segment]) {
    self.path = path
    self.buildID = buildID
    self.base = base
    self.segments = segments
  }

  /// The build id as lowercase hex, the spelling `.build-id` directories and debuginfod use.
  public var buildIDHex: String { hex(buildID) }

  /// Whether `address` (a run-time address) falls inside one of the module's segments.
  public func contains(_ address: UInt64) -> Bool {
    segments.contains { s in
      let start = base &+ s.vaddr
      return address >= start && address - start < s.memsz
    }
  }
}

/// One `PT_LOAD` program header of a module.
public struct Segment: Sendable, Hashable {
  /// Link-time virtual address of the segment's start.
  public var vaddr: UInt64
  /// Size in memory.
  public var memsz: UInt64
  /// ELF `p_flags`: 1 executable, 2 writable, 4 readable.
  public var flags: UInt32

  public init(vaddr: UInt64, memsz: UInt64, flags: UInt32) {
    self.vaddr = vaddr
    self.memsz = memsz
    self.flags = flags
  }

  public var isExecutable: Bool { flags & 1 != 0 }
}

/// Finds the module that contains a run-time address, among modules loaded at the same time.
public struct ModuleMap: Sendable {
  private struct Range: Sendable {
    var start: UInt64
    var end: UInt64
    var module: Int
  }

  /// The modules, in the order given.
  public let modules: [ModuleImage]
  private let ranges: [Range]
  /// `maxEnd[i]` is the largest `end` among `ranges[0...i]`: it bounds the backward walk when
  /// ranges overlap (a module unloaded and another loaded at the same place, both in one map).
  private let maxEnd: [UInt64]

  public init(_ modules: [ModuleImage]) {
    self.modules = modules
    var ranges: [Range] = []
    for (index, module) in modules.enumerated() {
      for s in module.segments where s.memsz > 0 {
        let start = module.base &+ s.vaddr
        ranges.append(Range(start: start, end: start &+ s.memsz, module: index))
      }
    }
    ranges.sort { $0.start < $1.start }
    var maxEnd: [UInt64] = []
    maxEnd.reserveCapacity(ranges.count)
    for r in ranges { maxEnd.append(Swift.max(maxEnd.last ?? 0, r.end)) }
    self.ranges = ranges
    self.maxEnd = maxEnd
  }

  /// The module whose segments contain `address`, or nil. When several do, the one whose segment
  /// starts highest wins.
  public func module(containing address: UInt64) -> ModuleImage? {
    // Index of the last range starting at or below the address.
    var low = 0
    var high = ranges.count
    while low < high {
      let mid = (low + high) / 2
      if ranges[mid].start <= address { low = mid + 1 } else { high = mid }
    }
    var i = low - 1
    while i >= 0 && maxEnd[i] > address {
      if address < ranges[i].end { return modules[ranges[i].module] }
      i -= 1
    }
    return nil
  }
}

func hex(_ bytes: [UInt8]) -> String {
  let digits = Array("0123456789abcdef".utf8)
  var out: [UInt8] = []
  out.reserveCapacity(bytes.count * 2)
  for b in bytes {
    out.append(digits[Int(b >> 4)])
    out.append(digits[Int(b & 15)])
  }
  return String(decoding: out, as: UTF8.self)
}
