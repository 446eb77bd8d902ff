import Foundation

/// A thread of its own for blocking socket calls, so that waiting for a
/// receiver (bounded by the ack timeout) never holds a thread of the
/// cooperative pool. Jobs run one at a time, in order.
final class DC09IOThread: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [() -> Void] = []
    private var stopping = false

    init(name: String) {
        let thread = Thread { [self] in loop() }
        thread.name = name
        thread.start()
    }

    /// Runs `body` on the thread and returns its result.
    func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { (c: CheckedContinuation<T, Never>) in
            condition.lock()
            if stopping {
                condition.unlock()
                c.resume(returning: body())
                return
            }
            jobs.append { c.resume(returning: body()) }
            condition.signal()
            condition.unlock()
        }
    }

    /// Lets the thread finish the jobs queued and end.
    func stop() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while jobs.isEmpty && !stopping { condition.wait() }
            if jobs.isEmpty && stopping {
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
        }
    }
}
