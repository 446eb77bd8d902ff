import Foundation
import GRDB
import PanicCore

// The console's tables in the receiver's SQLite file. Incidents are opened
// and joined inside the writer transactions of SQLiteReceiverStore (alerts,
// silence, return), the operators' changes in their own.
extension SQLiteReceiverStore {
    // MARK: Incidents, written inside the store's transactions

    /// The next number of the incident change counter.
    static func nextChange(_ db: Database) throws -> Int64 {
        try db.cachedStatement(sql: "UPDATE incident_change SET n = n + 1").execute()
        return try Int64.fetchOne(db.cachedStatement(sql: "SELECT n FROM incident_change")) ?? 0
    }

    /// Opens an incident for a new alert, or joins the open one of its input
    /// and kind; a restore marks the open incident it restores. True when an
    /// incident changed.
    static func recordIncident(_ db: Database, for alert: Alert, receivedAt now: WallTime, text: String) throws -> Bool {
        if alert.kind == .restore {
            guard let restored = alert.restores.flatMap(IncidentKind.opened(by:)) else { return false }
            try db.cachedStatement(sql: """
                UPDATE incidents SET restored_at_ns = ?, change = ? WHERE gateway_id = ? AND coalesce(input, '') = ? AND kind = ? AND state <> 'resolved'
                """).execute(arguments: [alert.occurredAt.nanosecondsSinceEpoch, try nextChange(db), alert.gatewayID, alert.input ?? "", restored.rawValue])
            return db.changesCount > 0
        }
        guard let kind = IncidentKind.opened(by: alert.kind) else { return false }
        return try openOrJoin(db, gatewayID: alert.gatewayID, site: alert.site, input: alert.input, kind: kind, test: alert.test,
                              zone: alert.zone, area: alert.area, alertID: alert.id, occurredAt: alert.occurredAt, receivedAt: now,
                              clockSynchronized: alert.clockSynchronized, detail: text)
    }

    /// A supervision incident of a gateway (silence, a sequence anomaly).
    static func recordSupervisionIncident(_ db: Database, gatewayID: String, kind: IncidentKind, at now: WallTime, detail: String) throws {
        let site = try String.fetchOne(db, sql: """
            SELECT coalesce((SELECT site FROM registered_gateways WHERE id = ?), (SELECT site FROM incidents WHERE gateway_id = ? ORDER BY id DESC LIMIT 1), '')
            """, arguments: [gatewayID, gatewayID]) ?? ""
        _ = try openOrJoin(db, gatewayID: gatewayID, site: site, input: nil, kind: kind, test: false, zone: nil, area: nil, alertID: nil,
                           occurredAt: now, receivedAt: now, clockSynchronized: true, detail: detail)
    }

    /// A heartbeat's clock state: an unsynchronised clock opens one incident
    /// (not one per heartbeat); synchronised again marks it so, once. True
    /// when an incident changed.
    static func recordClock(_ db: Database, gatewayID: String, site: String, synchronized: Bool, at now: WallTime) throws -> Bool {
        let open = try Row.fetchOne(db, sql: "SELECT id, restored_at_ns FROM incidents WHERE gateway_id = ? AND kind = 'clock' AND state <> 'resolved'",
                                    arguments: [gatewayID])
        if synchronized {
            guard let open, (open[1] as Int64?) == nil else { return false }
            try db.execute(sql: "UPDATE incidents SET restored_at_ns = ?, change = ? WHERE id = ?", arguments: [now.nanosecondsSinceEpoch, try nextChange(db), open[0] as Int64])
            return true
        }
        if let open {
            guard (open[1] as Int64?) != nil else { return false }
            // Lost its synchronisation again while the incident is open.
            try db.execute(sql: "UPDATE incidents SET restored_at_ns = NULL, presses = presses + 1, last_at_ns = ?, change = ? WHERE id = ?",
                           arguments: [now.nanosecondsSinceEpoch, try nextChange(db), open[0] as Int64])
            return true
        }
        _ = try openOrJoin(db, gatewayID: gatewayID, site: site, input: nil, kind: .clock, test: false, zone: nil, area: nil, alertID: nil,
                           occurredAt: now, receivedAt: now, clockSynchronized: false,
                           detail: "the gateway's clock is not synchronised: the press times it reports may be wrong")
        return true
    }

    /// Marks the open silence incident of a gateway as over.
    static func recordReturn(_ db: Database, gatewayID: String, at now: WallTime) throws {
        try db.execute(sql: "UPDATE incidents SET restored_at_ns = ?, change = ? WHERE gateway_id = ? AND kind = 'silent' AND state <> 'resolved'",
                       arguments: [now.nanosecondsSinceEpoch, try nextChange(db), gatewayID])
    }

    private static func openOrJoin(_ db: Database, gatewayID: String, site: String, input: String?, kind: IncidentKind, test: Bool,
                                   zone: Int?, area: Int?, alertID: String?, occurredAt: WallTime, receivedAt: WallTime,
                                   clockSynchronized: Bool, detail: String) throws -> Bool {
        let change = try nextChange(db)
        // A repeated press while the incident is open: one row, counted, not a flood.
        try db.cachedStatement(sql: """
            UPDATE incidents SET presses = presses + 1, last_at_ns = ?, restored_at_ns = NULL, detail = ?, change = ?
            WHERE gateway_id = ? AND coalesce(input, '') = ? AND kind = ? AND state <> 'resolved'
            """).execute(arguments: [occurredAt.nanosecondsSinceEpoch, detail, change, gatewayID, input ?? "", kind.rawValue])
        if db.changesCount > 0 { return true }
        try db.cachedStatement(sql: """
            INSERT INTO incidents(change, gateway_id, site, input, kind, priority, test, zone, area, first_alert_id, occurred_at_ns,
              received_at_ns, clock_synchronized, presses, last_at_ns, detail) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,1,?,?)
            """).execute(arguments: [change, gatewayID, site, input, kind.rawValue, kind.priority, test, zone, area, alertID,
                                     occurredAt.nanosecondsSinceEpoch, receivedAt.nanosecondsSinceEpoch, clockSynchronized,
                                     occurredAt.nanosecondsSinceEpoch, detail])
        return true
    }

    // MARK: Operators and sessions

    public func addOperator(name: String, role: OperatorRole, passwordHash: String, at now: WallTime) async throws {
        guard ConsoleError.validName(name) else { throw ConsoleError.invalidOperatorName(name) }
        try await pool.write { db in
            try db.execute(sql: "INSERT INTO operators(name, role, password_hash, enabled, created_at_ns, changed_at_ns) VALUES(?,?,?,1,?,?) ON CONFLICT(name) DO NOTHING",
                           arguments: [name, role.rawValue, passwordHash, now.nanosecondsSinceEpoch, now.nanosecondsSinceEpoch])
            guard db.changesCount > 0 else { throw ConsoleError.operatorExists(name) }
            try Self.audit(db, now, "admin", nil, "operator-added", "\(name) (\(role.rawValue))")
        }
    }

    public func setPassword(name: String, passwordHash: String, at now: WallTime) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE operators SET password_hash = ?, changed_at_ns = ? WHERE name = ?", arguments: [passwordHash, now.nanosecondsSinceEpoch, name])
            guard db.changesCount > 0 else { throw ConsoleError.unknownOperator(name) }
            try db.execute(sql: "DELETE FROM console_sessions WHERE operator = ?", arguments: [name])
            try Self.audit(db, now, "admin", nil, "password-changed", name)
        }
    }

    public func setOperatorEnabled(name: String, _ enabled: Bool, at now: WallTime) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE operators SET enabled = ?, changed_at_ns = ? WHERE name = ?", arguments: [enabled, now.nanosecondsSinceEpoch, name])
            guard db.changesCount > 0 else { throw ConsoleError.unknownOperator(name) }
            if !enabled { try db.execute(sql: "DELETE FROM console_sessions WHERE operator = ?", arguments: [name]) }
            try Self.audit(db, now, "admin", nil, enabled ? "operator-enabled" : "operator-disabled", name)
        }
    }

    public func operators() async throws -> [OperatorAccount] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT name, role, enabled FROM operators ORDER BY name").map {
                OperatorAccount(name: $0[0], role: OperatorRole(rawValue: $0[1]) ?? .operator, enabled: $0[2])
            }
        }
    }

    public func credentials(of name: String) async throws -> OperatorCredentials? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT name, role, enabled, password_hash FROM operators WHERE name = ?", arguments: [name]).map {
                OperatorCredentials(name: $0[0], role: OperatorRole(rawValue: $0[1]) ?? .operator, enabled: $0[2], passwordHash: $0[3])
            }
        }
    }

    public func createSession(tokenHash: String, operatorName: String, csrfToken: String, expiresAt: WallTime, at now: WallTime) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM console_sessions WHERE expires_at_ns < ?", arguments: [now.nanosecondsSinceEpoch])
            try db.execute(sql: "INSERT INTO console_sessions(token_hash, operator, csrf, created_at_ns, expires_at_ns) VALUES(?,?,?,?,?)",
                           arguments: [tokenHash, operatorName, csrfToken, now.nanosecondsSinceEpoch, expiresAt.nanosecondsSinceEpoch])
            try Self.audit(db, now, operatorName, nil, "login", "")
        }
    }

    public func session(tokenHash: String, now: WallTime) async throws -> ConsoleSession? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: """
                SELECT s.operator, o.role, s.csrf, s.expires_at_ns FROM console_sessions s JOIN operators o ON o.name = s.operator
                WHERE s.token_hash = ? AND s.expires_at_ns > ? AND o.enabled = 1
                """, arguments: [tokenHash, now.nanosecondsSinceEpoch]).map {
                ConsoleSession(operatorName: $0[0], role: OperatorRole(rawValue: $0[1]) ?? .operator, csrfToken: $0[2],
                               expiresAt: WallTime(nanosecondsSinceEpoch: $0[3]))
            }
        }
    }

    public func endSession(tokenHash: String) async throws {
        try await pool.write { db in try db.execute(sql: "DELETE FROM console_sessions WHERE token_hash = ?", arguments: [tokenHash]) }
    }

    // MARK: The queue

    static let incidentColumns = """
        id, change, gateway_id, site, input, kind, priority, test, zone, area, first_alert_id, occurred_at_ns, received_at_ns,
        clock_synchronized, presses, last_at_ns, restored_at_ns, state, acknowledged_by, acknowledged_at_ns, resolved_by, resolved_at_ns,
        disposition, note, detail, escalated_at_ns,
        (SELECT group_concat(step || ':' || done_by || ':' || done_at_ns, ';') FROM incident_steps WHERE incident_id = incidents.id)
        """

    static func incident(_ r: Row) -> Incident {
        func time(_ i: Int) -> WallTime? { (r[i] as Int64?).map { WallTime(nanosecondsSinceEpoch: $0) } }
        return Incident(
            id: r[0], change: r[1], gatewayID: r[2], site: r[3], input: r[4], kind: IncidentKind(rawValue: r[5]) ?? .trouble, priority: r[6],
            test: r[7], zone: r[8], area: r[9], firstAlertID: r[10], occurredAt: WallTime(nanosecondsSinceEpoch: r[11]),
            receivedAt: WallTime(nanosecondsSinceEpoch: r[12]), clockSynchronized: r[13], presses: r[14],
            lastAt: WallTime(nanosecondsSinceEpoch: r[15]), restoredAt: time(16), state: IncidentState(rawValue: r[17]) ?? .new,
            acknowledgedBy: r[18], acknowledgedAt: time(19), resolvedBy: r[20], resolvedAt: time(21),
            disposition: (r[22] as String?).flatMap(Disposition.init(rawValue:)), note: r[23], detail: r[24], escalatedAt: time(25),
            steps: steps(r[26]))
    }

    /// "step:operator:ns;…" (operator names hold neither ':' nor ';').
    static func steps(_ text: String?) -> [IncidentStep] {
        guard let text else { return [] }
        return text.split(separator: ";").compactMap { part in
            let f = part.split(separator: ":")
            guard f.count == 3, let n = Int(f[0]), let at = Int64(f[2]) else { return nil }
            return IncidentStep(step: n, doneBy: String(f[1]), doneAt: WallTime(nanosecondsSinceEpoch: at))
        }.sorted { $0.step < $1.step }
    }

    public func openIncidents() async throws -> [Incident] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT \(Self.incidentColumns) FROM incidents WHERE state <> 'resolved' ORDER BY priority, occurred_at_ns, id").map(Self.incident)
        }
    }

    public func incidents(changedAfter change: Int64, limit: Int) async throws -> [Incident] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT \(Self.incidentColumns) FROM incidents WHERE change > ? ORDER BY change LIMIT ?",
                             arguments: [change, limit]).map(Self.incident)
        }
    }

    public func incident(_ id: Int64) async throws -> Incident? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.incidentColumns) FROM incidents WHERE id = ?", arguments: [id]).map(Self.incident)
        }
    }

    public func history(site: String?, gatewayID: String?, limit: Int) async throws -> [Incident] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT \(Self.incidentColumns) FROM incidents WHERE (? IS NULL OR site = ?) AND (? IS NULL OR gateway_id = ?)
                ORDER BY occurred_at_ns DESC, id DESC LIMIT ?
                """, arguments: [site, site, gatewayID, gatewayID, limit]).map(Self.incident)
        }
    }

    public func lastIncidentChange() async throws -> Int64 {
        try await pool.read { db in try Int64.fetchOne(db, sql: "SELECT n FROM incident_change") ?? 0 }
    }

    public func acknowledge(_ id: Int64, by operatorName: String, at now: WallTime) async throws -> Incident {
        let done = try await pool.write { db in
            try Self.transition(db, id, from: [.new], wanted: "acknowledged")
            try db.execute(sql: "UPDATE incidents SET state = 'acknowledged', acknowledged_by = ?, acknowledged_at_ns = ?, change = ? WHERE id = ?",
                           arguments: [operatorName, now.nanosecondsSinceEpoch, try Self.nextChange(db), id])
            try Self.audit(db, now, operatorName, id, "acknowledged", "")
            return try Row.fetchOne(db, sql: "SELECT \(Self.incidentColumns) FROM incidents WHERE id = ?", arguments: [id]).map(Self.incident)
        }
        incidentChanges.signal()
        guard let done else { throw ConsoleError.unknownIncident(id) }
        return done
    }

    public func resolve(_ id: Int64, by operatorName: String, disposition: Disposition, note: String, at now: WallTime) async throws -> Incident {
        guard note.utf8.count <= 4_000 else { throw ConsoleError.noteTooLong(note.utf8.count) }
        let done = try await pool.write { db in
            try Self.transition(db, id, from: [.new, .acknowledged], wanted: "resolved")
            try db.execute(sql: """
                UPDATE incidents SET state = 'resolved', resolved_by = ?, resolved_at_ns = ?, disposition = ?, note = ?, change = ? WHERE id = ?
                """, arguments: [operatorName, now.nanosecondsSinceEpoch, disposition.rawValue, note, try Self.nextChange(db), id])
            try Self.audit(db, now, operatorName, id, "resolved", note.isEmpty ? disposition.rawValue : "\(disposition.rawValue): \(note)")
            return try Row.fetchOne(db, sql: "SELECT \(Self.incidentColumns) FROM incidents WHERE id = ?", arguments: [id]).map(Self.incident)
        }
        incidentChanges.signal()
        guard let done else { throw ConsoleError.unknownIncident(id) }
        return done
    }

    public func completeStep(_ id: Int64, step: Int, text: String, by operatorName: String, at now: WallTime) async throws -> Incident {
        let done = try await pool.write { db in
            try Self.transition(db, id, from: [.new, .acknowledged], wanted: "given a step")
            try db.execute(sql: "INSERT INTO incident_steps(incident_id, step, text, done_by, done_at_ns) VALUES(?,?,?,?,?) ON CONFLICT DO NOTHING",
                           arguments: [id, step, text, operatorName, now.nanosecondsSinceEpoch])
            if db.changesCount > 0 {
                try db.execute(sql: "UPDATE incidents SET change = ? WHERE id = ?", arguments: [try Self.nextChange(db), id])
                try Self.audit(db, now, operatorName, id, "step-done", "\(step + 1). \(text)")
            }
            return try Row.fetchOne(db, sql: "SELECT \(Self.incidentColumns) FROM incidents WHERE id = ?", arguments: [id]).map(Self.incident)
        }
        incidentChanges.signal()
        guard let done else { throw ConsoleError.unknownIncident(id) }
        return done
    }

    private static func transition(_ db: Database, _ id: Int64, from allowed: [IncidentState], wanted: String) throws {
        guard let raw = try String.fetchOne(db, sql: "SELECT state FROM incidents WHERE id = ?", arguments: [id]) else { throw ConsoleError.unknownIncident(id) }
        let state = IncidentState(rawValue: raw) ?? .new
        guard allowed.contains(state) else { throw ConsoleError.wrongState(id, state, wanted: wanted) }
    }

    public func acknowledgements(gatewayID: String) async throws -> AcknowledgementAnswer {
        try await pool.read { db in
            var inputs: [String: RemoteAlarmState] = [:]
            for r in try Row.fetchAll(db, sql: """
                SELECT input, state FROM incidents WHERE gateway_id = ? AND state <> 'resolved' AND input IS NOT NULL
                  AND kind IN ('panic', 'duress', 'tamper')
                """, arguments: [gatewayID]) {
                let input: String = r[0], state: String = r[1]
                // Two kinds open on one input: acknowledged only when both are.
                let s: RemoteAlarmState = state == "acknowledged" ? .acknowledged : .open
                inputs[input] = inputs[input] == .open ? .open : s
            }
            let through = try Int64.fetchOne(db, sql: "SELECT MAX(sequence) FROM alerts WHERE gateway_id = ?", arguments: [gatewayID]) ?? 0
            return AcknowledgementAnswer(inputs: inputs, receivedThrough: through)
        }
    }

    // MARK: Escalation

    public func escalate(receivedBefore cutoff: WallTime, maximumPriority: Int, webhooks: [String], at now: WallTime,
                         body: @Sendable (Incident) -> [UInt8]) async throws -> [Incident] {
        let escalated = try await pool.write { db -> [Incident] in
            let due = try Row.fetchAll(db, sql: """
                SELECT \(Self.incidentColumns) FROM incidents WHERE state = 'new' AND escalated_at_ns IS NULL AND received_at_ns <= ? AND priority <= ?
                ORDER BY priority, occurred_at_ns
                """, arguments: [cutoff.nanosecondsSinceEpoch, maximumPriority]).map(Self.incident)
            var out: [Incident] = []
            for var i in due {
                i.escalatedAt = now
                i.change = try Self.nextChange(db)
                try db.execute(sql: "UPDATE incidents SET escalated_at_ns = ?, change = ? WHERE id = ?", arguments: [now.nanosecondsSinceEpoch, i.change, i.id])
                let payload = Data(body(i))
                for w in webhooks {
                    try db.execute(sql: """
                        INSERT INTO escalations(incident_id, webhook, body, created_at_ns, next_attempt_at_ns) VALUES(?,?,?,?,?)
                        ON CONFLICT(incident_id, webhook) DO NOTHING
                        """, arguments: [i.id, w, payload, now.nanosecondsSinceEpoch, now.nanosecondsSinceEpoch])
                }
                try Self.audit(db, now, "receiver", i.id, "escalated", webhooks.isEmpty ? "to supervisors" : "to supervisors and " + webhooks.joined(separator: ", "))
                out.append(i)
            }
            return out
        }
        if !escalated.isEmpty { incidentChanges.signal() }
        return escalated
    }

    public func dueEscalations(at now: WallTime, limit: Int) async throws -> [EscalationDelivery] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT id, incident_id, webhook, body, attempts FROM escalations WHERE delivered_at_ns IS NULL AND next_attempt_at_ns <= ?
                ORDER BY id LIMIT ?
                """, arguments: [now.nanosecondsSinceEpoch, limit]).map {
                EscalationDelivery(id: $0[0], incidentID: $0[1], webhook: $0[2], body: [UInt8]($0[3] as Data), attempts: $0[4])
            }
        }
    }

    public func escalationDelivered(_ id: Int64, at now: WallTime) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE escalations SET delivered_at_ns = ?, attempts = attempts + 1, last_error = NULL WHERE id = ?", arguments: [now.nanosecondsSinceEpoch, id])
            if let row = try Row.fetchOne(db, sql: "SELECT incident_id, webhook FROM escalations WHERE id = ?", arguments: [id]) {
                try Self.audit(db, now, "receiver", row[0], "escalation-delivered", row[1])
            }
        }
    }

    public func escalationFailed(_ id: Int64, error: String, retryAt: WallTime) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE escalations SET attempts = attempts + 1, last_error = ?, next_attempt_at_ns = ? WHERE id = ?",
                           arguments: [String(error.prefix(500)), retryAt.nanosecondsSinceEpoch, id])
        }
    }

    public func postponeEscalations(_ ids: [Int64], until: WallTime) async throws {
        guard !ids.isEmpty else { return }
        try await pool.write { db in
            try db.execute(sql: "UPDATE escalations SET next_attempt_at_ns = max(next_attempt_at_ns, ?) WHERE id IN (\(ids.map { _ in "?" }.joined(separator: ",")))",
                           arguments: StatementArguments([until.nanosecondsSinceEpoch] + ids))
        }
    }

    public func undeliveredEscalations() async throws -> Int {
        try await pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM escalations WHERE delivered_at_ns IS NULL") ?? 0 }
    }

    // MARK: The audit log

    public func appendAudit(operatorName: String, incidentID: Int64?, action: String, detail: String, at now: WallTime) async throws {
        try await pool.write { db in try Self.audit(db, now, operatorName, incidentID, action, detail) }
    }

    public func audit(incidentID: Int64?, limit: Int) async throws -> [AuditEntry] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT number, at_ns, operator, incident_id, action, detail FROM (
                  SELECT * FROM audit WHERE (? IS NULL OR incident_id = ?) ORDER BY number DESC LIMIT ?) ORDER BY number
                """, arguments: [incidentID, incidentID, limit]).map {
                AuditEntry(number: $0[0], at: WallTime(nanosecondsSinceEpoch: $0[1]), operatorName: $0[2], incidentID: $0[3], action: $0[4], detail: $0[5])
            }
        }
    }

    static func audit(_ db: Database, _ now: WallTime, _ who: String, _ incident: Int64?, _ action: String, _ detail: String) throws {
        try db.execute(sql: "INSERT INTO audit(at_ns, operator, incident_id, action, detail) VALUES(?,?,?,?,?)",
                       arguments: [now.nanosecondsSinceEpoch, who, incident, action, detail])
    }
}
