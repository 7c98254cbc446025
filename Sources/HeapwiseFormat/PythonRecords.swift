// The records of a CPython process (docs/FORMAT.md, "Python frames"): one PYCODE per code object
// that appears in a stack, one PYTHON about the runtime; and the 64-bit form of a Python frame
// inside a STACK record.

/// A Python frame as a STACK record holds it: bit 63 set, the code object's id in bits 32...62,
/// the instruction index (in 2-byte code units) in bits 0...31. Native addresses never have bit 63.
public enum PythonFrameAddress {
  public static let tag: UInt64 = 1 << 63

  @inline(__always) public static func isPython(_ address: UInt64) -> Bool { address & tag != 0 }
  /// 0 when the recorder's code table was full: an unnamed code object.
  public static func codeID(_ address: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: (address >> 32) & 0x7fff_ffff) }
  public static func instruction(_ address: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: address) }
  public static func make(codeID: UInt32, instruction: UInt32) -> UInt64 {
    tag | UInt64(codeID & 0x7fff_ffff) << 32 | UInt64(instruction)
  }
}

/// PYCODE: what the analyzer needs to name a code object and turn an instruction into a line.
public struct PythonCodeRecord: Sendable, Hashable {
  public var id: UInt32
  public var firstLine: Int
  public var filename: String
  public var qualifiedName: String
  /// `co_linetable` (the 3.11+ location table), possibly cut short by the recorder.
  public var lineTable: [UInt8]

  public init(id: UInt32, firstLine: Int, filename: String, qualifiedName: String, lineTable: [UInt8]) {
    self.id = id; self.firstLine = firstLine; self.filename = filename
    self.qualifiedName = qualifiedName; self.lineTable = lineTable
  }

  /// Decodes a PYCODE record's body (docs/FORMAT.md), as a dump holds it and as the recorder hands
  /// it to readers in its own process (`heapwise_python_code`, for scope sites).
  public init(body buffer: UnsafeRawBufferPointer) throws {
    var body = ByteCursor(buffer: buffer)
    id = try body.uvarint32()
    firstLine = Int(clamping: try body.uvarint())
    filename = String(pythonKind: try body.uvarint(), bytes: try body.lengthPrefixed())
    qualifiedName = String(pythonKind: try body.uvarint(), bytes: try body.lengthPrefixed())
    lineTable = Array(try body.lengthPrefixed())
  }

  /// The source line of the instruction at `instruction` (code units), as `PyCode_Addr2Line`
  /// computes it; nil where the table says "no line" or does not reach.
  public func line(atInstruction instruction: UInt32) -> Int? {
    PythonLineTable.line(lineTable, firstLine: firstLine, instruction: Int(instruction))
  }
}

/// PYTHON: the interpreter, whether Python frames were recorded, and which allocator served objects.
public struct PythonRuntimeRecord: Sendable, Hashable {
  public enum Status: UInt64, Sendable { case on = 0, switchedOff = 1, unsupported = 2 }
  /// `PY_VERSION_HEX` (0x030c01f0 is 3.12.1).
  public var versionHex: UInt64
  /// Raw status; see `Status`.
  public var status: UInt64
  /// `PYTHONMALLOC` at start; empty when unset (pymalloc serves small objects).
  public var objectAllocator: String
  /// The module that holds the interpreter (libpython or the executable).
  public var interpreterPath: String
  /// Why Python frames are off; empty when on.
  public var reason: String

  public init(versionHex: UInt64, status: UInt64, objectAllocator: String, interpreterPath: String, reason: String) {
    self.versionHex = versionHex; self.status = status; self.objectAllocator = objectAllocator
    self.interpreterPath = interpreterPath; self.reason = reason
  }

  /// "3.12.1", or "3.x" when the version was not found.
  public var version: String {
    versionHex == 0 ? "3.x" : "\(versionHex >> 24).\((versionHex >> 16) & 0xff).\((versionHex >> 8) & 0xff)"
  }

  /// Whether each Python object allocation reached malloc (PYTHONMALLOC=malloc or malloc_debug).
  public var objectsUseMalloc: Bool { objectAllocator == "malloc" || objectAllocator == "malloc_debug" }
}

/// CPython's location table (Objects/locations.md of 3.11+): entries of one start byte
/// (bit 7 set, code in bits 3...6, length-1 in code units in bits 0...2) and the code's operands.
public enum PythonLineTable {
  public static func line(_ table: [UInt8], firstLine: Int, instruction: Int) -> Int? {
    if instruction < 0 { return firstLine }
    var p = 0, end = 0, line = firstLine
    while p < table.count {
      let first = table[p]
      guard first & 0x80 != 0 else { p += 1; continue }
      let code = Int((first >> 3) & 15), length = Int(first & 7) + 1
      var q = p + 1
      var delta = 0
      switch code {
      case 15: delta = 0
      case 14, 13: delta = signedVarint(table, &q)
      case 10...12: delta = code - 10
      default: delta = 0
      }
      line += delta
      let start = end
      end += length
      if instruction >= start && instruction < end { return code == 15 ? nil : line }
      p = q
      while p < table.count && table[p] & 0x80 == 0 { p += 1 }
    }
    return nil
  }

  private static func varint(_ t: [UInt8], _ p: inout Int) -> Int {
    guard p < t.count else { return 0 }
    var b = Int(t[p]); p += 1
    var value = b & 63, shift = 0
    while b & 64 != 0 && p < t.count && shift < 56 {
      b = Int(t[p]); p += 1
      shift += 6
      value |= (b & 63) << shift
    }
    return value
  }

  private static func signedVarint(_ t: [UInt8], _ p: inout Int) -> Int {
    let u = varint(t, &p)
    return u & 1 != 0 ? -(u >> 1) : u >> 1
  }
}

extension String {
  /// A CPython str as the recorder wrote it: characters of `kind` bytes (1 Latin-1, 2 UCS-2,
  /// 4 UCS-4), little-endian; kind 0 is a string the recorder could not read.
  init(pythonKind kind: UInt64, bytes: UnsafeRawBufferPointer) {
    switch kind {
    case 1:
      self = String(decoding: bytes.map { UInt16($0) }, as: UTF16.self)
    case 2:
      var units: [UInt16] = []
      units.reserveCapacity(bytes.count / 2)
      var i = 0
      while i + 1 < bytes.count { units.append(UInt16(bytes[i]) | UInt16(bytes[i + 1]) << 8); i += 2 }
      self = String(decoding: units, as: UTF16.self)
    case 4:
      var scalars = String.UnicodeScalarView()
      var i = 0
      while i + 3 < bytes.count {
        let v = UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24
        scalars.append(Unicode.Scalar(v) ?? "\u{FFFD}")
        i += 4
      }
      self = String(scalars)
    default:
      self = "?"
    }
  }
}

extension ByteCursor {
  /// A cursor over a record's body (offsets in its errors count from the body's start).
  init(buffer: UnsafeRawBufferPointer) {
    self.init(base: buffer.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, count: buffer.count)
  }
}
