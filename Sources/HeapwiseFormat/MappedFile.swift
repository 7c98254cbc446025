// The dump mapped read-only: the OS pages it in and out, so memory stays bounded by what the
// reader touches, not by the file size.
#if canImport(Glibc)
import Glibc
#endif

final class MappedFile {
  let bytes: UnsafeRawBufferPointer
  private let mapping: UnsafeMutableRawPointer?

  init(path: String) throws(DumpError) {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw DumpError.cannotOpen(path: path, errno: errno) }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw DumpError.cannotOpen(path: path, errno: errno) }
    if (st.st_mode & S_IFMT) == S_IFDIR { throw DumpError.cannotOpen(path: path, errno: EISDIR) }
    let size = Int(st.st_size)
    guard size > 0 else {
      mapping = nil
      bytes = UnsafeRawBufferPointer(start: nil, count: 0)
      return
    }
    guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
      throw DumpError.cannotOpen(path: path, errno: errno)
    }
    // The frames are read front to back, twice.
    _ = madvise(p, size, MADV_SEQUENTIAL)
    mapping = p
    bytes = UnsafeRawBufferPointer(start: p, count: size)
  }

  deinit {
    if let mapping { munmap(mapping, bytes.count) }
  }
}
