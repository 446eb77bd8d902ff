import PanicCore

/// A counter that many tasks can wait on: the store bumps it after a commit
/// that changed incidents; each console event stream waits for it to pass
/// the number it last saw (or for a timeout, to send a keep-alive). A
/// wake-up only: the stream then reads the store, which is the truth.
public final class ChangeSignal: @unchecked Sendable {
    private let lock = Mutex()
    private var generation: UInt64 = 0
    private var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    private var nextWaiter: UInt64 = 0

    public init() {}

    /// The current generation.
    public var current: UInt64 { lock.withLock { generation } }

    /// Wakes every waiter.
    public func signal() {
        let woken: [CheckedContinuation<Void, Never>] = lock.withLock {
            generation &+= 1
            let w = Array(waiters.values)
            waiters.removeAll()
            return w
        }
        for c in woken { c.resume() }
    }

    /// Returns the generation once it differs from `seen`, or after `timeout`.
    @discardableResult
    public func wait(after seen: UInt64, timeout: Duration) async -> UInt64 {
        let id: UInt64 = lock.withLock { nextWaiter &+= 1; return nextWaiter }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.park(id: id, seen: seen) }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
            self.release(id)
        }
        return current
    }

    private func park(id: UInt64, seen: UInt64) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now: Bool = lock.withLock {
                    if generation != seen || Task.isCancelled { return true }
                    waiters[id] = c
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            self.release(id)
        }
    }

    private func release(_ id: UInt64) {
        let c = lock.withLock { waiters.removeValue(forKey: id) }
        c?.resume()
    }
}
