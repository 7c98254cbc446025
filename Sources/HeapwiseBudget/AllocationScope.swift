/// Whose allocations a measurement counts.
///
/// Swift Testing runs tests in parallel, so a measurement must not count what other tests do at
/// the same time. The default, ``task``, counts the Swift task that started the measurement,
/// on whichever thread it runs: an `async` test moves between threads at every `await`, and a
/// thread that a suspended test left runs other tests' code meanwhile.
public enum AllocationScope: Sendable, Hashable {
  /// The current Swift task, wherever it runs; outside any task (an XCTest method, a plain
  /// thread), the current thread. Child tasks (`async let`, task groups, `Task {}`) are not
  /// counted: use ``process`` for code that spreads work over tasks.
  case task
  /// The current thread only. A synchronous body measures the same as with ``task``.
  case thread
  /// Every thread of the process. Counts whatever else runs at the same time, including other
  /// tests and the test runner: use it only in a serialized suite (`@Suite(.serialized)`) or
  /// an XCTest case, where the body is the only code running.
  case process
}
