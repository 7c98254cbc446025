// Stacks aggregated into sites.
import HeapwiseFormat

public struct Site: Sendable, Hashable, Codable {
  /// Matches the same site in another dump (see SourceFrame.portableKey).
  public var key: String
  /// How reports name the site.
  public var label: String
  /// The site's frames: the whole traceback (innermost first) for `traceback`, else one frame.
  public var frames: [SourceFrame]
  public var counters: StackCounters
}

public struct SiteTable: Sendable {
  public var options: SiteOptions
  /// Unsorted; see `sorted(by:)`.
  public var sites: [Site]
  /// Sum over every stack that the filters kept, each once (also in cumulative mode).
  public var total: StackCounters
  /// Sum over stacks that the include/exclude filters left out.
  public var filteredOut: StackCounters

  /// Groups `counters` into sites; only stacks with a non-zero counter are symbolized.
  public init(counters: StackCounterTable, resolver: FrameResolver, options: SiteOptions) {
    self.options = options
    sites = []
    total = StackCounters()
    filteredOut = StackCounters()
    var indexByKey: [String: Int] = [:]
    var keyCache: [Int32: (key: String, label: String)] = [:]
    var candidateCache: [Int32: Bool] = [:]

    func add(_ key: String, _ label: String, _ frames: @autoclosure () -> [SourceFrame], _ c: StackCounters) {
      if let i = indexByKey[key] {
        sites[i].counters.add(c)
      } else {
        indexByKey[key] = sites.count
        sites.append(Site(key: key, label: label, frames: frames(), counters: c))
      }
    }

    for (i, c) in counters where !c.isZero {
      let stack = StackID(UInt32(i))
      var all = i == 0 ? [] : resolver.frames(of: stack, interpreterNames: options.showInterpreterFrames)
      var kept = all.filter { f in
        if let known = candidateCache[f] { return known }
        let ok = options.isCandidate(resolver.frame(f))
        candidateCache[f] = ok
        return ok
      }
      if !options.showInterpreterFrames && all.contains(where: { resolver.frame($0).kind == .interpreter }) {
        let chosen = options.candidates(all.map(resolver.frame))
        if chosen.contains(where: { resolver.frame(all[$0]).kind == .interpreter }) {
          // Nothing but the interpreter: name its frames after all (only the site's own when one
          // frame is the site: start-up stacks are many, and libpython's DWARF is slow to read).
          let shown = options.showingInterpreterFrames
          if options.grouping != .traceback && !options.cumulative {
            kept = resolver.firstFrameIndex(of: stack, where: shown.isCandidate).map { [$0] } ?? []
          } else {
            all = resolver.frames(of: stack)
            kept = shown.candidates(all.map(resolver.frame)).map { all[$0] }
          }
        } else {
          kept = chosen.map { all[$0] }
        }
      }
      if kept.isEmpty {
        if all.isEmpty {
          total.add(c)
          add("<no stack>", "[no call stack recorded]", [], c)
        } else if options.hasUserFilters {
          filteredOut.add(c)
        } else {
          total.add(c)
          add("<allocator>", "[only allocator frames]", [], c)
        }
        continue
      }
      total.add(c)
      func siteKey(_ f: Int32) -> (key: String, label: String) {
        if let k = keyCache[f] { return k }
        let k = options.key(for: resolver.frame(f))
        keyCache[f] = k
        return k
      }
      let named = kept[SiteOptions.siteFrame(kept.map(resolver.frame)) ?? 0]
      if options.grouping == .traceback {
        let key = kept.map { siteKey($0).key }.joined(separator: "\n")
        add(key, siteKey(named).label, kept.map(resolver.frame), c)
      } else if options.cumulative {
        var seen = Set<String>()
        for f in kept {
          let k = siteKey(f)
          if seen.insert(k.key).inserted { add(k.key, k.label, [resolver.frame(f)], c) }
        }
      } else {
        let k = siteKey(named)
        add(k.key, k.label, [resolver.frame(named)], c)
      }
    }
  }
}
