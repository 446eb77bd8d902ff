import Foundation
import GRDB
import PanicCore

/// The receiver's SQLite store: alerts de-duplicated on their id, each
/// gateway's supervision state, and an event log for `tail`.
public final class ReceiverStore: @unchecked Sendable {
    public let path: String
    private let pool: DatabasePool

    /// The result of storing one alert.
    public enum Intake: Sendable, Equatable {
        case created
        case duplicate
        /// New, but its sequence number was used before under another id.
        case sequenceReused(earlierID: String)
    }

    /// One line of the event log.
    public struct Event: Sendable, Equatable {
        public var number: Int64
        public var at: WallTime
        public var gatewayID: String
        public var type: String
        public var text: String
    }

    /// One gateway's row in `status`.
    public struct GatewayStatus: Sendable, Equatable {
        public var id: String
        public var lastHeartbeat: WallTime?
        public var heartbeatIntervalSeconds: Int?
        public var lastSequence: Int64?
        public var alerts: Int
        public var silent: Bool
        /// Sequence ranges missing between the lowest and highest received.
        public var gaps: [ClosedRange<Int64>]
        public var queuedAtGateway: Int?
    }

    public init(path: String) throws {
        self.path = path
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        pool = try DatabasePool(path: path, configuration: config)
        // GRDB sets synchronous=NORMAL on a pool's writer after prepareDatabase;
        // an acknowledged alert must be on disk, so FULL on the one writer.
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        try ReceiverSchema.migrate(pool)
    }

    /// The schema version of this database (`ReceiverSchema.current` once opened).
    public func schemaVersion() throws -> Int { try ReceiverSchema.version(pool) }

    /// SQLite's `synchronous` on the writing connection (2 is FULL).
    public func synchronousMode() throws -> Int {
        try pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    }

    /// Stores a verified alert unless its id is known.
    public func store(_ alert: Alert, body: [UInt8], keyID: String, at now: WallTime) throws -> Intake {
        try pool.write { db in
            if try Bool.fetchOne(db, sql: "SELECT EXISTS(SELECT 1 FROM alerts WHERE id = ?)", arguments: [alert.id]) == true {
                return .duplicate
            }
            // A sequence number seen before under another id is a new, signed
            // alert all the same (a gateway whose outbox was lost starts over):
            // store it, and say so, rather than refuse an alarm.
            let reused = try String.fetchOne(db, sql: "SELECT id FROM alerts WHERE gateway_id = ? AND sequence = ?", arguments: [alert.gatewayID, alert.sequence])
            if let other = reused {
                try log(db, now, alert.gatewayID, "seq-reuse", "sequence \(alert.sequence) arrived again with a new id \(alert.id) (earlier: \(other)); the gateway's outbox was lost or restored; stored as a new alert")
            }
            let previousMax = try Int64.fetchOne(db, sql: "SELECT MAX(sequence) FROM alerts WHERE gateway_id = ?", arguments: [alert.gatewayID])
            try db.execute(sql: """
                INSERT INTO alerts(id, gateway_id, sequence, kind, test, occurred_at_ns, received_at_ns, key_id, body)
                VALUES(?,?,?,?,?,?,?,?,?)
                """, arguments: [alert.id, alert.gatewayID, alert.sequence, alert.kind.rawValue, alert.test,
                                 alert.occurredAt.nanosecondsSinceEpoch, now.nanosecondsSinceEpoch, keyID, Data(body)])
            try db.execute(sql: "INSERT OR IGNORE INTO gateways(id) VALUES(?)", arguments: [alert.gatewayID])
            let what = alert.kind == .restore ? "restore of \(alert.restores?.rawValue ?? "?")" : alert.kind.rawValue
            let latency = Double((now - alert.occurredAt).value) / 1e6
            try log(db, now, alert.gatewayID, "alert", String(format: "#%lld %@%@ input=%@ zone=%@ occurred=%@ latency=%.1fms%@", alert.sequence, what, alert.test ? " (TEST)" : "", alert.input ?? "-", alert.zone.map(String.init) ?? "-", alert.occurredAt.rfc3339, latency, alert.detail.map { " (\($0))" } ?? ""))
            // Sequences are range-checked at intake (1...2^53); saturating all the
            // same, so a row stored by an older version cannot crash this one.
            if reused == nil, let prev = previousMax, alert.sequence > prev.saturatingAdd(1) {
                try log(db, now, alert.gatewayID, "gap", "sequence jumped from \(prev) to \(alert.sequence): \(prev.saturatingAdd(1))...\(alert.sequence - 1) not (yet) received")
            }
            return reused.map { .sequenceReused(earlierID: $0) } ?? .created
        }
    }

    /// Records a heartbeat whose signature nonce (its id) was not seen
    /// before: true if the gateway was silent until now, false if not, nil
    /// for a replay (nothing recorded). Nonces older than
    /// `forgetNoncesBefore` (Unix seconds) are forgotten: their signatures are
    /// outside the window and refused anyway.
    public func recordHeartbeat(_ beat: Heartbeat, at now: WallTime, nonceCreated: Int64, forgetNoncesBefore: Int64) throws -> Bool? {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM heartbeat_nonces WHERE created_s < ?", arguments: [forgetNoncesBefore])
            try db.execute(sql: "INSERT OR IGNORE INTO heartbeat_nonces(gateway_id, id, created_s) VALUES(?,?,?)", arguments: [beat.gatewayID, beat.id, nonceCreated])
            guard db.changesCount > 0 else { return nil }
            try db.execute(sql: "INSERT OR IGNORE INTO gateways(id) VALUES(?)", arguments: [beat.gatewayID])
            let wasSilent = try Bool.fetchOne(db, sql: "SELECT silent FROM gateways WHERE id = ?", arguments: [beat.gatewayID]) ?? false
            let first = try Int64.fetchOne(db, sql: "SELECT last_heartbeat_ns FROM gateways WHERE id = ?", arguments: [beat.gatewayID]) == nil
            try db.execute(sql: """
                UPDATE gateways SET last_heartbeat_ns = ?, interval_s = ?, reported_sequence = ?, queued = ?, silent = 0 WHERE id = ?
                """, arguments: [now.nanosecondsSinceEpoch, beat.intervalSeconds, beat.lastSequence, beat.queue.map(\.pending).max() ?? 0, beat.gatewayID])
            if wasSilent { try log(db, now, beat.gatewayID, "back", "heartbeats resumed") }
            if first { try log(db, now, beat.gatewayID, "online", "first heartbeat (interval \(beat.intervalSeconds) s, last sequence \(beat.lastSequence))") }
            return wasSilent
        }
    }

    /// Records the next key a gateway announced under the signature of
    /// `announcedBy` (a configured key); replaces any earlier announcement of
    /// that gateway, so there is at most one per gateway. True when it is new.
    @discardableResult
    public func announceKey(gatewayID: String, keyID: String, publicKey: String, announcedBy: String, at now: WallTime) throws -> Bool {
        try pool.write { db in
            if try Bool.fetchOne(db, sql: "SELECT EXISTS(SELECT 1 FROM announced_keys WHERE key_id = ? AND gateway_id = ? AND announced_by = ?)",
                                 arguments: [keyID, gatewayID, announcedBy]) == true { return false }
            try db.execute(sql: "DELETE FROM announced_keys WHERE gateway_id = ? OR key_id = ?", arguments: [gatewayID, keyID])
            try db.execute(sql: "INSERT INTO announced_keys(key_id, gateway_id, public_key, announced_at_ns, announced_by) VALUES(?,?,?,?,?)",
                           arguments: [keyID, gatewayID, publicKey, now.nanosecondsSinceEpoch, announcedBy])
            try log(db, now, gatewayID, "key", "announced next signing key \(keyID) under key \(announcedBy); trusted while \(announcedBy) is configured")
            return true
        }
    }

    /// An announced key by its keyid.
    public func announcedKey(_ keyID: String) throws -> (gatewayID: String, publicKey: String, announcedBy: String)? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT gateway_id, public_key, announced_by FROM announced_keys WHERE key_id = ? AND announced_by IS NOT NULL",
                             arguments: [keyID]).map { ($0[0], $0[1], $0[2]) }
        }
    }

    /// Marks gateways silent whose heartbeats are overdue; returns their ids.
    public func markSilent(now: WallTime, afterIntervals n: Int, notBefore watchStart: WallTime = .init(nanosecondsSinceEpoch: 0)) throws -> [String] {
        try pool.write { db in
            let rows = try Row.fetchAll(db, sql: "SELECT id, last_heartbeat_ns, interval_s FROM gateways WHERE silent = 0 AND last_heartbeat_ns IS NOT NULL")
            var silenced: [String] = []
            for r in rows {
                // Saturating: a row written before intervals were range-checked
                // must not crash the receiver at every start.
                let id: String = r[0], interval: Int64 = r[2] ?? 60
                let last = max(r[1] as Int64, watchStart.nanosecondsSinceEpoch)
                let limit = interval.saturatingMultiply(Int64(n)).saturatingMultiply(1_000_000_000)
                let quiet = now.nanosecondsSinceEpoch.saturatingSubtract(last)
                if quiet > limit {
                    try db.execute(sql: "UPDATE gateways SET silent = 1 WHERE id = ?", arguments: [id])
                    try log(db, now, id, "silent", "no heartbeat for \(quiet / 1_000_000_000) s (interval \(interval) s × \(n))")
                    silenced.append(id)
                }
            }
            return silenced
        }
    }

    /// Events after `number`, oldest first, at most `limit` (a page: page on
    /// with the last number returned).
    public func events(after number: Int64, limit: Int = 500) throws -> [Event] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT number, at_ns, gateway_id, type, text FROM events WHERE number > ? ORDER BY number LIMIT ?", arguments: [number, limit]).map {
                Event(number: $0[0], at: .init(nanosecondsSinceEpoch: $0[1]), gatewayID: $0[2], type: $0[3], text: $0[4])
            }
        }
    }

    public func lastEventNumber() throws -> Int64 {
        try pool.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(number) FROM events") ?? 0 }
    }

    public func alerts(gatewayID: String? = nil) throws -> [Alert] {
        try pool.read { db in
            let rows: [Data]
            if let gatewayID {
                rows = try Data.fetchAll(db, sql: "SELECT body FROM alerts WHERE gateway_id = ? ORDER BY sequence", arguments: [gatewayID])
            } else {
                rows = try Data.fetchAll(db, sql: "SELECT body FROM alerts ORDER BY gateway_id, sequence")
            }
            return try rows.map { try WireFormat.decode(Alert.self, from: [UInt8]($0)) }
        }
    }

    public func status() throws -> [GatewayStatus] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT id, last_heartbeat_ns, interval_s, silent, queued FROM gateways ORDER BY id").map { r in
                let id: String = r[0]
                let last: Int64? = r[1]
                let stats = try Row.fetchOne(db, sql: "SELECT MAX(sequence), COUNT(*) FROM alerts WHERE gateway_id = ?", arguments: [id])
                let gaps = try Row.fetchAll(db, sql: """
                    SELECT sequence + 1, next - 1 FROM (
                      SELECT sequence, LEAD(sequence) OVER (ORDER BY sequence) AS next FROM alerts WHERE gateway_id = ?)
                    WHERE next > sequence + 1
                    """, arguments: [id]).map { ($0[0] as Int64)...($0[1] as Int64) }
                return GatewayStatus(
                    id: id, lastHeartbeat: last.map { WallTime(nanosecondsSinceEpoch: $0) }, heartbeatIntervalSeconds: r[2],
                    lastSequence: stats?[0], alerts: stats?[1] ?? 0, silent: r[3], gaps: gaps, queuedAtGateway: r[4])
            }
        }
    }

    private func log(_ db: Database, _ now: WallTime, _ gateway: String, _ type: String, _ text: String) throws {
        try db.execute(sql: "INSERT INTO events(at_ns, gateway_id, type, text) VALUES(?,?,?,?)", arguments: [now.nanosecondsSinceEpoch, gateway, type, text])
    }
}
