// AGGREGATE records (format 1.2, sampled sites 1.3, their peak terms 1.4), encoded from docs/FORMAT.md, not by the recorder.
import Foundation
import HeapwiseFormat
import Testing

@Suite struct AggregateRecordTests {
  /// kind, part, name, period, live, peak, untracked, then the sites (stack deltas).
  static func body(kind: UInt64, part: UInt64, name: String, sites: [(UInt64, [UInt64])], count: UInt64? = nil,
                   period: UInt64 = 0) -> [UInt8] {
    var b: [UInt8] = []
    b.appendUVarint(kind); b.appendUVarint(part); b.appendString(name)
    b.appendUVarint(period); b.appendUVarint(5000); b.appendUVarint(4000); b.appendUVarint(3)
    b.appendUVarint(count ?? UInt64(sites.count))
    var previous: UInt64 = 0
    for (stack, values) in sites {
      b.appendUVarint(stack - previous); previous = stack
      for v in values { b.appendUVarint(v) }
    }
    return b
  }

  @Test func decodesTotalsAndMoments() throws {
    var f = FrameBuilder(baseTimestamp: 1)
    f.stack(1, id: 1, frames: [0x1000]); f.stack(1, id: 2, frames: [0x2000]); f.stack(1, id: 9, frames: [0x3000])
    f.skippable(2, tag: RecordTag.aggregate, body: Self.body(kind: 1, part: 0, name: "batch", sites: [(2, [4, 400, 1, 100, 0, 0])]))
    var tail = FrameBuilder(baseTimestamp: 5)
    tail.skippable(5, tag: RecordTag.aggregate, body: Self.body(kind: 0, part: 0, name: "", sites: [(1, [10, 1000, 4, 400, 700, 7]), (2, [5, 500, 5, 500, 0, 0])]))
    tail.skippable(5, tag: RecordTag.aggregate, body: Self.body(kind: 0, part: 1, name: "", sites: [(9, [1, 64, 0, 0, 64, 1])]))
    var d = DumpEncoder(minor: 2, flags: FormatConstants.headerFlagAggregate)
    d.append(f, stream: 1, seq: 0)
    d.append(tail, stream: FormatConstants.aggregateStream, seq: 0)
    let reader = try DumpReader(path: temporaryDump(d.bytes))
    #expect(reader.header.isAggregated)
    let records = reader.readAll().compactMap { e -> AggregateRecord? in
      if case .aggregate(let a) = e.record { return a } else { return nil }
    }
    #expect(reader.warnings.allSatisfy { $0 == .missingEnd }, "\(reader.warnings)")
    #expect(records.count == 3)
    #expect(records[0].name == "batch" && records[0].sites == [AggregateSite(stack: StackID(2), allocations: 4, allocatedBytes: 400, frees: 1, freedBytes: 100)])
    #expect(records[1].liveTotal == 5000 && records[1].peakTotal == 4000 && records[1].untracked == 3)
    #expect(records[1].sites.map(\.stack.rawValue) == [1, 2] && records[2].part == 1 && records[2].sites[0].stack.rawValue == 9)
    #expect(records[1].sites[0].liveBytes == 600 && records[1].sites[0].liveBlocks == 6 && records[1].sites[0].peakBytes == 700)
  }

  /// 1.3: with a sample period, each site has six more counters (recorded blocks allocated and
  /// freed, the variance terms).
  @Test func aSampledSiteCarriesItsVarianceTerms() throws {
    var f = FrameBuilder(baseTimestamp: 1)
    f.stack(1, id: 3, frames: [0x1000])
    var tail = FrameBuilder(baseTimestamp: 5)
    tail.skippable(5, tag: RecordTag.aggregate, body: Self.body(kind: 0, part: 0, name: "", sites: [
      (3, [40_000, 1_000_000, 10_000, 250_000, 0, 0, 30, 10, 90_000, 2_000_000, 40_000, 500_000]),
    ], period: 8192))
    var d = DumpEncoder(minor: 3, flags: FormatConstants.headerFlagAggregate)
    d.append(f, stream: 1, seq: 0)
    d.append(tail, stream: FormatConstants.aggregateStream, seq: 0)
    let reader = try DumpReader(path: temporaryDump(d.bytes))
    let totals = reader.readAll().compactMap { e -> AggregateRecord? in
      if case .aggregate(let a) = e.record { return a } else { return nil }
    }.first
    #expect(reader.warnings.allSatisfy { $0 == .missingEnd }, "\(reader.warnings)")
    let site = try #require(totals?.sites.first)
    #expect(totals?.samplePeriod == 8192 && totals?.sites.count == 1)
    #expect(site.allocations == 40_000 && site.freedBytes == 250_000 && site.liveBytes == 750_000)
    #expect(site.sampled == AggregateSampledSite(recordedAllocations: 30, recordedFrees: 10, allocationsVariance: 90_000,
                                                 allocatedBytesVariance: 2_000_000, freesVariance: 40_000, freedBytesVariance: 500_000))
  }

  /// A sampled record with `peak`, the 1.4 terms after the sites (three per site), or without.
  static func sampledDump(peak: [[UInt64]]?) throws -> (records: [AggregateRecord], warnings: [DumpWarning]) {
    var f = FrameBuilder(baseTimestamp: 1)
    f.stack(1, id: 3, frames: [0x1000]); f.stack(1, id: 5, frames: [0x2000])
    var body = Self.body(kind: 0, part: 0, name: "", sites: [
      (3, [40_000, 1_000_000, 10_000, 250_000, 600_000, 30_000, 30, 10, 90_000, 2_000_000, 40_000, 500_000]),
      (5, [2, 2_000_000, 0, 0, 2_000_000, 2, 2, 0, 0, 0, 0, 0]),
    ], period: 8192)
    for terms in peak ?? [] { for v in terms { body.appendUVarint(v) } }
    var tail = FrameBuilder(baseTimestamp: 5)
    tail.skippable(5, tag: RecordTag.aggregate, body: body)
    var d = DumpEncoder(minor: 4, flags: FormatConstants.headerFlagAggregate)
    d.append(f, stream: 1, seq: 0)
    d.append(tail, stream: FormatConstants.aggregateStream, seq: 0)
    let reader = try DumpReader(path: temporaryDump(d.bytes))
    let records = reader.readAll().compactMap { e -> AggregateRecord? in
      if case .aggregate(let a) = e.record { return a } else { return nil }
    }
    return (records, reader.warnings)
  }

  /// 1.4: after the sites, each site's recorded blocks and variance terms at the last peak, in the
  /// sites' order; a 1.3 record (nothing after the sites) has none.
  @Test func aSampledRecordCarriesThePeakTermsAfterItsSites() throws {
    let (records, warnings) = try Self.sampledDump(peak: [[20, 60_000, 1_500_000], [2, 0, 0]])
    #expect(warnings.allSatisfy { $0 == .missingEnd }, "\(warnings)")
    let sites = try #require(records.first?.sites)
    #expect(sites.map { $0.sampled?.atPeak } == [AggregatePeakTerms(recorded: 20, countVariance: 60_000, bytesVariance: 1_500_000),
                                                  AggregatePeakTerms(recorded: 2, countVariance: 0, bytesVariance: 0)])
    #expect(sites[0].sampled?.freedBytesVariance == 500_000 && sites[0].peakBytes == 600_000)
    let (old, oldWarnings) = try Self.sampledDump(peak: nil)
    #expect(oldWarnings.allSatisfy { $0 == .missingEnd }, "\(oldWarnings)")
    #expect(old.first?.sites.map { $0.sampled?.atPeak == nil } == [true, true])
  }

  /// Terms for fewer sites than the record has, or a term above 2^62: a corrupt frame, not a misread.
  @Test func shortOrImpossiblePeakTermsAreACorruptFrame() throws {
    let (_, short) = try Self.sampledDump(peak: [[20, 60_000, 1_500_000]])
    #expect(short.contains { $0.description.contains("aggregate record: runs past its length") }, "\(short)")
    let (_, big) = try Self.sampledDump(peak: [[20, 60_000, 1 << 63], [2, 0, 0]])
    #expect(big.contains { $0.description.contains("aggregate counter is impossible") }, "\(big)")
  }

  @Test func aSiteCountTheBodyCannotHoldIsACorruptFrame() throws {
    var f = FrameBuilder(baseTimestamp: 1)
    f.skippable(1, tag: RecordTag.aggregate, body: Self.body(kind: 0, part: 0, name: "", sites: [], count: 1 << 40))
    var d = DumpEncoder(minor: 2, flags: FormatConstants.headerFlagAggregate)
    d.append(f, stream: FormatConstants.aggregateStream, seq: 0)
    let reader = try DumpReader(path: temporaryDump(d.bytes))
    _ = reader.readAll()
    #expect(reader.warnings.contains { $0.description.contains("aggregate site count") }, "\(reader.warnings)")
  }

  @Test func aStackIDBeyondTheLimitIsACorruptFrame() throws {
    var f = FrameBuilder(baseTimestamp: 1)
    f.skippable(1, tag: RecordTag.aggregate, body: Self.body(kind: 0, part: 0, name: "", sites: [(1 << 30, [1, 1, 0, 0, 0, 0])]))
    var d = DumpEncoder(minor: 2, flags: FormatConstants.headerFlagAggregate)
    d.append(f, stream: FormatConstants.aggregateStream, seq: 0)
    let reader = try DumpReader(path: temporaryDump(d.bytes))
    _ = reader.readAll()
    #expect(reader.warnings.contains { $0.description.contains("aggregate stack id") }, "\(reader.warnings)")
  }
}
