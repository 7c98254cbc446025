// A C program compiled and recorded once per test process, shared by the tests of one suite; its
// workspace stays until the process ends.
import Foundation
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

/// `heapwise export --format pprof` of `dump` (with `options`), decoded by the PyPI protobuf package
/// against tools/interop/profile.proto: the decoder's JSON (sample types, totals, locations), or nil
/// (with a recorded issue where a tool is missing) when it cannot run here.
func pprofDecodedWithPyPI(_ dump: String, in ws: Workspace, _ options: [String] = []) throws -> [String: Any]? {
  guard let protoc = Repository.which("protoc") else {
    Issue.record("protoc is missing: tools/install-deps.sh installs protobuf-compiler")
    return nil
  }
  guard let python = try Repository.python(["protobuf", "jsonschema"]) else { return nil }
  let descriptors = ws.path("profile.desc")
  let c = try CLI.runProcess(protoc, ["--descriptor_set_out=\(descriptors)", "-I", Repository.path("tools/interop"),
                                      Repository.path("tools/interop/profile.proto")])
  #expect(c.status == 0, "\(c.stderr)")
  let profile = ws.path("decode.pb.gz")
  #expect(try CLI.run(["export", dump, "--format", "pprof", "-o", profile] + options).status == 0)
  let r = try CLI.runProcess(python, [Repository.path("tools/interop/decode_pprof.py"), descriptors, profile])
  #expect(r.status == 0, "\(r.stderr)")
  return try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] ?? [:]
}
