#if canImport(Glibc)
import Glibc
#endif

/// Decides which file on this machine stands for a recorded module. See README.md.
///
/// A file qualifies only if its build id equals the recorded one, so a binary rebuilt since the
/// recording is never used to name addresses of the old one. A module recorded without a build id
/// can only be matched by path.
struct ModuleLocator {
  let searchPaths: [String]

  /// The candidates for `module`, in the order they are tried.
  func candidates(for module: ModuleImage) -> [String] {
    // A name without a directory ("linux-vdso.so.1") is not a file: never look it up relative to
    // the current directory.
    var out = module.path.hasPrefix("/") ? [module.path] : []
    let id = module.buildIDHex
    let name = module.path.split(separator: "/").last.map(String.init) ?? module.path
    for dir in searchPaths {
      if id.count > 2 {
        let head = id.prefix(2)
        let rest = id.dropFirst(2)
        // `.build-id/xx/rest` is the binary itself (debuginfod caches and some distributions
        // keep it), `.build-id/xx/rest.debug` its separate debug file, which also carries the
        // program headers and symbol table, so it stands in for the binary.
        out.append("\(dir)/.build-id/\(head)/\(rest)")
        out.append("\(dir)/.build-id/\(head)/\(rest).debug")
      }
      if module.path.hasPrefix("/") { out.append(dir + module.path) }
      out.append("\(dir)/\(name)")
      out.append("\(dir)/\(name).debug")
    }
    return out
  }

  /// The first candidate whose build id matches, or nil.
  func locate(_ module: ModuleImage) -> String? {
    for path in candidates(for: module) {
      guard let id = ElfFile.buildID(atPath: path) else { continue }
      if module.buildID.isEmpty {
        // Without a recorded id only the recorded path itself is trusted.
        if path == module.path && path.hasPrefix("/") { return path }
        continue
      }
      if id == module.buildID { return path }
    }
    return nil
  }
}
