import GRDB

/// The SQLite database's versioned schema (`PRAGMA user_version`). Each
/// step runs once, in order, in one transaction; a database written by a
/// newer receiver is refused rather than guessed at. A single process owns
/// an SQLite database, so opening it migrates it (the embedded default).
public enum SQLiteSchema {
    /// The version this build writes and understands.
    public static let current = 4

    static let steps: [String] = [
        // 1: alerts, gateways, announced keys, the event log (the first release's tables).
        """
        CREATE TABLE IF NOT EXISTS alerts(
          id TEXT PRIMARY KEY, gateway_id TEXT NOT NULL, sequence INTEGER NOT NULL, kind TEXT NOT NULL,
          test INTEGER NOT NULL, occurred_at_ns INTEGER NOT NULL, received_at_ns INTEGER NOT NULL,
          key_id TEXT NOT NULL, body BLOB NOT NULL);
        DROP INDEX IF EXISTS alerts_by_sequence;
        CREATE INDEX IF NOT EXISTS alerts_by_gateway_sequence ON alerts(gateway_id, sequence);
        CREATE TABLE IF NOT EXISTS gateways(
          id TEXT PRIMARY KEY, last_heartbeat_ns INTEGER, interval_s INTEGER, reported_sequence INTEGER,
          queued INTEGER, silent INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE IF NOT EXISTS announced_keys(
          key_id TEXT PRIMARY KEY, gateway_id TEXT NOT NULL, public_key TEXT NOT NULL, announced_at_ns INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS events(
          number INTEGER PRIMARY KEY AUTOINCREMENT, at_ns INTEGER NOT NULL, gateway_id TEXT NOT NULL,
          type TEXT NOT NULL, text TEXT NOT NULL);
        """,
        // 2: who announced each key (announcements from before are no longer
        // trusted: their announcer is unknown), and single-use heartbeat nonces.
        """
        ALTER TABLE announced_keys ADD COLUMN announced_by TEXT;
        CREATE TABLE heartbeat_nonces(gateway_id TEXT NOT NULL, id TEXT NOT NULL, created_s INTEGER NOT NULL, PRIMARY KEY(gateway_id, id));
        CREATE INDEX heartbeat_nonces_by_created ON heartbeat_nonces(created_s);
        """,
        // 3: alerts unique on (gateway, id), not on the id alone (one gateway
        // must not be able to pre-empt another's alert id), and the gateway
        // registry (gateways and keys added with `panic-receiver gateways`).
        """
        CREATE TABLE alerts_v3(
          gateway_id TEXT NOT NULL, id TEXT NOT NULL, sequence INTEGER NOT NULL, kind TEXT NOT NULL,
          test INTEGER NOT NULL, occurred_at_ns INTEGER NOT NULL, received_at_ns INTEGER NOT NULL,
          key_id TEXT NOT NULL, body BLOB NOT NULL, PRIMARY KEY(gateway_id, id));
        INSERT INTO alerts_v3 SELECT gateway_id, id, sequence, kind, test, occurred_at_ns, received_at_ns, key_id, body FROM alerts;
        DROP TABLE alerts;
        ALTER TABLE alerts_v3 RENAME TO alerts;
        CREATE INDEX alerts_by_gateway_sequence ON alerts(gateway_id, sequence);
        CREATE TABLE registered_gateways(id TEXT PRIMARY KEY, site TEXT NOT NULL, enabled INTEGER NOT NULL DEFAULT 1, added_at_ns INTEGER NOT NULL);
        CREATE TABLE registered_keys(key_id TEXT PRIMARY KEY, gateway_id TEXT NOT NULL REFERENCES registered_gateways(id) ON DELETE CASCADE,
          public_key TEXT NOT NULL UNIQUE, added_at_ns INTEGER NOT NULL);
        CREATE TABLE registry_version(version INTEGER NOT NULL);
        INSERT INTO registry_version VALUES(0);
        """,
        // 4: the operator console: operators, their sessions, the incidents
        // alerts and supervision open, and the append-only audit log.
        """
        CREATE TABLE operators(name TEXT PRIMARY KEY, role TEXT NOT NULL CHECK(role IN ('operator', 'supervisor')),
          password_hash TEXT NOT NULL, enabled INTEGER NOT NULL DEFAULT 1, created_at_ns INTEGER NOT NULL, changed_at_ns INTEGER NOT NULL);
        CREATE TABLE console_sessions(token_hash TEXT PRIMARY KEY, operator TEXT NOT NULL REFERENCES operators(name) ON DELETE CASCADE,
          csrf TEXT NOT NULL, created_at_ns INTEGER NOT NULL, expires_at_ns INTEGER NOT NULL);
        CREATE INDEX console_sessions_by_operator ON console_sessions(operator);
        CREATE TABLE incidents(
          id INTEGER PRIMARY KEY AUTOINCREMENT, change INTEGER NOT NULL, gateway_id TEXT NOT NULL, site TEXT NOT NULL, input TEXT,
          kind TEXT NOT NULL, priority INTEGER NOT NULL, test INTEGER NOT NULL, zone INTEGER, area INTEGER, first_alert_id TEXT,
          occurred_at_ns INTEGER NOT NULL, received_at_ns INTEGER NOT NULL, clock_synchronized INTEGER NOT NULL,
          presses INTEGER NOT NULL DEFAULT 1, last_at_ns INTEGER NOT NULL, restored_at_ns INTEGER,
          state TEXT NOT NULL DEFAULT 'new' CHECK(state IN ('new', 'acknowledged', 'resolved')),
          acknowledged_by TEXT, acknowledged_at_ns INTEGER, resolved_by TEXT, resolved_at_ns INTEGER, disposition TEXT, note TEXT,
          detail TEXT NOT NULL, escalated_at_ns INTEGER);
        -- One open incident per input and kind: repeated presses join it.
        CREATE UNIQUE INDEX incidents_one_open ON incidents(gateway_id, coalesce(input, ''), kind) WHERE state <> 'resolved';
        CREATE INDEX incidents_open ON incidents(priority, occurred_at_ns) WHERE state <> 'resolved';
        CREATE INDEX incidents_by_change ON incidents(change);
        CREATE INDEX incidents_by_site ON incidents(site, occurred_at_ns);
        CREATE INDEX incidents_by_gateway ON incidents(gateway_id, occurred_at_ns);
        CREATE TABLE incident_change(n INTEGER NOT NULL);
        INSERT INTO incident_change VALUES(0);
        CREATE TABLE audit(number INTEGER PRIMARY KEY AUTOINCREMENT, at_ns INTEGER NOT NULL, operator TEXT NOT NULL,
          incident_id INTEGER, action TEXT NOT NULL, detail TEXT NOT NULL);
        CREATE INDEX audit_by_incident ON audit(incident_id, number);
        CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
        -- Steps of a site's action plan an operator ticked, by step number.
        CREATE TABLE incident_steps(incident_id INTEGER NOT NULL, step INTEGER NOT NULL, text TEXT NOT NULL,
          done_by TEXT NOT NULL, done_at_ns INTEGER NOT NULL, PRIMARY KEY(incident_id, step));
        -- The escalation outbox: one row per incident and webhook, kept until delivered.
        CREATE TABLE escalations(id INTEGER PRIMARY KEY AUTOINCREMENT, incident_id INTEGER NOT NULL, webhook TEXT NOT NULL,
          body BLOB NOT NULL, created_at_ns INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at_ns INTEGER NOT NULL,
          delivered_at_ns INTEGER, last_error TEXT, UNIQUE(incident_id, webhook));
        CREATE INDEX escalations_due ON escalations(next_attempt_at_ns) WHERE delivered_at_ns IS NULL;
        CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
        """,
    ]

    static func migrate(_ pool: DatabasePool) throws {
        try pool.write { db in
            let version = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
            guard version <= current else { throw SchemaMismatch(engine: "SQLite", found: version, expected: current) }
            for (i, sql) in steps.enumerated() where i + 1 > version {
                try db.execute(sql: sql)
            }
            if version < current { try db.execute(sql: "PRAGMA user_version = \(current)") }
        }
    }

    /// The schema version of an open database.
    static func version(_ pool: DatabasePool) throws -> Int {
        try pool.read { db in try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0 }
    }
}
