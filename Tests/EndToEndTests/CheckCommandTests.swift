// `heapwise check`: budgets on a C program with exactly known allocations, the table, and the
// documented exit statuses (CheckCommand's discussion, docs/BUDGETS.md).
import Foundation
import Testing

@Suite(.serialized) struct CheckCommandTests {
  /// 1000 allocations freed at once by churn(), one block of 4096 bytes kept by keep_me().
  static let program = """
    #include <stdlib.h>
    #include <string.h>
    void *keep_me(size_t n) { return malloc(n); /* kept */ }
    void churn(int n) { for (int i = 0; i < n; i++) free(malloc(100)); }
    int main(int argc, char **argv) {
      churn(1000);
      void *p = keep_me(4096);
      memset(p, 1, 4096);
      return argc > 1 ? atoi(argv[1]) : 0;
    }
    """

  /// The table's lines with runs of spaces made one, so that tests do not depend on widths.
  static func rows(_ stdout: String) -> [String] {
    stdout.split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") }
  }

  static func workspace(_ name: String) throws -> (Workspace, String) {
    try CLI.requireLibrary()
    let ws = try Workspace("check-\(name)")
    return (ws, try ws.compile("leaky", program))
  }

  @Test func aBreachFailsWithTheTableAndTheSite() throws {
    let (ws, exe) = try Self.workspace("breach")
    defer { ws.remove() }
    let r = try CLI.run(["check", "--max-peak", "1MiB", "--max-leaked", "0", "--max-allocations", "5e6", "--", exe], in: ws.url)
    #expect(r.status == 3, "\(r.stdout)\(r.stderr)")
    let lines = Self.rows(r.stdout)
    #expect(lines.first == "budget limit measured result", "\(r.stdout)")
    #expect(lines.contains("peak live 1.0 MiB 4.0 KiB pass"), "\(r.stdout)")
    #expect(lines.contains("leaked at exit 0 B 4.0 KiB FAIL +4.0 KiB"), "\(r.stdout)")
    #expect(lines.contains("top sites: keep_me (leaky.c:\(line(of: "/* kept */", in: Self.program))) (4.0 KiB)"), "\(r.stdout)")
    #expect(lines.contains("allocations 5000000 1001 pass"), "\(r.stdout)")
    #expect(lines.last == "heapwise check: 3 budgets, 1 exceeded", "\(r.stdout)")
    #expect(r.stderr.contains("kept for `heapwise top`: "), "\(r.stderr)")
  }

  @Test func exactLimitsHoldAndOneMoreFails() throws {
    let (ws, exe) = try Self.workspace("exact")
    defer { ws.remove() }
    let held = try CLI.run(["check", "--max-leaked", "4KiB", "--max-allocations", "1001", "--max-allocated", "104096", "--", exe], in: ws.url)
    #expect(held.status == 0, "\(held.stdout)\(held.stderr)")
    #expect(held.stdout.hasSuffix("heapwise check: 3 budgets, all held\n"), "\(held.stdout)")
    #expect(held.stderr.contains("removed "), "\(held.stderr)")
    let over = try CLI.run(["check", "--max-allocations", "1000", "--max-allocated", "104095", "--", exe], in: ws.url)
    #expect(over.status == 3)
    let lines = Self.rows(over.stdout)
    #expect(lines.contains("allocations 1000 1001 FAIL +1"), "\(over.stdout)")
    #expect(lines.contains("bytes allocated 104095 B 104096 B FAIL +1 B"), "\(over.stdout)")
  }

  @Test func theCommandsOwnFailureWins() throws {
    let (ws, exe) = try Self.workspace("status")
    defer { ws.remove() }
    let r = try CLI.run(["check", "--max-leaked", "0", "--", exe, "7"], in: ws.url)
    #expect(r.status == 7, "\(r.stderr)")
    #expect(r.stdout.contains("leaked at exit"), "the table is printed all the same: \(r.stdout)")
  }

  /// `env` execs the program in place: the program's own dump is the one checked.
  @Test func aLauncherThatExecsIsSeenThrough() throws {
    let (ws, exe) = try Self.workspace("exec")
    defer { ws.remove() }
    let r = try CLI.run(["check", "--max-leaked", "0", "--", "/usr/bin/env", exe], in: ws.url)
    #expect(r.status == 3, "\(r.stdout)\(r.stderr)")
    #expect(Self.rows(r.stdout).contains("leaked at exit 0 B 4.0 KiB FAIL +4.0 KiB"), "\(r.stdout)")
    #expect(r.stderr.contains("exec'd 1 time(s); checking the last program's dump"), "\(r.stderr)")
  }

  /// A script that runs the program twice: without --follow only the shell is checked; with
  /// it, both runs add up (2 x 1001 allocations, 2 x 4 KiB leaked) on top of the shell's own.
  @Test func followChecksTheProcessesTheCommandStarts() throws {
    let (ws, exe) = try Self.workspace("follow")
    defer { ws.remove() }
    let script = ws.path("run.sh")
    try "#!/bin/sh\n\(exe)\n\(exe)\n".write(toFile: script, atomically: true, encoding: .utf8)
    chmod(script, 0o755)
    let parent = try CLI.run(["check", "--max-allocations", "2002", "--", script], in: ws.url)
    #expect(parent.status == 0, "only the shell is checked: \(parent.stdout)\(parent.stderr)")
    let all = try CLI.run(["check", "--follow", "--max-allocations", "2002", "--max-peak", "8KiB", "--output", ws.path("dumps"), "--", script], in: ws.url)
    #expect(all.status == 3, "\(all.stdout)\(all.stderr)")
    let allocations = Self.rows(all.stdout).first { $0.hasPrefix("allocations 2002 ") }
    #expect(allocations?.contains("FAIL") == true, "\(all.stdout)")
    // Each process peaks below 8 KiB (the program at 4 KiB, the shell a little above); their sum
    // would not.
    #expect(Self.rows(all.stdout).contains { $0.hasPrefix("peak live 8.0 KiB ") && $0.hasSuffix(" pass") }, "peak is per process: \(all.stdout)")
    #expect(all.stderr.contains("checking 3 process(es)"), "\(all.stderr)")
  }

  @Test func aBudgetFileLimitsSitesByFunctionGlob() throws {
    let (ws, exe) = try Self.workspace("file")
    defer { ws.remove() }
    let budget = ws.path("budget.json")
    try """
      { "max-peak": "64 KiB",
        "sites": [ { "function": "churn", "max-allocations": 999 },
                   { "function": "keep_*", "max-leaked": "4KiB", "max-allocated": 4096 } ] }
      """.write(toFile: budget, atomically: true, encoding: .utf8)
    let r = try CLI.run(["check", "--budget", budget, "--output", ws.path("kept.heapwise"), "--", exe], in: ws.url)
    #expect(r.status == 3, "\(r.stdout)\(r.stderr)")
    let lines = Self.rows(r.stdout)
    #expect(lines.contains("churn: allocations 999 1000 FAIL +1"), "\(r.stdout)")
    #expect(lines.contains("keep_*: leaked at exit 4.0 KiB 4.0 KiB pass"), "\(r.stdout)")
    #expect(lines.contains("keep_*: bytes allocated 4.0 KiB 4.0 KiB pass"), "\(r.stdout)")
    #expect(lines.last == "heapwise check: 4 budgets, 1 exceeded", "\(r.stdout)")
    #expect(FileManager.default.fileExists(atPath: ws.path("kept.heapwise")))
    // An option overrides the file's limit of the same name.
    let overridden = try CLI.run(["check", "--budget", budget, "--max-peak", "1", "--", exe], in: ws.url)
    #expect(Self.rows(overridden.stdout).contains { $0.hasPrefix("peak live 1 B ") && $0.contains("FAIL") }, "\(overridden.stdout)")
  }

  /// `--format json`: every row with every key (null where unknown), the site rule's glob, the
  /// top sites of a breach, whether the dump was kept; the exit status as with the table.
  @Test func jsonSaysWhatTheTableSays() throws {
    let (ws, exe) = try Self.workspace("json")
    defer { ws.remove() }
    let budget = ws.path("budget.json")
    try #"{ "sites": [ { "function": "churn", "max-allocations": 999 } ] }"#
      .write(toFile: budget, atomically: true, encoding: .utf8)
    let r = try CLI.run(["check", "--format", "json", "--budget", budget, "--max-leaked", "0", "--", exe], in: ws.url)
    #expect(r.status == 3, "\(r.stdout)\(r.stderr)")
    let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
    #expect(doc["schema"] as? String == "heapwise.check/1")
    #expect(doc["passed"] as? Bool == false)
    #expect(doc["command"] as? [String] == [exe])
    #expect(doc["command_status"] as? Int == 0)
    #expect(doc["kept"] as? Bool == true)
    let dumps = try #require(doc["dumps"] as? [String])
    #expect(dumps.count == 1 && FileManager.default.fileExists(atPath: dumps[0]))
    let budgets = try #require(doc["budgets"] as? [[String: Any]])
    #expect(budgets.count == 2)
    #expect(budgets.allSatisfy { Set($0.keys) == ["budget", "key", "function", "limit", "measured", "passed", "top_sites"] })
    let leaked = try #require(budgets.first { $0["key"] as? String == "max-leaked" })
    #expect(leaked["function"] is NSNull)
    #expect(leaked["limit"] as? Int == 0 && leaked["measured"] as? Int == 4096 && leaked["passed"] as? Bool == false)
    #expect((leaked["top_sites"] as? [String])?.first == "keep_me (leaky.c:\(line(of: "/* kept */", in: Self.program))) (4.0 KiB)")
    let churn = try #require(budgets.first { $0["function"] as? String == "churn" })
    #expect(churn["key"] as? String == "max-allocations" && churn["measured"] as? Int == 1000 && churn["passed"] as? Bool == false)
    for dump in dumps { try? FileManager.default.removeItem(atPath: dump) }

    let held = try CLI.run(["check", "--format", "json", "--max-allocations", "5e6", "--", exe], in: ws.url)
    #expect(held.status == 0, "\(held.stdout)\(held.stderr)")
    let passed = try #require(try JSONSerialization.jsonObject(with: Data(held.stdout.utf8)) as? [String: Any])
    #expect(passed["passed"] as? Bool == true && passed["kept"] as? Bool == false)
    #expect((passed["dumps"] as? [String]).map { $0.allSatisfy { !FileManager.default.fileExists(atPath: $0) } } == true)
  }

  @Test func badBudgetsGetOneLineAndAStatus() throws {
    let (ws, exe) = try Self.workspace("bad")
    defer { ws.remove() }
    let budget = ws.path("typo.json")
    try #"{ "max-leak": 0 }"#.write(toFile: budget, atomically: true, encoding: .utf8)
    let typo = try CLI.run(["check", "--budget", budget, "--", exe], in: ws.url)
    #expect(typo.status == 1)
    #expect(typo.stderr.split(separator: "\n").count == 1 && typo.stderr.contains("unknown key \"max-leak\""), "\(typo.stderr)")
    let none = try CLI.run(["check", "--", exe], in: ws.url)
    #expect(none.status == 64, "\(none.stderr)")
    let size = try CLI.run(["check", "--max-peak", "lots", "--", exe], in: ws.url)
    #expect(size.status == 64 && size.stderr.contains("not a size or count: \"lots\""), "\(size.stderr)")
  }
}
