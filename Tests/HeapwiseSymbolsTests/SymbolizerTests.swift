import CLibDW
import Foundation
import Testing

@testable import HeapwiseSymbols

/// Serialized: the fixtures share two cores with the other engineers' builds, and the one test that
/// touches `$HEAPWISE_DEBUG_PATH` must not race with readers of the environment.
@Suite(.serialized)
struct SymbolizerTests {
  /// Options that ignore this machine's environment, so results depend on the fixture alone.
  static func isolated(_ paths: [String] = []) -> SymbolizerOptions {
    SymbolizerOptions(debugSearchPaths: paths, useEnvironment: false, useSystemDebugDirectory: false)
  }

  /// Builds and runs the chain program: its path, load bias, and the two captured return
  /// addresses.
  static func runChain(_ fx: Fixtures, extraFlags: [String] = [], name: String = "chain") throws
    -> (path: String, base: UInt64, leafReturn: UInt64, middleReturn: UInt64)
  {
    try fx.write("chain.c", chainSource)
    try fx.run("cc", ["-g", "-O0", "-Wl,--build-id"] + extraFlags + ["-o", name, "chain.c"])
    let out = try fx.run(fx.path(name), [])
    let values = out.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap {
      UInt64($0, radix: 16)
    }
    try #require(values.count == 3)
    let base = values[0] - (try fx.symbolAddress("main", in: fx.path(name)))
    return (fx.path(name), base, values[1], values[2])
  }

  static func line(_ marker: String) -> Int { Fixtures.line(of: marker, in: chainSource) }

  @Test func callChainWithInlinedFunction() throws {
    let fx = try Fixtures()
    defer { fx.remove() }
    let chain = try Self.runChain(fx)
    let module = try #require(ModuleImage(contentsOf: chain.path, base: chain.base))
    #expect(!module.buildID.isEmpty)
    let symbolizer = Symbolizer(options: Self.isolated())

    // The recorder stores return address minus one; so do we.
    let leaf = symbolizer.symbolize(chain.leafReturn - 1, in: module)
    #expect(leaf.map(\.function) == ["inlined_step", "chain_middle"])
    #expect(leaf.map(\.line) == [Self.line("INLINE_CALL"), Self.line("MIDDLE_CALL")])
    #expect(leaf.map(\.isInlined) == [true, false])
    #expect(leaf.allSatisfy { $0.file?.hasSuffix("/chain.c") == true })
    #expect(leaf.allSatisfy { $0.module == chain.path && $0.address == chain.leafReturn - 1 })
    #expect(leaf[0].moduleOffset == chain.leafReturn - 1 - chain.base)

    let middle = symbolizer.symbolize(chain.middleReturn - 1, in: module)
    #expect(middle.map(\.function) == ["chain_outer"])
    #expect(middle.map(\.line) == [Self.line("OUTER_CALL")])

    let main = symbolizer.symbolize(chain.base + (try fx.symbolAddress("main", in: chain.path)), in: module)
    #expect(main.map(\.function) == ["main"])
    #expect(main.map(\.line) == [Self.line("MAIN_LINE")])

    // Asking again is answered from the cache, identically.
    #expect(symbolizer.symbolize(chain.leafReturn - 1, in: module) == leaf)

    let flat = Symbolizer(options: { var o = Self.isolated(); o.inlinedFrames = false; return o }())
    let real = flat.symbolize(chain.leafReturn - 1, in: module)
    #expect(real.map(\.function) == ["chain_middle"])
    #expect(real.map(\.line) == [Self.line("INLINE_CALL")])
  }

  @Test func strippedExecutableFallsBackToModuleAndOffset() throws {
    let fx = try Fixtures()
    defer { fx.remove() }
    let chain = try Self.runChain(fx)
    try fx.run("strip", ["-o", fx.path("chain.stripped"), chain.path])
    let module = try #require(ModuleImage(contentsOf: fx.path("chain.stripped"), base: chain.base))
    let offset = try fx.symbolAddress("chain_outer", in: chain.path)
    let frames = Symbolizer(options: Self.isolated()).symbolize(chain.base + offset, in: module)
    #expect(frames.count == 1)
    #expect(frames[0].function == nil && frames[0].file == nil && frames[0].line == nil)
    #expect(frames[0].description == "chain.stripped+0x\(String(offset, radix: 16))")
  }

  @Test func strippedLibraryUsesDynamicSymbolTable() throws {
    let fx = try Fixtures()
    defer { fx.remove() }
    try fx.write("lib.c", librarySource)
    try fx.run("cc", ["-g", "-O1", "-shared", "-fPIC", "-Wl,--build-id", "-o", "libfx.so", "lib.c"])
    try fx.run("strip", ["-o", fx.path("libfx-stripped.so"), fx.path("libfx.so")])
    let base: UInt64 = 0x7f12_3400_0000
    let module = try #require(ModuleImage(contentsOf: fx.path("libfx-stripped.so"), base: base))
    let offset = try fx.symbolAddress("heapwise_fixture_exported", in: fx.path("libfx.so"))
    let frames = Symbolizer(options: Self.isolated()).symbolize(base + offset + 2, in: module)
    #expect(frames.map(\.function) == ["heapwise_fixture_exported"])
    #expect(frames[0].file == nil && frames[0].line == nil)
  }

  @Test func separateDebugFileFoundByBuildID() throws {
    let fx = try Fixtures()
    defer { fx.remove() }
    let chain = try Self.runChain(fx)
    let original = try #require(ModuleImage(contentsOf: chain.path, base: chain.base))
    let id = original.buildIDHex
    let debugDir = fx.path("debug/.build-id/\(id.prefix(2))")
    try FileManager.default.createDirectory(atPath: debugDir, withIntermediateDirectories: true)
    try fx.run("objcopy", ["--only-keep-debug", chain.path, "\(debugDir)/\(id.dropFirst(2)).debug"])
    try FileManager.default.createDirectory(atPath: fx.path("bin"), withIntermediateDirectories: true)
    try fx.run("strip", ["-o", fx.path("bin/chain"), chain.path])

    // The stripped binary at the recorded path, its debug file under a search path.
    var module = original
    module.path = fx.path("bin/chain")
    let symbolizer = Symbolizer(options: Self.isolated([fx.path("debug")]))
    let frames = symbolizer.symbolize(chain.leafReturn - 1, in: module)
    #expect(frames.map(\.function) == ["inlined_step", "chain_middle"])
    #expect(frames.map(\.line) == [Self.line("INLINE_CALL"), Self.line("MIDDLE_CALL")])

    // No binary at all on this machine: the debug file stands in for it.
    module.path = "/nonexistent/recording-machine/chain"
    let alone = symbolizer.symbolize(chain.leafReturn - 1, in: module)
    #expect(alone.map(\.function) == ["inlined_step", "chain_middle"])
    #expect(symbolizer.resolvedPath(for: module)?.hasSuffix(".debug") == true)
  }

  @Test func movedBinaryFoundInSearchPathsByName() throws {
    let fx = try Fixtures()
    defer { fx.remove() }
    let chain = try Self.runChain(fx)
    var module = try #require(ModuleImage(contentsOf: chain.path, base: chain.base))
    module.path = "/home/someone-else/build/chain"
    try FileManager.default.createDirectory(atPath: fx.path("flat"), withIntermediateDirectories: true)
    try FileManager.default.copyItem(atPath: chain.path, toPath: fx.path("flat/chain"))
    let sysroot = fx.path("sysroot/home/someone-else/build")
    try FileManager.default.createDirectory(atPath: sysroot, withIntermediateDirectories: true)
    try FileManager.default.copyItem(atPath: chain.path, toPath: sysroot + "/chain")

    for (dir, expected) in [
      (fx.path("flat"), fx.path("flat/chain")), (fx.path("sysroot"), sysroot + "/chain"),
    ] {
      let symbolizer = Symbolizer(options: Self.isolated([dir]))
      #expect(symbolizer.resolvedPath(for: module) == expected)
      let frames = symbolizer.symbolize(chain.middleReturn - 1, in: module)
      #expect(frames.map(\.function) == ["chain_outer"])
      #expect(frames[0].module == module.path)
    }

    // The same through $HEAPWISE_DEBUG_PATH (the suite is serialized for this).
    setenv("HEAPWISE_DEBUG_PATH", "/nonexistent:\(fx.path("flat"))", 1)
    defer { unsetenv("HEAPWISE_DEBUG_PATH") }
    let fromEnvironment = Symbolizer(
      options: SymbolizerOptions(useSystemDebugDirectory: false))
    #expect(fromEnvironment.resolvedPath(for: module) == fx.path("flat/chain"))
  }

  @Test func binaryWithAnotherBuildIDIsNotUsed() throws {
    let fx = try Fixtures()
    defer { fx.remove() }
    let recorded = try Self.runChain(fx, extraFlags: ["-Wl,--build-id=0x0123456789abcdef"])
    let module = try #require(ModuleImage(contentsOf: recorded.path, base: recorded.base))
    try FileManager.default.createDirectory(atPath: fx.path("kept"), withIntermediateDirectories: true)
    try FileManager.default.copyItem(atPath: recorded.path, toPath: fx.path("kept/chain"))
    // Rebuilt in place since the recording: same path, another build.
    try fx.run("cc", ["-g", "-O0", "-Wl,--build-id=0xfedcba9876543210", "-o", "chain", "chain.c"])

    let blind = Symbolizer(options: Self.isolated())
    #expect(blind.resolvedPath(for: module) == nil)
    let frames = blind.symbolize(recorded.middleReturn - 1, in: module)
    #expect(frames.count == 1 && frames[0].function == nil)
    #expect(frames[0].moduleAndOffset == "chain+0x\(String(recorded.middleReturn - 1 - recorded.base, radix: 16))")

    let searching = Symbolizer(options: Self.isolated([fx.path("kept")]))
    #expect(searching.resolvedPath(for: module) == fx.path("kept/chain"))
    #expect(searching.symbolize(recorded.middleReturn - 1, in: module).map(\.function) == ["chain_outer"])

    // A module recorded without a build id is matched by its path alone.
    var anonymous = module
    anonymous.buildID = []
    #expect(blind.resolvedPath(for: anonymous) == recorded.path)
  }

  @Test func bareNamesAreNotLookedUpInTheCurrentDirectory() {
    // The vdso is listed by name only; a file of that name in the current directory is not it.
    let vdso = ModuleImage(path: "linux-vdso.so.1", buildID: [1, 2, 3], base: 0x7fff_0000_0000, segments: [])
    let candidates = ModuleLocator(searchPaths: ["/debug"]).candidates(for: vdso)
    #expect(candidates.allSatisfy { $0.hasPrefix("/") })
    #expect(candidates.contains("/debug/linux-vdso.so.1"))
    #expect(candidates.contains("/debug/.build-id/01/0203.debug"))
  }

  @Test func cxxNamesAreDemangled() throws {
    let fx = try Fixtures()
    defer { fx.remove() }
    try fx.write("widget.cpp", cxxSource)
    try fx.run("c++", ["-g", "-O0", "-Wl,--build-id", "-o", "widget", "widget.cpp"])
    let offset = try fx.symbolAddress("_ZN13heapwise_test6Widget4growEi", in: fx.path("widget"))
    let module = try #require(ModuleImage(contentsOf: fx.path("widget"), base: 0x5555_0000_0000))
    let frames = Symbolizer(options: Self.isolated()).symbolize(module.base + offset, in: module)
    #expect(frames.map(\.function) == ["heapwise_test::Widget::grow(int)"])
    #expect(frames[0].file?.hasSuffix("/widget.cpp") == true)
    #expect(frames[0].line == Fixtures.line(of: "int Widget::grow", in: cxxSource))

    var raw = Self.isolated()
    raw.demangle = false
    let mangled = Symbolizer(options: raw).symbolize(module.base + offset, in: module)
    #expect(mangled.map(\.function) == ["_ZN13heapwise_test6Widget4growEi"])
  }

  @Test func currentProcessSwiftFunction() throws {
    var buffer = [UnsafeMutableRawPointer?](repeating: nil, count: 2)
    let count = backtrace(&buffer, 2); let expectedLine = #line
    #expect(count >= 1)
    let address = UInt64(UInt(bitPattern: buffer[0])) - 1
    let frames = Symbolizer.forCurrentProcess().symbolize(address)
    let real = try #require(frames.last)
    #expect(real.function?.contains("currentProcessSwiftFunction") == true)
    #expect(real.function?.contains("HeapwiseSymbolsTests") == true)  // demangled Swift
    #expect(real.file?.hasSuffix("/SymbolizerTests.swift") == true)
    #expect(real.line == expectedLine)
  }

  @Test func currentProcessSeesLibrariesOpenedLater() throws {
    let fx = try Fixtures()
    defer { fx.remove() }
    let symbolizer = Symbolizer.forCurrentProcess(options: Self.isolated())
    try fx.write("lib.c", librarySource)
    try fx.run("cc", ["-g", "-O0", "-shared", "-fPIC", "-Wl,--build-id", "-o", "libfx.so", "lib.c"])
    let handle = try #require(dlopen(fx.path("libfx.so"), RTLD_NOW | RTLD_LOCAL))
    defer { dlclose(handle) }
    let function = try #require(dlsym(handle, "heapwise_fixture_exported"))
    let frames = symbolizer.symbolize(UInt64(UInt(bitPattern: function)))
    #expect(frames.map(\.function) == ["heapwise_fixture_exported"])
    #expect(frames[0].line == Fixtures.line(of: "int heapwise_fixture_exported", in: librarySource))
    #expect(frames[0].module == fx.path("libfx.so"))
  }

  @Test func processModulesCarryBuildIDs() throws {
    let modules = CurrentProcess.modules()
    let exe = try #require(modules.first)
    #expect(exe.path == (try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")))
    #expect(exe.buildID == ElfFile.buildID(atPath: exe.path))
    #expect(!exe.buildID.isEmpty)
    #expect(exe.segments.contains { $0.isExecutable })
  }
}
