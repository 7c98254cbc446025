// The header at offset 0 (docs/FORMAT.md, "Header").

public struct DumpHeader: Sendable, Hashable {
  public var major: UInt16
  public var minor: UInt16
  /// Bytes from offset 0 to the first frame.
  public var headerSize: Int
  public var pid: UInt32
  public var ppid: UInt32
  public var pageSize: UInt32
  public var flags: UInt32
  public var startRealtimeNanoseconds: UInt64
  public var startMonotonicNanoseconds: UInt64
  public var startTicks: UInt64
  /// First estimate of the timestamp clock's rate; CLOCK records refine it.
  public var ticksPerSecond: UInt64
  public var executable: String
  /// The command line, one element per argument.
  public var arguments: [String]

  public var timestampsAreTSC: Bool { flags & FormatConstants.headerFlagTSC != 0 }
  public var trimProbe: Bool { flags & FormatConstants.headerFlagTrimProbe != 0 }
  public var isForkedChild: Bool { flags & FormatConstants.headerFlagForkedChild != 0 }
  /// Recorded with `--aggregate`: totals per site, no events (docs/AGGREGATE.md).
  public var isAggregated: Bool { flags & FormatConstants.headerFlagAggregate != 0 }

  public init(
    major: UInt16 = FormatConstants.major, minor: UInt16 = FormatConstants.minor, headerSize: Int = 0,
    pid: UInt32, ppid: UInt32 = 0, pageSize: UInt32 = 4096, flags: UInt32 = 0,
    startRealtimeNanoseconds: UInt64 = 0, startMonotonicNanoseconds: UInt64 = 0, startTicks: UInt64 = 0,
    ticksPerSecond: UInt64 = 1_000_000_000, executable: String, arguments: [String]
  ) {
    self.major = major; self.minor = minor; self.headerSize = headerSize
    self.pid = pid; self.ppid = ppid; self.pageSize = pageSize; self.flags = flags
    self.startRealtimeNanoseconds = startRealtimeNanoseconds
    self.startMonotonicNanoseconds = startMonotonicNanoseconds
    self.startTicks = startTicks; self.ticksPerSecond = ticksPerSecond
    self.executable = executable; self.arguments = arguments
  }

  /// Parses the header at the start of `bytes`.
  public static func decode(_ bytes: UnsafeRawBufferPointer) throws(DumpError) -> DumpHeader {
    guard bytes.count > 0, let base = bytes.baseAddress else { throw .empty }
    let magic = FormatConstants.magic
    let prefix = min(bytes.count, magic.count)
    for i in 0..<prefix where bytes[i] != magic[i] { throw .notADump }
    guard bytes.count >= 16 else { throw .truncatedHeader(size: bytes.count) }
    var c = ByteCursor(base: base, count: bytes.count)
    do {
      c.position = 8
      let major = try c.littleEndian(UInt16.self)
      let minor = try c.littleEndian(UInt16.self)
      // The version is checked before anything else: a newer major may lay out the rest differently.
      guard major == FormatConstants.major else { throw DumpError.unsupportedVersion(major: major, minor: minor) }
      let headerSize = Int(try c.littleEndian(UInt32.self))
      guard headerSize >= FormatConstants.headerFixedSize + 8 else {
        throw DumpError.corruptHeader("header size \(headerSize) is below the minimum")
      }
      guard bytes.count >= headerSize else { throw DumpError.truncatedHeader(size: bytes.count) }
      var h = DumpHeader(
        major: major, minor: minor, headerSize: headerSize,
        pid: try c.littleEndian(UInt32.self), ppid: try c.littleEndian(UInt32.self),
        pageSize: try c.littleEndian(UInt32.self), flags: try c.littleEndian(UInt32.self),
        startRealtimeNanoseconds: try c.littleEndian(UInt64.self),
        startMonotonicNanoseconds: try c.littleEndian(UInt64.self),
        startTicks: try c.littleEndian(UInt64.self), ticksPerSecond: try c.littleEndian(UInt64.self),
        executable: "", arguments: [])
      // Strings may not run past header_size: the first frame starts there.
      var hc = ByteCursor(base: base, count: headerSize)
      hc.position = FormatConstants.headerFixedSize
      let exeLength = Int(try hc.littleEndian(UInt32.self))
      h.executable = String(dumpBytes: try hc.bytes(exeLength))
      let cmdLength = Int(try hc.littleEndian(UInt32.self))
      let cmd = try hc.bytes(cmdLength)
      var args = cmd.split(separator: 0, omittingEmptySubsequences: false)
      if args.last?.isEmpty == true { args.removeLast() }  // each argument ends with a NUL
      h.arguments = args.map { String(decoding: $0, as: UTF8.self) }
      return h
    } catch let e as CursorError {
      throw .corruptHeader("a field runs past the header size (at byte \(e.offset))")
    } catch let e as DumpError {
      throw e
    } catch {
      throw .corruptHeader("\(error)")
    }
  }
}
