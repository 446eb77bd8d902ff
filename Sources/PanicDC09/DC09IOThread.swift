import Foundation
import PanicCore

/// A thread of its own for blocking socket calls, so that waiting for a
/// receiver (bounded by the ack timeout) never holds a thread of the
/// cooperative pool. Jobs run one at a time, in order.
final class DC09IOThread: @unchecked Sendable {
    private let state = Monitor((jobs: [() -> Void](), stopping: false))

    init(name: String) {
        let thread = Thread { [self] in loop() }
        thread.name = name
        thread.start()
    }

    /// Runs `body` on the thread and returns its result.
    func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { (c: CheckedContinuation<T, Never>) in
            let queued: Bool = state.update { s in
                if s.stopping { return false }
                s.jobs.append { c.resume(returning: body()) }
                return true
            }
            if !queued { c.resume(returning: body()) }
        }
    }

    /// Lets the thread finish the jobs queued and end.
    func stop() {
        state.update { $0.stopping = true }
    }

    private func loop() {
        while true {
            let job: (() -> Void)? = state.wait(until: { !$0.jobs.isEmpty || $0.stopping }) { s, _ in
                s.jobs.isEmpty ? nil : s.jobs.removeFirst()
            }
            guard let job else { return }
            job()
        }
    }
}
