@testable import HeapwiseFormat
import Testing

@Suite struct StreamMergeTests {
  /// Long chunks for a few streams; with many, the chunks of all of them stay near 8 MiB.
  @Test func chunkSizeShrinksWithTheNumberOfStreams() {
    #expect(StreamMerge.chunkSize(streams: 0) == 4096)
    #expect(StreamMerge.chunkSize(streams: 64) == 4096)
    #expect(StreamMerge.chunkSize(streams: 1000) == 262)
    #expect(StreamMerge.chunkSize(streams: 100_000) == 256)
    for streams in [65, 500, 1000, 1023] {
      #expect(StreamMerge.chunkSize(streams: streams) * MemoryLayout<BlockRecord>.stride * streams <= 8 << 20)
    }
  }
}
