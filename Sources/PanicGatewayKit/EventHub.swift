import Foundation
import PanicCore

/// Fans gateway events out to control-socket clients. `publish` never
/// blocks: each subscriber has a bounded queue, and what does not fit is
/// dropped and counted, so a stalled client cannot slow the input loop.
public final class EventHub: @unchecked Sendable {
    public final class Subscription: @unchecked Sendable {
        fileprivate let condition = NSCondition()
        fileprivate var queue: [[String: Any]] = []
        fileprivate var closed = false
        public fileprivate(set) var dropped = 0
        let capacity: Int

        init(capacity: Int) { self.capacity = capacity }

        /// Waits up to `timeout` for events; empty on timeout or when closed.
        public func next(timeout: TimeInterval) -> [[String: Any]] {
            condition.lock()
            defer { condition.unlock() }
            if queue.isEmpty && !closed { _ = condition.wait(until: Date().addingTimeInterval(timeout)) }
            let out = queue
            queue.removeAll()
            return out
        }

        public var isClosed: Bool { condition.lock(); defer { condition.unlock() }; return closed }
    }

    private let lock = SpinLock()
    private var subscribers: [ObjectIdentifier: Subscription] = [:]
    private var count = 0

    public init() {}

    /// Whether anyone listens; callers skip building events when not.
    public var hasSubscribers: Bool { lock.withLock { count > 0 } }

    public func subscribe(capacity: Int = 2000) -> Subscription {
        let s = Subscription(capacity: capacity)
        lock.withLock {
            subscribers[ObjectIdentifier(s)] = s
            count = subscribers.count
        }
        return s
    }

    public func unsubscribe(_ s: Subscription) {
        lock.withLock {
            subscribers[ObjectIdentifier(s)] = nil
            count = subscribers.count
        }
        s.condition.lock()
        s.closed = true
        s.condition.broadcast()
        s.condition.unlock()
    }

    public func publish(_ event: [String: Any]) {
        let targets = lock.withLock { Array(subscribers.values) }
        for s in targets {
            s.condition.lock()
            if s.queue.count < s.capacity { s.queue.append(event) } else { s.dropped += 1 }
            s.condition.signal()
            s.condition.unlock()
        }
    }
}
