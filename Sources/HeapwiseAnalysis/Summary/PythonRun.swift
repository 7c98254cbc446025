import HeapwiseFormat

/// How a CPython process was recorded, for the summary: the interpreter, whether Python frames
/// are in the stacks, and whether each object was an allocation of its own (PYTHONMALLOC=malloc)
/// or small objects came from pymalloc's arenas, which the dump holds only as mappings.
public struct PythonRun: Sendable, Hashable, Codable {
  public var version: String
  public var pythonFrames: Bool
  /// Why Python frames are missing, when they are.
  public var framesOffReason: String?
  /// `PYTHONMALLOC` at start, or "pymalloc" when it was not set.
  public var objectAllocator: String
  public var eachObjectRecorded: Bool

  init(_ r: PythonRuntimeRecord) {
    version = r.version
    pythonFrames = r.status == PythonRuntimeRecord.Status.on.rawValue
    framesOffReason = pythonFrames ? nil : r.reason
    objectAllocator = r.objectAllocator.isEmpty ? "pymalloc" : r.objectAllocator
    eachObjectRecorded = r.objectsUseMalloc
  }

  /// One line for the text summary.
  public var text: String {
    let frames = pythonFrames ? "Python frames on" : "Python frames off (\(framesOffReason ?? "unknown"))"
    let objects = eachObjectRecorded
      ? "every object recorded (PYTHONMALLOC=\(objectAllocator))"
      : "objects up to 512 B served by \(objectAllocator) arenas, seen only as mappings (record with --python-malloc to see each)"
    return "CPython \(version), \(frames); \(objects)"
  }
}
