// The recorder's own stack walker against libunwind: with HEAPWISE_UNWIND_CHECK=1 every stack is
// captured both ways and the recorder prints one line of counts on stderr at exit. Every scenario
// must show 0 differences, and must really have exercised the walker and its memoized suffix (a
// check that compared nothing would pass vacuously).
import Foundation
import HeapwiseFormat
import TestSupport
import Testing

/// The counts of the "unwind check:" line.
struct UnwindCheck {
  var compared = 0, differ = 0, own = 0, reusedFrames = 0, walkedFrames = 0, libunwind = 0
  /// Stack-id sums built incrementally that differ from one computed afresh; frames whose mix was
  /// computed, of all the frames of the walker's captures.
  var sumsDiffer = 0, summedFrames = 0, sumFrames = 0

  init(stderr: String) throws {
    let pattern = #/unwind check: (\d+) stacks compared, (\d+) differ, (\d+) by our walker \((\d+) of (\d+) frames reused\), (\d+) by libunwind, (\d+) stack sums differ \((\d+) of (\d+) frames summed\)/#
    guard let m = stderr.firstMatch(of: pattern) else { throw HarnessError("no unwind check line in:\n\(stderr)") }
    compared = Int(m.1)!; differ = Int(m.2)!; own = Int(m.3)!
    reusedFrames = Int(m.4)!; walkedFrames = Int(m.5)!; libunwind = Int(m.6)!
    sumsDiffer = Int(m.7)!; summedFrames = Int(m.8)!; sumFrames = Int(m.9)!
  }
}

@Suite("Unwind check") struct UnwindCheckTests {
  static let check = ["HEAPWISE_UNWIND_CHECK": "1"]

  /// Runs one unwindcheck.c scenario in check mode with `environment` added, requires a clean
  /// exit and no stack or stack sum that differs, and returns stderr with its counts.
  func checkedScenario(_ scenario: String, optimization: String, directory: String, environment: [String: String])
    throws -> (stderr: String, counts: UnwindCheck)
  {
    let program = try Harness.build("unwindcheck.c", output: "unwindcheck\(optimization)", flags: [optimization])
    let extra = scenario == "dlopen" ? try plugins() : []
    let dir = Harness.freshDirectory(directory)
    let result = try Harness.record(program, [scenario] + extra, in: dir,
                                    environment: Self.check.merging(environment) { a, _ in a })
    #expect(result.status == 0, "\(result.stderr)")
    let counts = try UnwindCheck(stderr: result.stderr)
    #expect(counts.differ == 0 && counts.sumsDiffer == 0, "\(result.stderr)")
    return (result.stderr, counts)
  }

  func plugins() throws -> [String] {
    // Same code layout, different frame sizes: the same return address, a different rule in each.
    // Built through the workspace (once per run, under its lock): the dlopen scenarios of three
    // tests run at once, and one must not load a plugin another is still writing.
    try [1000, 2000, 3000].map { frame in
      try Harness.build("unwindplugin.c", output: "unwindplugin\(frame).so",
                        flags: ["-O2", "-shared", "-fPIC", "-DFRAME=\(frame)"])
    }
  }

  func run(_ program: String, _ arguments: [String] = [], name: String,
           environment: [String: String] = [:]) throws -> (UnwindCheck, DumpFacts) {
    let dir = Harness.freshDirectory(name)
    let result = try Harness.record(program, arguments, in: dir, environment: Self.check.merging(environment) { a, _ in a })
    #expect(result.status == 0, "\(result.stderr)")
    let counts = try UnwindCheck(stderr: result.stderr)
    #expect(counts.differ == 0, "\(result.stderr)")
    #expect(counts.sumsDiffer == 0, "\(result.stderr)")
    #expect(counts.compared == counts.own + counts.libunwind)
    return (counts, try DumpFacts(path: try Harness.onlyDump(in: dir)))
  }

  @Test(arguments: ["-O0", "-O2"], ["mixed", "deep", "threads", "signals", "dlopen", "sites"])
  func cProgram(optimization: String, scenario: String) throws {
    let program = try Harness.build("unwindcheck.c", output: "unwindcheck\(optimization)", flags: [optimization])
    let extra = scenario == "dlopen" ? try plugins() : []
    let (counts, facts) = try run(program, [scenario] + extra, name: "unwind-\(scenario)\(optimization)")
    // Each capture is one allocation (malloc, calloc, realloc) of the dump: both ways, every time.
    let allocations = facts.allocations.values.reduce(0, +)
    #expect(counts.compared == allocations)
    #expect(counts.compared > 1000)
    #expect(counts.reusedFrames > 0 && counts.reusedFrames < counts.walkedFrames)
    // The outer part of a stack that did not change keeps its sum: not every frame is mixed again.
    #expect(counts.summedFrames > 0 && counts.summedFrames < counts.sumFrames)
    if scenario == "signals" {
      // Through the kernel's signal frame, and on the alternate stack: libunwind's, by design.
      #expect(counts.libunwind >= 600)
      #expect(counts.own > counts.libunwind)
    } else {
      #expect(counts.libunwind == 0)
    }
    if scenario == "deep" {
      // 500 frames deep, cut at the default 64.
      #expect(facts.stacks.values.contains { $0.count == 64 })
    }
  }

  /// The path cache (unwind.c) from each thread's first capture on, not its 2,048th: every
  /// scenario again (-O0's frames compute their CFA from rbp, -O2's from rsp; dlclose clears the
  /// cache, threads give theirs back at exit), 0 differences, and captures it answered.
  @Test(arguments: ["-O0", "-O2"], ["mixed", "deep", "threads", "signals", "dlopen", "sites"])
  func pathCache(optimization: String, scenario: String) throws {
    let (stderr, counts) = try checkedScenario(
      scenario, optimization: optimization, directory: "unwind-paths-\(scenario)\(optimization)",
      environment: ["HEAPWISE_PATH_CACHE_AFTER": "1"])
    #expect(counts.compared > 1000 && counts.compared == counts.own + counts.libunwind)
    let m = try #require(stderr.firstMatch(of: #/unwind check: (\d+) captures from the path cache/#))
    #expect(Int(m.1)! > 100 && Int(m.1)! <= counts.own, "\(stderr)")
  }

  @Test(arguments: ["-O0", "-O2"])
  func cxxExceptionsInFlight(optimization: String) throws {
    let program = try Harness.build("unwindcheck.cpp", output: "unwindcheckxx\(optimization)", flags: [optimization])
    let (counts, _) = try run(program, name: "unwind-cxx\(optimization)")
    #expect(counts.compared > 10_000)
    // One capture is libunwind's: libstdc++'s constructor allocates its emergency pool before the
    // recorder's constructor runs (recorded since issue 10), on a stack through ld.so's _dl_init,
    // whose frame rules the walker leaves to libunwind.
    #expect(counts.libunwind <= 1)
    #expect(counts.reusedFrames > 0)
  }

  /// pyenv's interpreters live under the real home (the harness gives programs a scratch one).
  var pyenvEnvironment: [String: String] {
    let env = ProcessInfo.processInfo.environment
    return ["HOME": env["HOME"] ?? NSHomeDirectory()].merging(env.filter { $0.key == "PYENV_ROOT" }) { a, _ in a }
  }

  @Test(arguments: ["3.11", "3.12", "3.13"])
  func python(version: String) throws {
    let found = try Harness.run(Harness.repo.appendingPathComponent("tools/python-env.sh").path,
                                ["--interpreter", version], environment: pyenvEnvironment)
    try #require(found.status == 0, "\(found.stderr)")
    let python = found.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    let script = Harness.programs.appendingPathComponent("unwindcheck.py").path
    let (counts, _) = try run(python, [script], name: "unwind-python\(version)")
    #expect(counts.compared > 10_000)
    // One capture is libunwind's: libstdc++'s constructor allocates its emergency pool before the
    // recorder's constructor runs (recorded since issue 10), on a stack through ld.so's _dl_init,
    // whose frame rules the walker leaves to libunwind.
    #expect(counts.libunwind <= 1)
    #expect(counts.reusedFrames > 0)
  }

  /// The dump the walker writes names the same stacks, in the same order, as the one libunwind
  /// writes (HEAPWISE_UNWIND=libunwind): frames compared as (module, offset), since each run has
  /// its own address layout.
  @Test func dumpStacksEqualLibunwinds() throws {
    let program = try Harness.build("unwindcheck.c", output: "unwindcheck-O2", flags: ["-O2"])
    func stacks(_ unwinder: String) throws -> [[String]] {
      let dir = Harness.freshDirectory("unwind-same-\(unwinder)")
      let result = try Harness.record(program, ["mixed"], in: dir, environment: ["HEAPWISE_UNWIND": unwinder])
      #expect(result.status == 0, "\(result.stderr)")
      let facts = try DumpFacts(path: try Harness.onlyDump(in: dir))
      return facts.stacks.sorted { $0.key < $1.key }.map { _, frames in
        frames.map { pc in
          guard let m = facts.modules.first(where: { $0.contains(pc) }) else { return "?" }
          return "\(m.path)+\(String(pc - m.base, radix: 16))"
        }
      }
    }
    let own = try stacks("own"), reference = try stacks("libunwind")
    #expect(own.count > 100)
    #expect(own == reference)
    #expect(!own.joined().contains("?"))
  }

  /// The module table that stands in for _dl_find_object before glibc 2.35, forced here: the
  /// same stacks as libunwind's, through dlopen/dlclose (the table follows the loader's counters),
  /// threads and signal handlers that allocate.
  @Test(arguments: ["mixed", "threads", "signals", "dlopen"])
  func moduleTable(scenario: String) throws {
    let (stderr, counts) = try checkedScenario(
      scenario, optimization: "-O2", directory: "unwind-table-\(scenario)", environment: ["HEAPWISE_MODULE_TABLE": "1"])
    #expect(counts.compared > 1000 && counts.own > counts.libunwind)
    let table = #/module table \(no _dl_find_object\): (\d+) lookups, (\d+) found it busy/#
    let m = try #require(stderr.firstMatch(of: table), "\(stderr)")
    #expect(Int(m.1)! > 0)
    // A busy table hands that capture to libunwind: only threads can find it busy.
    if scenario == "mixed" || scenario == "dlopen" { #expect(counts.libunwind == 0 && Int(m.2)! == 0) }
    if scenario == "dlopen" {
      // Every plugin loaded after a dlclose makes the table rebuild: more lookups than modules.
      #expect(Int(m.1)! > 100)
    }
  }

  @Test func captureSwitchedOffRecordsNoStacks() throws {
    let program = try Harness.build("callchain.c")
    let dir = Harness.freshDirectory("unwind-off")
    let result = try Harness.record(program, in: dir, environment: ["HEAPWISE_UNWIND": "off"])
    #expect(result.status == 0)
    let facts = try DumpFacts(path: try Harness.onlyDump(in: dir))
    #expect(facts.stacks.isEmpty)
    #expect(facts.allocationsBySize[5555] == 1)
  }
}
