// A C program compiled and recorded once per test process, shared by the tests of one suite; its
// workspace stays until the process ends.
import Testing

struct RecordedProgram {
  let ws: Workspace
  let exe: String
  let dump: String

  /// Nil when the preload library is missing or the program does not compile or record.
  static func record(_ name: String, _ source: String) -> RecordedProgram? {
    guard CLI.library != nil, let ws = try? Workspace(name), let exe = try? ws.compile(name, source),
      let dump = try? ws.record(exe, dump: "\(name).heapwise")
    else { return nil }
    return RecordedProgram(ws: ws, exe: exe, dump: dump)
  }

  /// The recording, or a recorded issue and a thrown error.
  static func require(_ recorded: RecordedProgram?, _ name: String) throws -> (ws: Workspace, exe: String, dump: String) {
    try CLI.requireLibrary()
    guard let r = recorded else {
      Issue.record("could not compile and record the \(name) test program")
      throw CLI.MissingLibrary()
    }
    return (r.ws, r.exe, r.dump)
  }
}
