import GRDB

/// The receiver database's versioned schema (`PRAGMA user_version`). Each
/// step runs once, in order, in one transaction; a database written by a
/// newer receiver is refused rather than guessed at.
public enum ReceiverSchema {
    /// The version this build writes and understands.
    public static let current = 2

    /// Why the receiver will not use a database.
    public struct TooNew: Error, CustomStringConvertible {
        public var found: Int
        public var description: String {
            "the database is at schema version \(found), newer than this receiver knows (\(ReceiverSchema.current)); run the newer panic-receiver or restore a backup"
        }
    }

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
    ]

    static func migrate(_ pool: DatabasePool) throws {
        try pool.write { db in
            let version = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
            guard version <= current else { throw TooNew(found: version) }
            for (i, sql) in steps.enumerated() where i + 1 > version {
                try db.execute(sql: sql)
            }
            if version < current { try db.execute(sql: "PRAGMA user_version = \(current)") }
        }
    }

    /// The schema version of an open database.
    public static func version(_ pool: DatabasePool) throws -> Int {
        try pool.read { db in try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0 }
    }
}
