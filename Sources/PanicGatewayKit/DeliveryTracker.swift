import Foundation
import PanicCore

/// Remembers recent acceptances and deliveries so a control command can wait
/// for "its" alert to be acknowledged. Bounded; fed from the writer and the
/// uplinks, read by control-client threads.
public final class DeliveryTracker: @unchecked Sendable {
    private let condition = NSCondition()
    private var accepted: [Alert] = []
    private var delivered: [String: [String: WallTime]] = [:]
    private var order: [String] = []
    private let capacity = 2000

    public init() {}

    func recordAccepted(_ alerts: [Alert]) {
        condition.lock()
        accepted += alerts
        if accepted.count > capacity { accepted.removeFirst(accepted.count - capacity) }
        condition.broadcast()
        condition.unlock()
    }

    func recordDelivered(id: String, destination: String, at: WallTime) {
        condition.lock()
        if delivered[id] == nil {
            order.append(id)
            if order.count > capacity { delivered[order.removeFirst()] = nil }
        }
        delivered[id, default: [:]][destination] = at
        condition.broadcast()
        condition.unlock()
    }

    /// Waits for an accepted alert satisfying `predicate`.
    public func waitForAccepted(timeout: TimeInterval, where predicate: (Alert) -> Bool) -> Alert? {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let a = accepted.last(where: predicate) { return a }
            if !condition.wait(until: deadline) { return accepted.last(where: predicate) }
        }
    }

    /// Waits until `id` is delivered to all `destinations` or the time runs
    /// out; returns what was delivered where.
    public func waitForDelivery(id: String, destinations: [String], timeout: TimeInterval) -> [String: WallTime] {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while true {
            let got = delivered[id] ?? [:]
            if destinations.allSatisfy({ got[$0] != nil }) { return got }
            if !condition.wait(until: deadline) { return delivered[id] ?? [:] }
        }
    }
}
