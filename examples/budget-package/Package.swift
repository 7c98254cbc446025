// swift-tools-version:6.0
// An example package that keeps allocation budgets in its tests with HeapwiseBudget: Swift
// Testing traits and measurements, and the XCTest helper. heapwise's own test suite builds and
// runs it (Tests/HeapwiseBudgetTests/ExamplePackageTests.swift).
import PackageDescription

let package = Package(
  name: "budget-package",
  dependencies: [
    // In a real package: .package(url: "<heapwise repository>", from: "<version>")
    .package(name: "heapwise", path: "../.."),
  ],
  targets: [
    .target(name: "Tokenizer"),
    .testTarget(
      name: "TokenizerTests",
      dependencies: ["Tokenizer", .product(name: "HeapwiseBudget", package: "heapwise")]
    ),
  ]
)
