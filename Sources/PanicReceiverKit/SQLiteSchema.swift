import GRDB

/// The SQLite database's versioned schema (`PRAGMA user_version`). Each
/// step runs once, in order, in one transaction; a database written by a
/// newer receiver is refused rather than guessed at. A single process owns
/// an SQLite database, so opening it migrates it (the embedded default).
public enum SQLiteSchema {
    /// The version this build writes and understands.
    public static let current = 3

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
