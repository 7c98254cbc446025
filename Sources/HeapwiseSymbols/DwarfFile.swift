import CLibDW

#if canImport(Glibc)
import Glibc
#endif

/// One ELF file opened with libdwfl, reported at load bias 0 so that it answers for link-time
/// addresses. A module recorded at any base maps onto it by subtracting its base, which lets every
/// process and dump that loaded the same build share one opened file.
final class DwarfFile {
  /// A frame before it is tied to a module and address.
  struct Frame: Equatable {
    var function: String?
    var file: String?
    var line: Int?
    var isInlined: Bool
  }

  private let dwfl: OpaquePointer
  let module: OpaquePointer
  private let demangle: Bool
  private let inlinedFrames: Bool

  /// Opens `path`; `callbacks` must outlive the returned object.
  init?(
    path: String, callbacks: UnsafeMutablePointer<Dwfl_Callbacks>, demangle: Bool,
    inlinedFrames: Bool
  ) {
    guard let dwfl = dwfl_begin(callbacks) else { return nil }
    dwfl_report_begin(dwfl)
    // add_p_vaddr with base 0 gives bias 0 for ET_DYN as for ET_EXEC: addresses are link-time.
    guard let module = dwfl_report_elf(dwfl, path, path, -1, 0, true) else {
      dwfl_end(dwfl)
      return nil
    }
    dwfl_report_end(dwfl, nil, nil)
    self.dwfl = dwfl
    self.module = module
    self.demangle = demangle
    self.inlinedFrames = inlinedFrames
  }

  deinit { dwfl_end(dwfl) }

  /// Frames for a link-time address, innermost first; empty when neither DWARF nor the symbol
  /// table knows it. `indexed` false asks libdw's scope walks instead of ``ScopeIndex`` (tests).
  func frames(at pc: UInt64, indexed: Bool = true) -> [Frame] {
    var frames = dwarfFrames(at: pc, indexed: indexed)
    // The symbol table names what DWARF does not cover (stripped files, assembly, no -g), and
    // functions whose DIE lacks a name.
    if frames.isEmpty || frames[frames.count - 1].function == nil {
      if let name = symbolName(at: pc) {
        if frames.isEmpty {
          frames.append(Frame(function: name, file: nil, line: nil, isInlined: false))
        } else {
          frames[frames.count - 1].function = name
        }
      }
    }
    return frames
  }

  // MARK: DWARF

  /// The DIEs around an address, innermost first, as libdw's scope calls give them.
  private enum ScopeChain {
    /// `dwarf_getscopes` found no scope (or failed): only the line table row is known.
    case none
    /// `dwarf_getscopes_die` failed.
    case broken
    case scopes([Dwarf_Die])
  }

  /// With `indexed` false, libdw's own walks answer (what ``ScopeIndex`` must equal, for tests).
  func dwarfFrames(at pc: UInt64, indexed: Bool = true) -> [Frame] {
    guard let (unit, bias) = compileUnit(at: pc) else { return [] }
    var cu = unit
    let innermostLine = sourceLine(in: &cu, at: pc - bias)

    let chain: ScopeChain
    if indexed, let index = scopeIndex(for: cu) {
      chain = index.scopes(at: pc - bias).map { .scopes($0) } ?? .none
    } else {
      chain = libdwScopes(in: &cu, at: pc - bias)
    }
    let scopes: [Dwarf_Die]
    switch chain {
    case .none:
      guard let innermostLine else { return [] }
      return [Frame(function: nil, file: innermostLine.0, line: innermostLine.1, isInlined: false)]
    case .broken:
      return []
    case .scopes(let found):
      scopes = found
    }

    var functions: [Dwarf_Die] = []
    for die in scopes {
      var d = die
      let tag = dwarf_tag(&d)
      if tag == DW_TAG_inlined_subroutine {
        functions.append(die)
      } else if tag == DW_TAG_subprogram || tag == DW_TAG_entry_point {
        functions.append(die)
        break
      }
    }
    if !inlinedFrames, let real = functions.last { functions = [real] }

    var files: OpaquePointer? = nil
    var fileCount = 0
    if dwarf_getsrcfiles(&cu, &files, &fileCount) != 0 { files = nil }

    var frames: [Frame] = []
    var file = innermostLine?.0
    var line = innermostLine?.1
    for (i, die) in functions.enumerated() {
      var d = die
      frames.append(
        Frame(function: name(of: &d), file: file, line: line, isInlined: i < functions.count - 1))
      // The next frame out is where this inlined instance was called from.
      if dwarf_tag(&d) == DW_TAG_inlined_subroutine {
        file = callFile(&d, files: files)
        line = udata(&d, DW_AT_call_line).map { Int($0) }
      }
    }
    if frames.isEmpty, let innermostLine {
      frames.append(
        Frame(function: nil, file: innermostLine.0, line: innermostLine.1, isInlined: false))
    }
    return frames
  }

  /// libdw's answer: one walk of the unit for the innermost scope (and another for an inlined
  /// instance's abstract origin), then one more for its physical parents.
  private func libdwScopes(in cu: inout Dwarf_Die, at pc: UInt64) -> ScopeChain {
    // dwarf_getscopes gives the innermost scope; when that is inside an inlined instance it
    // continues with the abstract definition's parents, not the function it was inlined into.
    // dwarf_getscopes_die from the innermost DIE walks the physical nesting instead.
    var scopes: UnsafeMutablePointer<Dwarf_Die>? = nil
    let found = dwarf_getscopes(&cu, pc, &scopes)
    guard found > 0, let scopes else {
      free(scopes)
      return .none
    }
    var chain: UnsafeMutablePointer<Dwarf_Die>? = nil
    let depth = dwarf_getscopes_die(scopes, &chain)
    free(scopes)
    defer { free(chain) }
    guard depth > 0, let chain else { return .broken }
    return .scopes((0..<Int(depth)).map { chain[$0] })
  }

  /// Per compile unit (by its DIE's address), built on its first address; nil inside: the unit
  /// is left to libdw.
  private var scopeIndexes: [UInt: ScopeIndex?] = [:]

  private func scopeIndex(for unit: Dwarf_Die) -> ScopeIndex? {
    guard let addr = unit.addr else { return nil }
    let key = UInt(bitPattern: addr)
    if let known = scopeIndexes[key] { return known }
    let built = ScopeIndex.build(unit)
    scopeIndexes[key] = built
    return built
  }

  /// Names by DIE: the evaluation loop's inlined helpers are named again for every address.
  private var names: [UInt: String?] = [:]

  private func name(of die: UnsafeMutablePointer<Dwarf_Die>) -> String? {
    guard let addr = die.pointee.addr else { return uncachedName(of: die) }
    let key = UInt(bitPattern: addr)
    if let known = names[key] { return known }
    let found = uncachedName(of: die)
    names[key] = found
    return found
  }

  private func uncachedName(of die: UnsafeMutablePointer<Dwarf_Die>) -> String? {
    var attr = Dwarf_Attribute()
    // The integrate variant follows DW_AT_abstract_origin and DW_AT_specification, where inlined
    // instances and C++ member definitions keep their names.
    for at in [DW_AT_linkage_name, DW_AT_MIPS_linkage_name] {
      if let a = dwarf_attr_integrate(die, UInt32(at), &attr), let s = dwarf_formstring(a) {
        let raw = String(cString: s)
        return demangle ? Demangler.demangle(raw) : raw
      }
    }
    guard let s = dwarf_diename(die) else { return nil }
    return String(cString: s)
  }

  private func udata(_ die: UnsafeMutablePointer<Dwarf_Die>, _ at: Int) -> UInt64? {
    var attr = Dwarf_Attribute()
    var value: Dwarf_Word = 0
    guard let a = dwarf_attr(die, UInt32(at), &attr), dwarf_formudata(a, &value) == 0 else {
      return nil
    }
    return value
  }

  private func callFile(_ die: UnsafeMutablePointer<Dwarf_Die>, files: OpaquePointer?) -> String? {
    guard let files, let index = udata(die, DW_AT_call_file),
      let s = dwarf_filesrc(files, Int(index), nil, nil)
    else { return nil }
    return String(cString: s)
  }

  /// The line table row for `pc` (in the CU's own addresses).
  private func sourceLine(in cu: inout Dwarf_Die, at pc: UInt64) -> (String, Int)? {
    guard let line = dwarf_getsrc_die(&cu, pc) else { return nil }
    var lineNumber: Int32 = 0
    guard dwarf_lineno(line, &lineNumber) == 0, lineNumber > 0,
      let file = dwarf_linesrc(line, nil, nil)
    else { return nil }
    return (String(cString: file), Int(lineNumber))
  }

  // MARK: Compile units

  /// Address ranges of every compile unit, sorted, built on the first address that libdwfl's own
  /// lookup misses. libdw before 0.191 finds CUs only through .debug_aranges, which LLVM (Swift,
  /// clang) does not emit by default.
  private var unitRanges: [(low: UInt64, high: UInt64, offset: Dwarf_Off)]?

  private func compileUnit(at pc: UInt64) -> (Dwarf_Die, UInt64)? {
    var bias: Dwarf_Addr = 0
    if let cu = dwfl_module_addrdie(module, pc, &bias) { return (cu.pointee, bias) }
    guard let dwarf = dwfl_module_getdwarf(module, &bias) else { return nil }
    if unitRanges == nil { unitRanges = Self.scanUnits(dwarf) }
    let ranges = unitRanges!
    let cuPC = pc &- bias
    // Last range starting at or below cuPC; ranges of distinct CUs do not overlap.
    var low = 0
    var high = ranges.count
    while low < high {
      let mid = (low + high) / 2
      if ranges[mid].low <= cuPC { low = mid + 1 } else { high = mid }
    }
    guard low > 0, cuPC < ranges[low - 1].high else { return nil }
    var die = Dwarf_Die()
    guard dwarf_offdie(dwarf, ranges[low - 1].offset, &die) != nil else { return nil }
    return (die, bias)
  }

  private static func scanUnits(_ dwarf: OpaquePointer) -> [(low: UInt64, high: UInt64, offset: Dwarf_Off)] {
    var out: [(low: UInt64, high: UInt64, offset: Dwarf_Off)] = []
    var offset: Dwarf_Off = 0
    var next: Dwarf_Off = 0
    var headerSize = 0
    while dwarf_nextcu(dwarf, offset, &next, &headerSize, nil, nil, nil) == 0 {
      var die = Dwarf_Die()
      let dieOffset = offset + Dwarf_Off(headerSize)
      if dwarf_offdie(dwarf, dieOffset, &die) != nil {
        var base: Dwarf_Addr = 0
        var start: Dwarf_Addr = 0
        var end: Dwarf_Addr = 0
        var at = dwarf_ranges(&die, 0, &base, &start, &end)
        while at > 0 {
          if end > start { out.append((start, end, dieOffset)) }
          at = dwarf_ranges(&die, at, &base, &start, &end)
        }
      }
      offset = next
    }
    out.sort { $0.low < $1.low }
    return out
  }

  // MARK: Symbol table

  /// Read on the first address DWARF does not name.
  private lazy var symbols = SymbolTable(module: module)

  private func symbolName(at pc: UInt64) -> String? {
    let found: UnsafePointer<CChar>
    switch symbols.lookup(pc) {
    case .name(let s): found = s
    case .none: return nil
    case .askLibdwfl:
      guard let s = libdwflSymbolName(at: pc) else { return nil }
      found = s
    }
    let raw = String(cString: found)
    return demangle ? Demangler.demangle(raw) : raw
  }

  /// libdwfl's own lookup: a scan of the whole table.
  func libdwflSymbolName(at pc: UInt64) -> UnsafePointer<CChar>? {
    var offset: GElf_Off = 0
    var sym = GElf_Sym()
    return dwfl_module_addrinfo(module, pc, &offset, &sym, nil, nil, nil)
  }

  /// The index's answer, for tests that compare it with ``libdwflSymbolName(at:)``.
  func indexedSymbolName(at pc: UInt64) -> UnsafePointer<CChar>? {
    switch symbols.lookup(pc) {
    case .name(let s): return s
    case .none: return nil
    case .askLibdwfl: return libdwflSymbolName(at: pc)
    }
  }

  /// How the index answered, for tests.
  func symbolAnswer(at pc: UInt64) -> SymbolTable.Answer { symbols.lookup(pc) }
}
