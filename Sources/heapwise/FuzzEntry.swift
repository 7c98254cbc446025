// The libFuzzer entry point, built only by tools/fuzz/run.sh (HEAPWISE_FUZZ=1 swift build
// --sanitize=fuzzer): the normal build has `main` instead (UsageErrors.swift) and none of this.
// Each input is one dump; its frame checksums are recomputed first, so that mutations reach the
// decoder instead of stopping at the CRC. The input then goes through the same path as a user's
// file: one of the analysis commands, chosen by the header's pid byte so that every command's
// input path is fuzzed with every corpus entry, run in-process as `heapwise <command> FILE`.
#if HEAPWISE_FUZZ
import ArgumentParser
import FoundationEssentials
import HeapwiseAnalysis
import HeapwiseFormat
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

  static let path = "/dev/shm/heapwise-fuzz-\(getpid()).heapwise"

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
    ]
  }

  static func run(_ data: UnsafePointer<UInt8>, _ size: Int) {
    var bytes = Array(UnsafeBufferPointer(start: data, count: size))
    fixChecksums(&bytes)
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard fd >= 0 else { return }
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    close(fd)
    let all = commands(path)
    let args = all[(size > 16 ? Int(bytes[16]) : 0) % all.count]
    if args[0] == "check-dump" {
      checkDump(path)
    } else {
      _ = UsageErrors.run(args)
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
