// PYCODE and PYTHON records and Python frame values, encoded from docs/FORMAT.md.
import Foundation
import HeapwiseFormat
import Testing

@Suite struct PythonRecordsTests {
  /// One entry of each kind of CPython's location table, first line 10.
  static let lineTable: [UInt8] = [
    0xE9, 0x02,              // no-column form, 2 units, delta +1       -> 0, 1: line 11
    0xD0, 0x05, 0x06,        // one-line form 0, 1 unit                 -> 2: 11
    0xE2, 0x01, 0x02,        // one-line form 2, 3 units                -> 3...5: 13
    0xF0, 0x07, 0x00, 0x01, 0x01,  // long form, delta -3               -> 6: 10
    0xF8,                    // no location                             -> 7: none
    0x81, 0x00,              // short form, 2 units                     -> 8, 9: 10
    0xE8, 0x48, 0x03,        // no-column form, delta +100 (two groups) -> 10: 110
  ]

  @Test func lineTableAsPyCodeAddr2Line() {
    let lines = (0...11).map { PythonLineTable.line(Self.lineTable, firstLine: 10, instruction: $0) }
    #expect(lines == [11, 11, 11, 13, 13, 13, 10, nil, 10, 10, 110, nil])
  }

  @Test func decodesCodeAndRuntimeRecordsAndFrameValues() throws {
    var code: [UInt8] = []
    code.appendUVarint(7)   // id
    code.appendUVarint(10)  // first line
    code.appendUVarint(1)   // Latin-1 file name
    let file = "caf\u{e9}.py".unicodeScalars.map { UInt8($0.value) }
    code.appendUVarint(UInt64(file.count)); code += file
    code.appendUVarint(2)   // UCS-2 qualified name
    let name = Array("f\u{3bb}".utf16)
    code.appendUVarint(UInt64(name.count * 2)); for u in name { code.appendLE(u) }
    code.appendUVarint(UInt64(Self.lineTable.count)); code += Self.lineTable
    var runtime: [UInt8] = []
    runtime.appendUVarint(0x030c01f0)
    runtime.appendUVarint(0)
    runtime.appendString("malloc")
    runtime.appendString("/opt/lib/libpython3.12.so.1.0")
    runtime.appendString("")
    let frame = PythonFrameAddress.make(codeID: 7, instruction: 3)
    var f = FrameBuilder(baseTimestamp: 1)
    f.skippable(1, tag: RecordTag.python, body: runtime)
    f.skippable(2, tag: RecordTag.pythonCode, body: code)
    f.stack(3, id: 1, frames: [0x5555_0000_1234, frame, 0x5555_0000_1000])
    var d = DumpEncoder(minor: 1)
    d.append(f, stream: 1, seq: 0)
    let events = try DumpReader(path: temporaryDump(d.bytes)).readAll()
    guard events.count == 3, case .python(let p) = events[0].record, case .pythonCode(let c) = events[1].record,
          case .stack(let s) = events[2].record
    else { Issue.record("\(events.map(describe))"); return }
    #expect(p.version == "3.12.1" && p.status == PythonRuntimeRecord.Status.on.rawValue && p.objectsUseMalloc)
    #expect(p.interpreterPath == "/opt/lib/libpython3.12.so.1.0")
    #expect(c.id == 7 && c.firstLine == 10 && c.filename == "caf\u{e9}.py" && c.qualifiedName == "f\u{3bb}")
    #expect(c.line(atInstruction: 3) == 13)
    #expect(s.frames[1] == frame && PythonFrameAddress.isPython(frame) && !PythonFrameAddress.isPython(s.frames[0]))
    #expect(PythonFrameAddress.codeID(frame) == 7 && PythonFrameAddress.instruction(frame) == 3)
  }

  @Test func aCutCodeRecordIsACorruptFrameNotACrash() throws {
    var f = FrameBuilder(baseTimestamp: 1)
    f.skippable(1, tag: RecordTag.pythonCode, body: [7, 10, 1, 200])  // a string longer than the body
    var d = DumpEncoder(minor: 1)
    d.append(f, stream: 1, seq: 0)
    let reader = try DumpReader(path: temporaryDump(d.bytes))
    _ = reader.readAll()
    #expect(!reader.warnings.isEmpty)
  }
}
