import Foundation
import Logging
import PanicCore
import PostgresNIO

// The console's tables on PostgreSQL, shared by every replica. Incidents are
// opened by the stored functions of the intake and supervision (see
// `PostgresSchema`, step 3); what operators do runs here, each in one
// transaction that first takes the incident change counter's row
// (`panic_next_change()`), so changes commit in the order of their numbers
// and two replicas never interleave one incident's steps.
extension PostgresReceiverStore {
    // MARK: Operators and sessions

    public func addOperator(name: String, role: OperatorRole, passwordHash: String, at now: WallTime) async throws {
        guard ConsoleError.validName(name) else { throw ConsoleError.invalidOperatorName(name) }
        let t = now.nanosecondsSinceEpoch
        _ = try await timed("add operator") { [client, logger] in
            try await client.withTransaction(logger: logger) { tx in
                let added = try await tx.query("""
                    INSERT INTO operators(name, role, password_hash, enabled, created_at_ns, changed_at_ns)
                    VALUES(\(name), \(role.rawValue), \(passwordHash), true, \(t), \(t)) ON CONFLICT(name) DO NOTHING RETURNING name
                    """, logger: logger).collect()
                guard !added.isEmpty else { throw ConsoleError.operatorExists(name) }
                try await Self.audit(tx, t, "admin", nil, "operator-added", "\(name) (\(role.rawValue))", logger)
                return true
            }
        }
    }

    public func setPassword(name: String, passwordHash: String, at now: WallTime) async throws {
        let t = now.nanosecondsSinceEpoch
        _ = try await timed("set password") { [client, logger] in
            try await client.withTransaction(logger: logger) { tx in
                let hit = try await tx.query("UPDATE operators SET password_hash = \(passwordHash), changed_at_ns = \(t) WHERE name = \(name) RETURNING name",
                                             logger: logger).collect()
                guard !hit.isEmpty else { throw ConsoleError.unknownOperator(name) }
                try await tx.query("DELETE FROM console_sessions WHERE operator = \(name)", logger: logger)
                try await Self.audit(tx, t, "admin", nil, "password-changed", name, logger)
                return true
            }
        }
    }

    public func setOperatorEnabled(name: String, _ enabled: Bool, at now: WallTime) async throws {
        let t = now.nanosecondsSinceEpoch
        _ = try await timed("enable operator") { [client, logger] in
            try await client.withTransaction(logger: logger) { tx in
                let hit = try await tx.query("UPDATE operators SET enabled = \(enabled), changed_at_ns = \(t) WHERE name = \(name) RETURNING name",
                                             logger: logger).collect()
                guard !hit.isEmpty else { throw ConsoleError.unknownOperator(name) }
                if !enabled { try await tx.query("DELETE FROM console_sessions WHERE operator = \(name)", logger: logger) }
                try await Self.audit(tx, t, "admin", nil, enabled ? "operator-enabled" : "operator-disabled", name, logger)
                return true
            }
        }
    }

    public func operators() async throws -> [OperatorAccount] {
        try await timed("operators") { [client, logger] in
            try await client.query("SELECT name, role, enabled FROM operators ORDER BY name", logger: logger).collect().map { row in
                let (n, r, e) = try row.decode((String, String, Bool).self)
                return OperatorAccount(name: n, role: OperatorRole(rawValue: r) ?? .operator, enabled: e)
            }
        }
    }

    public func credentials(of name: String) async throws -> OperatorCredentials? {
        try await timed("credentials") { [client, logger] in
            try await client.query("SELECT name, role, enabled, password_hash FROM operators WHERE name = \(name)", logger: logger).collect().first.map { row in
                let (n, r, e, h) = try row.decode((String, String, Bool, String).self)
                return OperatorCredentials(name: n, role: OperatorRole(rawValue: r) ?? .operator, enabled: e, passwordHash: h)
            }
        }
    }

    public func createSession(tokenHash: String, operatorName: String, csrfToken: String, expiresAt: WallTime, at now: WallTime) async throws {
        let t = now.nanosecondsSinceEpoch, until = expiresAt.nanosecondsSinceEpoch
        _ = try await timed("create session") { [client, logger] in
            try await client.withTransaction(logger: logger) { tx in
                try await tx.query("DELETE FROM console_sessions WHERE expires_at_ns < \(t)", logger: logger)
                try await tx.query("""
                    INSERT INTO console_sessions(token_hash, operator, csrf, created_at_ns, expires_at_ns)
                    VALUES(\(tokenHash), \(operatorName), \(csrfToken), \(t), \(until))
                    """, logger: logger)
                try await Self.audit(tx, t, operatorName, nil, "login", "", logger)
                return true
            }
        }
    }

    public func session(tokenHash: String, now: WallTime) async throws -> ConsoleSession? {
        let t = now.nanosecondsSinceEpoch
        return try await timed("session") { [client, logger] in
            try await client.query("""
                SELECT s.operator, o.role, s.csrf, s.expires_at_ns FROM console_sessions s JOIN operators o ON o.name = s.operator
                WHERE s.token_hash = \(tokenHash) AND s.expires_at_ns > \(t) AND o.enabled
                """, logger: logger).collect().first.map { row in
                let (n, r, c, e) = try row.decode((String, String, String, Int64).self)
                return ConsoleSession(operatorName: n, role: OperatorRole(rawValue: r) ?? .operator, csrfToken: c, expiresAt: WallTime(nanosecondsSinceEpoch: e))
            }
        }
    }

    public func endSession(tokenHash: String) async throws {
        _ = try await timed("end session") { [client, logger] in
            try await client.query("DELETE FROM console_sessions WHERE token_hash = \(tokenHash)", logger: logger).collect()
        }
    }

    // MARK: The queue

    static let incidentColumns = """
        id, change, gateway_id, site, input, kind, priority, test, zone, area, first_alert_id, occurred_at_ns, received_at_ns,
        clock_synchronized, presses, last_at_ns, restored_at_ns, state, acknowledged_by, acknowledged_at_ns, resolved_by, resolved_at_ns,
        disposition, note, detail, escalated_at_ns,
        (SELECT string_agg(step || ':' || done_by || ':' || done_at_ns, ';') FROM incident_steps WHERE incident_id = incidents.id)
        """

    static func incident(_ row: PostgresRow) throws -> Incident {
        let c = row.makeRandomAccess()
        func time(_ i: Int) throws -> WallTime? { try c[i].decode(Int64?.self).map { WallTime(nanosecondsSinceEpoch: $0) } }
        func wall(_ i: Int) throws -> WallTime { WallTime(nanosecondsSinceEpoch: try c[i].decode(Int64.self)) }
        return Incident(
            id: try c[0].decode(Int64.self), change: try c[1].decode(Int64.self), gatewayID: try c[2].decode(String.self),
            site: try c[3].decode(String.self), input: try c[4].decode(String?.self),
            kind: IncidentKind(rawValue: try c[5].decode(String.self)) ?? .trouble, priority: Int(try c[6].decode(Int32.self)),
            test: try c[7].decode(Bool.self), zone: try c[8].decode(Int64?.self).map { Int(clamping: $0) },
            area: try c[9].decode(Int64?.self).map { Int(clamping: $0) }, firstAlertID: try c[10].decode(String?.self),
            occurredAt: try wall(11), receivedAt: try wall(12), clockSynchronized: try c[13].decode(Bool.self),
            presses: Int(clamping: try c[14].decode(Int64.self)), lastAt: try wall(15), restoredAt: try time(16),
            state: IncidentState(rawValue: try c[17].decode(String.self)) ?? .new,
            acknowledgedBy: try c[18].decode(String?.self), acknowledgedAt: try time(19),
            resolvedBy: try c[20].decode(String?.self), resolvedAt: try time(21),
            disposition: try c[22].decode(String?.self).flatMap(Disposition.init(rawValue:)), note: try c[23].decode(String?.self),
            detail: try c[24].decode(String.self), escalatedAt: try time(25),
            steps: SQLiteReceiverStore.steps(try c[26].decode(String?.self)))
    }

    private func incidents(_ what: String, _ query: PostgresQuery) async throws -> [Incident] {
        try await timed(what) { [client, logger] in try await client.query(query, logger: logger).collect().map(Self.incident) }
    }

    public func openIncidents() async throws -> [Incident] {
        try await incidents("open incidents", "SELECT \(unescaped: Self.incidentColumns) FROM incidents WHERE state <> 'resolved' ORDER BY priority, occurred_at_ns, id")
    }

    public func incidents(changedAfter change: Int64, limit: Int) async throws -> [Incident] {
        try await incidents("changed incidents", "SELECT \(unescaped: Self.incidentColumns) FROM incidents WHERE change > \(change) ORDER BY change LIMIT \(Int64(limit))")
    }

    public func incident(_ id: Int64) async throws -> Incident? {
        try await incidents("incident", "SELECT \(unescaped: Self.incidentColumns) FROM incidents WHERE id = \(id)").first
    }

    public func history(site: String?, gatewayID: String?, limit: Int) async throws -> [Incident] {
        try await incidents("history", """
            SELECT \(unescaped: Self.incidentColumns) FROM incidents
            WHERE (\(site)::text IS NULL OR site = \(site)) AND (\(gatewayID)::text IS NULL OR gateway_id = \(gatewayID))
            ORDER BY occurred_at_ns DESC, id DESC LIMIT \(Int64(limit))
            """)
    }

    public func lastIncidentChange() async throws -> Int64 {
        try await timed("last change") { [client, logger] in
            try await client.query("SELECT n FROM incident_change", logger: logger).collect().first?.decode(Int64.self) ?? 0
        }
    }

    /// One operator's change of one incident: the change counter's row first
    /// (the order every incident writer keeps), then the incident's row, its
    /// state checked against `allowed`; `body` changes it with the change
    /// number; the incident as it is now is the answer.
    private func change(_ what: String, _ id: Int64, allowed: [IncidentState], wanted: String,
                        _ body: @escaping @Sendable (PostgresConnection, Int64) async throws -> Void) async throws -> Incident {
        let done = try await timed(what) { [client, logger] in
            try await client.withTransaction(logger: logger) { tx -> Incident in
                let change = try await tx.query("SELECT panic_next_change()", logger: logger).collect().first?.decode(Int64.self) ?? 0
                guard let raw = try await tx.query("SELECT state FROM incidents WHERE id = \(id) FOR UPDATE", logger: logger).collect().first?.decode(String.self) else {
                    throw ConsoleError.unknownIncident(id)
                }
                let state = IncidentState(rawValue: raw) ?? .new
                guard allowed.contains(state) else { throw ConsoleError.wrongState(id, state, wanted: wanted) }
                try await body(tx, change)
                guard let row = try await tx.query("SELECT \(unescaped: Self.incidentColumns) FROM incidents WHERE id = \(id)", logger: logger).collect().first else {
                    throw ConsoleError.unknownIncident(id)
                }
                return try Self.incident(row)
            }
        }
        incidentChanges.signal()
        return done
    }

    public func acknowledge(_ id: Int64, by operatorName: String, at now: WallTime) async throws -> Incident {
        let t = now.nanosecondsSinceEpoch
        return try await change("acknowledge", id, allowed: [.new], wanted: "acknowledged") { [logger] tx, change in
            try await tx.query("""
                UPDATE incidents SET state = 'acknowledged', acknowledged_by = \(operatorName), acknowledged_at_ns = \(t), change = \(change) WHERE id = \(id)
                """, logger: logger)
            try await Self.audit(tx, t, operatorName, id, "acknowledged", "", logger)
        }
    }

    public func resolve(_ id: Int64, by operatorName: String, disposition: Disposition, note: String, at now: WallTime) async throws -> Incident {
        guard note.utf8.count <= 4_000 else { throw ConsoleError.noteTooLong(note.utf8.count) }
        let t = now.nanosecondsSinceEpoch
        return try await change("resolve", id, allowed: [.new, .acknowledged], wanted: "resolved") { [logger] tx, change in
            try await tx.query("""
                UPDATE incidents SET state = 'resolved', resolved_by = \(operatorName), resolved_at_ns = \(t), disposition = \(disposition.rawValue),
                  note = \(note), change = \(change) WHERE id = \(id)
                """, logger: logger)
            try await Self.audit(tx, t, operatorName, id, "resolved", note.isEmpty ? disposition.rawValue : "\(disposition.rawValue): \(note)", logger)
        }
    }

    public func completeStep(_ id: Int64, step: Int, text: String, by operatorName: String, at now: WallTime) async throws -> Incident {
        let t = now.nanosecondsSinceEpoch
        return try await change("complete step", id, allowed: [.new, .acknowledged], wanted: "given a step") { [logger] tx, change in
            let added = try await tx.query("""
                INSERT INTO incident_steps(incident_id, step, text, done_by, done_at_ns) VALUES(\(id), \(Int32(clamping: step)), \(text), \(operatorName), \(t))
                ON CONFLICT DO NOTHING RETURNING step
                """, logger: logger).collect()
            guard !added.isEmpty else { return }
            try await tx.query("UPDATE incidents SET change = \(change) WHERE id = \(id)", logger: logger)
            try await Self.audit(tx, t, operatorName, id, "step-done", "\(step + 1). \(text)", logger)
        }
    }

    public func acknowledgements(gatewayID: String) async throws -> AcknowledgementAnswer {
        try await timed("acknowledgements") { [client, logger] in
            var inputs: [String: RemoteAlarmState] = [:]
            for row in try await client.query("""
                SELECT input, state FROM incidents WHERE gateway_id = \(gatewayID) AND state <> 'resolved' AND input IS NOT NULL
                  AND kind IN ('panic', 'duress', 'tamper')
                """, logger: logger).collect() {
                let (input, state) = try row.decode((String, String).self)
                // Two kinds open on one input: acknowledged only when both are.
                let s: RemoteAlarmState = state == "acknowledged" ? .acknowledged : .open
                inputs[input] = inputs[input] == .open ? .open : s
            }
            let through = try await client.query("SELECT MAX(sequence) FROM alerts WHERE gateway_id = \(gatewayID)", logger: logger)
                .collect().first?.decode(Int64?.self) ?? 0
            return AcknowledgementAnswer(inputs: inputs, receivedThrough: through)
        }
    }

    // MARK: Escalation

    public func escalate(receivedBefore cutoff: WallTime, maximumPriority: Int, webhooks: [String], at now: WallTime,
                         body: @Sendable (Incident) -> [UInt8]) async throws -> [Incident] {
        let c = cutoff.nanosecondsSinceEpoch, t = now.nanosecondsSinceEpoch, p = Int32(clamping: maximumPriority)
        // Every replica's escalation loop asks; nothing due is the common
        // answer, found without a lock and without a change.
        let due: [Incident] = try await incidents("due escalations", """
            SELECT \(unescaped: Self.incidentColumns) FROM incidents WHERE state = 'new' AND escalated_at_ns IS NULL
              AND received_at_ns <= \(c) AND priority <= \(p)
            """)
        guard !due.isEmpty else { return [] }
        let payloads: [Int64: [UInt8]] = Dictionary(due.map { i in
            var i = i
            i.escalatedAt = now
            return (i.id, body(i))
        }, uniquingKeysWith: { a, _ in a })
        let escalated = try await timed("escalate") { [client, logger] in
            try await client.withTransaction(logger: logger) { tx -> [Incident] in
                // The counter's row, then the incidents: a second replica
                // escalating at the same moment waits, then finds them escalated.
                _ = try await tx.query("SELECT panic_next_change()", logger: logger).collect()
                let rows = try await tx.query("""
                    SELECT \(unescaped: Self.incidentColumns) FROM incidents WHERE state = 'new' AND escalated_at_ns IS NULL
                      AND received_at_ns <= \(c) AND priority <= \(p) ORDER BY priority, occurred_at_ns FOR UPDATE
                    """, logger: logger).collect()
                var out: [Incident] = []
                for row in rows {
                    var i = try Self.incident(row)
                    guard let payload = payloads[i.id] else { continue }  // arrived after the look: the next round's
                    i.escalatedAt = now
                    i.change = try await tx.query("SELECT panic_next_change()", logger: logger).collect().first?.decode(Int64.self) ?? i.change
                    try await tx.query("UPDATE incidents SET escalated_at_ns = \(t), change = \(i.change) WHERE id = \(i.id)", logger: logger)
                    for w in webhooks {
                        try await tx.query("""
                            INSERT INTO escalations(incident_id, webhook, body, created_at_ns, next_attempt_at_ns)
                            VALUES(\(i.id), \(w), \(ByteBuffer(bytes: payload)), \(t), \(t)) ON CONFLICT(incident_id, webhook) DO NOTHING
                            """, logger: logger)
                    }
                    try await Self.audit(tx, t, "receiver", i.id, "escalated",
                                         webhooks.isEmpty ? "to supervisors" : "to supervisors and " + webhooks.joined(separator: ", "), logger)
                    out.append(i)
                }
                return out
            }
        }
        if !escalated.isEmpty { incidentChanges.signal() }
        return escalated
    }

    /// How long a replica holds the escalations it took before another may
    /// take them: each webhook is sent by one replica at a time.
    static let escalationLease: Int64 = 60_000_000_000

    public func dueEscalations(at now: WallTime, limit: Int) async throws -> [EscalationDelivery] {
        let t = now.nanosecondsSinceEpoch
        // Taken, not just read: moved a lease ahead, so the replicas running
        // their escalation loops at once do not all send the same webhook.
        // A replica that dies holding them leaves them due again after the lease.
        return try await timed("due escalations") { [client, logger] in
            try await client.query("""
                UPDATE escalations SET next_attempt_at_ns = \(t + Self.escalationLease)
                WHERE id IN (SELECT id FROM escalations WHERE delivered_at_ns IS NULL AND next_attempt_at_ns <= \(t)
                             ORDER BY id LIMIT \(Int64(limit)) FOR UPDATE SKIP LOCKED)
                RETURNING id, incident_id, webhook, body, attempts
                """, logger: logger).collect().map { row in
                let (id, incident, webhook, body, attempts) = try row.decode((Int64, Int64, String, ByteBuffer, Int32).self)
                return EscalationDelivery(id: id, incidentID: incident, webhook: webhook, body: Array(buffer: body), attempts: Int(attempts))
            }.sorted { $0.id < $1.id }
        }
    }

    public func escalationDelivered(_ id: Int64, at now: WallTime) async throws {
        let t = now.nanosecondsSinceEpoch
        _ = try await timed("escalation delivered") { [client, logger] in
            try await client.withTransaction(logger: logger) { tx in
                let rows = try await tx.query("""
                    UPDATE escalations SET delivered_at_ns = \(t), attempts = attempts + 1, last_error = NULL
                    WHERE id = \(id) AND delivered_at_ns IS NULL RETURNING incident_id, webhook
                    """, logger: logger).collect()
                if let row = rows.first {
                    let (incident, webhook) = try row.decode((Int64, String).self)
                    try await Self.audit(tx, t, "receiver", incident, "escalation-delivered", webhook, logger)
                }
                return true
            }
        }
    }

    public func escalationFailed(_ id: Int64, error: String, retryAt: WallTime) async throws {
        let t = retryAt.nanosecondsSinceEpoch, text = String(error.prefix(500))
        _ = try await timed("escalation failed") { [client, logger] in
            try await client.query("""
                UPDATE escalations SET attempts = attempts + 1, last_error = \(text), next_attempt_at_ns = \(t) WHERE id = \(id) AND delivered_at_ns IS NULL
                """, logger: logger).collect()
        }
    }

    public func postponeEscalations(_ ids: [Int64], until: WallTime) async throws {
        guard !ids.isEmpty else { return }
        let t = until.nanosecondsSinceEpoch
        _ = try await timed("postpone escalations") { [client, logger] in
            // This replica holds them (taken with a lease): their next attempt is `until`.
            try await client.query("UPDATE escalations SET next_attempt_at_ns = \(t) WHERE id = ANY(\(ids)) AND delivered_at_ns IS NULL", logger: logger).collect()
        }
    }

    public func undeliveredEscalations() async throws -> Int {
        try await timed("undelivered escalations") { [client, logger] in
            Int(clamping: try await client.query("SELECT COUNT(*) FROM escalations WHERE delivered_at_ns IS NULL", logger: logger).collect().first?.decode(Int64.self) ?? 0)
        }
    }

    // MARK: The audit log

    public func appendAudit(operatorName: String, incidentID: Int64?, action: String, detail: String, at now: WallTime) async throws {
        let t = now.nanosecondsSinceEpoch
        _ = try await timed("audit") { [client, logger] in
            try await client.query("SELECT panic_audit(\(t), \(operatorName), \(incidentID), \(action), \(detail))", logger: logger).collect()
        }
    }

    public func audit(incidentID: Int64?, limit: Int) async throws -> [AuditEntry] {
        try await timed("audit log") { [client, logger] in
            try await client.query("""
                SELECT number, at_ns, operator, incident_id, action, detail FROM (
                  SELECT * FROM audit WHERE (\(incidentID)::bigint IS NULL OR incident_id = \(incidentID)) ORDER BY number DESC LIMIT \(Int64(limit))) a
                ORDER BY number
                """, logger: logger).collect().map { row in
                let (n, at, who, incident, action, detail) = try row.decode((Int64, Int64, String, Int64?, String, String).self)
                return AuditEntry(number: n, at: WallTime(nanosecondsSinceEpoch: at), operatorName: who, incidentID: incident, action: action, detail: detail)
            }
        }
    }

    static func audit(_ tx: PostgresConnection, _ at: Int64, _ who: String, _ incident: Int64?, _ action: String, _ detail: String,
                      _ logger: Logger) async throws {
        try await tx.query("SELECT panic_audit(\(at), \(who), \(incident), \(action), \(detail))", logger: logger)
    }
}
