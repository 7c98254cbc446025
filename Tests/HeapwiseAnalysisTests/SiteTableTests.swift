import HeapwiseAnalysis
import HeapwiseFormat
import Testing

/// Modules whose files do not exist: every frame is `module+0xoffset`, which is enough to check
/// grouping, filters and matching without compiled programs (EndToEndTests covers real symbols).
@Suite struct SiteTableTests {
  static func script(appPath: String = "/opt/a/app") -> EventScript {
    var s = EventScript()
    s.module(1, path: appPath, base: 0x40_0000, size: 0x10000)
    s.module(2, path: "/lib/x86_64-linux-gnu/libc.so.6", base: 0x7f00_0000_0000, size: 0x10000)
    s.module(3, path: "/lib/libheapwise.so", base: 0x7e00_0000_0000, size: 0x10000)
    s.stack(1, [0x40_1000, 0x40_2000])                         // app: f at 0x1000, called from 0x2000
    s.stack(2, [0x7f00_0000_1000, 0x40_1000, 0x40_2000])       // libc (e.g. strdup), then app
    s.stack(3, [0x7e00_0000_0100, 0x40_3000, 0x40_2000])       // the recorder, then app
    s.alloc(0x100, 100, stack: 1)
    s.alloc(0x200, 30, stack: 2)
    s.alloc(0x300, 7, stack: 3)
    s.end()
    return s
  }

  static func table(_ s: EventScript, _ options: SiteOptions) -> SiteTable {
    let (replay, metrics) = s.replay()
    return SiteTable(counters: metrics.counters, resolver: FrameResolver(state: replay.state), options: options)
  }

  static func live(_ t: SiteTable) -> [String: UInt64] {
    Dictionary(uniqueKeysWithValues: t.sites.map { ($0.label, $0.counters.liveBytes) })
  }

  @Test func innermostFrameOutsideTheRecorderIsTheSite() {
    let t = Self.table(Self.script(), SiteOptions(grouping: .lineno))
    #expect(Self.live(t) == ["app+0x1000": 100, "libc.so.6+0x1000": 30, "app+0x3000": 7])
    #expect(t.total.liveBytes == 137)
    #expect(t.sorted(by: .live).map(\.label) == ["app+0x1000", "libc.so.6+0x1000", "app+0x3000"])
  }

  @Test func excludeSkipsFramesSoTheCallerBecomesTheSite() {
    let t = Self.table(Self.script(), SiteOptions(grouping: .lineno, exclude: [FrameFilter(parsing: "module:libc.so*")]))
    #expect(Self.live(t) == ["app+0x1000": 130, "app+0x3000": 7])
    #expect(t.filteredOut.isZero)
  }

  @Test func includeKeepsOnlyStacksWithAMatchingFrame() {
    let t = Self.table(Self.script(), SiteOptions(grouping: .module, include: [FrameFilter(parsing: "libc*")]))
    #expect(Self.live(t) == ["libc.so.6": 30])
    #expect(t.filteredOut.liveBytes == 107)
  }

  @Test func groupingByModuleAndCumulative() {
    let plain = Self.table(Self.script(), SiteOptions(grouping: .module))
    #expect(Self.live(plain) == ["app": 107, "libc.so.6": 30])
    let cumulative = Self.table(Self.script(), SiteOptions(grouping: .module, cumulative: true))
    #expect(Self.live(cumulative) == ["app": 137, "libc.so.6": 30])
    #expect(cumulative.total.liveBytes == 137)
    let byOffset = Self.table(Self.script(), SiteOptions(grouping: .lineno, cumulative: true))
    #expect(Self.live(byOffset)["app+0x2000"] == 137)
  }

  @Test func tracebackKeepsWholeStacks() {
    let t = Self.table(Self.script(), SiteOptions(grouping: .traceback))
    #expect(t.sites.count == 3)
    let libc = t.sites.first { $0.label == "libc.so.6+0x1000" }
    #expect(libc?.frames.map(\.moduleAndOffset) == ["libc.so.6+0x1000", "app+0x1000", "app+0x2000"])
  }

  @Test func keepingAllocatorFramesShowsTheRecorder() {
    let t = Self.table(Self.script(), SiteOptions(grouping: .module, skipAllocatorFrames: false))
    #expect(Self.live(t)["libheapwise.so"] == 7)
  }

  @Test func compareMatchesSitesOfTheSameProgramAtAnotherPath() {
    var newer = Self.script(appPath: "/home/b/build/app")
    newer.events.removeLast()
    newer.alloc(0x400, 50, stack: 1)
    newer.end()
    let options = SiteOptions(grouping: .lineno)
    let c = Comparison(old: Self.table(Self.script(), options), new: Self.table(newer, options), metric: .live)
    #expect(c.differences.first?.label == "app+0x1000")
    #expect(c.differences.first?.sizeDifference == 50)
    #expect(c.differences.first?.countDifference == 1)
    #expect(c.differences.allSatisfy { $0.status == .changed })
    #expect(c.oldTotalSize == 137 && c.newTotalSize == 187)
  }

  @Test func compareShowsNewAndGoneSites() {
    var a = EventScript(), b = EventScript()
    for s in [0, 1] {
      var x = s == 0 ? a : b
      x.module(1, path: "/bin/app", base: 0x40_0000, size: 0x10000)
      x.stack(1, [0x40_1000])
      x.stack(2, [0x40_2000])
      if s == 0 { a = x } else { b = x }
    }
    a.alloc(0x100, 10, stack: 1)
    b.alloc(0x100, 40, stack: 2)
    let options = SiteOptions(grouping: .lineno)
    let c = Comparison(old: Self.table(a, options), new: Self.table(b, options), metric: .live)
    #expect(c.differences.map(\.label) == ["app+0x2000", "app+0x1000"])
    #expect(c.differences.map(\.status) == [.new, .gone])
    #expect(c.differences.map(\.sizeDifference) == [40, -10])
  }

  @Test func stackWithoutFramesHasItsOwnSite() {
    var s = EventScript()
    s.alloc(0x100, 5, stack: 0)
    let t = Self.table(s, SiteOptions())
    #expect(Self.live(t) == ["[no call stack recorded]": 5])
  }
}
