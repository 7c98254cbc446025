import CLibDW

#if canImport(Glibc)
import Glibc
#endif

/// Turns linker names back into source names: C++ through libstdc++'s `__cxa_demangle`, Swift
/// through the runtime's `swift_demangle`. Anything else comes back unchanged.
public enum Demangler {
  public static func demangle(_ name: String) -> String {
    if name.hasPrefix("_Z") { return cxx(name) ?? name }
    if isSwift(name) { return swift(name) ?? name }
    return name
  }

  // The prefixes of Swift 5+ ("$s"), Swift 4 ("$S", "_T0") and embedded ("$e") mangling; a
  // leading underscore appears on platforms that prefix C symbols.
  static func isSwift(_ name: String) -> Bool {
    for prefix in ["$s", "$S", "$e", "_T0", "_$s", "_$S", "_$e"] where name.hasPrefix(prefix) {
      return true
    }
    return false
  }

  static func cxx(_ name: String) -> String? {
    var status: Int32 = 0
    guard let out = __cxa_demangle(name, nil, nil, &status), status == 0 else { return nil }
    defer { free(out) }
    return String(cString: out)
  }

  static func swift(_ name: String) -> String? {
    let out = name.withCString { swift_demangle($0, strlen($0), nil, nil, 0) }
    guard let out else { return nil }
    defer { free(out) }
    return String(cString: out)
  }
}
