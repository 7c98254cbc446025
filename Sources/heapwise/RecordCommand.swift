// `heapwise record [options] -- COMMAND [ARGS...]`: runs COMMAND under the preload recorder.
import ArgumentParser
import HeapwiseAnalysis
#if canImport(Glibc)
import Glibc
#endif

struct RecordCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "record",
    abstract: "Run a command under the recorder; its dump goes to --output.",
    discussion: """
      The command runs with its arguments untouched and heapwise exits with its status (128 + the \
      signal number if a signal killed it). The preload library is looked up in $HEAPWISE_LIBRARY, \
      next to this executable, in ../lib/heapwise/, then in build/lib/ of a checkout above it.
      """)

  @Option(name: .shortAndLong,
          help: "Where the dump goes; %p becomes the recorded process's pid. Default: heapwise.<command>.%p.heapwise")
  var output: String?

  @Flag(help: "A forked child writes its own dump (use %p in --output).")
  var followFork = false

  @Flag(help: "Record programs that the command execs, too.")
  var followExec = false

  @Flag(help: "Measure what malloc_trim(0) would return, at each marker and at exit.")
  var trimProbe = false

  @Option(help: "Milliseconds between memory samples (default 20).")
  var intervalMs: Int?

  @Option(help: "Deepest call stack recorded, in frames, 1 to 64 (default 64).")
  var maxFrames: Int?

  @Option(help: "Signal number that writes a marker (default SIGUSR2; 0 turns it off).")
  var markerSignal: Int?

  @Flag(help: ArgumentHelp(
    "Keep per-site totals in the recorder instead of every event (docs/AGGREGATE.md).",
    discussion: "The dump holds the totals of the last flush: its size follows the number of sites, not the run time."))
  var aggregate = false

  @Option(help: "With --aggregate: how often the totals are written, e.g. 30s, 500ms, 5m (default 30s).")
  var flush: String?

  @Flag(help: "Set a moment (peak-1, peak-2, ...) each time live heap bytes pass the last one by 1/16 (at least 256 KiB); `--at peak` is the last.")
  var dumpAtPeak = false

  @Option(help: "Set a moment (rss-SIZE) the first time RSS reaches SIZE, e.g. 2GiB; may be repeated.")
  var dumpAtRss: [String] = []

  @Flag(help: "Write frames uncompressed.")
  var noCompress = false

  @Flag(help: ArgumentHelp(
    "Python: run with PYTHONMALLOC=malloc, so that every object is its own recorded allocation.",
    discussion: "By default CPython serves objects of up to 512 bytes from its own arenas (pymalloc), which the recorder sees only as 1 MiB (256 KiB before 3.12) mappings."))
  var pythonMalloc = false

  @Flag(help: "Python: record native frames only (HEAPWISE_PYTHON_FRAMES=0).")
  var noPythonFrames = false

  @Option(help: ArgumentHelp(
    "Production mode: record a sample, on average one allocated byte in SIZE (e.g. 512KiB), each allocation counted 512 B larger; blocks of SIZE or more always (HEAPWISE_SAMPLE).",
    discussion: "Reports then show unbiased estimates with their 95% intervals (docs/SAMPLING.md)."))
  var sample: String?

  @Option(help: "With --sample: the random seed, for a reproducible sample (HEAPWISE_SAMPLE_SEED).")
  var seed: UInt64?

  /// For `check`, which records into a temporary dump and says itself what it kept.
  @Flag(help: .hidden)
  var quiet = false

  @Argument(parsing: .captureForPassthrough, help: "The command and its arguments.")
  var command: [String] = []

  func validate() throws {
    if arguments.isEmpty { throw ValidationError("give a command to record, e.g. heapwise record -- ./app") }
    if let intervalMs, intervalMs <= 0 { throw ValidationError("--interval-ms must be positive") }
    // The recorder keeps at most 64 frames (HW_MAX_FRAMES) and ignores a larger setting.
    if let maxFrames, !(1...64).contains(maxFrames) { throw ValidationError("--max-frames must be 1 to 64") }
    if seed != nil && sample == nil { throw ValidationError("--seed applies to --sample only") }
    if let sample { _ = try Self.sampleBytes(sample) }
    if flush != nil && !aggregate { throw ValidationError("--flush applies to --aggregate") }
    if let flush, Self.milliseconds(flush) == nil {
      throw ValidationError("--flush takes a duration from 10ms to 24h, e.g. 30s, 500ms, 5m (not \"\(flush)\")")
    }
    if dumpAtRss.count > 8 { throw ValidationError("at most 8 --dump-at-rss thresholds") }
    for r in dumpAtRss {
      do { if try Quantity.parse(r, bytes: true) == 0 { throw ValidationError("--dump-at-rss must be above 0") } }
      catch let e as Quantity.Invalid { throw ValidationError("--dump-at-rss: \(e)") }
    }
  }

  /// --sample's bytes: 1 B to 1 TiB (the recorder's limit).
  static func sampleBytes(_ text: String) throws -> UInt64 {
    guard let n = try? Quantity.parse(text, bytes: true), n >= 1, n <= 1 << 40 else {
      throw ValidationError("--sample takes a size from 1 B to 1 TiB, e.g. 512KiB (got \"\(text)\")")
    }
    return n
  }

  /// "30s", "500ms", "5m", "1h", or plain milliseconds; nil when not a duration from 10 ms to 24 h.
  static func milliseconds(_ text: String) -> Int? {
    let t = text.trimmingCharacters(in: .whitespaces).lowercased()
    let units: [(String, Double)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("", 1)]
    for (suffix, scale) in units where t.hasSuffix(suffix) {
      guard let n = Double(t.dropLast(suffix.count)), n.isFinite, n >= 0 else { continue }
      let ms = (n * scale).rounded()
      return ms >= 10 && ms <= 86_400_000 ? Int(ms) : nil
    }
    return nil
  }

  /// The command without a leading `--`.
  var arguments: [String] { command.first == "--" ? Array(command.dropFirst()) : command }

  func run() throws {
    guard let library = PreloadLibrary.find() else {
      printError("cannot find libheapwise.so: set HEAPWISE_LIBRARY, or build it with `make lib`")
      throw ExitCode(ExitStatus.unreadable)
    }
    let args = arguments
    let name = args[0].split(separator: "/").last.map(String.init) ?? "program"
    let outputPattern = output ?? "heapwise.\(name).%p.heapwise"

    var env: [String: String] = [:]
    var order: [String] = []
    var p = environ
    while let entry = p.pointee {
      let s = String(cString: entry)
      if let eq = s.firstIndex(of: "=") {
        let key = String(s[..<eq])
        if env[key] == nil { order.append(key) }
        env[key] = String(s[s.index(after: eq)...])
      }
      p += 1
    }
    func set(_ key: String, _ value: String) {
      if env[key] == nil { order.append(key) }
      env[key] = value
    }
    let existing = env["LD_PRELOAD"].map { $0.isEmpty ? "" : ":" + $0 } ?? ""
    set("LD_PRELOAD", library + existing)
    set("HEAPWISE_OUTPUT", outputPattern)
    if followFork { set("HEAPWISE_FOLLOW_FORK", "1") }
    if followExec { set("HEAPWISE_FOLLOW_EXEC", "1") }
    if trimProbe { set("HEAPWISE_TRIM_PROBE", "1") }
    if noCompress { set("HEAPWISE_COMPRESS", "0") }
    if pythonMalloc { set("PYTHONMALLOC", "malloc") }
    if noPythonFrames { set("HEAPWISE_PYTHON_FRAMES", "0") }
    if let intervalMs { set("HEAPWISE_INTERVAL_MS", String(intervalMs)) }
    if let maxFrames { set("HEAPWISE_MAX_FRAMES", String(maxFrames)) }
    if let markerSignal { set("HEAPWISE_MARKER_SIGNAL", String(markerSignal)) }
    if let sample { set("HEAPWISE_SAMPLE", String(try Self.sampleBytes(sample))) }
    if let seed { set("HEAPWISE_SAMPLE_SEED", String(seed)) }
    if aggregate { set("HEAPWISE_AGGREGATE", "1") }
    if let flush, let ms = Self.milliseconds(flush) { set("HEAPWISE_FLUSH_MS", String(ms)) }
    if dumpAtPeak { set("HEAPWISE_DUMP_AT_PEAK", "1") }
    if !dumpAtRss.isEmpty {
      set("HEAPWISE_DUMP_AT_RSS", dumpAtRss.compactMap { try? Quantity.parse($0, bytes: true) }.map(String.init).joined(separator: ","))
    }
    // Fixed-width placeholders that the recorder fills in place, so that a wrapper which execs the
    // real program (a pyenv shim, a launcher script) is followed even through bash, which exports
    // from main's envp and never sees setenv (docs/RECORDER.md, "exec").
    set("HEAPWISE_ROOT_PID", "0000000000")
    set("HEAPWISE_EXEC_SEQ", "000000")

    let pid: pid_t
    do {
      pid = try spawn(args, environment: order.map { "\($0)=\(env[$0]!)" })
    } catch let error as SpawnError {
      printError("cannot run \(args[0]): \(String(cString: strerror(error.code)))")
      throw ExitCode(127)
    }
    // Like a shell running a foreground job: a ^C goes to the child; we stay to report. A SIGTERM
    // or SIGHUP sent to us alone (`timeout`, a CI runner, a closed terminal) is passed on, so the
    // recorded program ends and writes its dump instead of running on as an orphan.
    signal(SIGINT, SIG_IGN)
    signal(SIGQUIT, SIG_IGN)
    recordedChild = pid
    signal(SIGTERM) { kill(recordedChild, $0) }
    signal(SIGHUP) { kill(recordedChild, $0) }
    var passOn = sigset_t()
    sigemptyset(&passOn)
    sigaddset(&passOn, SIGTERM)
    sigaddset(&passOn, SIGHUP)
    pthread_sigmask(SIG_UNBLOCK, &passOn, nil)
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 {
      if errno != EINTR { printError("waitpid: \(String(cString: strerror(errno)))"); throw ExitCode(1) }
    }
    let dump = outputPattern.replacingOccurrences(of: "%p", with: String(pid))
    let chain = Self.execChain(dump).filter { access($0, F_OK) == 0 }
    if quiet {
      // check reports on the dumps itself
    } else if let last = chain.last {
      if chain.count > 1 {
        printError("the command exec'd in place \(chain.count - 1) time(s); each program wrote its own dump:")
        for d in chain.dropLast() { printError("  \(d)") }
        printError("dump of the last program written to \(last)")
      } else {
        printError("dump written to \(last)")
      }
    } else {
      printError("no dump at \(dump) (the command may have changed directory, or is setuid)")
    }
    if followFork && outputPattern.contains("%p") && !quiet {
      printError("forked children wrote \(outputPattern.replacingOccurrences(of: "%p", with: "<pid>"))")
    }
    let exitStatus = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    if exitStatus != 0 { throw ExitCode(exitStatus) }
  }

  /// `dump` and the dumps of its in-place execs, which the recorder names `<dump>.execN.heapwise`
  /// (recorder.c, add_exec_suffix): consecutive N from 1 while they exist.
  static func execChain(_ dump: String) -> [String] {
    let stem = dump.hasSuffix(".heapwise") ? String(dump.dropLast(".heapwise".count)) : dump
    var chain = [dump]
    while access("\(stem).exec\(chain.count).heapwise", F_OK) == 0 {
      chain.append("\(stem).exec\(chain.count).heapwise")
    }
    return chain
  }

  struct SpawnError: Error { var code: Int32 }

  private func spawn(_ args: [String], environment: [String]) throws -> pid_t {
    let argv = args.map { strdup($0) } + [nil]
    let envp = environment.map { strdup($0) } + [nil]
    defer {
      for a in argv { free(a) }
      for e in envp { free(e) }
    }
    // The program starts as from a shell: no signal blocked. A parent's leftover mask (libdispatch
    // workers block most signals, and a spawned child inherits it) would leave it deaf to SIGTERM.
    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    var none = sigset_t()
    sigemptyset(&none)
    posix_spawnattr_setsigmask(&attr, &none)
    posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK))
    var pid: pid_t = 0
    let rc = posix_spawnp(&pid, args[0], nil, &attr, argv, envp)
    if rc != 0 { throw SpawnError(code: rc) }
    return pid
  }
}

/// The recorded process, for the signal handlers that pass SIGTERM and SIGHUP on (a C handler
/// captures nothing, so it reads a global; set once before the handlers are installed).
nonisolated(unsafe) private var recordedChild: pid_t = 0

/// Where the preload library is.
enum PreloadLibrary {
  static let name = "libheapwise.so"

  static func find() -> String? {
    if let fromEnv = getenv("HEAPWISE_LIBRARY").map({ String(cString: $0) }), !fromEnv.isEmpty {
      return fromEnv.hasPrefix("/") ? fromEnv : currentDirectory() + "/" + fromEnv
    }
    guard let exe = executablePath() else { return nil }
    var dir = parent(of: exe)
    let candidates = [dir + "/" + name, parent(of: dir) + "/lib/heapwise/" + name]
    for c in candidates where isReadable(c) { return c }
    // A development checkout: .build/debug/heapwise, with the library in build/lib/ at the top.
    while dir != "/" && !dir.isEmpty {
      let c = dir + "/build/lib/" + name
      if isReadable(c) { return c }
      dir = parent(of: dir)
    }
    return nil
  }

  static func executablePath() -> String? {
    var buf = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buf, buf.count - 1)
    guard n > 0 else { return nil }
    return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  static func parent(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
  }

  static func isReadable(_ path: String) -> Bool { access(path, R_OK) == 0 }

  static func currentDirectory() -> String {
    var buf = [CChar](repeating: 0, count: 4096)
    return getcwd(&buf, buf.count) != nil ? buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) } : "."
  }
}
