// The sorted symbol index (SymbolTable) must name every address exactly as libdwfl's
// dwfl_module_addrinfo does: compared over a fixture built to hold the awkward cases, over the
// libraries this test process has loaded, and over pyarrow's libarrow, the library whose linear
// scans made the index worth having.
import CLibDW
import Foundation
import TestSupport
import Testing

@testable import HeapwiseSymbols

@Suite(.serialized)
struct SymbolTableTests {
  /// Aliases at one address (global, weak, local; equal and smaller sizes), a sized symbol inside
  /// another, global and local assembly labels without a size, a local function, an object.
  static let awkwardSource = """
    #include <stdio.h>
    __attribute__((noinline)) int base_fn(int x) { return x * 3 + 1; }
    int alias_global(int) __attribute__((alias("base_fn")));
    int alias_weak(int) __attribute__((weak, alias("base_fn")));
    static __attribute__((noinline, used)) int local_fn(int x) { return x * 5 - 2; }
    int table[64] = {1};
    __asm__(".text\\n"
            ".globl outer_sym\\n.type outer_sym,@function\\nouter_sym:\\n nop\\n nop\\n nop\\n nop\\n"
            ".globl inner_sym\\n.type inner_sym,@function\\ninner_sym:\\n nop\\n nop\\n ret\\n"
            ".size inner_sym, .-inner_sym\\n.size outer_sym, .-outer_sym\\n"
            ".type local_nested,@function\\nlocal_nested:\\n nop\\n nop\\n ret\\n"
            ".size local_nested, .-local_nested\\n"
            ".globl asm_label\\nasm_label:\\n nop\\n nop\\n ret\\n"
            "asm_local:\\n nop\\n ret\\n"
            ".globl sized_after\\n.type sized_after,@function\\nsized_after:\\n nop\\n ret\\n"
            ".size sized_after, .-sized_after\\n"
            "after_label:\\n nop\\n nop\\n nop\\n ret\\n");
    int main(int argc, char **argv) { (void)argv; return base_fn(argc) + table[argc] > 1000; }

    """

  static func options() -> SymbolizerOptions {
    SymbolizerOptions(debugSearchPaths: [], useEnvironment: false, useSystemDebugDirectory: false)
  }

  /// Compares the two lookups at `addresses` (link-time); returns how many were compared and how
  /// many the index passed to libdwfl.
  @discardableResult
  static func compare(_ file: DwarfFile, _ addresses: [UInt64], _ name: String) -> (Int, Int) {
    var mismatches: [String] = []
    var asked = 0
    for pc in addresses {
      if case .askLibdwfl = file.symbolAnswer(at: pc) { asked += 1 }
      let expected = file.libdwflSymbolName(at: pc).map { String(cString: $0) }
      let got = file.indexedSymbolName(at: pc).map { String(cString: $0) }
      if expected != got && mismatches.count < 10 {
        mismatches.append("0x\(String(pc, radix: 16)): libdwfl \(expected ?? "nil"), index \(got ?? "nil")")
      }
    }
    #expect(mismatches.isEmpty, "\(name): \(mismatches.joined(separator: "; "))")
    return (addresses.count, asked)
  }

  /// Every symbol's first, last, middle and one-past-the-end address for a sample of `symbols`
  /// symbols, plus `random` addresses inside the module's segments.
  static func probes(
    _ file: DwarfFile, _ module: ModuleImage, symbols: Int, random: Int, seed: UInt64, executableOnly: Bool = false
  ) -> [UInt64] {
    var rng = SplitMix(seed: seed)
    var out: [UInt64] = []
    let count = Int(dwfl_module_getsymtab(file.module))
    if count > 1 {
      for _ in 0..<Swift.min(symbols, count - 1) {
        var sym = GElf_Sym()
        var value: GElf_Addr = 0
        var shndx: GElf_Word = 0
        let i = 1 + Int(rng.next() % UInt64(count - 1))
        guard dwfl_module_getsym_info(file.module, Int32(i), &sym, &value, &shndx, nil, nil) != nil else { continue }
        out += [value &- 1, value, value &+ sym.st_size / 2, value &+ sym.st_size &- 1, value &+ sym.st_size]
      }
    }
    let segments = module.segments.filter { $0.memsz > 0 && (!executableOnly || $0.isExecutable) }
    for _ in 0..<random where !segments.isEmpty {
      let s = segments[Int(rng.next() % UInt64(segments.count))]
      out.append(s.vaddr &+ rng.next() % s.memsz)
    }
    return out
  }

  @Test func awkwardFixtureEveryAddress() throws {
    let fx = try Fixtures()
    defer { fx.remove() }
    try fx.write("awkward.c", Self.awkwardSource)
    try fx.run("cc", ["-O1", "-Wl,--build-id", "-rdynamic", "-o", "awkward", "awkward.c"])
    try fx.run("cp", ["awkward", "awkward-stripped"])
    try fx.run("strip", ["--strip-all", "awkward-stripped"])
    for name in ["awkward", "awkward-stripped"] {
      let module = try #require(ModuleImage(contentsOf: fx.path(name)))
      let symbolizer = Symbolizer(options: Self.options())
      let file = try #require(symbolizer.openedFile(for: module))
      var every: [UInt64] = []
      for s in module.segments { every += Array(s.vaddr..<(s.vaddr + s.memsz + 16)) }
      let (compared, _) = Self.compare(file, every, name)
      #expect(compared > 1000)
    }
    // The cases the fixture is for do occur: an alias pair, a nested symbol, a label.
    let module = try #require(ModuleImage(contentsOf: fx.path("awkward")))
    let symbolizer = Symbolizer(options: Self.options())
    let inner = try fx.symbolAddress("inner_sym", in: fx.path("awkward"))
    let label = try fx.symbolAddress("asm_label", in: fx.path("awkward"))
    #expect(symbolizer.symbolize(inner, in: module).last?.function == "inner_sym")
    #expect(symbolizer.symbolize(inner - 1, in: module).last?.function == "outer_sym")
    #expect(symbolizer.symbolize(label + 1, in: module).last?.function == "asm_label")
  }

  /// libc, libstdc++, libswiftCore, Foundation, libdw, the test binary: whatever is loaded.
  @Test func loadedLibrariesAgreeWithLibdwfl() throws {
    let symbolizer = Symbolizer(options: Self.options())
    var checked = 0
    for (n, module) in CurrentProcess.modules().enumerated() where module.path.hasPrefix("/") {
      guard let file = symbolizer.openedFile(for: module) else { continue }
      // libdwfl's side scans the whole table per address: a budget of symbols visited per module.
      let probes = Swift.min(Swift.max(3_000_000 / Swift.max(Int(dwfl_module_getsymtab(file.module)), 1), 40), 600)
      Self.compare(file, Self.probes(file, module, symbols: probes / 10, random: probes / 2, seed: UInt64(n)), module.path)
      checked += 1
    }
    #expect(checked >= 5, "\(checked) modules")
  }

  /// pyarrow's libarrow (94,000 symbols, no DWARF) from the cached venv of the pandas tests.
  @Test func libarrowAgreesWithLibdwfl() throws {
    let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    let env = try Subprocess.run(
      "/bin/bash", [repository.appendingPathComponent("tools/python-env.sh").path, "3.11", "numpy", "pandas", "pyarrow"],
      timeout: 900)
    try #require(env.exitCode == 0, "python-env.sh: \(env.stderr)")
    let python = env.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    let found = try Subprocess.run(python, ["-c", "import pyarrow, glob, os; print(sorted(glob.glob(os.path.join(os.path.dirname(pyarrow.__file__), 'libarrow.so.*')))[0])"])
    try #require(found.exitCode == 0, "\(found.stderr)")
    let path = found.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    let module = try #require(ModuleImage(contentsOf: path))
    let symbolizer = Symbolizer(options: Self.options())
    let file = try #require(symbolizer.openedFile(for: module))
    let (compared, _) = Self.compare(file, Self.probes(file, module, symbols: 60, random: 200, seed: 13), path)
    #expect(compared >= 450)
    // The point of the index: in code, where stacks point, libdwfl's scan is almost never needed.
    let (code, asked) = Self.compare(
      file, Self.probes(file, module, symbols: 0, random: 300, seed: 14, executableOnly: true), path)
    #expect(asked * 20 < code, "\(asked) of \(code) code addresses passed to libdwfl")
  }
}
