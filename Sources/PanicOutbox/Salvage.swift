import Foundation
import GRDB
import PanicCore

/// Carries what can still be read out of a corrupt outbox into a fresh one.
enum Salvage {
    /// Sequence numbers jump by this much after a corruption: the newest
    /// numbers of the lost file may be unreadable, and a number must never be
    /// used twice. The receiver sees the jump as a gap, explained by the
    /// trouble alert that reports the corruption.
    static let sequenceJump: Int64 = 1_000

    /// Returns how many alerts were carried over. Alerts whose delivery state
    /// cannot be read are pending again everywhere: the receiver
    /// de-duplicates, so sending twice is safe and losing is not.
    static func carry(from corruptPath: String, into pool: DatabasePool, destinations: [String]) throws -> Int {
        var config = Configuration()
        config.readonly = true
        var alerts: [(Int64, String, String, Int, Data, Int64)] = []
        var delivered = Set<String>()
        var lastSequence: Int64 = 0
        if let old = try? DatabaseQueue(path: corruptPath, configuration: config) {
            try? old.read { db in
                lastSequence = (try? OutboxSchema.meta(db, "last_sequence")) ?? 0
                if let cursor = try? Row.fetchCursor(db, sql: "SELECT sequence, id, kind, priority, body, accepted_at_ns FROM alerts") {
                    while let row = try? cursor.next() {
                        alerts.append((row[0], row[1], row[2], row[3], row[4], row[5]))
                    }
                }
                if let cursor = try? Row.fetchCursor(db, sql: "SELECT destination, sequence FROM deliveries WHERE state != 'pending'") {
                    while let row = try? cursor.next() {
                        delivered.insert("\(row[0] as String)/\(row[1] as Int64)")
                    }
                }
            }
        }
        try pool.write { db in
            for a in alerts {
                try db.execute(sql: "INSERT OR IGNORE INTO alerts(sequence, id, kind, priority, body, accepted_at_ns) VALUES(?,?,?,?,?,?)",
                               arguments: [a.0, a.1, a.2, a.3, a.4, a.5])
                for d in destinations {
                    let state = delivered.contains("\(d)/\(a.0)") ? "delivered" : "pending"
                    try db.execute(sql: "INSERT OR IGNORE INTO deliveries(destination, sequence, state, priority) VALUES(?,?,?,?)", arguments: [d, a.0, state, a.3])
                }
            }
            let highest = max(lastSequence, alerts.map(\.0).max() ?? 0)
            try OutboxSchema.setMeta(db, "last_sequence", highest + sequenceJump)
        }
        return alerts.count
    }
}
