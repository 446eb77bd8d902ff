import Foundation
import PanicCore

/// Fans gateway events out to control-socket clients. `publish` never
/// blocks: each subscriber has a bounded queue, and what does not fit is
/// dropped and counted, so a stalled client cannot slow the input loop.
public final class EventHub: @unchecked Sendable {
    public final class Subscription: @unchecked Sendable {
        fileprivate struct State {
            var queue: [ControlEvent] = []
            var closed = false
            var dropped = 0
        }
        fileprivate let state = Monitor(State())
        let capacity: Int

        init(capacity: Int) { self.capacity = capacity }

        /// Events dropped because the client did not keep up.
        public var dropped: Int { state.read { $0.dropped } }

        /// Waits up to `timeout` for events; empty on timeout or when closed.
        public func next(timeout: TimeInterval) -> [ControlEvent] {
            state.wait(until: { !$0.queue.isEmpty || $0.closed }, timeout: DeliveryTracker.nanoseconds(timeout)) { s, _ in
                defer { s.queue.removeAll() }
                return s.queue
            }
        }

        public var isClosed: Bool { state.read { $0.closed } }
    }

    private let lock = Mutex()
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
        s.state.update { $0.closed = true }
    }

    public func publish(_ event: ControlEvent) {
        let targets = lock.withLock { Array(subscribers.values) }
        for s in targets {
            let capacity = s.capacity
            s.state.update { st in
                if st.queue.count < capacity { st.queue.append(event) } else { st.dropped += 1 }
            }
        }
    }
}
