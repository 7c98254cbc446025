// The lines `heapwise summary` adds for a sampled dump (docs/SAMPLING.md): its figures are
// estimates, and how far off they may be.
import Foundation
import HeapwiseAnalysis

public enum SampledSummaryText {
  public static func render(_ h: SampledHeap) -> String {
    let e = h.liveHeap
    var out = "sampled: one byte in \(Units.bytes(h.parameters.meanBytes)) on average (seed \(h.parameters.seed)); "
    out += "the heap figures and the verdict are estimates from the recorded blocks\n"
    out += "  live heap at the end \(Units.bytes(UInt64(e.value.rounded()))) from \(h.recordedLive) recorded blocks, "
    out += "95% interval \(EstimateReport.byteInterval(e))"
    out += e.value > 0 ? String(format: " (±%.1f%%)", 100 * e.relativeError) : ""
    out += ": a change smaller than ±\(Units.bytes(UInt64((1.96 * e.standardError).rounded()))) is within the sampling noise\n"
    if let d = h.stats?.droppedBlocks, d > 0 {
      out += "  warning: \(d) sampled blocks were dropped (the recorder's live set was full; raise HEAPWISE_SAMPLE_CAPACITY)\n"
    }
    return out
  }
}
