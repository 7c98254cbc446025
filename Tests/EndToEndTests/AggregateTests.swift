// Aggregated mode and triggered moments (docs/AGGREGATE.md), with C programs under the real
// recorder and exact expected figures.
import Foundation
import HeapwiseFormat
import Testing

@Suite(.serialized) struct AggregateTests {
  /// Two sites; each round keeps 50 of 100 blocks of 1000 bytes and makes 10 temporary 300-byte ones.
  static let rounds = """
    #include <signal.h>
    #include <stdlib.h>
    #include <string.h>
    #include <unistd.h>
    __attribute__((noinline)) void *site_a(size_t n) { return malloc(n); } /* SITE_A */
    __attribute__((noinline)) void *site_b(size_t n) { return malloc(n); } /* SITE_B */
    int main(int argc, char **argv) {
      int rounds = atoi(argv[1]);
      for (int r = 0; r < rounds; r++) {
        void *keep[100];
        for (int i = 0; i < 100; i++) { keep[i] = site_a(1000); memset(keep[i], 1, 1000); }
        for (int i = 0; i < 50; i++) free(keep[i]);
        for (int i = 0; i < 10; i++) free(site_b(300));
        if (argc > 2 && r == atoi(argv[2])) { raise(SIGUSR2); usleep(200000); }
      }
      return 0;
    }
    """

  /// The recorder's peak rule (CShim/triggers.c): the first moment at 256 KiB, each next one when
  /// live passes the last by 1/16 of it and at least 256 KiB. Returns, for each moment, the live
  /// bytes of each site then, replaying `events` (site, +bytes or -bytes).
  static func peakMoments(_ events: [(site: Int, bytes: Int)]) -> [[Int: Int]] {
    var due = 256 << 10, live = 0, bySite: [Int: Int] = [:], moments: [[Int: Int]] = []
    for e in events {
      live += e.bytes
      bySite[e.site, default: 0] += e.bytes
      if e.bytes > 0 && live >= due {
        due = live + max(256 << 10, live >> 4)
        moments.append(bySite)
      }
    }
    return moments
  }

  static func roundEvents(_ rounds: Int) -> [(site: Int, bytes: Int)] {
    var e: [(site: Int, bytes: Int)] = []
    for _ in 0..<rounds {
      e += Array(repeating: (0, 1000), count: 100) + Array(repeating: (0, -1000), count: 50)
      for _ in 0..<10 { e += [(1, 300), (1, -300)] }
    }
    return e
  }

  @Test func aggregatedTotalsAreExactAndTheLastPeakIsKept() throws {
    try CLI.requireLibrary()
    let ws = try Workspace("aggregate-totals")
    defer { ws.remove() }
    let exe = try ws.compile("rounds", Self.rounds)
    let dump = try ws.record(exe, ["30"], dump: "rounds.heapwise", extra: ["--aggregate", "--flush", "50ms"])
    let a = "site_a (rounds.c:\(line(of: "SITE_A", in: Self.rounds)))", b = "site_b (rounds.c:\(line(of: "SITE_B", in: Self.rounds)))"

    let live = try jsonSites(try CLI.run(["top", dump, "--format", "json"]).stdout)
    #expect(live[a]?.size == 1_500_000 && live[a]?.count == 1500)
    #expect(live[b] == nil)
    let allocated = try jsonSites(try CLI.run(["top", dump, "--metric", "allocated", "--format", "json"]).stdout)
    #expect(allocated[a]?.size == 3_000_000 && allocated[a]?.count == 3000)
    #expect(allocated[b]?.size == 90_000 && allocated[b]?.count == 300)

    let expected = Self.peakMoments(Self.roundEvents(30)).last!
    let peak = try jsonSites(try CLI.run(["top", dump, "--at", "peak", "--format", "json"]).stdout)
    #expect(peak[a]?.size == UInt64(expected[0]!) && peak[a]?.count == UInt64(expected[0]! / 1000))
    #expect(UInt64(expected[1] ?? 0) == (peak[b]?.size ?? 0))

    let summary = try CLI.run(["summary", dump])
    #expect(summary.status == 0, "\(summary.stderr)")
    #expect(summary.stdout.contains("aggregated dump: totals of the flush at"))
    #expect(summary.stdout.contains("live heap (counted)  1.4 MiB in 1500 blocks"))
    #expect(summary.stdout.contains("not available without events"))
    let temporary = try CLI.run(["top", dump, "--metric", "temporary"])
    #expect(temporary.status == 1 && temporary.stderr.contains("no temporary allocations"))
    let timeline = try CLI.run(["summary", dump, "--timeline"])
    #expect(timeline.status == 1 && timeline.stderr.contains("an aggregated dump has no events"))
    let old = try CLI.run(["top", dump, "--at", "peak-1"])
    #expect(old.status == 1 && old.stderr.contains("use --at peak"))
  }

  @Test func aSignalKeepsTheSitesAtThatMoment() throws {
    try CLI.requireLibrary()
    let ws = try Workspace("aggregate-signal")
    defer { ws.remove() }
    let exe = try ws.compile("rounds", Self.rounds)
    let dump = try ws.record(exe, ["8", "4"], dump: "rounds.heapwise", extra: ["--aggregate"])
    let a = "site_a (rounds.c:\(line(of: "SITE_A", in: Self.rounds)))"
    let at = try jsonSites(try CLI.run(["top", dump, "--at", "signal-1", "--format", "json"]).stdout)
    #expect(at[a]?.size == 250_000 && at[a]?.count == 250)  // five rounds done (0 ... 4)
    let end = try jsonSites(try CLI.run(["top", dump, "--format", "json"]).stdout)
    #expect(end[a]?.size == 400_000)
  }

  /// Phase 1, then waits until a flush has replaced the dump (its inode changes), then phase 2 and
  /// its own death: the totals are phase 1's exactly.
  static let dies = """
    #include <signal.h>
    #include <stdio.h>
    #include <stdlib.h>
    #include <string.h>
    #include <sys/resource.h>
    #include <sys/stat.h>
    #include <unistd.h>
    __attribute__((noinline)) void *phase1(size_t n) { return malloc(n); } /* PHASE1 */
    __attribute__((noinline)) void *phase2(size_t n) { return malloc(n); } /* PHASE2 */
    static ino_t inode(const char *p) { struct stat st; return stat(p, &st) == 0 ? st.st_ino : 0; }
    int main(int argc, char **argv) {
      const char *dump = getenv("HEAPWISE_OUTPUT");
      for (int i = 0; i < 700; i++) memset(phase1(4096), 1, 4096);
      ino_t before = inode(dump);
      while (inode(dump) == before) usleep(5000);
      if (strcmp(argv[1], "kill") == 0) {
        for (int i = 0; i < 100; i++) phase2(100);
        kill(getpid(), SIGKILL);
      }
      /* "limit": the address space ends 64 MiB above what is mapped now; allocate until it fails */
      long pages = 0, page = sysconf(_SC_PAGESIZE);
      FILE *f = fopen("/proc/self/statm", "r");
      if (!f || fscanf(f, "%ld", &pages) != 1) return 3;
      fclose(f);
      struct rlimit lim = {(rlim_t)pages * page + (64 << 20), (rlim_t)pages * page + (64 << 20)};
      if (setrlimit(RLIMIT_AS, &lim) != 0) return 4;
      for (;;) {
        char *p = phase2(1 << 20);
        p[1 << 19] = 1; /* NULL once the limit is reached: the program dies of it */
      }
    }
    """

  func dieAndRead(_ how: String) throws -> (DumpReader, String, String) {
    try CLI.requireLibrary()
    let ws = try Workspace("aggregate-\(how)")
    let exe = try ws.compile("dies", Self.dies)
    let dump = ws.path("dies.heapwise")
    let r = try CLI.run(["record", "--aggregate", "--flush", "200ms", "-o", dump, "--", exe, how], in: ws.url, timeout: 60)
    #expect(r.status == (how == "kill" ? 128 + SIGKILL : 128 + SIGSEGV), "\(r.stderr)")
    return (try DumpReader(path: dump), dump, "phase1 (dies.c:\(line(of: "PHASE1", in: Self.dies)))")
  }

  @Test func killMinus9LeavesTheTotalsOfTheLastFlush() throws {
    let (reader, dump, site) = try dieAndRead("kill")
    var ends = 0
    while let e = reader.next() { if case .end = e.record { ends += 1 } }
    #expect(ends == 0)  // nothing ran at the kill
    let live = try jsonSites(try CLI.run(["top", dump, "--format", "json"]).stdout)
    #expect(live[site]?.size == 700 * 4096 && live[site]?.count == 700)
    #expect(live.count == 1, "phase 2 came after the last flush: \(live)")
    try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: dump).deletingLastPathComponent().path)
  }

  @Test func anAddressSpaceLimitLeavesTheTotalsOfTheLastFlush() throws {
    let (_, dump, site) = try dieAndRead("limit")
    let live = try jsonSites(try CLI.run(["top", dump, "--format", "json"]).stdout)
    #expect(live[site]?.size == 700 * 4096 && live[site]?.count == 700)
    #expect(live.count == 1, "phase 2 came after the last flush: \(live)")
    try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: dump).deletingLastPathComponent().path)
  }

  /// Churns through two sites for argv[1] seconds, with at most 64 blocks live.
  static let churn = """
    #include <stdlib.h>
    #include <time.h>
    static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
    __attribute__((noinline)) void *a(size_t n) { return malloc(n); }
    __attribute__((noinline)) void *b(size_t n) { return malloc(n); }
    int main(int argc, char **argv) {
      double end = now() + atof(argv[1]);
      void *keep[64] = {0};
      for (unsigned i = 0; now() < end; i++) {
        free(keep[i % 64]);
        keep[i % 64] = (i & 1) ? a(64 + i % 512) : b(32);
      }
      return 0;
    }
    """

  @Test func theFileSizeDoesNotGrowWithTheRunTime() throws {
    try CLI.requireLibrary()
    let ws = try Workspace("aggregate-size")
    defer { ws.remove() }
    let exe = try ws.compile("churn", Self.churn)
    var sizes: [Int] = []
    for seconds in ["0.3", "2.0"] {
      let dump = try ws.record(exe, [seconds], dump: "churn-\(seconds).heapwise", extra: ["--aggregate", "--flush", "20ms"])
      sizes.append(try FileManager.default.attributesOfItem(atPath: dump)[.size] as! Int)
      let top = try CLI.run(["top", dump, "--metric", "count", "--format", "json"])
      #expect(try jsonSites(top.stdout).count == 2)
    }
    // ~100 flushes against ~15: the same sites, so the same size but for the counters' varints.
    #expect(sizes[1] <= sizes[0] + 256, "sizes \(sizes)")
  }

  /// Live bytes grow to 4,000,000 at one site, then a 48 MiB block at another (RSS moments here;
  /// SampledAggregateTests follows its sampled peaks).
  static let peaks = """
    #include <signal.h>
    #include <stdlib.h>
    #include <string.h>
    #include <unistd.h>
    __attribute__((noinline)) void *grow(size_t n) { return malloc(n); } /* GROW */
    __attribute__((noinline)) void *big(size_t n) { return malloc(n); } /* BIG */
    int main(void) {
      static void *keep[4000];
      for (int i = 0; i < 4000; i++) keep[i] = grow(1000);
      for (int i = 0; i < 4000; i++) free(keep[i]);
      char *b = big(48 << 20);
      memset(b, 1, 48 << 20);
      usleep(300000); /* RSS is read every 20 ms */
      free(b);
      return 0;
    }
    """

  @Test func peakAndRSSMomentsInAFullRecording() throws {
    try CLI.requireLibrary()
    let ws = try Workspace("trigger-moments")
    defer { ws.remove() }
    let exe = try ws.compile("peaks", Self.peaks)
    let dump = try ws.record(exe, dump: "peaks.heapwise", extra: ["--dump-at-peak", "--dump-at-rss", "32MiB"])
    let grow = "grow (peaks.c:\(line(of: "GROW", in: Self.peaks)))", big = "big (peaks.c:\(line(of: "BIG", in: Self.peaks)))"
    let moments = Self.peakMoments(Array(repeating: (0, 1000), count: 4000) + Array(repeating: (0, -1000), count: 4000)
                                     + [(1, 48 << 20)])
    var markers: [MarkerRecord] = [], rssAfter: UInt64?
    let reader = try DumpReader(path: dump)
    var waiting = false
    while let e = reader.next() {
      if case .marker(let m) = e.record { markers.append(m); waiting = m.name == "rss-32MiB" }
      if case .sample(let s) = e.record, waiting { rssAfter = s[2]; waiting = false }
    }
    let peaks = markers.filter { $0.name.hasPrefix("peak-") }
    #expect(peaks.count == moments.count)
    #expect(peaks.allSatisfy { $0.source == MarkerRecord.Source.trigger.rawValue })
    #expect((rssAfter ?? 0) >= 32 << 20)
    #expect(markers.contains { $0.name == "rss-32MiB" && $0.source == MarkerRecord.Source.trigger.rawValue })

    // The second to last peak: the growing site alone, exactly where the rule put it.
    let before = try jsonSites(try CLI.run(["top", dump, "--at", "peak-\(moments.count - 1)", "--format", "json"]).stdout)
    #expect(before[grow]?.size == UInt64(moments[moments.count - 2][0]!))
    #expect(before[big] == nil)
    let last = try jsonSites(try CLI.run(["top", dump, "--at", "peak", "--format", "json"]).stdout)
    #expect(last[big]?.size == 48 << 20 && last[grow] == nil)
    let summary = try CLI.run(["summary", dump, "--at", "peak"])
    #expect(summary.status == 0, "\(summary.stderr)")
    #expect(summary.stdout.contains("peak-\(moments.count)"))
    let rss = try CLI.run(["summary", dump, "--at", "rss-32MiB"])
    #expect(rss.status == 0 && rss.stdout.contains("RSS at marker rss-32MiB"), "\(rss.stderr)")
    let unknown = try CLI.run(["top", dump, "--at", "nope"])
    #expect(unknown.status == 1 && unknown.stderr.contains("\"rss-32MiB\", \"peak\""), "\(unknown.stderr)")
  }

  @Test func whenTheDumpCannotBeReplacedTheTotalsAreAppended() throws {
    try CLI.requireLibrary()
    let ws = try Workspace("aggregate-append")
    defer { ws.remove() }
    let exe = try ws.compile("churn", Self.churn)
    try FileManager.default.createDirectory(atPath: ws.path("churn.heapwise.flush"), withIntermediateDirectories: false)
    let out = ws.path("churn.heapwise")
    let r = try CLI.run(["record", "--aggregate", "--flush", "20ms", "-o", out, "--", exe, "0.3"], in: ws.url)
    #expect(r.status == 0 && r.stderr.contains("its totals are appended from now on"), "\(r.stderr)")
    let top = try CLI.run(["top", out, "--metric", "count", "--format", "json"])
    #expect(top.status == 0 && top.stderr.isEmpty, "\(top.stderr)")  // no repeated or missing frames
    let reader = try DumpReader(path: out)
    var sets = 0
    while let e = reader.next() { if case .aggregate(let a) = e.record, a.kind == 0, a.part == 0 { sets += 1 } }
    #expect(sets > 2)
    #expect(try jsonSites(top.stdout).count == 2)
  }
}
