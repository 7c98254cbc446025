// swift-tools-version:6.0
// heapwise: the data flows recorder (CShim, C) -> format -> symbols -> analysis -> reports / CLI.
// The preload library itself is built by the Makefile with the C compiler, because SwiftPM links
// every dynamic product with the Swift runtime; CHeapwise compiles the same sources for the
// in-process budgets of HeapwiseBudget.
import PackageDescription

let package = Package(
  name: "heapwise",
  products: [
    .executable(name: "heapwise", targets: ["heapwise"]),
    .library(name: "HeapwiseBudget", targets: ["HeapwiseBudget"]),
    .library(name: "HeapwiseAnalysis", targets: ["HeapwiseAnalysis"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
  ],
  targets: [
    // The recorder's C sources, linked into a test process by HeapwiseBudget.
    .target(
      name: "CHeapwise",
      path: "CShim",
      // hooks_cxx.c interposes operator new for a whole process: a preload library's job, not a
      // test process's (whose libstdc++ operators reach malloc, which the scopes see anyway).
      exclude: ["README.md", "hooks_cxx.c"],
      publicHeadersPath: "include",
      // No unsafeFlags: SwiftPM refuses them in a package that others depend on by version. The
      // TLS variables name their initial-exec model themselves, and in an executable the
      // toolchain picks a static model anyway.
      cSettings: [.define("_GNU_SOURCE")],
      linkerSettings: [.linkedLibrary("unwind"), .linkedLibrary("zstd"), .linkedLibrary("dl")]
    ),
    .systemLibrary(name: "CZstd", path: "Sources/CZstd", pkgConfig: "libzstd",
                   providers: [.apt(["libzstd-dev"])]),
    .systemLibrary(name: "CLibDW", path: "Sources/CLibDW", pkgConfig: "libdw",
                   providers: [.apt(["libdw-dev"])]),
    // gzip for the pprof export.
    .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
                   providers: [.apt(["zlib1g-dev"])]),

    // Hardware CRC-32C for the reader.
    .target(name: "CKernels"),
    .target(name: "HeapwiseFormat", dependencies: ["CZstd", "CKernels"]),
    .target(name: "HeapwiseSymbols", dependencies: ["CLibDW"], exclude: ["README.md"]),
    .target(name: "HeapwiseAnalysis", dependencies: ["HeapwiseFormat", "HeapwiseSymbols"]),
    .target(name: "HeapwiseReports", dependencies: ["HeapwiseAnalysis", "CZlib"]),
    .target(name: "HeapwiseBudget", dependencies: ["CHeapwise", "HeapwiseFormat", "HeapwiseSymbols"]),
    .executableTarget(
      name: "heapwise",
      dependencies: [
        "HeapwiseFormat", "HeapwiseSymbols", "HeapwiseAnalysis", "HeapwiseReports",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]
    ),

    // What several test targets need: running a program, reproducible random inputs, a dump's facts.
    .target(name: "TestSupport", dependencies: ["HeapwiseFormat"], path: "Tests/TestSupport"),
    .testTarget(name: "HeapwiseFormatTests", dependencies: ["HeapwiseFormat", "TestSupport"]),
    .testTarget(name: "HeapwiseSymbolsTests", dependencies: ["HeapwiseSymbols", "TestSupport"]),
    .testTarget(name: "HeapwiseAnalysisTests", dependencies: ["HeapwiseAnalysis", "HeapwiseReports", "TestSupport"]),
    .testTarget(name: "HeapwiseBudgetTests", dependencies: ["HeapwiseBudget", "TestSupport"]),
    // Runs C ground-truth programs under the real preload library and decodes what it wrote.
    .testTarget(name: "RecorderTests", dependencies: ["HeapwiseFormat", "TestSupport"]),
    // Hostile situations (signals, threads, fork/exec, allocators, full disks) under the real
    // recorder, each with a deadline: docs/RECORDER.md, "Fault matrix".
    .testTarget(name: "FaultMatrixTests", dependencies: ["HeapwiseFormat", "TestSupport"]),
    // Runs the built `heapwise` command as a user would.
    .testTarget(name: "EndToEndTests", dependencies: ["HeapwiseFormat", "TestSupport"]),
  ]
)

// tools/fuzz/run.sh builds `heapwise` as a libFuzzer target (HEAPWISE_FUZZ=1 swift build
// --sanitize=fuzzer): libFuzzer's main replaces ours. The normal build never sees this.
if Context.environment["HEAPWISE_FUZZ"] == "1" {
  for target in package.targets where target.name == "heapwise" {
    target.swiftSettings = (target.swiftSettings ?? []) + [.define("HEAPWISE_FUZZ")]
  }
}
