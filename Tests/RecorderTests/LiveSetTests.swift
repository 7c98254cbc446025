// CShim/liveset.c, the address set the sampler matches frees with, compiled into a ground-truth
// program (Tests/Programs/liveset.c) that checks exact values, the fast negative check, threads
// handing blocks to each other, and what happens when the set is full.
import Testing

@Suite("LiveSet") struct LiveSetTests {
  @Test func exactValuesThreadsAndFull() throws {
    let program = try Harness.build("liveset.c")
    let result = try Harness.run(program, [], environment: [:], timeout: 120)
    #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
    let lines = result.stdout.split(separator: "\n").map(String.init)
    #expect(lines.filter { $0.hasPrefix("ok ") }.count == 5, "\(result.stdout)")
    #expect(!result.stdout.contains("FAIL"))
  }
}
