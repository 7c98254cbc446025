// Typed indices: a stack id cannot be passed where a module id is expected.

/// Id of an interned call stack (STACK record). 0 means "no stack": unwinding failed.
public struct StackID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
  public var rawValue: UInt32
  public init(rawValue: UInt32) { self.rawValue = rawValue }
  public init(_ value: UInt32) { self.rawValue = value }
  public static let none = StackID(0)
  public static func < (a: StackID, b: StackID) -> Bool { a.rawValue < b.rawValue }
  public var description: String { "stack#\(rawValue)" }
}

/// Id of a loaded module (MODULE record), unique within a dump.
public struct ModuleID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
  public var rawValue: UInt32
  public init(rawValue: UInt32) { self.rawValue = rawValue }
  public init(_ value: UInt32) { self.rawValue = value }
  public static func < (a: ModuleID, b: ModuleID) -> Bool { a.rawValue < b.rawValue }
  public var description: String { "module#\(rawValue)" }
}

/// A frame stream of the dump: 0 is the process stream, k >= 1 the k-th recording thread.
public struct StreamID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
  public var rawValue: UInt32
  public init(rawValue: UInt32) { self.rawValue = rawValue }
  public init(_ value: UInt32) { self.rawValue = value }
  public static let process = StreamID(0)
  public static func < (a: StreamID, b: StreamID) -> Bool { a.rawValue < b.rawValue }
  public var description: String { "stream#\(rawValue)" }
}

/// A kernel thread id (THREAD record); several streams may see the same tid over time.
public struct ThreadID: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
  public var rawValue: UInt64
  public init(rawValue: UInt64) { self.rawValue = rawValue }
  public init(_ value: UInt64) { self.rawValue = value }
  public var description: String { "tid \(rawValue)" }
}
