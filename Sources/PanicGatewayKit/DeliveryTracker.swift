import Foundation
import PanicCore

/// Remembers recent acceptances and deliveries so a control command can wait
/// for "its" alert to be acknowledged. Bounded; fed from the writer and the
/// uplinks, read by control-client threads.
public final class DeliveryTracker: @unchecked Sendable {
    private struct State {
        var accepted: [Alert] = []
        var delivered: [String: [String: WallTime]] = [:]
        var order: [String] = []
    }
    private let state = Monitor(State())
    private let capacity = 2000

    public init() {}

    func recordAccepted(_ alerts: [Alert]) {
        let capacity = self.capacity
        state.update { s in
            s.accepted += alerts
            if s.accepted.count > capacity { s.accepted.removeFirst(s.accepted.count - capacity) }
        }
    }

    func recordDelivered(id: String, destination: String, at: WallTime) {
        let capacity = self.capacity
        state.update { s in
            if s.delivered[id] == nil {
                s.order.append(id)
                if s.order.count > capacity { s.delivered[s.order.removeFirst()] = nil }
            }
            s.delivered[id, default: [:]][destination] = at
        }
    }

    /// Waits for an accepted alert satisfying `predicate`.
    public func waitForAccepted(timeout: TimeInterval, where predicate: (Alert) -> Bool) -> Alert? {
        state.wait(until: { $0.accepted.contains(where: predicate) }, timeout: Self.nanoseconds(timeout)) { s, _ in
            s.accepted.last(where: predicate)
        }
    }

    /// Waits until `id` is delivered to all `destinations` or the time runs
    /// out; returns what was delivered where.
    public func waitForDelivery(id: String, destinations: [String], timeout: TimeInterval) -> [String: WallTime] {
        state.wait(until: { s in destinations.allSatisfy { s.delivered[id]?[$0] != nil } }, timeout: Self.nanoseconds(timeout)) { s, _ in
            s.delivered[id] ?? [:]
        }
    }

    static func nanoseconds(_ seconds: TimeInterval) -> Nanoseconds { .init(Int64(min(max(0, seconds), 86_400) * 1e9)) }
}
