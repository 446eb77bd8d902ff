import Foundation
import GRDB
import PanicCore

/// The outbox while the disk does not take what it is given: alerts and
/// delivery outcomes held in memory (`Unwritten`), written in one
/// transaction once it does, and the reserve file given up for them.
extension Outbox {
    /// Writes what is held in memory. Returns nil when nothing is left
    /// unwritten, else why the disk still does not take it.
    @discardableResult
    public func writeUnwritten(at now: WallTime) -> OutboxError? {
        writeLock.withLock {
            let before = unwritten.value
            if before.isEmpty { return nil }
            var failure = write(before, adding: [], at: now)
            if let f = failure, f.diskFull, reserve.release() { failure = write(before, adding: [], at: now) }
            if let failure {
                unwritten.mutate { $0.lastFailure = failure.message }
                return OutboxError(operation: "write \(before.alerts.count) held alert(s)", path: path, underlying: failure.message)
            }
            unwritten.mutate { u in u = Unwritten(lastAssigned: before.lastAssigned) }
            return nil
        }
    }

    /// Whether anything accepted or decided is held in memory only.
    public var hasUnwritten: Bool { !unwritten.value.isEmpty }

    /// Alerts held in memory only, and why the disk did not take them.
    public var unwrittenAlerts: (count: Int, reason: String?) {
        let u = unwritten.value
        return (u.alerts.count, u.lastFailure)
    }

    /// Counts a telemetry alert not accepted because the disk would not
    /// take it (reported as evicted once written).
    public func dropTelemetryWhileUnwritable(_ count: Int = 1) {
        writeLock.withLock { unwritten.mutate { $0.droppedTelemetry += Int64(max(0, count)) } }
    }

    /// Whether the reserve file is in place (always true without one).
    public var reserveInPlace: Bool { reserve.isInPlace }

    /// Makes the reserve file again when it was given up and there is room.
    @discardableResult
    public func restoreReserve() -> Bool { reserve.restore() }

    struct WriteFailure {
        var message: String
        var diskFull: Bool
    }

    /// One transaction: the held alerts and `adding` (in sequence order), the
    /// outcomes not yet recorded, and the counters.
    func write(_ u: Unwritten, adding new: [Unwritten.HeldAlert], at now: WallTime) -> WriteFailure? {
        do {
            try pool.write { db in
                var last: Int64 = 0
                var telemetryAdded = false
                for h in u.alerts + new {
                    let a = h.alert
                    try db.execute(
                        sql: "INSERT INTO alerts(sequence, id, kind, priority, body, accepted_at_ns) VALUES(?,?,?,?,?,?)",
                        arguments: [a.sequence, a.id, a.kind.rawValue, a.priority.rawValue, Data(h.body), a.acceptedAt.nanosecondsSinceEpoch])
                    for dest in destinations {
                        let d = h.deliveries[dest] ?? .init()
                        try db.execute(sql: """
                            INSERT INTO deliveries(destination, sequence, state, attempts, next_attempt_ns, last_error, delivered_at_ns, priority)
                            VALUES(?, ?, ?, ?, ?, ?, ?, ?)
                            """, arguments: [dest, a.sequence, d.deliveredAt == nil ? "pending" : "delivered", d.attempts,
                                             d.nextAttemptAt.nanosecondsSinceEpoch, d.lastError, d.deliveredAt?.nanosecondsSinceEpoch,
                                             a.priority.rawValue])
                    }
                    if a.priority == .telemetry { telemetryAdded = true }
                    last = a.sequence
                }
                for (key, c) in u.changes {
                    if let at = c.deliveredAt {
                        try db.execute(sql: """
                            UPDATE deliveries SET state = 'delivered', delivered_at_ns = ?, attempts = attempts + ?, last_error = NULL
                            WHERE destination = ? AND sequence = ?
                            """, arguments: [at.nanosecondsSinceEpoch, c.attempts, key.destination, key.sequence])
                    } else {
                        try db.execute(sql: """
                            UPDATE deliveries SET attempts = attempts + ?, next_attempt_ns = ?, last_error = ?
                            WHERE destination = ? AND sequence = ? AND state = 'pending'
                            """, arguments: [c.attempts, c.nextAttemptAt.nanosecondsSinceEpoch, c.lastError, key.destination, key.sequence])
                    }
                }
                if last > 0 { try OutboxSchema.setMeta(db, "last_sequence", max(last, try OutboxSchema.meta(db, "last_sequence"))) }
                if u.droppedTelemetry > 0 {
                    try OutboxSchema.setMeta(db, "evicted_telemetry", try OutboxSchema.meta(db, "evicted_telemetry") + u.droppedTelemetry)
                }
                if telemetryAdded { try evictTelemetry(db) }
            }
            return nil
        } catch let e as DatabaseError {
            return WriteFailure(message: "\(e)", diskFull: e.resultCode == .SQLITE_FULL)
        } catch {
            return WriteFailure(message: "\(error)", diskFull: false)
        }
    }

    /// A delivery outcome: applied to a held alert in memory; written for a
    /// stored one, or kept in memory beside it when the disk does not take it.
    func record(
        sequence: Int64, destination: String, what: String, _ change: (inout Unwritten.Delivery) -> Void, stored: (Database) throws -> Void
    ) throws(OutboxError) {
        let failure: Error? = writeLock.withLock {
            let heldIndex = unwritten.value.index(of: sequence)
            if let i = heldIndex {
                unwritten.mutate { u in
                    if var d = u.alerts[i].deliveries[destination] { change(&d); u.alerts[i].deliveries[destination] = d }
                }
                return nil
            }
            let key = Unwritten.Key(destination: destination, sequence: sequence)
            if unwritten.value.changes[key] == nil {
                do {
                    try pool.write { db in try stored(db) }
                    return nil
                } catch let e as DatabaseError where Self.isUnwritable(e) {
                    // Kept below.
                } catch {
                    return error
                }
            }
            unwritten.mutate { u in
                var d = u.changes[key] ?? .init()
                change(&d)
                u.changes[key] = d
            }
            return nil
        }
        if let failure { throw OutboxError(operation: what, path: path, underlying: "\(failure)") }
    }

    /// A write refused by the disk rather than by the statement: full,
    /// failing, read-only, or the file gone.
    static func isUnwritable(_ e: DatabaseError) -> Bool {
        [.SQLITE_FULL, .SQLITE_IOERR, .SQLITE_READONLY, .SQLITE_CANTOPEN, .SQLITE_BUSY, .SQLITE_LOCKED, .SQLITE_NOMEM].contains(e.resultCode)
    }
}
