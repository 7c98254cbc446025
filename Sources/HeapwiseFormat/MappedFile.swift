// The dump mapped read-only: the OS pages it in and out, so memory stays bounded by what the
// reader touches, not by the file size. A pipe or FIFO cannot be mapped (and has no size): it is
// read into memory, at most `MappedFile.maxStreamedBytes` (docs/FORMAT.md, reading rule 6).
#if canImport(Glibc)
import Glibc
#endif

final class MappedFile {
  let bytes: UnsafeRawBufferPointer
  private let mapping: UnsafeMutableRawPointer?
  /// Memory read from a pipe: its pages are the only copy, so they are never released.
  private let owned: Bool
  /// Most bytes read from a pipe or FIFO: the whole dump is held in memory, where a file's pages
  /// come and go. 1 GiB holds hours of a busy program; a larger dump needs a file.
  static let maxStreamedBytes = 1 << 30

  init(path: String) throws(DumpError) {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw DumpError.cannotOpen(path: path, errno: errno) }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw DumpError.cannotOpen(path: path, errno: errno) }
    if (st.st_mode & S_IFMT) == S_IFDIR { throw DumpError.cannotOpen(path: path, errno: EISDIR) }
    if (st.st_mode & S_IFMT) != S_IFREG {
      owned = true
      (mapping, bytes) = try Self.readAll(fd, path: path)
      return
    }
    owned = false
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
    guard let base = mapping, !owned else { return }
    let page = Int(sysconf(Int32(_SC_PAGESIZE)))
    let start = (range.lowerBound + page - 1) / page * page
    let end = range.upperBound / page * page
    if end > start { _ = madvise(base + start, end - start, MADV_DONTNEED) }
  }

  deinit {
    guard let mapping else { return }
    if owned { mapping.deallocate() } else { munmap(mapping, bytes.count) }
  }

  /// Reads a pipe, FIFO or character device to its end into memory.
  private static func readAll(_ fd: Int32, path: String) throws(DumpError) -> (UnsafeMutableRawPointer?, UnsafeRawBufferPointer) {
    var capacity = 1 << 20
    var buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
    var count = 0
    while true {
      if count == capacity {
        guard capacity < maxStreamedBytes else {
          buffer.deallocate()
          throw DumpError.tooLargeToStream(path: path, limit: maxStreamedBytes)
        }
        let bigger = UnsafeMutableRawPointer.allocate(byteCount: min(capacity * 2, maxStreamedBytes), alignment: 16)
        bigger.copyMemory(from: buffer, byteCount: count)
        buffer.deallocate()
        buffer = bigger
        capacity = min(capacity * 2, maxStreamedBytes)
      }
      let n = read(fd, buffer + count, capacity - count)
      if n < 0 {
        if errno == EINTR { continue }
        let e = errno
        buffer.deallocate()
        throw DumpError.cannotOpen(path: path, errno: e)
      }
      if n == 0 { break }
      count += n
    }
    return (buffer, UnsafeRawBufferPointer(start: buffer, count: count))
  }
}

/// Gathers ranges of a mapped file to give back and releases them a few MiB at a time: each
/// `madvise` flushes the TLB of every CPU the process runs on, an interrupt to the other core once
/// the read-ahead thread runs, and one per frame showed as a fifth of the system time. The span
/// given back may cover frames not read yet; those fault their pages in again from the page cache
/// (the mapping is read-only), so this costs time at worst, never correctness.
struct PageReleaser {
  private let file: MappedFile
  private var low = Int.max
  private var high = 0
  private static let batch = 8 << 20

  init(_ file: MappedFile) { self.file = file }

  mutating func release(_ range: Range<Int>) {
    low = min(low, range.lowerBound)
    high = max(high, range.upperBound)
    if high - low >= Self.batch { flush() }
  }

  mutating func flush() {
    if low < high { file.release(low..<high) }
    low = .max
    high = 0
  }
}

