// AGGREGATE (skippable tag 0x85, format 1.2; sampled sites 1.3, their peak terms 1.4): the per-site counters of aggregated mode
// (docs/AGGREGATE.md, docs/FORMAT.md). One snapshot may span several records ("parts").

public struct AggregateRecord: Sendable, Hashable {
  public enum Kind: UInt64, Sendable {
    /// The totals of a flush (the latest one: each flush replaces the previous set).
    case totals = 0
    /// A moment's snapshot: a marker or a signal in aggregated mode, under the marker's name.
    case moment = 1
  }
  public var kind: UInt64
  /// 0 for the first record of a snapshot; the following parts add their sites to it.
  public var part: UInt64
  public var name: String
  /// Sampling period in bytes whose weights the counters already hold; 0: every allocation counted.
  public var samplePeriod: UInt64
  /// Live heap bytes the recorder counted when it wrote the snapshot.
  public var liveTotal: UInt64
  /// Live heap bytes at the last peak moment (the sites' `peakBytes` are theirs at that moment).
  public var peakTotal: UInt64
  /// Allocations left uncounted because the recorder's live map was full.
  public var untracked: UInt64
  public var sites: [AggregateSite]

  public init(kind: UInt64, part: UInt64 = 0, name: String = "", samplePeriod: UInt64 = 0, liveTotal: UInt64 = 0,
              peakTotal: UInt64 = 0, untracked: UInt64 = 0, sites: [AggregateSite]) {
    self.kind = kind; self.part = part; self.name = name; self.samplePeriod = samplePeriod
    self.liveTotal = liveTotal; self.peakTotal = peakTotal; self.untracked = untracked; self.sites = sites
  }
}

/// One site's counters since the start of the recording.
public struct AggregateSite: Sendable, Hashable {
  public var stack: StackID
  public var allocations: UInt64
  public var allocatedBytes: UInt64
  public var frees: UInt64
  public var freedBytes: UInt64
  /// The site's live bytes and blocks at the last peak moment.
  public var peakBytes: UInt64
  public var peakBlocks: UInt64
  /// In a sampled aggregated dump (the record's sample period is not 0): the recorded blocks and
  /// the variance terms behind the counters above, which are then estimates.
  public var sampled: AggregateSampledSite?

  public init(stack: StackID, allocations: UInt64, allocatedBytes: UInt64, frees: UInt64, freedBytes: UInt64,
              peakBytes: UInt64 = 0, peakBlocks: UInt64 = 0, sampled: AggregateSampledSite? = nil) {
    self.stack = stack; self.allocations = allocations; self.allocatedBytes = allocatedBytes
    self.frees = frees; self.freedBytes = freedBytes; self.peakBytes = peakBytes; self.peakBlocks = peakBlocks
    self.sampled = sampled
  }

  /// Counters are read one by one while the program runs: a snapshot may hold a free whose
  /// allocation it does not yet count. Live never goes below zero.
  public var liveBytes: UInt64 { allocatedBytes > freedBytes ? allocatedBytes - freedBytes : 0 }
  public var liveBlocks: UInt64 { allocations > frees ? allocations - frees : 0 }
}

/// A sampled site's extra counters (docs/FORMAT.md, AGGREGATE): each recorded block added its
/// Horvitz-Thompson weights to the site's counts and bytes, and w(w-1) and w(w-1)s^2/R (the terms
/// of the estimates' variance; R the sample period) to these, all rounded without bias; its free
/// added the same to the freed side.
public struct AggregateSampledSite: Sendable, Hashable {
  public var recordedAllocations: UInt64
  public var recordedFrees: UInt64
  public var allocationsVariance: UInt64
  /// In units of R bytes^2.
  public var allocatedBytesVariance: UInt64
  public var freesVariance: UInt64
  public var freedBytesVariance: UInt64
  /// The same terms of the blocks live at the last peak moment (1.4); nil in a 1.3 dump, whose
  /// recorder kept only the peak's bytes and blocks.
  public var atPeak: AggregatePeakTerms?

  public init(recordedAllocations: UInt64, recordedFrees: UInt64, allocationsVariance: UInt64,
              allocatedBytesVariance: UInt64, freesVariance: UInt64, freedBytesVariance: UInt64,
              atPeak: AggregatePeakTerms? = nil) {
    self.recordedAllocations = recordedAllocations; self.recordedFrees = recordedFrees
    self.allocationsVariance = allocationsVariance; self.allocatedBytesVariance = allocatedBytesVariance
    self.freesVariance = freesVariance; self.freedBytesVariance = freedBytesVariance
    self.atPeak = atPeak
  }
}

/// A sampled site's blocks live at the last peak moment (format 1.4): how many were recorded, and
/// the sums of their count and byte variance terms, w(w-1) and w(w-1)s^2/R (in units of R bytes^2).
public struct AggregatePeakTerms: Sendable, Hashable {
  public var recorded: UInt64
  public var countVariance: UInt64
  public var bytesVariance: UInt64

  public init(recorded: UInt64, countVariance: UInt64, bytesVariance: UInt64) {
    self.recorded = recorded; self.countVariance = countVariance; self.bytesVariance = bytesVariance
  }
}

extension AggregateRecord {
  /// Largest counter accepted: 2^62 (4 EiB, or 4.6e18 calls) is beyond what one process's run
  /// can count, and keeps the reports' sums over sites far from wrapping.
  static let maxCounter: UInt64 = 1 << 62

  init(body: UnsafeRawBufferPointer, stackLimit: UInt64) throws(FrameDecodeError) {
    var c = ByteCursor(base: body.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, count: body.count)
    do {
      kind = try c.uvarint()
      part = try c.uvarint()
      name = String(dumpBytes: try c.lengthPrefixed())
      samplePeriod = try c.uvarint()
      liveTotal = try c.uvarint()
      peakTotal = try c.uvarint()
      untracked = try c.uvarint()
      let at = c.position
      let count = try c.uvarint()
      // Each site takes at least 7 bytes.
      guard count <= UInt64(c.available / 7) else { throw FrameDecodeError(reason: "aggregate site count \(count)", offset: at) }
      sites = []
      sites.reserveCapacity(Int(count))
      var stack: UInt64 = 0
      for _ in 0..<count {
        let siteAt = c.position
        stack &+= try c.uvarint()
        guard stack >= 1, stack <= stackLimit else {
          throw FrameDecodeError(reason: "aggregate stack id \(stack) beyond the limit \(stackLimit)", offset: siteAt)
        }
        let v = (try c.uvarint(), try c.uvarint(), try c.uvarint(), try c.uvarint(), try c.uvarint(), try c.uvarint())
        guard max(v.0, v.1, v.2, v.3, v.4, v.5) <= Self.maxCounter else {
          throw FrameDecodeError(reason: "aggregate counter is impossible", offset: siteAt)
        }
        var sampled: AggregateSampledSite?
        if samplePeriod != 0 {
          let e = (try c.uvarint(), try c.uvarint(), try c.uvarint(), try c.uvarint(), try c.uvarint(), try c.uvarint())
          guard max(e.0, e.1, e.2, e.3, e.4, e.5) <= Self.maxCounter else {
            throw FrameDecodeError(reason: "aggregate counter is impossible", offset: siteAt)
          }
          sampled = AggregateSampledSite(recordedAllocations: e.0, recordedFrees: e.1, allocationsVariance: e.2,
                                         allocatedBytesVariance: e.3, freesVariance: e.4, freedBytesVariance: e.5)
        }
        sites.append(AggregateSite(stack: StackID(UInt32(stack)), allocations: v.0, allocatedBytes: v.1, frees: v.2,
                                   freedBytes: v.3, peakBytes: v.4, peakBlocks: v.5, sampled: sampled))
      }
      // 1.4: after the sites, a sampled record gives each site's terms at the last peak, in the
      // sites' order (a 1.3 record ends at its last site; a 1.3 reader stops there).
      if samplePeriod != 0 && c.available > 0 {
        for i in sites.indices {
          let siteAt = c.position
          let t = (try c.uvarint(), try c.uvarint(), try c.uvarint())
          guard max(t.0, t.1, t.2) <= Self.maxCounter else {
            throw FrameDecodeError(reason: "aggregate counter is impossible", offset: siteAt)
          }
          sites[i].sampled?.atPeak = AggregatePeakTerms(recorded: t.0, countVariance: t.1, bytesVariance: t.2)
        }
      }
      guard liveTotal <= Self.maxCounter, peakTotal <= Self.maxCounter else {
        throw FrameDecodeError(reason: "aggregate total is impossible", offset: 0)
      }
    } catch let e as CursorError {
      throw FrameDecodeError(reason: "aggregate record: " + (e.kind == .truncated ? "runs past its length" : "malformed varint"),
                             offset: e.offset)
    } catch let e as FrameDecodeError {
      throw e
    } catch {
      throw FrameDecodeError(reason: "\(error)", offset: 0)
    }
  }
}
