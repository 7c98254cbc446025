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

  /// Drops the pages wholly inside `range` from this process (the file keeps them): a frame's
  /// stored bytes are not needed once it has been checked or decoded, so resident memory stays
  /// bounded by what is in use, not by the file size.
  func release(_ range: Range<Int>) {
    guard let base = mapping else { return }
    let page = Int(sysconf(Int32(_SC_PAGESIZE)))
    let start = (range.lowerBound + page - 1) / page * page
    let end = range.upperBound / page * page
    if end > start { _ = madvise(base + start, end - start, MADV_DONTNEED) }
  }

  deinit {
    if let mapping { munmap(mapping, bytes.count) }
  }
}
