import CLibDW

/// The scope DIEs of one compile unit that carry addresses, read once, so that finding the chain
/// of scopes around an address is a few binary searches instead of libdw's walks.
///
/// `dwarf_getscopes` walks the unit's DIE tree for every address (and once more to find an inlined
/// instance's abstract origin), and `dwarf_getscopes_die` walks it again: on libpython's ceval.c,
/// whose evaluation loop holds thousands of inlined instances, those walks were most of a Python
/// dump's analysis. This index answers what those two calls answer together, by the same rules:
///
/// - a DIE is a candidate when `dwarf_ranges` gives it a range holding the address; among
///   siblings the first in DIE order wins, as in libdw's preorder walk;
/// - only DIEs whose tag may own scopes (libdw's `may_have_scopes`) and that have children are
///   descended, and a DIE that does not hold the address is not descended;
/// - the innermost matching DIE and its physical parents are the chain;
/// - when the chain holds an inlined instance, libdw also looks for the deepest one's abstract
///   origin in the same unit and reports no scopes when it is not there (an origin in another
///   unit, as LTO writes): the index answers `nil` then too, so callers fall back identically.
///
/// A unit the index cannot mirror exactly (an imported unit, which libdw splices in place, or any
/// error from libdw while reading it) is not indexed: ``build(_:)`` returns nil and callers use
/// libdw's own calls. `SymbolizerTests` compares the two on every address of real dumps.
final class ScopeIndex {
  private struct Node {
    var die: Dwarf_Die
    var tag: Int32
    var parent: Int32  // -1: a child of the unit
  }

  /// One range of one child, in the slice of its parent's children.
  private struct Entry {
    var low: UInt64
    var high: UInt64
    /// The highest `high` of this entry and every earlier entry of the slice, so that a search
    /// can stop going back once no earlier range can reach the address.
    var maxHigh: UInt64
    var order: Int32  // position among the parent's children, in DIE order
    var node: Int32
  }

  private var nodes: [Node] = []
  private var entries: [Entry] = []
  /// Slice of `entries` (sorted by `low`) for each node's children, and for the unit's own.
  private var slices: [(start: Int32, count: Int32)] = []
  private var unitSlice: (start: Int32, count: Int32) = (0, 0)
  /// Addresses of every DIE libdw's origin search would visit (`Dwarf_Die.addr`).
  private var reachable: Set<UInt> = []

  private init() {}

  /// Reads the scopes of `unit` (a compile unit DIE); nil when the unit cannot be mirrored.
  static func build(_ unit: Dwarf_Die) -> ScopeIndex? {
    let index = ScopeIndex()
    var cu = unit
    guard index.walk(&cu, parent: -1, inTree: true) else { return nil }
    return index
  }

  /// The chain of scopes around `pc` (the unit's own addresses), innermost first, without the
  /// unit itself; nil when libdw's `dwarf_getscopes` would find none.
  func scopes(at pc: UInt64) -> [Dwarf_Die]? {
    var chain: [Int32] = []
    var slice = unitSlice
    while true {
      guard let child = firstChild(containing: pc, in: slice) else { break }
      chain.append(child)
      slice = slices[Int(child)]
    }
    guard let innermost = chain.last else { return nil }
    if let inlined = chain.last(where: { nodes[Int($0)].tag == DW_TAG_inlined_subroutine }) {
      guard originIsReachable(nodes[Int(inlined)].die) else { return nil }
    }
    var out: [Dwarf_Die] = []
    var at = innermost
    while at >= 0 {
      out.append(nodes[Int(at)].die)
      at = nodes[Int(at)].parent
    }
    return out
  }

  // MARK: Lookup

  /// The child (first in DIE order) with a range holding `pc`.
  private func firstChild(containing pc: UInt64, in slice: (start: Int32, count: Int32)) -> Int32? {
    let start = Int(slice.start)
    var low = start
    var high = start + Int(slice.count)
    // Past the last entry starting at or below pc.
    while low < high {
      let mid = (low + high) / 2
      if entries[mid].low <= pc { low = mid + 1 } else { high = mid }
    }
    var best: Entry?
    var i = low - 1
    while i >= start && entries[i].maxHigh > pc {
      let e = entries[i]
      if pc < e.high, best.map({ e.order < $0.order }) ?? true { best = e }
      i -= 1
    }
    return best?.node
  }

  private func originIsReachable(_ inlined: Dwarf_Die) -> Bool {
    var die = inlined
    var attr = Dwarf_Attribute()
    var origin = Dwarf_Die()
    guard let a = dwarf_attr(&die, UInt32(DW_AT_abstract_origin), &attr),
      dwarf_formref_die(a, &origin) != nil, let addr = origin.addr
    else { return false }
    return reachable.contains(UInt(bitPattern: addr))
  }

  // MARK: Building

  private static func mayHaveScopes(_ tag: Int32) -> Bool {
    switch Int(tag) {
    case DW_TAG_compile_unit, DW_TAG_module, DW_TAG_lexical_block, DW_TAG_with_stmt,
      DW_TAG_catch_block, DW_TAG_try_block, DW_TAG_entry_point, DW_TAG_inlined_subroutine,
      DW_TAG_subprogram, DW_TAG_namespace, DW_TAG_class_type, DW_TAG_structure_type:
      return true
    default:
      return false
    }
  }

  /// Visits the children of `parentDIE` as libdw's scope walk does. `inTree`: every ancestor
  /// holds addresses, so a child with ranges is a candidate. Returns false when the unit cannot
  /// be mirrored.
  private func walk(_ parentDIE: inout Dwarf_Die, parent: Int32, inTree: Bool) -> Bool {
    var collected: [(node: Int32, order: Int32, low: UInt64, high: UInt64)] = []
    var child = Dwarf_Die()
    var status = dwarf_child(&parentDIE, &child)
    if status < 0 { return false }
    var order: Int32 = 0
    while status == 0 {
      let tag = dwarf_tag(&child)
      if tag == DW_TAG_imported_unit || tag < 0 { return false }
      if let addr = child.addr { reachable.insert(UInt(bitPattern: addr)) }
      var node: Int32 = -1
      if inTree {
        var ranges: [(UInt64, UInt64)] = []
        var base: Dwarf_Addr = 0
        var start: Dwarf_Addr = 0
        var end: Dwarf_Addr = 0
        var at = dwarf_ranges(&child, 0, &base, &start, &end)
        while at > 0 {
          ranges.append((start, end))
          at = dwarf_ranges(&child, at, &base, &start, &end)
        }
        // libdw reports some of these errors as "no match" and others as a failed lookup; which
        // one depends on its internal error codes, so such a unit is left to libdw.
        if at < 0 { return false }
        // Empty ranges hold no address: dwarf_haspc tests begin <= pc < end.
        ranges.removeAll { $0.1 <= $0.0 }
        if !ranges.isEmpty {
          node = Int32(nodes.count)
          nodes.append(Node(die: child, tag: tag, parent: parent))
          slices.append((0, 0))
          for r in ranges { collected.append((node, order, r.0, r.1)) }
        }
      }
      let hasChildren = dwarf_haschildren(&child)
      if hasChildren < 0 { return false }
      if Self.mayHaveScopes(tag) && hasChildren > 0 {
        guard walk(&child, parent: node, inTree: inTree && node >= 0) else { return false }
      }
      order += 1
      var current = child
      status = dwarf_siblingof(&current, &child)
    }
    if status < 0 { return false }
    if inTree {
      collected.sort { $0.low < $1.low }
      let start = Int32(entries.count)
      var maxHigh: UInt64 = 0
      for c in collected {
        maxHigh = Swift.max(maxHigh, c.high)
        entries.append(Entry(low: c.low, high: c.high, maxHigh: maxHigh, order: c.order, node: c.node))
      }
      let slice = (start: start, count: Int32(collected.count))
      if parent >= 0 { slices[Int(parent)] = slice } else { unitSlice = slice }
    }
    return true
  }

}
