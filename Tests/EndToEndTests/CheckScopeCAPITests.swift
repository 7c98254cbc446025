// The scope API of heapwise_scope.h from a C program under the preload library: the same
// counting as HeapwiseBudget, for tests that are not written in Swift.
import Foundation
import Testing

@Suite struct CheckScopeCAPITests {
  static let program = """
    #define _GNU_SOURCE
    #include <dlfcn.h>
    #include <pthread.h>
    #include <stdio.h>
    #include <string.h>
    #include <stdlib.h>
    #include "heapwise.h"
    /* Another thread may not stop a thread scope, but may release it. */
    static void *elsewhere(void *scope) {
      heapwise_scope_stats st;
      long refused = heapwise_scope_stop(scope, &st) == -1;
      heapwise_scope_release(scope);
      return (void *)refused;
    }
    int main(void) {
      if (!heapwise_scope_begin) { puts("not under heapwise"); return 0; }
      heapwise_scope *s = heapwise_scope_begin(HEAPWISE_SCOPE_THREAD, HEAPWISE_SCOPE_SITES);
      void *keep = malloc(100);
      for (int i = 0; i < 10; i++) free(malloc(10)); /* churn */
      heapwise_scope_stats st;
      heapwise_scope_stop(s, &st);
      heapwise_scope_site top[4];
      size_t n = heapwise_scope_sites(s, HEAPWISE_SCOPE_BY_COUNT, top, 4);
      heapwise_scope_release(s);
      /* frames[0] is the allocator entry (in the preload library), frames[1] its caller. */
      Dl_info entry = {0}, caller = {0};
      if (n && top[0].depth >= 2) {
        dladdr((void *)top[0].frames[0], &entry);
        dladdr((void *)top[0].frames[1], &caller);
      }
      printf("entry in %s, caller %s\\n", entry.dli_fname && strstr(entry.dli_fname, "libheapwise") ? "heapwise" : "elsewhere",
             caller.dli_sname ? caller.dli_sname : "?");
      printf("%lu %lu %lu %lu %lu %zu %lu\\n", (unsigned long)st.allocations, (unsigned long)st.frees,
             (unsigned long)st.bytes_allocated, (unsigned long)st.leaked_blocks,
             (unsigned long)st.leaked_bytes, n, (unsigned long)(n ? top[0].allocations : 0));
      free(keep);
      heapwise_scope *t = heapwise_scope_begin(HEAPWISE_SCOPE_THREAD, 0);
      pthread_t thread;
      void *refused = 0;
      pthread_create(&thread, 0, elsewhere, t);
      pthread_join(thread, &refused);
      /* Every slot is free again: 64 scopes open at once. */
      heapwise_scope *all[64];
      int opened = 0;
      while (opened < 64 && (all[opened] = heapwise_scope_begin(HEAPWISE_SCOPE_THREAD, 0))) opened++;
      for (int i = 0; i < opened; i++) heapwise_scope_release(all[i]);
      printf("refused %ld, opened %d\\n", (long)refused, opened);
      return 0;
    }
    """

  @Test func countsUnderThePreloadLibraryAndDoesNothingWithout() throws {
    try CLI.requireLibrary()
    let ws = try Workspace("scope-capi")
    defer { ws.remove() }
    let source = ws.path("capi.c")
    try Self.program.write(toFile: source, atomically: true, encoding: .utf8)
    let include = URL(fileURLWithPath: CLI.library!).deletingLastPathComponent()
      .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("CShim/include").path
    let exe = ws.path("capi")
    // -fno-builtin: the compiler would otherwise drop the malloc/free pairs.
    let cc = try CLI.runProcess("/usr/bin/cc", ["-g", "-O1", "-fno-builtin", "-pthread", "-rdynamic", "-I", include, "-o", exe, source, "-ldl"])
    try #require(cc.status == 0, "\(cc.stderr)")

    let plain = try CLI.runProcess(exe, [])
    #expect(plain.stdout == "not under heapwise\n")
    let preloaded = try CLI.runProcess(exe, [], environment: ["LD_PRELOAD": CLI.library!])
    // 11 allocations (10 churned, 1 kept), 10 frees, 200 bytes, 1 leaked block of 100 bytes,
    // 2 sites, the churn loop's with 10, whose first frame is malloc's, then main.
    #expect(preloaded.stdout == "entry in heapwise, caller main\n11 10 200 1 100 2 10\nrefused 1, opened 64\n", "\(preloaded.stdout)\(preloaded.stderr)")
    // A sampled recording counts a scope's allocations exactly all the same: with a scope open
    // every call takes the hooks' general path (docs/SAMPLING.md), so budgets are never estimates.
    let sampled = try CLI.runProcess(exe, [], environment: ["LD_PRELOAD": CLI.library!, "HEAPWISE_OUTPUT": ws.path("s.heapwise"),
                                                            "HEAPWISE_SAMPLE": "524288", "HEAPWISE_SAMPLE_SEED": "1"])
    #expect(sampled.stdout == preloaded.stdout, "\(sampled.stdout)\(sampled.stderr)")
  }
}
