import CLibDW

/// A module's ELF symbols sorted by address, read once, so that naming an address is a binary
/// search.
///
/// `dwfl_module_addrinfo` scans the whole symbol table on every call: on pyarrow's libarrow
/// (94,000 symbols, no DWARF) that was over half of what `heapwise top` spent on a pandas dump.
/// This index gives the same answer as libdwfl for every address (SymbolTableTests compares the
/// two over whole libraries): among the sized symbols that contain the address, searched first in
/// the global part of the table and then in the local part, it applies libdwfl's preference (the
/// closest start, then the stronger binding, then the smaller size, then the first in the table).
/// Where libdwfl could fall back to a sizeless symbol (assembly labels), this index does not guess:
/// it says so, and the caller asks libdwfl.
final class SymbolTable {
  enum Answer {
    case name(UnsafePointer<CChar>)
    case none
    /// A sizeless symbol may be libdwfl's answer: ask `dwfl_module_addrinfo`.
    case askLibdwfl
  }

  private let globals: Intervals
  private let locals: Intervals
  /// Where a sizeless symbol could be chosen: from its address to the next sized symbol.
  private let sizeless: Intervals

  /// Reads the symbols of `module` (main table, and the auxiliary one libdwfl merges in). The
  /// names point into libdwfl's mapped string tables, valid while the module's Dwfl lives.
  init(module: OpaquePointer) {
    var globalEntries: [Intervals.Entry] = []
    var localEntries: [Intervals.Entry] = []
    var sizelessEntries: [Intervals.Entry] = []
    let count = dwfl_module_getsymtab(module)
    // libdwfl numbers local symbols (of both tables) before global and weak ones.
    let firstGlobal = Swift.max(Int(dwfl_module_getsymtab_first_global(module)), 0)
    if count > 1 {
      for i in 1..<Int(count) {
        var sym = GElf_Sym()
        var value: GElf_Addr = 0
        var shndx: GElf_Word = 0
        guard let name = dwfl_module_getsym_info(module, Int32(i), &sym, &value, &shndx, nil, nil),
          name.pointee != 0, sym.st_shndx != UInt16(SHN_UNDEF)
        else { continue }
        let type = Int32(sym.st_info & 0xf)
        if type == STT_SECTION || type == STT_FILE || type == STT_TLS { continue }
        let binding = Self.bindingRank(sym.st_info >> 4)
        if sym.st_size == 0 {
          sizelessEntries.append(.init(start: value, end: .max, index: Int32(i), binding: binding, name: name))
        } else {
          let (end, overflow) = value.addingReportingOverflow(sym.st_size)
          let entry = Intervals.Entry(
            start: value, end: overflow ? .max : end, index: Int32(i), binding: binding, name: name)
          // With firstGlobal 0 (only a dynamic table read through program headers) every symbol
          // is in the first search, as in libdwfl.
          if i >= firstGlobal { globalEntries.append(entry) } else { localEntries.append(entry) }
        }
      }
    }
    globals = Intervals(globalEntries)
    locals = Intervals(localEntries)
    // libdwfl takes a sizeless symbol only when no sized symbol starts between it and the
    // address (that symbol's end excludes it), except that a sizeless global symbol exactly at
    // the address ends the search before the local symbols are read. So each sizeless symbol
    // gets the interval up to the next sized start, and a global one at least its own address:
    // a superset of where libdwfl could choose it. libdwfl 0.188 does not hold it to its section.
    let (g, l) = (globals, locals)
    sizeless = Intervals(sizelessEntries.compactMap { e in
      var e = e
      if let next = g.firstStart(atOrAbove: e.start) { e.end = Swift.min(e.end, next) }
      if let next = l.firstStart(atOrAbove: e.start) { e.end = Swift.min(e.end, next) }
      if e.index >= firstGlobal { e.end = Swift.max(e.end, e.start &+ 1) }
      return e.end > e.start ? e : nil
    })
  }

  func lookup(_ pc: UInt64) -> Answer {
    if let best = Self.preferred(globals.containing(pc)) { return .name(best.name) }
    if sizeless.contains(pc) { return .askLibdwfl }
    if let best = Self.preferred(locals.containing(pc)) { return .name(best.name) }
    return .none
  }

  /// libdwfl's order of preference among sized symbols that all contain the address, visited in
  /// table order.
  private static func preferred(_ candidates: [Intervals.Entry]) -> Intervals.Entry? {
    var best: Intervals.Entry?
    for c in candidates.sorted(by: { $0.index < $1.index }) {
      guard let b = best else {
        best = c
        continue
      }
      if b.start < c.start || b.binding < c.binding {
        best = c
      } else if b.start == c.start
        && ((b.size > c.size && b.binding <= c.binding) || (b.size >= c.size && b.binding < c.binding))
      {
        best = c
      }
    }
    return best
  }

  private static func bindingRank(_ binding: UInt8) -> UInt8 {
    switch Int32(binding) {
    case STB_GLOBAL: return 3
    case STB_WEAK: return 2
    case STB_LOCAL: return 1
    default: return 0
    }
  }
}

/// Address intervals sorted by start, with the running maximum of their ends: the intervals that
/// contain an address are found by a binary search and a short walk back.
private struct Intervals {
  struct Entry {
    var start: UInt64
    var end: UInt64
    var index: Int32
    var binding: UInt8
    var name: UnsafePointer<CChar>
    var size: UInt64 { end &- start }
  }

  private let entries: [Entry]
  private let maxEnd: [UInt64]

  init(_ unsorted: [Entry]) {
    entries = unsorted.sorted { $0.start < $1.start }
    var running: UInt64 = 0
    maxEnd = entries.map { e in
      running = Swift.max(running, e.end)
      return running
    }
  }

  func containing(_ pc: UInt64) -> [Entry] {
    var out: [Entry] = []
    var i = lastStarting(atOrBelow: pc)
    while i >= 0 && maxEnd[i] > pc {
      if pc < entries[i].end { out.append(entries[i]) }
      i -= 1
    }
    return out
  }

  func firstStart(atOrAbove pc: UInt64) -> UInt64? {
    var low = 0
    var high = entries.count
    while low < high {
      let mid = (low + high) / 2
      if entries[mid].start < pc { low = mid + 1 } else { high = mid }
    }
    return low < entries.count ? entries[low].start : nil
  }

  func contains(_ pc: UInt64) -> Bool {
    var i = lastStarting(atOrBelow: pc)
    while i >= 0 && maxEnd[i] > pc {
      if pc < entries[i].end { return true }
      i -= 1
    }
    return false
  }

  private func lastStarting(atOrBelow pc: UInt64) -> Int {
    var low = 0
    var high = entries.count
    while low < high {
      let mid = (low + high) / 2
      if entries[mid].start <= pc { low = mid + 1 } else { high = mid }
    }
    return low - 1
  }
}
