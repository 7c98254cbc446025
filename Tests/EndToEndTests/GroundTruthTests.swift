// C programs with exactly known allocations, recorded with the real preload library; the
// reports must show exactly these numbers.
import Foundation
import Testing

@Suite(.serialized) struct GroundTruthTests {
  static let peak = """
    #include <stdlib.h>
    static void *keep;
    int main(void) {
      char *a = malloc(100); /* SITE_A */
      char *b = malloc(25);  /* SITE_B */
      a[0] = b[0] = 1;
      free(a);
      free(b);
      char *c = malloc(60);  /* SITE_C */
      keep = c;
      free(c);
      return 0;
    }
    """

  @Test func twoSitesLiveTogetherAtThePeak() throws {
    try CLI.requireLibrary()
    let ws = try Workspace("peak")
    defer { ws.remove() }
    let dump = try ws.record(try ws.compile("peak", Self.peak), dump: "peak.heapwise")
    let r = try CLI.run(["top", dump, "--metric", "peak", "--include", "file:*peak.c", "--format", "json"], in: ws.url)
    #expect(r.status == 0, "\(r.stderr)")
    let sites = try jsonSites(r.stdout)
    let a = "main (peak.c:\(line(of: "SITE_A", in: Self.peak)))", b = "main (peak.c:\(line(of: "SITE_B", in: Self.peak)))"
    #expect(sites.count == 2, "\(sites)")
    #expect(sites[a]?.size == 100 && sites[a]?.count == 1)
    #expect(sites[b]?.size == 25 && sites[b]?.count == 1)
    #expect(try jsonTotal(r.stdout).size == 125)

    let text = try CLI.run(["top", dump, "--metric", "peak", "--include", "file:*peak.c"], in: ws.url)
    #expect(text.stdout.contains("heapwise top: bytes live at the peak, by lineno"))
    #expect(text.stdout.contains("\(a): size=100 B, count=1, average=100 B"))
    #expect(text.stdout.contains("\(b): size=25 B, count=1, average=25 B"))
    #expect(text.stdout.contains("total: size=125 B, count=2, 2 sites"))

    let allocated = try jsonSites(try CLI.run(["top", dump, "--metric", "allocated", "--include", "file:*peak.c",
                                                "--format", "json"], in: ws.url).stdout)
    #expect(allocated["main (peak.c:\(line(of: "SITE_C", in: Self.peak)))"]?.size == 60)
    let temporary = try jsonSites(try CLI.run(["top", dump, "--metric", "temporary", "--include", "file:*peak.c",
                                                "--format", "json"], in: ws.url).stdout)
    // b and c are freed before the thread allocates again; a is followed by b.
    #expect(temporary.keys.sorted() == ["main (peak.c:\(line(of: "SITE_B", in: Self.peak)))", "main (peak.c:\(line(of: "SITE_C", in: Self.peak)))"])
    #expect(temporary.values.map(\.size).sorted() == [25, 60])
  }

  static let leaks = """
    #include <stdlib.h>
    void *sink[16];
    static void leak(int i) { sink[i] = malloc(48); /* SITE_LEAK */ }
    int main(void) {
      for (int i = 0; i < 10; i++) leak(i);
      for (int i = 0; i < 5; i++) free(malloc(1000)); /* SITE_TEMP */
      for (int i = 0; i < 10; i++) sink[i] = 0;
      return 0;
    }
    """

  @Test func tenLeakedBlocks() throws {
    try CLI.requireLibrary()
    let ws = try Workspace("leaks")
    defer { ws.remove() }
    let dump = try ws.record(try ws.compile("leaks", Self.leaks), dump: "leaks.heapwise")
    let leakLine = line(of: "SITE_LEAK", in: Self.leaks)
    let r = try CLI.run(["top", dump, "--metric", "leaked", "--include", "file:*leaks.c"], in: ws.url)
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stdout.contains("leak (leaks.c:\(leakLine)): size=480 B, count=10, average=48 B"), "\(r.stdout)")
    #expect(r.stdout.contains("total: size=480 B, count=10, 1 sites"))

    let byFunction = try jsonSites(try CLI.run(["top", dump, "--metric", "leaked", "--by", "function",
                                                 "--include", "file:*leaks.c", "--format", "json"], in: ws.url).stdout)
    #expect(byFunction.keys.sorted() == ["leak (leaks)"])
    let cumulative = try jsonSites(try CLI.run(["top", dump, "--by", "function", "--cumulative",
                                                 "--include", "file:*leaks.c", "--format", "json"], in: ws.url).stdout)
    #expect(cumulative["leak (leaks)"]?.size == 480 && cumulative["main (leaks)"]?.size == 480)

    let temp = try jsonSites(try CLI.run(["top", dump, "--metric", "temporary", "--include", "file:*leaks.c",
                                           "--format", "json"], in: ws.url).stdout)
    #expect(temp["main (leaks.c:\(line(of: "SITE_TEMP", in: Self.leaks)))"].map { [$0.size, $0.count] } == [5000, 5])
  }

  static let reallocChain = """
    #include <stdlib.h>
    void *keep;
    int main(void) {
      char *p = malloc(16);  /* R0 */
      p = realloc(p, 32);    /* R1 */
      p = realloc(p, 64);    /* R2 */
      p = realloc(p, 4096);  /* R3 */
      keep = p;
      char *q = malloc(8);   /* R4 */
      q = realloc(q, 0);     /* frees q: not a leak */
      return 0;
    }
    """

  @Test func reallocChain() throws {
    try CLI.requireLibrary()
    let ws = try Workspace("realloc")
    defer { ws.remove() }
    let dump = try ws.record(try ws.compile("chain", Self.reallocChain), dump: "chain.heapwise")
    func l(_ m: String) -> String { "main (chain.c:\(line(of: m, in: Self.reallocChain)))" }
    let live = try jsonSites(try CLI.run(["top", dump, "--metric", "leaked", "--include", "file:*chain.c",
                                           "--format", "json"], in: ws.url).stdout)
    #expect(live.count == 1)
    #expect(live[l("R3")].map { [$0.size, $0.count] } == [4096, 1])
    let allocated = try jsonSites(try CLI.run(["top", dump, "--metric", "allocated", "--include", "file:*chain.c",
                                                "--format", "json"], in: ws.url).stdout)
    #expect(allocated[l("R0")]?.size == 16 && allocated[l("R1")]?.size == 32)
    #expect(allocated[l("R2")]?.size == 64 && allocated[l("R3")]?.size == 4096)
    #expect(allocated[l("R4")].map { [$0.size, $0.count] } == [8, 1])
  }

  static let threads = """
    #include <pthread.h>
    #include <stdlib.h>
    #define N 100
    static void *blocks[N];
    static void *reused[N];
    static void *producer(void *arg) {
      for (int i = 0; i < N; i++) blocks[i] = malloc(64); /* T_ALLOC */
      return arg;
    }
    static void *consumer(void *arg) {
      for (int i = 0; i < N; i++) free(blocks[i]);
      return arg;
    }
    int main(void) {
      pthread_t a, b;
      pthread_create(&a, 0, producer, 0);
      pthread_join(a, 0);
      pthread_create(&b, 0, consumer, 0);
      pthread_join(b, 0);
      for (int i = 0; i < N; i++) reused[i] = malloc(64); /* T_REUSE */
      return 0;
    }
    """

  @Test func crossThreadFreesAndAddressReuse() throws {
    try CLI.requireLibrary()
    let ws = try Workspace("threads")
    defer { ws.remove() }
    let dump = try ws.record(try ws.compile("xthreads", Self.threads), dump: "threads.heapwise")
    func l(_ m: String) -> String {
      "\(m == "T_ALLOC" ? "producer" : "main") (xthreads.c:\(line(of: m, in: Self.threads)))"
    }
    let live = try jsonSites(try CLI.run(["top", dump, "--include", "file:*xthreads.c", "--format", "json"], in: ws.url).stdout)
    // pthread_create's TLS block is attributed to its call in main; the blocks themselves:
    #expect(live[l("T_REUSE")].map { [$0.size, $0.count] } == [6400, 100])
    #expect(live[l("T_ALLOC")] == nil)
    let allocated = try jsonSites(try CLI.run(["top", dump, "--metric", "allocated", "--include", "file:*xthreads.c",
                                                "--format", "json"], in: ws.url).stdout)
    #expect(allocated[l("T_ALLOC")].map { [$0.size, $0.count] } == [6400, 100])
    let peak = try jsonSites(try CLI.run(["top", dump, "--metric", "peak", "--include", "file:*xthreads.c",
                                           "--format", "json"], in: ws.url).stdout)
    // The two batches are never live together: at the peak, one of them holds 6400 B.
    #expect((peak[l("T_ALLOC")]?.size ?? 0) + (peak[l("T_REUSE")]?.size ?? 0) == 6400, "\(peak)")
    let text = try CLI.run(["top", dump], in: ws.url)
    #expect(!text.stdout.contains("unmatched frees"), "\(text.stdout)")
  }
}
