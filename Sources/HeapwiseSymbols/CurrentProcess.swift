import CLibDW

#if canImport(Glibc)
import Glibc
#endif

/// The modules of the running process, as the dynamic linker lists them.
public enum CurrentProcess {
  /// Every loaded module with its path, build id (read from its `PT_NOTE` segments in memory),
  /// load bias and `PT_LOAD` segments. The main executable, which the dynamic linker lists with
  /// an empty name, gets the path of `/proc/self/exe`.
  public static func modules() -> [ModuleImage] {
    // The list is copied by C code first and read afterwards: see hw_copy_phdr_infos on why no
    // Swift code may run inside dl_iterate_phdr.
    var infos = [hw_dl_phdr_info](repeating: hw_dl_phdr_info(), count: 64)
    while true {
      let count = infos.withUnsafeMutableBufferPointer { hw_copy_phdr_infos($0.baseAddress, $0.count) }
      if count <= infos.count { return infos.prefix(count).map(image) }
      infos = [hw_dl_phdr_info](repeating: hw_dl_phdr_info(), count: count + 16)
    }
  }

  private static func image(_ info: hw_dl_phdr_info) -> ModuleImage {
    var path = info.dlpi_name.map { String(cString: $0) } ?? ""
    if path.isEmpty { path = executablePath() }
    var segments: [Segment] = []
    var buildID: [UInt8] = []
    for i in 0..<Int(info.dlpi_phnum) {
      let ph = info.dlpi_phdr[i]
      if ph.p_type == PT_LOAD {
        segments.append(Segment(vaddr: ph.p_vaddr, memsz: ph.p_memsz, flags: ph.p_flags))
      } else if ph.p_type == PT_NOTE && buildID.isEmpty {
        let start = UnsafeRawPointer(bitPattern: UInt(info.dlpi_addr &+ ph.p_vaddr))
        if let start { buildID = gnuBuildID(notes: UnsafeRawBufferPointer(start: start, count: Int(ph.p_memsz))) }
      }
    }
    return ModuleImage(path: path, buildID: buildID, base: info.dlpi_addr, segments: segments)
  }

  /// Scans ELF notes (namesz, descsz, type, then name and desc padded to 4 bytes) for
  /// NT_GNU_BUILD_ID.
  static func gnuBuildID(notes: UnsafeRawBufferPointer) -> [UInt8] {
    var at = 0
    func align4(_ n: Int) -> Int { (n + 3) & ~3 }
    while at + 12 <= notes.count {
      let namesz = Int(notes.loadUnaligned(fromByteOffset: at, as: UInt32.self))
      let descsz = Int(notes.loadUnaligned(fromByteOffset: at + 4, as: UInt32.self))
      let type = notes.loadUnaligned(fromByteOffset: at + 8, as: UInt32.self)
      let nameAt = at + 12
      let descAt = nameAt + align4(namesz)
      guard descAt + descsz <= notes.count else { break }
      if type == UInt32(NT_GNU_BUILD_ID) && namesz == 4
        && Array(notes[nameAt..<nameAt + 4]) == Array("GNU\0".utf8)
      {
        return Array(notes[descAt..<descAt + descsz])
      }
      at = descAt + align4(descsz)
    }
    return []
  }

  private static func executablePath() -> String {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard n > 0 else { return "" }
    return buffer.withUnsafeBufferPointer {
      String(decoding: UnsafeRawBufferPointer($0).prefix(n), as: UTF8.self)
    }
  }
}
