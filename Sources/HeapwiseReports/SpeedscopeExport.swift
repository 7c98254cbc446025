// `heapwise export --format speedscope`: speedscope's file format
// (https://www.speedscope.app/file-format-schema.json), one "sampled" profile whose samples are
// the recorded stacks (outermost frame first) and whose weights are the metric's figure: bytes
// (unit "bytes"), or allocations for `count` (unit "none"). docs/EXPORTS.md.
import Foundation
import HeapwiseAnalysis

public enum SpeedscopeExport {
  struct File: Encodable {
    var schema = "https://www.speedscope.app/file-format-schema.json"
    var shared: Shared
    var profiles: [Profile]
    var name: String
    var activeProfileIndex = 0
    var exporter: String

    enum CodingKeys: String, CodingKey {
      case schema = "$schema", shared, profiles, name, activeProfileIndex, exporter
    }
  }
  struct Shared: Encodable { var frames: [Frame] }
  struct Frame: Encodable {
    var name: String
    var file: String?
    var line: Int?
  }
  struct Profile: Encodable {
    var type = "sampled"
    var name: String
    var unit: String
    var startValue: UInt64 = 0
    var endValue: UInt64
    var samples: [[Int32]]
    var weights: [UInt64]
  }

  /// - Parameter title: what the profile measured, e.g. "live bytes at exit".
  public static func render(_ stacks: FunctionStacks, metric: Metric, name: String, title: String) -> String {
    var samples: [[Int32]] = []
    var weights: [UInt64] = []
    var total: UInt64 = 0
    for s in stacks.stacks {
      let w = FunctionStacks.weight(s.counters, metric)
      guard w > 0 else { continue }
      samples.append(s.path)
      weights.append(w)
      total &+= w
    }
    let file = File(
      shared: Shared(frames: stacks.functions.map {
        Frame(name: $0.module.isEmpty ? $0.name : "\($0.name) (\($0.module))", file: $0.file, line: $0.line)
      }),
      profiles: [Profile(name: title, unit: metric == .count ? "none" : "bytes", endValue: total,
                         samples: samples, weights: weights)],
      name: name, exporter: "heapwise")
    let e = JSONEncoder()
    e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    guard let data = try? e.encode(file) else { return "{}\n" }
    return String(decoding: data, as: UTF8.self) + "\n"
  }
}
