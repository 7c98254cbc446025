// The libFuzzer entry point, built only by tools/fuzz/run.sh (HEAPWISE_FUZZ=1 swift build
// --sanitize=fuzzer): the normal build has `main` instead (UsageErrors.swift) and none of this.
// Each input is one dump; its frame checksums are recomputed first, so that mutations reach the
// decoder instead of stopping at the CRC. The input then goes through the same path as a user's
// file: one of the analysis commands (records, top, summary, compare, check's dump reading,
// report, export), chosen by the header's pid byte so that every command's
// input path is fuzzed with every corpus entry, run in-process as `heapwise <command> FILE`.
#if HEAPWISE_FUZZ
import ArgumentParser
import FoundationEssentials
import HeapwiseAnalysis
import HeapwiseFormat
import HeapwiseReports
#if canImport(Glibc)
import Glibc
#endif

enum FuzzHarness {
  /// Writes each frame's CRC-32C over its header bytes 0..27 and its payload (docs/FORMAT.md).
  static func fixChecksums(_ bytes: inout [UInt8]) {
    guard bytes.count >= 16 else { return }
    func u32(_ at: Int) -> Int {
      Int(bytes[at]) | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2]) << 16 | Int(bytes[at + 3]) << 24
    }
    var offset = u32(12)
    while offset >= 16, offset + 32 <= bytes.count {
      let stored = u32(offset)
      guard stored <= bytes.count - offset - 32 else { return }
      let crc = bytes.withUnsafeBytes { b in
        CRC32C.update(CRC32C.update(0, UnsafeRawBufferPointer(rebasing: b[offset..<(offset + 28)])),
                      UnsafeRawBufferPointer(rebasing: b[(offset + 32)..<(offset + 32 + stored)]))
      }
      for i in 0..<4 { bytes[offset + 28 + i] = UInt8(truncatingIfNeeded: crc >> (8 * i)) }
      offset += 32 + stored
    }
  }

  /// On a tmpfs, and inside the new root after the chroot below.
  nonisolated(unsafe) static var path = "/dev/shm/heapwise-fuzz-\(getpid()).heapwise"

  /// With `HEAPWISE_FUZZ_CHROOT=DIR` (tools/fuzz/run.sh, as root), the process changes its root
  /// to the empty DIR once its libraries are loaded: the module paths in a dump then name no file,
  /// so the commands symbolize nothing. Symbolizing this machine's libc took 98% of the time of
  /// an execution, and those files are not the input under test. The corpus and the artifacts
  /// are relative to the working directory, which a chroot leaves in place.
  /// Called before the first input, after libFuzzer has pointed stdout and stderr at /dev/null
  /// (-close_fd_mask), which it could not open inside the empty root.
  nonisolated(unsafe) static var initialized = false
  static func initialize() {
    initialized = true
    statm = open("/proc/self/statm", O_RDONLY)
    guard let dir = getenv("HEAPWISE_FUZZ_CHROOT").map({ String(cString: $0) }) else { return }
    if chroot(dir) != 0 { fatalError("chroot \(dir): \(String(cString: strerror(errno)))") }
    // In the new root, which run.sh puts on a tmpfs: rewriting a file on ext4 made the kernel
    // flush it at every close (a fifth of an execution).
    path = "/heapwise-fuzz-\(getpid()).heapwise"
  }

  /// The commands an input can go through: every analysis command's input path.
  static func commands(_ p: String) -> [[String]] {
    [
      ["records", p],
      ["top", p],
      ["top", p, "--metric", "peak", "--by", "traceback", "--limit", "0"],
      ["top", p, "--metric", "temporary", "--by", "module", "--format", "json"],
      ["summary", p, "--timeline"],
      ["summary", p, "--format", "json"],
      ["compare", p, p],
      ["check-dump", p],
      ["report", p, "-o", "-"],
      ["export", p, "--format", "pprof"],
      ["export", p, "--format", "speedscope", "--metric", "peak"],
      ["summary", p],  // an aggregated dump's own summary (the commands above refuse one or pass it by)
    ]
  }

  /// The memory bound the harness enforces (tools/fuzz/README.md): the peak resident memory an
  /// input adds may not exceed `memoryBase + memoryPerByte * (file bytes + decompressed bytes)`.
  /// Decompressed bytes count because a frame of a few bytes may hold 64 MiB of records.
  static let memoryBase = 96 << 20
  static let memoryPerByte = 64
  nonisolated(unsafe) static var peakSoFar = 0

  /// Opened before the chroot (which leaves no /proc) and read again with pread for each input.
  nonisolated(unsafe) static var statm: Int32 = -1

  static func residentBytes() -> Int {
    let fd = statm
    guard fd >= 0 else { return 0 }
    var buf = [UInt8](repeating: 0, count: 128)
    let n = pread(fd, &buf, buf.count, 0)
    guard n > 0 else { return 0 }
    let fields = buf[0..<n].split(separator: UInt8(ascii: " "))
    guard fields.count > 1, let pages = Int(String(decoding: fields[1], as: UTF8.self)) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
  }

  /// File bytes plus what the frames say they decompress to (raw_size of every whole frame).
  static func expandedSize(_ bytes: [UInt8]) -> Int {
    guard bytes.count >= 16 else { return bytes.count }
    func u32(_ at: Int) -> Int {
      Int(bytes[at]) | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2]) << 16 | Int(bytes[at + 3]) << 24
    }
    var total = bytes.count
    var offset = u32(12)
    while offset >= 16, offset + 32 <= bytes.count {
      let stored = u32(offset)
      guard stored <= bytes.count - offset - 32 else { break }
      total += min(u32(offset + 4), 64 << 20)
      offset += 32 + stored
    }
    return total
  }

  static func run(_ data: UnsafePointer<UInt8>, _ size: Int) {
    if !initialized { initialize() }
    let before = residentBytes()
    defer { checkMemory(before: before, input: Array(UnsafeBufferPointer(start: data, count: size))) }
    var bytes = Array(UnsafeBufferPointer(start: data, count: size))
    fixChecksums(&bytes)
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard fd >= 0 else { return }
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    close(fd)
    let all = parsedCommands
    switch all[(size > 16 ? Int(bytes[16]) : 0) % all.count] {
    case nil: checkDump(path)
    case var command?:
      // What UsageErrors.run does once the arguments are parsed: run, and let the error (its
      // message already printed, or a status) end the command.
      do { try command.run() } catch {}
    }
  }

  /// Every command line of `commands`, parsed once (nil: check's dump path, which has no command
  /// line of its own). Parsing the same arguments again for every input took 55% of an
  /// execution, and the arguments are not the input under test; `run()` on a copy is what the
  /// command line does after parsing.
  nonisolated(unsafe) static var parsedCommands: [(any ParsableCommand)?] = commands(path).map { args in
    if args[0] == "check-dump" { return nil }
    do { return try Heapwise.parseAsRoot(args) } catch { fatalError("fuzz: cannot parse \(args): \(error)") }
  }

  /// The peak RSS only grows, so an input is checked when it set a new peak: then that peak was
  /// its own, and what it added is the peak minus the RSS before it ran.
  static func checkMemory(before: Int, input: [UInt8]) {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    let peak = usage.ru_maxrss * 1024
    guard peak > peakSoFar else { return }
    peakSoFar = peak
    var fixed = input
    fixChecksums(&fixed)
    let bound = memoryBase + memoryPerByte * expandedSize(fixed)
    if peak - before > bound {
      fatalError("memory: this input of \(input.count) bytes (\(expandedSize(fixed)) expanded) took \(peak - before) bytes, bound \(bound)")
    }
  }

  /// What `heapwise check` does with the dumps it recorded: replay, evaluate budgets, render.
  static func checkDump(_ path: String) {
    guard let reader = try? DumpReader(path: path) else { return }
    let analysis = DumpAnalysis(reader: reader)
    let json = #"{"max-peak": "1MiB", "max-leaked": 0, "max-allocations": 10, "sites": [{"function": "*a*", "max-allocated": "1GiB"}]}"#
    guard let plan = try? JSONDecoder().decode(CheckBudget.self, from: Data(json.utf8)) else { fatalError("budget") }
    let rows = plan.evaluate([analysis, analysis])
    _ = CheckTable.render(rows)
    _ = CheckJSON(command: ["app"], commandStatus: 0, dumps: [path], kept: true, rows: rows).text
  }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func heapwiseFuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  FuzzHarness.run(data, size)
  return 0
}
#endif
