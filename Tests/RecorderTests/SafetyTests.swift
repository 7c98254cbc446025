// The recorder never harms the program: it refuses unsafe outputs, survives write failures, keeps
// the environment out of the dump, and drags no runtime into the process.
import Foundation
import HeapwiseFormat
import Testing

@Suite("Safety") struct SafetyTests {
  @Test func dumpIsPrivateAndHoldsNoEnvironment() throws {
    let program = try Harness.build("scenarios.c")
    let dir = Harness.freshDirectory("private")
    try Harness.record(program, ["plain"], in: dir, environment: ["HW_TEST_SECRET": "s3cr3t-t0ken-value"])
    let path = try Harness.onlyDump(in: dir)
    let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
    #expect(mode == 0o600)
    let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
    #expect(bytes.range(of: Data("s3cr3t-t0ken-value".utf8)) == nil)
    let facts = try DumpFacts(path: path)
    #expect(facts.header.arguments.last == "plain")  // the command line is recorded
  }

  /// A setuid program runs with AT_SECURE: the recorder (and glibc's loader) leave it alone.
  @Test(.enabled(if: getuid() == 0, "needs root to hand the copy to another user"))
  func setuidProgramsAreNotRecorded() throws {
    let dir = Harness.freshDirectory("setuid")
    let copy = dir.appendingPathComponent("suid").path
    try FileManager.default.copyItem(atPath: try Harness.build("scenarios.c"), toPath: copy)
    // Owner first: chown clears the set-user-id bit, so the mode must come after it.
    try FileManager.default.setAttributes([.ownerAccountName: "nobody"], ofItemAtPath: copy)
    try FileManager.default.setAttributes([.posixPermissions: 0o4755], ofItemAtPath: copy)
    let mode = try FileManager.default.attributesOfItem(atPath: copy)[.posixPermissions] as? Int
    try #require(mode == 0o4755, "the copy is not set-user-id")
    let result = try Harness.record(copy, ["plain"], in: dir)
    #expect(result.status == 0)
    #expect(Harness.dumps(in: dir).isEmpty)
  }

  @Test func unwritableDirectoryIsOneLineAndTheProgramRunsOn() throws {
    let program = try Harness.build("scenarios.c")
    let dir = Harness.freshDirectory("unwritable")
    let result = try Harness.record(program, ["print"], in: dir,
      environment: ["HEAPWISE_OUTPUT": "/nonexistent-dir/x.%p.heapwise"])
    #expect(result.status == 0)
    #expect(result.stdout == "still running\ndone\n")
    let lines = result.stderr.split(separator: "\n")
    #expect(lines.count == 1)
    #expect(lines.first?.hasPrefix("heapwise: cannot create /nonexistent-dir/x.") == true)
  }

  @Test func existingFilesAndLinksAreNeverOverwritten() throws {
    let program = try Harness.build("scenarios.c")
    let dir = Harness.freshDirectory("exclusive")
    let target = dir.appendingPathComponent("victim.txt")
    try Data("keep me".utf8).write(to: target)
    let link = dir.appendingPathComponent("fixed.heapwise")
    try FileManager.default.createSymbolicLink(at: link, withDestinationURL: target)
    let result = try Harness.record(program, ["plain"], in: dir, environment: ["HEAPWISE_OUTPUT": link.path])
    #expect(result.status == 0)
    #expect(result.stderr.contains("cannot create"))
    #expect(try String(contentsOf: target, encoding: .utf8) == "keep me")
  }

  /// RLIMIT_FSIZE makes writes past 2 KiB fail (EFBIG), as a full disk would (ENOSPC).
  @Test func writeFailureStopsRecordingButNotTheProgram() throws {
    let program = try Harness.build("scenarios.c")
    let dir = Harness.freshDirectory("full")
    // The preload goes on the program's own exec: bash itself must not be recorded (it would
    // hide the library from what it execs, as the recorder does for every recorded process).
    let env = ["HW_LIB": try Harness.library,
               "HEAPWISE_OUTPUT": dir.appendingPathComponent("d.%p.heapwise").path]
    let script = "trap '' XFSZ; ulimit -f 2; LD_PRELOAD=$HW_LIB exec \"$0\" print"
    let result = try Harness.run("/bin/bash", ["-c", script, program], environment: env, directory: dir)
    #expect(result.status == 0)
    #expect(result.stdout == "still running\ndone\n")
    let lines = result.stderr.split(separator: "\n")
    #expect(lines.count == 1)
    #expect(lines.first?.contains("cannot write the dump") == true)
    // What was written before the failure is still a readable dump.
    let facts = try DumpFacts(path: try Harness.onlyDump(in: dir))
    #expect(facts.header.pid > 0)
  }

  @Test func preloadLibraryNeedsNeitherSwiftNorLibstdcxx() throws {
    let result = try Harness.run("/usr/bin/readelf", ["-d", try Harness.library], environment: [:])
    let needed = result.stdout.split(separator: "\n").filter { $0.contains("(NEEDED)") }
    #expect(!needed.isEmpty)
    #expect(!needed.contains { $0.contains("swift") || $0.contains("stdc++") || $0.contains("Foundation") })
    // libgcc_s only through a weak reference (hooks_cxx.c): it is not loaded into C programs.
    #expect(!needed.contains { $0.contains("libgcc_s") }, "\(needed)")
  }

  /// The tags and layout constants in CShim/hw_format.h equal HeapwiseFormat's.
  @Test func formatConstantsAgreeWithTheDecoder() throws {
    let header = try String(contentsOf: Harness.repo.appendingPathComponent("CShim/hw_format.h"), encoding: .utf8)
    func constant(_ name: String) -> UInt64? {
      for line in header.split(separator: "\n") {
        let t = line.trimmingCharacters(in: .whitespaces)
        for prefix in ["#define \(name) ", "\(name) = "] where t.hasPrefix(prefix) {
          let value = t.dropFirst(prefix.count).prefix { $0.isHexDigit || $0 == "x" }
          return value.hasPrefix("0x") ? UInt64(value.dropFirst(2), radix: 16) : UInt64(value)
        }
      }
      return nil
    }
    #expect(constant("HW_VERSION_MAJOR") == UInt64(FormatConstants.major))
    #expect(constant("HW_FRAME_HEADER") == 32)
    #expect(constant("HW_TAG_FREE") == UInt64(RecordTag.free))
    #expect(constant("HW_TAG_MMAP") == UInt64(RecordTag.mmap))
    #expect(constant("HW_TAG_MUNMAP") == UInt64(RecordTag.munmap))
    #expect(constant("HW_TAG_MREMAP") == UInt64(RecordTag.mremap))
    #expect(constant("HW_TAG_MADVISE") == UInt64(RecordTag.madvise))
    #expect(constant("HW_TAG_MPROTECT") == UInt64(RecordTag.mprotect))
    #expect(constant("HW_VERSION_MINOR") == UInt64(FormatConstants.minor))
    #expect(constant("HW_TAG_STACK") == UInt64(RecordTag.stack))
    #expect(constant("HW_TAG_THREAD") == UInt64(RecordTag.thread))
    #expect(constant("HW_TAG_MODULE") == UInt64(RecordTag.module))
    #expect(constant("HW_TAG_UNLOAD") == UInt64(RecordTag.unload))
    #expect(constant("HW_TAG_SAMPLE") == UInt64(RecordTag.sample))
    #expect(constant("HW_TAG_CLOCK") == UInt64(RecordTag.clock))
    #expect(constant("HW_TAG_MARKER") == UInt64(RecordTag.marker))
    #expect(constant("HW_TAG_TRIM") == UInt64(RecordTag.trim))
    #expect(constant("HW_TAG_SKIPPABLE") == UInt64(RecordTag.skippableFirst))
    #expect(constant("HW_TAG_RESIDENCY") == UInt64(RecordTag.residency))
    #expect(constant("HW_TAG_PYCODE") == UInt64(RecordTag.pythonCode))
    #expect(constant("HW_TAG_PYTHON") == UInt64(RecordTag.python))
    #expect(constant("HW_TAG_SAMPLING") == UInt64(RecordTag.sampling))
    #expect(constant("HW_TAG_SAMPLING_OFFSET") == UInt64(RecordTag.samplingOffset))
    #expect(constant("HW_TAG_SAMPLING_STATS") == UInt64(RecordTag.samplingStats))
    #expect(constant("HW_VERSION_MINOR") == UInt64(FormatConstants.minor))
    #expect(constant("HW_TAG_AGGREGATE") == UInt64(RecordTag.aggregate))
    #expect(constant("HW_HEADER_FLAG_AGGREGATE") == UInt64(FormatConstants.headerFlagAggregate))
    #expect(constant("HW_AGG_STREAM") == UInt64(FormatConstants.aggregateStream))
    for f in AllocatorFunction.allCases {  // "posix_memalign" -> HW_FN_POSIX_MEMALIGN
      #expect(constant("HW_FN_" + f.description.uppercased()) == UInt64(f.rawValue), "\(f)")
    }
  }
}
