import PanicCore

/// What the outbox accepted or decided while the disk would not take it (full,
/// failing, remounted read-only): alerts held in memory in sequence order,
/// delivery outcomes of stored alerts not yet recorded, and telemetry given
/// up. Delivery reads it beside the database, so a held alarm still goes out;
/// the next write that succeeds stores all of it in one transaction, with the
/// same ids and sequence numbers, so the receiver sees nothing new.
struct Unwritten {
    /// One held alert and its state per destination.
    struct HeldAlert {
        var alert: Alert
        var body: [UInt8]
        var deliveries: [String: Delivery]

        var pending: PendingAlert.Ordering { .init(priority: alert.priority, sequence: alert.sequence) }
    }

    /// A destination's state of a held alert, or the unrecorded change of a
    /// stored one.
    struct Delivery {
        var deliveredAt: WallTime?
        var attempts = 0
        var nextAttemptAt = WallTime(nanosecondsSinceEpoch: 0)
        var lastError: String?
    }

    struct Key: Hashable {
        var destination: String
        var sequence: Int64
    }

    /// The highest sequence number handed out, stored or not.
    var lastAssigned: Int64
    var alerts: [HeldAlert] = []
    /// Outcomes for alerts already stored, not yet written.
    var changes: [Key: Delivery] = [:]
    /// Telemetry not accepted because the disk would not take it.
    var droppedTelemetry: Int64 = 0
    /// Why the last write failed; nil once one succeeded.
    var lastFailure: String?

    var isEmpty: Bool { alerts.isEmpty && changes.isEmpty && droppedTelemetry == 0 }

    func index(of sequence: Int64) -> Int? {
        // Sequence order: a binary search would do; the list is short-lived and small.
        alerts.firstIndex { $0.alert.sequence == sequence }
    }

    /// Held alerts pending for `destination` and due by `dueBy`, as the
    /// outbox hands them to delivery.
    func pending(destination: String, dueBy: WallTime?) -> [PendingAlert] {
        alerts.compactMap { h in
            guard let d = h.deliveries[destination], d.deliveredAt == nil else { return nil }
            if let dueBy, d.nextAttemptAt > dueBy { return nil }
            return PendingAlert(
                sequence: h.alert.sequence, id: h.alert.id, kind: h.alert.kind, priority: h.alert.priority, body: h.body,
                acceptedAt: h.alert.acceptedAt, attempts: d.attempts, nextAttemptAt: d.nextAttemptAt, lastError: d.lastError,
                durable: false)
        }
    }

    /// A stored pending alert seen through the changes not yet written:
    /// nil when it was delivered meanwhile or is postponed beyond `dueBy`.
    func overlay(_ stored: PendingAlert, destination: String, dueBy: WallTime?) -> PendingAlert? {
        guard let c = changes[Key(destination: destination, sequence: stored.sequence)] else { return stored }
        if c.deliveredAt != nil { return nil }
        if let dueBy, c.nextAttemptAt > dueBy { return nil }
        var p = stored
        p.attempts += c.attempts
        p.nextAttemptAt = c.nextAttemptAt
        p.lastError = c.lastError
        return p
    }
}

extension PendingAlert {
    /// Delivery order: alarms first, then by sequence.
    struct Ordering: Comparable {
        var priority: AlertPriority
        var sequence: Int64
        static func < (a: Self, b: Self) -> Bool {
            a.priority.rawValue != b.priority.rawValue ? a.priority.rawValue < b.priority.rawValue : a.sequence < b.sequence
        }
    }

    var ordering: Ordering { .init(priority: priority, sequence: sequence) }
}
