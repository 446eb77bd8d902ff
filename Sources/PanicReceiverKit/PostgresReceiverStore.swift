import Foundation
import Logging
import NIOSSL
import PanicConfig
import PanicCore
import PostgresNIO
import ServiceLifecycle

/// The receiver's store on PostgreSQL, shared by several identical
/// replicas. Every decision is one call of a stored function (see
/// `PostgresSchema`): one statement, one transaction, one round trip,
/// committed with `synchronous_commit = on` before the answer.
///
/// The client's connection pool is a `Service`: run `client` in the same
/// service group (`ReceiverServer` does), or use `withRunning`.
public final class PostgresReceiverStore: ReceiverStore {
    public let client: PostgresClient
    /// Woken by the database's `panic_incidents` notification (a change made
    /// by any replica) and by this replica's own console changes.
    public let incidentChanges = ChangeSignal()
    public var engine: String { "postgresql" }
    let logger: Logger

    /// Where it connects (a second store on the same database: a replica).
    public let settings: ReceiverConfig.Postgres

    public init(_ settings: ReceiverConfig.Postgres, logger: Logger) throws {
        self.settings = settings
        var password: String?
        if let file = settings.passwordFile {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw RegistryError.invalid("cannot read the PostgreSQL password file \(file)")
            }
            password = text.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        }
        var config: PostgresClient.Configuration
        if settings.isSocket {
            config = .init(unixSocketPath: "\(settings.host)/.s.PGSQL.\(settings.port)", username: settings.user, password: password, database: settings.database)
        } else if let ca = settings.tlsCA {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = .fullVerification
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
            config = .init(host: settings.host, port: settings.port, username: settings.user, password: password, database: settings.database, tls: .require(tls))
        } else {
            config = .init(host: settings.host, port: settings.port, username: settings.user, password: password, database: settings.database, tls: .disable)
        }
        config.options.maximumConnections = settings.maxConnections
        config.options.minimumConnections = 1
        config.options.connectTimeout = .seconds(3)
        // A 2xx only after a durable commit, whatever the server's default is.
        config.options.additionalStartupParameters = [("synchronous_commit", "on"), ("application_name", "panic-receiver")]
        client = PostgresClient(configuration: config, backgroundLogger: logger)
        self.logger = logger
    }

    /// Runs the client's pool around `body` (for the command-line tools).
    public func withRunning<T: Sendable>(_ body: @Sendable (PostgresReceiverStore) async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await self.client.run() }
            defer { group.cancelAll() }
            return try await body(self)
        }
    }

    func timed<T: Sendable>(_ what: String, _ limit: Duration = StoreDeadline.request, _ op: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withDeadline(what, limit) { try await Self.unwrappingTransaction(op) }
    }

    /// What a transaction's body threw — a `RegistryError` that says what to
    /// do — rather than postgres-nio's wrapper around it, when the rollback
    /// went through (the wrapper alone buries the message an operator needs).
    static func unwrappingTransaction<T>(_ op: () async throws -> T) async throws -> T {
        do {
            return try await op()
        } catch let e as PostgresTransactionError {
            if let body = e.closureError, e.beginError == nil, e.rollbackError == nil, e.commitError == nil { throw body }
            throw e
        }
    }

    // MARK: Schema

    public func schemaVersion() async throws -> Int {
        try await timed("schema version") { [client] in
            let exists = try await client.query("SELECT to_regclass('panic_schema') IS NOT NULL").collect().first?.decode(Bool.self) ?? false
            guard exists else { return 0 }
            return try await client.query("SELECT version FROM panic_schema").collect().first?.decode(Int.self) ?? 0
        }
    }

    public func checkReady() async throws {
        let found = try await schemaVersion()
        guard found == PostgresSchema.current else { throw SchemaMismatch(engine: "PostgreSQL", found: found, expected: PostgresSchema.current) }
    }

    /// Applies the missing schema steps (`panic-receiver migrate`): under an
    /// advisory lock, each step and its version bump in one transaction.
    /// Returns the versions before and after; refuses a newer database.
    public func migrate(to target: Int = PostgresSchema.current) async throws -> (from: Int, to: Int) {
        try await client.withConnection { [logger] conn in
            try await conn.query("SELECT pg_advisory_lock(\(PostgresSchema.migrationLock))", logger: logger)
            do {
                try await conn.query("CREATE TABLE IF NOT EXISTS panic_schema(version integer NOT NULL)", logger: logger)
                let rows = try await conn.query("SELECT version FROM panic_schema", logger: logger).collect()
                let from = try rows.first?.decode(Int.self) ?? 0
                guard from <= PostgresSchema.current else { throw SchemaMismatch(engine: "PostgreSQL", found: from, expected: PostgresSchema.current) }
                for (i, step) in PostgresSchema.steps.enumerated() where i + 1 > from && i + 1 <= target {
                    try await Self.unwrappingTransaction { try await conn.withTransaction(logger: logger) { tx in
                        for statement in PostgresSchema.statements(step) {
                            try await tx.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                        }
                        try await tx.query("DELETE FROM panic_schema", logger: logger)
                        try await tx.query("INSERT INTO panic_schema VALUES(\(i + 1))", logger: logger)
                    } }
                }
                try await conn.query("SELECT pg_advisory_unlock(\(PostgresSchema.migrationLock))", logger: logger)
                return (from, max(from, min(target, PostgresSchema.current)))
            } catch {
                _ = try? await conn.query("SELECT pg_advisory_unlock(\(PostgresSchema.migrationLock))", logger: logger)
                throw error
            }
        }
    }

    // MARK: Intake

    public func store(_ alert: Alert, body: [UInt8], keyID: String, at now: WallTime) async throws -> StoreOutcome {
        try await timed("store alert") { [client, logger] in
            try await Self.store(alert, body: body, keyID: keyID, at: now) { q in try await client.query(q, logger: logger) }
        }
    }

    public func store(batch: [AlertToStore], keyID: String, at now: WallTime) async throws -> [StoreOutcome] {
        // One transaction, in order: committed (synchronous_commit on) before
        // any of it is answered, or none of it is stored.
        try await timed("store \(batch.count) alerts") { [client, logger] in
            try await client.withTransaction(logger: logger) { tx in
                var outcomes: [StoreOutcome] = []
                outcomes.reserveCapacity(batch.count)
                for item in batch {
                    outcomes.append(try await Self.store(item.alert, body: item.body, keyID: keyID, at: now) { q in try await tx.query(q, logger: logger) })
                }
                return outcomes
            }
        }
    }

    private static func store(
        _ alert: Alert, body: [UInt8], keyID: String, at now: WallTime, query: (PostgresQuery) async throws -> PostgresRowSequence
    ) async throws -> StoreOutcome {
        let text = ReceiverWording.alert(alert, receivedAt: now)
        // The incident it opens, or the one its restore marks: decided here,
        // stored by the function in the alert's own transaction.
        let opens = IncidentKind.opened(by: alert.kind)
        let restores = alert.kind == .restore ? alert.restores.flatMap(IncidentKind.opened(by:))?.rawValue : nil
        let q: PostgresQuery = """
            SELECT outcome, earlier FROM panic_store_alert(\(alert.gatewayID), \(alert.id), \(alert.sequence), \(alert.kind.rawValue), \(alert.test),
              \(alert.occurredAt.nanosecondsSinceEpoch), \(now.nanosecondsSinceEpoch), \(keyID), \(ByteBuffer(bytes: body)), \(text),
              \(alert.site), \(alert.input), \(alert.zone.map(Int64.init)), \(alert.area.map(Int64.init)), \(alert.clockSynchronized),
              \(opens?.rawValue), \(Int32(opens?.priority ?? 0)), \(restores))
            """
        guard let row = try await query(q).collect().first else { throw StoreUnavailable(what: "store alert: no answer", after: .zero) }
        let (outcome, earlier) = try row.decode((String, String?).self)
        switch outcome {
        case "created": return .created
        case "duplicate": return .duplicate
        default: return .sequenceReused(earlierID: earlier ?? "?")
        }
    }

    public func recordHeartbeat(_ beat: Heartbeat, at now: WallTime, nonceCreated: Int64, forgetNoncesBefore: Int64) async throws -> Bool? {
        let online = ReceiverWording.online(beat)
        let queued = Int64(beat.queue.map(\.pending).max() ?? 0)
        let restarted = beat.restart.map(ReceiverWording.restarted)
        return try await timed("record heartbeat") { [client, logger] in
            let q: PostgresQuery = """
                SELECT panic_record_heartbeat(\(beat.gatewayID), \(beat.id), \(nonceCreated), \(now.nanosecondsSinceEpoch),
                  \(Int64(beat.intervalSeconds)), \(beat.lastSequence), \(queued), \(online), \(beat.site), \(beat.clockSynchronized))
                """
            let answer: String?
            if let restarted {
                // The heartbeat and its restart event in one transaction: a
                // replayed heartbeat (its nonce seen) records neither.
                answer = try await client.withTransaction(logger: logger) { tx in
                    let a = try await tx.query(q, logger: logger).collect().first?.decode(String.self)
                    if a != "replay" {
                        try await tx.query("INSERT INTO events(at_ns, gateway_id, type, text) VALUES(\(now.nanosecondsSinceEpoch), \(beat.gatewayID), 'restart', \(restarted))", logger: logger)
                    }
                    return a
                }
            } else {
                answer = try await client.query(q, logger: logger).collect().first?.decode(String.self)
            }
            switch answer {
            case "replay": return nil
            case "was-silent": return true
            default: return false
            }
        }
    }

    @discardableResult
    public func announceKey(gatewayID: String, keyID: String, publicKey: String, announcedBy: String, at now: WallTime) async throws -> Bool {
        let text = ReceiverWording.announced(keyID, by: announcedBy)
        return try await timed("announce key") { [client, logger] in
            try await client.withTransaction(logger: logger) { tx in
                try await tx.query("SELECT pg_advisory_xact_lock(hashtextextended(\("keys/" + gatewayID), 0))", logger: logger)
                let same = try await tx.query("SELECT 1 FROM announced_keys WHERE key_id = \(keyID) AND gateway_id = \(gatewayID) AND announced_by = \(announcedBy)", logger: logger).collect()
                if !same.isEmpty { return false }
                try await tx.query("DELETE FROM announced_keys WHERE gateway_id = \(gatewayID) OR key_id = \(keyID)", logger: logger)
                try await tx.query("INSERT INTO announced_keys(key_id, gateway_id, public_key, announced_at_ns, announced_by) VALUES(\(keyID), \(gatewayID), \(publicKey), \(now.nanosecondsSinceEpoch), \(announcedBy))", logger: logger)
                try await tx.query("INSERT INTO events(at_ns, gateway_id, type, text) VALUES(\(now.nanosecondsSinceEpoch), \(gatewayID), 'key', \(text))", logger: logger)
                return true
            }
        }
    }

    public func announcedKey(_ keyID: String) async throws -> AnnouncedKey? {
        try await timed("announced key") { [client, logger] in
            try await client.query("SELECT gateway_id, public_key, announced_by FROM announced_keys WHERE key_id = \(keyID) AND announced_by IS NOT NULL", logger: logger)
                .collect().first.map { row in
                    let (g, k, by) = try row.decode((String, String, String).self)
                    return AnnouncedKey(gatewayID: g, publicKey: k, announcedBy: by)
                }
        }
    }

    // MARK: Supervision

    public func markSilent(now: WallTime, afterIntervals n: Int, notBefore watchStart: WallTime) async throws -> [String] {
        try await timed("mark silent") { [client, logger] in
            try await client.query("SELECT panic_mark_silent(\(now.nanosecondsSinceEpoch), \(Int64(n)), \(watchStart.nanosecondsSinceEpoch))", logger: logger)
                .collect().map { try $0.decode(String.self) }
        }
    }

    public func forgetNonces(before: Int64) async throws {
        _ = try await timed("forget nonces") { [client, logger] in
            try await client.query("DELETE FROM heartbeat_nonces WHERE created_s < \(before)", logger: logger)
            return true
        }
    }

    // MARK: Reading

    public func events(after number: Int64, limit: Int = 500) async throws -> [LoggedEvent] {
        try await timed("events") { [client, logger] in
            try await client.query("SELECT number, at_ns, gateway_id, type, text FROM events WHERE number > \(number) ORDER BY number LIMIT \(Int64(limit))", logger: logger)
                .collect().map(Self.event)
        }
    }

    public func events(numbered: [Int64]) async throws -> [LoggedEvent] {
        guard !numbered.isEmpty else { return [] }
        return try await timed("events") { [client, logger] in
            try await client.query("SELECT number, at_ns, gateway_id, type, text FROM events WHERE number = ANY(\(numbered)) ORDER BY number", logger: logger)
                .collect().map(Self.event)
        }
    }

    static func event(_ row: PostgresRow) throws -> LoggedEvent {
        let (n, at, g, t, x) = try row.decode((Int64, Int64, String, String, String).self)
        return LoggedEvent(number: n, at: .init(nanosecondsSinceEpoch: at), gatewayID: g, type: t, text: x)
    }

    public func lastEventNumber() async throws -> Int64 {
        try await timed("last event") { [client, logger] in
            try await client.query("SELECT COALESCE(MAX(number), 0) FROM events", logger: logger).collect().first?.decode(Int64.self) ?? 0
        }
    }

    public func alerts(gatewayID: String? = nil) async throws -> [Alert] {
        try await timed("alerts", .seconds(60)) { [client, logger] in
            let q: PostgresQuery = gatewayID.map { "SELECT body FROM alerts WHERE gateway_id = \($0) ORDER BY sequence" }
                ?? "SELECT body FROM alerts ORDER BY gateway_id, sequence"
            return try await client.query(q, logger: logger).collect().map { row in
                let buffer = try row.decode(ByteBuffer.self)
                return try WireFormat.decode(Alert.self, from: Array(buffer: buffer))
            }
        }
    }

    public func status() async throws -> [GatewayStatus] {
        try await timed("status", .seconds(60)) { [client, logger] in
            let rows = try await client.query("""
                SELECT g.id, g.last_heartbeat_ns, g.interval_s, g.silent, g.queued,
                       (SELECT MAX(sequence) FROM alerts a WHERE a.gateway_id = g.id),
                       (SELECT COUNT(*) FROM alerts a WHERE a.gateway_id = g.id)
                  FROM gateways g ORDER BY g.id
                """, logger: logger).collect()
            var out: [GatewayStatus] = []
            for row in rows {
                let (id, last, interval, silent, queued, maxSeq, count) = try row.decode((String, Int64?, Int64?, Bool, Int64?, Int64?, Int64).self)
                let gapRows = try await client.query("""
                    SELECT sequence + 1, next - 1 FROM (
                      SELECT sequence, LEAD(sequence) OVER (ORDER BY sequence) AS next FROM alerts WHERE gateway_id = \(id)) s
                    WHERE next > sequence + 1
                    """, logger: logger).collect()
                let gaps = try gapRows.map { r -> ClosedRange<Int64> in let (a, b) = try r.decode((Int64, Int64).self); return a...b }
                out.append(GatewayStatus(
                    id: id, lastHeartbeat: last.map { WallTime(nanosecondsSinceEpoch: $0) }, heartbeatIntervalSeconds: interval.map { Int(clamping: $0) },
                    lastSequence: maxSeq, alerts: Int(clamping: count), silent: silent, gaps: gaps, queuedAtGateway: queued.map { Int(clamping: $0) }))
            }
            return out
        }
    }

    // MARK: The gateway registry

    public func registeredGateways() async throws -> [RegisteredGateway] {
        try await timed("registry") { [client, logger] in
            var keys: [String: [String: String]] = [:]
            for row in try await client.query("SELECT gateway_id, key_id, public_key FROM registered_keys", logger: logger).collect() {
                let (g, k, p) = try row.decode((String, String, String).self)
                keys[g, default: [:]][k] = p
            }
            return try await client.query("SELECT id, site, enabled FROM registered_gateways ORDER BY id", logger: logger).collect().map { row in
                let (id, site, enabled) = try row.decode((String, String, Bool).self)
                return RegisteredGateway(id: id, site: site, enabled: enabled, keys: keys[id] ?? [:])
            }
        }
    }

    public func changeRegistry(_ change: RegistryChange, at now: WallTime) async throws {
        let summary = change.summary
        let keyIDs: [String: String]
        switch change {
        case .add(_, _, let keys): keyIDs = try Dictionary(keys.map { (try RegistryKey($0).keyID, $0) }, uniquingKeysWith: { a, _ in a })
        case .addKey(_, let k): keyIDs = [try RegistryKey(k).keyID: k]
        default: keyIDs = [:]
        }
        _ = try await timed("registry change") { [client, logger] in
            try await client.withTransaction(logger: logger) { tx in
                try await tx.query("SELECT pg_advisory_xact_lock(hashtextextended('registry', 0))", logger: logger)
                func exists(_ id: String) async throws -> Bool {
                    !(try await tx.query("SELECT 1 FROM registered_gateways WHERE id = \(id)", logger: logger).collect().isEmpty)
                }
                func addKeys(_ id: String) async throws {
                    for (keyID, base64) in keyIDs.sorted(by: { $0.key < $1.key }) {
                        if let owner = try await tx.query("SELECT gateway_id FROM registered_keys WHERE key_id = \(keyID)", logger: logger).collect().first {
                            throw RegistryError.keyInUse(keyID: keyID, gatewayID: try owner.decode(String.self))
                        }
                        try await tx.query("INSERT INTO registered_keys(key_id, gateway_id, public_key, added_at_ns) VALUES(\(keyID), \(id), \(base64), \(now.nanosecondsSinceEpoch))", logger: logger)
                    }
                }
                switch change {
                case .add(let id, let site, _):
                    guard try await !exists(id) else { throw RegistryError.exists(id) }
                    try await tx.query("INSERT INTO registered_gateways(id, site, enabled, added_at_ns) VALUES(\(id), \(site), true, \(now.nanosecondsSinceEpoch))", logger: logger)
                    try await addKeys(id)
                case .addKey(let id, _):
                    guard try await exists(id) else { throw RegistryError.unknown(id) }
                    try await addKeys(id)
                case .removeKey(let id, let keyID):
                    guard try await exists(id) else { throw RegistryError.unknown(id) }
                    let count = try await tx.query("SELECT COUNT(*) FROM registered_keys WHERE gateway_id = \(id)", logger: logger).collect().first?.decode(Int64.self) ?? 0
                    let gone = try await tx.query("DELETE FROM registered_keys WHERE gateway_id = \(id) AND key_id = \(keyID) RETURNING key_id", logger: logger).collect()
                    guard !gone.isEmpty else { throw RegistryError.unknownKey(keyID: keyID, gatewayID: id) }
                    if count <= 1 { throw RegistryError.lastKey(id) }
                case .setEnabled(let id, let on):
                    let hit = try await tx.query("UPDATE registered_gateways SET enabled = \(on) WHERE id = \(id) RETURNING id", logger: logger).collect()
                    guard !hit.isEmpty else { throw RegistryError.unknown(id) }
                case .remove(let id):
                    let hit = try await tx.query("DELETE FROM registered_gateways WHERE id = \(id) RETURNING id", logger: logger).collect()
                    guard !hit.isEmpty else { throw RegistryError.unknown(id) }
                }
                try await tx.query("INSERT INTO events(at_ns, gateway_id, type, text) VALUES(\(now.nanosecondsSinceEpoch), \(change.gatewayID), 'registry', \(summary))", logger: logger)
                return true
            }
        }
    }

    public func registryVersion() async throws -> Int64 {
        try await timed("registry version") { [client, logger] in
            try await client.query("SELECT version FROM registry_version", logger: logger).collect().first?.decode(Int64.self) ?? 0
        }
    }

    public func watchRegistry(_ changed: @escaping @Sendable () -> Void) async {
        // One pool connection held for LISTEN; on any failure (the database
        // restarted, say) wait a moment and listen again — and say "changed",
        // since notifications may have been missed meanwhile.
        while !Task.isCancelled {
            do {
                // One connection for both channels: the registry's, and the
                // incidents' (a console on this replica sees the alarms and
                // acknowledgements of every other one at once).
                try await client.withConnection { [logger, incidentChanges] conn in
                    try await conn.listen(on: "panic_registry") { registry in
                        try await conn.listen(on: "panic_incidents") { incidents in
                            changed()
                            incidentChanges.signal()
                            try await withThrowingTaskGroup(of: Void.self) { group in
                                group.addTask { for try await _ in registry { changed() } }
                                group.addTask { for try await _ in incidents { incidentChanges.signal() } }
                                try await group.next()
                                group.cancelAll()
                            }
                        }
                    }
                    logger.debug("registry and incident notifications ended")
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning("listening for registry changes failed; polling until it works again", metadata: ["error": "\(String(reflecting: error))"])
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }
}

/// The database did not answer in time, or not at all: answer 503 with
/// `Retry-After`; the gateway keeps the alert and sends it again.
public struct StoreUnavailable: Error, CustomStringConvertible {
    public var what: String
    public var after: Duration
    public var description: String { "the database did not answer (\(what)) within \(after)" }
}
