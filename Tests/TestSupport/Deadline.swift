// A deadline for in-process work that could hang (a blocking open, a loop over 2^36 pages).
// Swift Testing's `.timeLimit` counts from when the test is scheduled: with two cores and the
// cooperative pool busy with other suites' subprocess waits, a 8 ms test exceeded one minute.
// This clock starts when the work starts, on a thread of its own.
import Foundation

public struct DeadlineExceeded: Error, CustomStringConvertible {
  public let seconds: Double
  public var description: String { "did not finish within \(seconds) s of starting" }
}

/// Runs `work` on its own thread and returns its result, or throws once `seconds` have passed
/// since it started (the thread is left behind: the test has failed, the process ends soon).
public func finishing<T: Sendable>(within seconds: Double, _ work: @escaping @Sendable () throws -> T) throws -> T {
  let box = ResultBox<T>()
  let done = DispatchSemaphore(value: 0)
  let thread = Thread {
    box.result = Result { try work() }
    done.signal()
  }
  thread.start()
  guard done.wait(timeout: .now() + seconds) == .success, let result = box.result else {
    throw DeadlineExceeded(seconds: seconds)
  }
  return try result.get()
}

private final class ResultBox<T>: @unchecked Sendable { var result: Result<T, Error>? } // written before the signal, read after
