import Foundation
import GRDB
import PanicCore
import PanicSigning

/// The receiver's store in one SQLite file: the embedded default (the demo,
/// a single site, the tests). One process owns the file; its one writer
/// serialises every decision, and `synchronous=FULL` makes a commit durable
/// before the answer.
public final class SQLiteReceiverStore: ReceiverStore, @unchecked Sendable {
    public let path: String
    public var engine: String { "sqlite" }
    let pool: DatabasePool
    /// Bumped after every commit that may have changed an incident.
    public let incidentChanges = ChangeSignal()

    public init(path: String) throws {
        self.path = path
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        pool = try DatabasePool(path: path, configuration: config)
        // GRDB sets synchronous=NORMAL on a pool's writer after prepareDatabase;
        // an acknowledged alert must be on disk, so FULL on the one writer.
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        try SQLiteSchema.migrate(pool)
    }

    public func schemaVersion() async throws -> Int { try SQLiteSchema.version(pool) }

    public func checkReady() async throws {
        let found = try await schemaVersion()
        guard found == SQLiteSchema.current else { throw SchemaMismatch(engine: "SQLite", found: found, expected: SQLiteSchema.current) }
    }

    /// SQLite's `synchronous` on the writing connection (2 is FULL).
    public func synchronousMode() throws -> Int {
        try pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    }

    public func store(_ alert: Alert, body: [UInt8], keyID: String, at now: WallTime) async throws -> StoreOutcome {
        let outcome = try await pool.write { [self] db in try store(db, alert, body: body, keyID: keyID, at: now) }
        if outcome != .duplicate { incidentChanges.signal() }
        return outcome
    }

    public func store(batch: [AlertToStore], keyID: String, at now: WallTime) async throws -> [StoreOutcome] {
        // One transaction, in order: each sees the ones before it (gaps, reuse).
        let outcomes = try await pool.write { [self] db in try batch.map { try store(db, $0.alert, body: $0.body, keyID: keyID, at: now) } }
        if outcomes.contains(where: { $0 != .duplicate }) { incidentChanges.signal() }
        return outcomes
    }

    private func store(_ db: Database, _ alert: Alert, body: [UInt8], keyID: String, at now: WallTime) throws -> StoreOutcome {
        // The checks below are cached statements, parsed once per connection
        // instead of once per alert. This insert is not: a cached statement
        // keeps its last arguments, and so would keep the alert's body alive.
        try db.execute(sql: """
            INSERT INTO alerts(gateway_id, id, sequence, kind, test, occurred_at_ns, received_at_ns, key_id, body)
            VALUES(?,?,?,?,?,?,?,?,?) ON CONFLICT(gateway_id, id) DO NOTHING
            """, arguments: [alert.gatewayID, alert.id, alert.sequence, alert.kind.rawValue, alert.test,
                             alert.occurredAt.nanosecondsSinceEpoch, now.nanosecondsSinceEpoch, keyID, Data(body)])
        guard db.changesCount > 0 else { return .duplicate }
        // A sequence number seen before under another id is a new, signed
        // alert all the same (a gateway whose outbox was lost starts over):
        // store it, and say so, rather than refuse an alarm.
        let reused = try String.fetchOne(db.cachedStatement(sql: "SELECT id FROM alerts WHERE gateway_id = ? AND sequence = ? AND id <> ? LIMIT 1"),
                                         arguments: [alert.gatewayID, alert.sequence, alert.id])
        if let other = reused {
            let text = ReceiverWording.reuse(alert, earlier: other)
            try log(db, now, alert.gatewayID, "seq-reuse", text)
            try Self.recordSupervisionIncident(db, gatewayID: alert.gatewayID, kind: .sequence, at: now, detail: text)
        }
        let previousMax = try Int64.fetchOne(db.cachedStatement(sql: "SELECT MAX(sequence) FROM alerts WHERE gateway_id = ? AND id <> ?"), arguments: [alert.gatewayID, alert.id])
        try db.cachedStatement(sql: "INSERT OR IGNORE INTO gateways(id) VALUES(?)").execute(arguments: [alert.gatewayID])
        let text = ReceiverWording.alert(alert, receivedAt: now)
        try log(db, now, alert.gatewayID, "alert", text)
        // The alarm is queued for an operator in the transaction that stores it.
        _ = try Self.recordIncident(db, for: alert, receivedAt: now, text: text)
        // Sequences are range-checked at intake (1...2^53); saturating all the
        // same, so a row stored by an older version cannot crash this one.
        if reused == nil, let prev = previousMax, alert.sequence > prev.saturatingAdd(1) {
            let gap = ReceiverWording.gap(from: prev, to: alert.sequence)
            try log(db, now, alert.gatewayID, "gap", gap)
            try Self.recordSupervisionIncident(db, gatewayID: alert.gatewayID, kind: .sequence, at: now, detail: gap)
        }
        return reused.map { .sequenceReused(earlierID: $0) } ?? .created
    }

    public func recordHeartbeat(_ beat: Heartbeat, at now: WallTime, nonceCreated: Int64, forgetNoncesBefore: Int64) async throws -> Bool? {
        let back = try await pool.write { [self] db -> (wasSilent: Bool, changed: Bool)? in
            try db.execute(sql: "DELETE FROM heartbeat_nonces WHERE created_s < ?", arguments: [forgetNoncesBefore])
            try db.execute(sql: "INSERT OR IGNORE INTO heartbeat_nonces(gateway_id, id, created_s) VALUES(?,?,?)", arguments: [beat.gatewayID, beat.id, nonceCreated])
            guard db.changesCount > 0 else { return nil }
            try db.execute(sql: "INSERT OR IGNORE INTO gateways(id) VALUES(?)", arguments: [beat.gatewayID])
            let wasSilent = try Bool.fetchOne(db, sql: "SELECT silent FROM gateways WHERE id = ?", arguments: [beat.gatewayID]) ?? false
            let first = try Int64.fetchOne(db, sql: "SELECT last_heartbeat_ns FROM gateways WHERE id = ?", arguments: [beat.gatewayID]) == nil
            try db.execute(sql: """
                UPDATE gateways SET last_heartbeat_ns = ?, interval_s = ?, reported_sequence = ?, queued = ?, silent = 0 WHERE id = ?
                """, arguments: [now.nanosecondsSinceEpoch, beat.intervalSeconds, beat.lastSequence, beat.queue.map(\.pending).max() ?? 0, beat.gatewayID])
            if wasSilent {
                try log(db, now, beat.gatewayID, "back", "heartbeats resumed")
                try Self.recordReturn(db, gatewayID: beat.gatewayID, at: now)
            }
            if first { try log(db, now, beat.gatewayID, "online", ReceiverWording.online(beat)) }
            if let r = beat.restart { try log(db, now, beat.gatewayID, "restart", ReceiverWording.restarted(r)) }
            let clockChanged = try Self.recordClock(db, gatewayID: beat.gatewayID, site: beat.site, synchronized: beat.clockSynchronized, at: now)
            return (wasSilent, wasSilent || clockChanged)
        }
        if back?.changed == true { incidentChanges.signal() }
        return back?.wasSilent
    }

    @discardableResult
    public func announceKey(gatewayID: String, keyID: String, publicKey: String, announcedBy: String, at now: WallTime) async throws -> Bool {
        try await pool.write { [self] db in
            if try Bool.fetchOne(db, sql: "SELECT EXISTS(SELECT 1 FROM announced_keys WHERE key_id = ? AND gateway_id = ? AND announced_by = ?)",
                                 arguments: [keyID, gatewayID, announcedBy]) == true { return false }
            try db.execute(sql: "DELETE FROM announced_keys WHERE gateway_id = ? OR key_id = ?", arguments: [gatewayID, keyID])
            try db.execute(sql: "INSERT INTO announced_keys(key_id, gateway_id, public_key, announced_at_ns, announced_by) VALUES(?,?,?,?,?)",
                           arguments: [keyID, gatewayID, publicKey, now.nanosecondsSinceEpoch, announcedBy])
            try log(db, now, gatewayID, "key", ReceiverWording.announced(keyID, by: announcedBy))
            return true
        }
    }

    public func announcedKey(_ keyID: String) async throws -> AnnouncedKey? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT gateway_id, public_key, announced_by FROM announced_keys WHERE key_id = ? AND announced_by IS NOT NULL",
                             arguments: [keyID]).map { AnnouncedKey(gatewayID: $0[0], publicKey: $0[1], announcedBy: $0[2]) }
        }
    }

    public func markSilent(now: WallTime, afterIntervals n: Int, notBefore watchStart: WallTime) async throws -> [String] {
        let silenced = try await pool.write { [self] db -> [String] in
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
                    let text = ReceiverWording.silent(quietSeconds: quiet / 1_000_000_000, interval: interval, n: n)
                    try log(db, now, id, "silent", text)
                    try Self.recordSupervisionIncident(db, gatewayID: id, kind: .silent, at: now, detail: text)
                    silenced.append(id)
                }
            }
            return silenced
        }
        if !silenced.isEmpty { incidentChanges.signal() }
        return silenced
    }

    public func forgetNonces(before: Int64) async throws {
        try await pool.write { db in try db.execute(sql: "DELETE FROM heartbeat_nonces WHERE created_s < ?", arguments: [before]) }
    }

    public func events(after number: Int64, limit: Int = 500) async throws -> [LoggedEvent] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT number, at_ns, gateway_id, type, text FROM events WHERE number > ? ORDER BY number LIMIT ?",
                             arguments: [number, limit]).map(Self.event)
        }
    }

    public func events(numbered: [Int64]) async throws -> [LoggedEvent] {
        guard !numbered.isEmpty else { return [] }
        return try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT number, at_ns, gateway_id, type, text FROM events WHERE number IN (\(numbered.map { _ in "?" }.joined(separator: ","))) ORDER BY number",
                             arguments: StatementArguments(numbered)).map(Self.event)
        }
    }

    static func event(_ r: Row) -> LoggedEvent {
        LoggedEvent(number: r[0], at: .init(nanosecondsSinceEpoch: r[1]), gatewayID: r[2], type: r[3], text: r[4])
    }

    public func lastEventNumber() async throws -> Int64 {
        try await pool.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(number) FROM events") ?? 0 }
    }

    public func alerts(gatewayID: String? = nil) async throws -> [Alert] {
        try await pool.read { db in
            let rows: [Data]
            if let gatewayID {
                rows = try Data.fetchAll(db, sql: "SELECT body FROM alerts WHERE gateway_id = ? ORDER BY sequence", arguments: [gatewayID])
            } else {
                rows = try Data.fetchAll(db, sql: "SELECT body FROM alerts ORDER BY gateway_id, sequence")
            }
            return try rows.map { try WireFormat.decode(Alert.self, from: [UInt8]($0)) }
        }
    }

    public func status() async throws -> [GatewayStatus] {
        try await pool.read { db in
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

    // MARK: The gateway registry

    public func registeredGateways() async throws -> [RegisteredGateway] {
        try await pool.read { db in
            let keys = try Row.fetchAll(db, sql: "SELECT gateway_id, key_id, public_key FROM registered_keys")
            var byGateway: [String: [String: String]] = [:]
            for k in keys { byGateway[k[0] as String, default: [:]][k[1] as String] = k[2] as String }
            return try Row.fetchAll(db, sql: "SELECT id, site, enabled FROM registered_gateways ORDER BY id").map {
                RegisteredGateway(id: $0[0], site: $0[1], enabled: $0[2], keys: byGateway[$0[0] as String] ?? [:])
            }
        }
    }

    public func changeRegistry(_ change: RegistryChange, at now: WallTime) async throws {
        try await pool.write { [self] db in
            func exists(_ id: String) throws -> Bool {
                try Bool.fetchOne(db, sql: "SELECT EXISTS(SELECT 1 FROM registered_gateways WHERE id = ?)", arguments: [id]) ?? false
            }
            func addKey(_ id: String, _ base64: String) throws {
                let key = try RegistryKey(base64)
                if let owner = try String.fetchOne(db, sql: "SELECT gateway_id FROM registered_keys WHERE key_id = ?", arguments: [key.keyID]) {
                    throw RegistryError.keyInUse(keyID: key.keyID, gatewayID: owner)
                }
                try db.execute(sql: "INSERT INTO registered_keys(key_id, gateway_id, public_key, added_at_ns) VALUES(?,?,?,?)",
                               arguments: [key.keyID, id, base64, now.nanosecondsSinceEpoch])
            }
            switch change {
            case .add(let id, let site, let keys):
                guard try !exists(id) else { throw RegistryError.exists(id) }
                try db.execute(sql: "INSERT INTO registered_gateways(id, site, enabled, added_at_ns) VALUES(?,?,1,?)", arguments: [id, site, now.nanosecondsSinceEpoch])
                for k in keys { try addKey(id, k) }
            case .addKey(let id, let k):
                guard try exists(id) else { throw RegistryError.unknown(id) }
                try addKey(id, k)
            case .removeKey(let id, let keyID):
                guard try exists(id) else { throw RegistryError.unknown(id) }
                let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM registered_keys WHERE gateway_id = ?", arguments: [id]) ?? 0
                try db.execute(sql: "DELETE FROM registered_keys WHERE gateway_id = ? AND key_id = ?", arguments: [id, keyID])
                guard db.changesCount > 0 else { throw RegistryError.unknownKey(keyID: keyID, gatewayID: id) }
                if count <= 1 { throw RegistryError.lastKey(id) }
            case .setEnabled(let id, let on):
                try db.execute(sql: "UPDATE registered_gateways SET enabled = ? WHERE id = ?", arguments: [on, id])
                guard db.changesCount > 0 else { throw RegistryError.unknown(id) }
            case .remove(let id):
                try db.execute(sql: "DELETE FROM registered_keys WHERE gateway_id = ?", arguments: [id])
                try db.execute(sql: "DELETE FROM registered_gateways WHERE id = ?", arguments: [id])
                guard db.changesCount > 0 else { throw RegistryError.unknown(id) }
            }
            try db.execute(sql: "UPDATE registry_version SET version = version + 1")
            try log(db, now, change.gatewayID, "registry", change.summary)
        }
    }

    public func registryVersion() async throws -> Int64 {
        try await pool.read { db in try Int64.fetchOne(db, sql: "SELECT version FROM registry_version") ?? 0 }
    }

    public func watchRegistry(_ changed: @escaping @Sendable () -> Void) async {}

    private func log(_ db: Database, _ now: WallTime, _ gateway: String, _ type: String, _ text: String) throws {
        try db.cachedStatement(sql: "INSERT INTO events(at_ns, gateway_id, type, text) VALUES(?,?,?,?)")
            .execute(arguments: [now.nanosecondsSinceEpoch, gateway, type, text])
    }
}
