// heapwise_scope_ignore_begin/end (heapwise_scope.h) from a C program under the preload library:
// what the Python package uses to leave a first import out of a test's figures.
import Foundation
import Testing

@Suite struct ScopeIgnoreTests {
  static let program = """
    #include <stdio.h>
    #include <stdlib.h>
    #include "heapwise.h"
    int main(void) {
      if (!heapwise_scope_begin) { puts("not under heapwise"); return 0; }
      void *older = malloc(64);
      heapwise_scope *s = heapwise_scope_begin(HEAPWISE_SCOPE_THREAD, HEAPWISE_SCOPE_SITES);
      void *counted = malloc(100);   /* the scope's */
      void *mine = malloc(30);       /* the scope's, freed while ignoring */
      heapwise_scope_ignore_begin();
      heapwise_scope_ignore_begin(); /* nests */
      void *left_out = malloc(1000); /* ignored, kept */
      free(malloc(2000));            /* ignored, freed: neither counted */
      heapwise_scope_ignore_end();
      void *also_left_out = malloc(500);
      free(older);                   /* an older block, freed while ignoring: not counted */
      free(mine);                    /* leaves the leak table, not counted as a free */
      heapwise_scope_ignore_end();
      heapwise_scope_ignore_end();   /* one end too many: does nothing */
      free(left_out);                /* an ignored block freed later: not counted either */
      free(malloc(10));              /* counted again */
      heapwise_scope_stats st;
      heapwise_scope_stop(s, &st);
      heapwise_scope_release(s);
      printf("%lu %lu %lu %lu %lu %lu %lu %lu %lu\\n", (unsigned long)st.allocations, (unsigned long)st.frees,
             (unsigned long)st.bytes_allocated, (unsigned long)st.peak_bytes, (unsigned long)st.leaked_blocks,
             (unsigned long)st.leaked_bytes, (unsigned long)st.older_frees, (unsigned long)st.ignored_allocations,
             (unsigned long)st.ignored_bytes);
      free(counted);
      free(also_left_out);
      return 0;
    }
    """

  @Test func aThreadsIgnoredWorkIsLeftOutOfEveryCount() throws {
    try CLI.requireLibrary()
    let ws = try Workspace("scope-ignore")
    defer { ws.remove() }
    let source = ws.path("ignore.c")
    try Self.program.write(toFile: source, atomically: true, encoding: .utf8)
    let include = URL(fileURLWithPath: CLI.library!).deletingLastPathComponent()
      .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("CShim/include").path
    let exe = ws.path("ignore")
    // -fno-builtin: the compiler would otherwise drop the malloc/free pairs.
    let cc = try CLI.runProcess("/usr/bin/cc", ["-g", "-O1", "-fno-builtin", "-I", include, "-o", exe, source])
    try #require(cc.status == 0, "\(cc.stderr)")
    let r = try CLI.runProcess(exe, [], environment: ["LD_PRELOAD": CLI.library!])
    // Counted: 100, 30 and 10 bytes (3 allocations, peak 130), 1 free (the 10); 1 leaked block
    // of 100. Left out: 1000, 2000, 500 (3 allocations, 3500 bytes); no older free counted.
    #expect(r.stdout == "3 1 140 130 1 100 0 3 3500\n", "\(r.stdout)\(r.stderr)")
  }
}
