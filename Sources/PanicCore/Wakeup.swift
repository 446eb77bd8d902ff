/// A coalescing wake-up signal between the outbox writer and a delivery
/// loop. `signal` never blocks; `wait` returns on a signal or a timeout.
public final class Wakeup: @unchecked Sendable {
    private let lock = Mutex()
    private var pending = false
    private var urgentPending = false
    private var waiter: CheckedContinuation<Void, Never>?
    private var generation = 0

    public init() {}

    /// Wakes the waiter. `urgent` marks that alarms arrived: a loop in
    /// back-off tries again at once for those.
    public func signal(urgent: Bool = false) {
        let w: CheckedContinuation<Void, Never>? = lock.withLock {
            pending = true
            if urgent { urgentPending = true }
            let w = waiter
            waiter = nil
            return w
        }
        w?.resume()
    }

    /// Waits for a signal or `timeout`. Returns whether an urgent signal came.
    @discardableResult
    public func wait(timeout: Duration) async -> Bool {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitForSignal() }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
            self.cancelWaiter()
        }
        return lock.withLock {
            let urgent = urgentPending
            pending = false
            urgentPending = false
            return urgent
        }
    }

    /// Whether a signal was given and not yet taken (without taking it).
    public var isPending: Bool { lock.withLock { pending } }

    /// Takes a signal already given, without waiting: whether there was
    /// one, and whether it was urgent. (For waits on a manual clock.)
    public func take() -> (signalled: Bool, urgent: Bool) {
        lock.withLock {
            let r = (pending, urgentPending)
            pending = false
            urgentPending = false
            return r
        }
    }

    private func waitForSignal() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resumeNow: Bool = lock.withLock {
                    if pending || Task.isCancelled { return true }
                    waiter = c
                    return false
                }
                if resumeNow { c.resume() }
            }
        } onCancel: {
            self.cancelWaiter()
        }
    }

    private func cancelWaiter() {
        let w: CheckedContinuation<Void, Never>? = lock.withLock {
            let w = waiter
            waiter = nil
            return w
        }
        w?.resume()
    }
}
