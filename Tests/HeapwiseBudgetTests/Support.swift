import HeapwiseBudget
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A class whose every instance is one heap allocation: `keep` makes it escape, so the
/// optimizer cannot promote it to the stack.
final class Payload {
  var value = 0
}

nonisolated(unsafe) private var kept: AnyObject?

@inline(never) func keep(_ object: AnyObject?) { kept = object }

/// Exactly `count` mallocs of `size` bytes, each freed at once. All from one line, so one site.
let allocateAndFreeLine = #line + 2
@inline(never) func allocateAndFree(_ count: Int, size: Int = 48) {
  for _ in 0..<count { UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8).deallocate() }
}

/// Room for block pointers, allocated before a measurement so that filling and emptying it
/// inside one costs nothing. (Iterating an Array in a debug build allocates: the unspecialized
/// element accessor is a coroutine whose frame comes from malloc.)
struct Blocks: ~Copyable {
  private let slots: UnsafeMutablePointer<UnsafeMutableRawPointer>
  private(set) var count = 0
  let capacity: Int

  init(capacity: Int) {
    self.capacity = capacity
    slots = .allocate(capacity: capacity)
  }

  deinit { slots.deallocate() }

  subscript(i: Int) -> UnsafeMutableRawPointer { slots[i] }

  /// Exactly `n` mallocs of `size` bytes, all from one line.
  @inline(never) mutating func allocate(_ n: Int, size: Int) {
    precondition(count + n <= capacity)
    var i = 0
    while i < n {
      (slots + count).initialize(to: UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8))
      count += 1
      i += 1
    }
  }

  /// Frees every block.
  mutating func release() {
    while count > 0 {
      count -= 1
      slots[count].deallocate()
    }
  }
}

/// A thread of our own that allocates on request, so a test can make another thread allocate
/// while a measurement is open without the measurement seeing the thread being created.
final class Worker: @unchecked Sendable {
  private let request = Atomic<Int>(0)   // blocks to allocate and free; -1 stops the thread
  private let done = Atomic<Int>(0)
  private var handedOver: UnsafeMutableRawPointer?
  private var job: (Int) -> Void = workerAllocate
  private var thread = pthread_t()

  init() {
    let box = Unmanaged.passRetained(self).toOpaque()
    pthread_create(&thread, nil, { arg in
      let worker = Unmanaged<Worker>.fromOpaque(arg!).takeRetainedValue()
      worker.loop()
      return nil
    }, box)
  }

  private func loop() {
    while true {
      let n = request.load(ordering: .acquiring)
      if n == 0 { sched_yield(); continue }
      if n < 0 { return }
      if let p = handedOver {
        p.deallocate()
        handedOver = nil
      } else {
        job(n)
      }
      request.store(0, ordering: .relaxed)
      done.add(1, ordering: .releasing)
    }
  }

  /// Makes the worker allocate and free `count` blocks with `job` (a function without context,
  /// so passing it allocates nothing), and waits until it has.
  func allocate(_ count: Int, with job: @escaping (Int) -> Void = workerAllocate) {
    self.job = job
    run(count)
  }

  /// Makes the worker free `block`, and waits until it has.
  func free(_ block: UnsafeMutableRawPointer) {
    handedOver = block
    run(1)
  }

  private func run(_ n: Int) {
    let before = done.load(ordering: .acquiring)
    request.store(n, ordering: .releasing)
    while done.load(ordering: .acquiring) == before { sched_yield() }
  }

  func stop() {
    request.store(-1, ordering: .releasing)
    pthread_join(thread, nil)
  }
}

let workerAllocateLine = #line + 2
@inline(never) func workerAllocate(_ count: Int) {
  for _ in 0..<count { UnsafeMutableRawPointer.allocate(byteCount: 40, alignment: 8).deallocate() }
}

/// The same, from a line of its own: for the one test whose process-wide measurement must tell
/// its worker from the workers of tests running at the same time.
let processWorkerLine = #line + 2
@inline(never) func processWorkerAllocate(_ count: Int) {
  for _ in 0..<count { UnsafeMutableRawPointer.allocate(byteCount: 40, alignment: 8).deallocate() }
}

extension AllocationUsage {
  /// Allocations attributed to the site at `file:line` (named `function (file:line)`).
  func allocations(at location: String) -> Int {
    topSites(limit: .max).first { $0.location.hasSuffix("(\(location))") }?.allocations ?? 0
  }
}
