import CLibDW

#if canImport(Glibc)
import Glibc
#endif

/// Reads what the lookup needs from an ELF file on disk, without DWARF.
enum ElfFile {
  /// libelf refuses to work until told which ELF version the caller expects; once per process.
  static let versionChecked: Bool = elf_version(UInt32(EV_CURRENT)) != UInt32(EV_NONE)

  /// The file's GNU build id; nil when the file cannot be read or is not ELF, empty when it has
  /// no build id.
  static func buildID(atPath path: String) -> [UInt8]? {
    withElf(atPath: path, buildID)
  }

  /// Calls `body` with the file opened by libelf; nil when it cannot be read or is not ELF.
  static func withElf<T>(atPath path: String, _ body: (OpaquePointer) -> T?) -> T? {
    guard versionChecked else { return nil }
    // Module paths come from the dump: a FIFO there would block the open, a device never end.
    // O_NONBLOCK, then only regular files.
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
    guard let elf = elf_begin(fd, ELF_C_READ_MMAP, nil) else { return nil }
    defer { elf_end(elf) }
    guard elf_kind(elf) == ELF_K_ELF else { return nil }
    return body(elf)
  }

  /// The GNU build id note of an opened file; empty when it has none.
  static func buildID(_ elf: OpaquePointer) -> [UInt8] {
    var bytes: UnsafeRawPointer? = nil
    let n = dwelf_elf_gnu_build_id(elf, &bytes)
    guard n > 0, let bytes else { return [] }
    return Array(UnsafeRawBufferPointer(start: bytes, count: n))
  }
}

extension ModuleImage {
  /// The module as it would be recorded if the file at `path` were loaded with load bias `base`:
  /// its build id and `PT_LOAD` segments read from the file. Nil when the file is not a readable
  /// ELF file. For tests, fixtures, and tools that symbolize a binary that is not running.
  public init?(contentsOf path: String, base: UInt64 = 0) {
    let read: (segments: [Segment], buildID: [UInt8])? = ElfFile.withElf(atPath: path) { elf in
      var count = 0
      guard elf_getphdrnum(elf, &count) == 0 else { return nil }
      var segments: [Segment] = []
      for i in 0..<count {
        var ph = GElf_Phdr()
        guard gelf_getphdr(elf, Int32(i), &ph) != nil, ph.p_type == PT_LOAD else { continue }
        segments.append(Segment(vaddr: ph.p_vaddr, memsz: ph.p_memsz, flags: ph.p_flags))
      }
      return (segments, ElfFile.buildID(elf))
    }
    guard let read else { return nil }
    self.init(path: path, buildID: read.buildID, base: base, segments: read.segments)
  }
}
